"""The ``gateway`` command: ``gateway serve``, ``gateway config check``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gateway import cli_audit, cli_keys, cli_policy
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.logs import setup_logging

DEFAULT_CONFIG = "config.example.yaml"


def _load(path: str) -> GatewayConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import CONFIG_ENV, app_from_env, create_app

    config = _load(args.config)
    server = config.server
    host = args.host or server.host
    port = args.port if args.port is not None else server.port
    workers = args.workers or server.workers
    options = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "gateway.http_protocol:HttpProtocol",
        "access_log": False,
        "log_level": args.log_level,
        "timeout_graceful_shutdown": int(server.graceful_shutdown),
        "server_header": False,
        "log_config": None,
        "proxy_headers": bool(server.trusted_proxies),
        "forwarded_allow_ips": list(server.trusted_proxies) or None,
    }
    if workers > 1:
        # Each worker process builds its own app (and its own pools) from the file.
        os.environ[CONFIG_ENV] = os.path.abspath(args.config)
        uvicorn.run("gateway.app:app_from_env", factory=True, workers=workers, **options)
    else:
        del app_from_env
        uvicorn.run(create_app(config), **options)
    return 0


def _config_check(args: argparse.Namespace) -> int:
    config = _load(args.config)
    print(f"{args.config}: OK — {len(config.providers)} providers, {len(config.models)} models")
    for name, model in config.models.items():
        targets = ", ".join(f"{d.provider}/{d.model}" for d in model.deployments)
        print(f"  {name} → {targets}")
    if config.inactive_providers:
        print(f"  inactive (no credentials): {', '.join(config.inactive_providers)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="AI governance gateway")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway server")
    serve.add_argument("--config", default=DEFAULT_CONFIG, help="YAML configuration file")
    serve.add_argument("--host", help="bind address (default: server.host)")
    serve.add_argument("--port", type=int, help="port (default: server.port)")
    serve.add_argument("--workers", type=int, help="worker processes, one per core (default: server.workers)")
    serve.set_defaults(handler=_serve)

    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a configuration file")
    check.add_argument("--config", default=DEFAULT_CONFIG)
    check.set_defaults(handler=_config_check)

    cli_keys.register(commands, DEFAULT_CONFIG)
    cli_policy.register(commands)
    cli_audit.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
