"""The servers compared, each started the same way: one process (one worker) pinned to the server core.

A target knows how to start itself, where it is ready, and which URL and
model serve each phase: ``fast`` (the instant fake upstream, for closed-loop
throughput) and ``llm`` (the fake upstream with model timing, for open-loop
latency).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchlib.procs import Server, free_port, start, wait_ready
from benchlib.setup import BUILD

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
PROJECT_PYTHON = ROOT / ".venv" / "bin" / "python"
LITELLM_VENV = BENCH / ".venv-litellm"

FAST_MODEL = "bench"
LLM_MODEL = "bench-llm"


@dataclass
class Context:
    upstream_url: str
    llm_upstream_url: str
    upstream_pids: dict[str, int]
    server_core: int | None
    log_dir: Path
    gateway_config: Path
    #: The client key sent to the gateway; created with ``gateway keys create`` when not given.
    gateway_key: str | None
    #: LiteLLM's master key (it refuses to start without one); sent to LiteLLM as the client key.
    litellm_key: str = field(default_factory=lambda: "sk-" + secrets.token_hex(32))


@dataclass
class Target:
    name: str
    description: str
    #: Starts the server on the port; returns it, ready (``None`` for the direct target: the upstream itself).
    launch: Callable[[Context, int], Server | None]
    #: Base URL (ending in /v1) for each phase, given the context and the port chosen.
    urls: Callable[[Context, int], dict[str, str]]
    port: int = field(default_factory=free_port)
    #: Which client key it needs: "gateway", "litellm" or "" (none).
    key: str = ""

    def headers(self, context: Context) -> dict[str, str]:
        key = {"gateway": context.gateway_key, "litellm": context.litellm_key}.get(self.key)
        return {"Authorization": f"Bearer {key}"} if key else {}


def _server_urls(context: Context, port: int) -> dict[str, str]:
    """A server that routes by model name: both models at one base URL."""
    return {"fast": f"http://127.0.0.1:{port}/v1", "llm": f"http://127.0.0.1:{port}/v1"}


def _proxy_urls(context: Context, port: int) -> dict[str, str]:
    return {"fast": f"http://127.0.0.1:{port}/v1", "llm": f"http://127.0.0.1:{port}/llm/v1"}


def _launch_proxy(script: str, name: str) -> Callable[[Context, int], Server]:
    def launch(context: Context, port: int) -> Server:
        command = [
            str(PROJECT_PYTHON),
            str(BENCH / "proxies" / script),
            "--port",
            str(port),
            "--upstream",
            context.upstream_url,
            "--llm-upstream",
            context.llm_upstream_url,
        ]
        server = start(name, command, core=context.server_core, log_dir=context.log_dir)
        wait_ready(server, f"http://127.0.0.1:{port}/healthz")
        return server

    return launch


GATEWAY = ROOT / ".venv" / "bin" / "gateway"


def gateway_env(context: Context) -> tuple[Path, dict[str, str]]:
    """The gateway's working directory (its var/ goes there) and the variables bench/gateway.yaml reads."""
    run_dir = context.log_dir.parent / "gateway-run"
    run_dir.mkdir(parents=True, exist_ok=True)
    # Relative defaults (the audit capture policy in policies/) resolve to the project's own files.
    link = run_dir / "policies"
    if not link.exists():
        link.symlink_to(ROOT / "policies")
    env = {
        "BENCH_UPSTREAM_URL": context.upstream_url,
        "BENCH_LLM_UPSTREAM_URL": context.llm_upstream_url,
        "BENCH_KEY_FILE": str(run_dir / "keys.json"),
        "BENCH_POLICY_DIR": str(BENCH / "policy"),
    }
    return run_dir, env


def ensure_gateway_key(context: Context) -> None:
    """Create a gateway API key for the benchmark client (role ``bench``) unless one was given."""
    if context.gateway_key:
        return
    run_dir, env = gateway_env(context)
    done = subprocess.run(
        [
            str(GATEWAY),
            "keys",
            "create",
            "--config",
            str(context.gateway_config),
            "--subject",
            "bench-client",
            "--team",
            "bench",
            "--role",
            "bench",
            "--description",
            "bench/run.py",
        ],
        cwd=run_dir,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    key = next((ln.split(":", 1)[1].strip() for ln in done.stdout.splitlines() if ln.startswith("key:")), None)
    if done.returncode != 0 or not key:
        raise RuntimeError(f"gateway keys create failed: {done.stderr.strip() or done.stdout.strip()}")
    context.gateway_key = key


def _launch_gateway(context: Context, port: int, config: Path | None = None, name: str = "gateway") -> Server:
    ensure_gateway_key(context)
    run_dir, env = gateway_env(context)
    # A fresh audit trail per start, so earlier runs' files cost nothing.
    shutil.rmtree(run_dir / "var", ignore_errors=True)
    config = config or context.gateway_config
    command = [str(GATEWAY), "serve", "--config", str(config), "--port", str(port), "--workers", "1"]
    server = start(name, command, core=context.server_core, log_dir=context.log_dir, env=env, cwd=run_dir)
    wait_ready(server, f"http://127.0.0.1:{port}/readyz")
    return server


def _launch_gateway_fsync(context: Context, port: int) -> Server:
    return _launch_gateway(context, port, BENCH / "gateway-ack-fsync.yaml", "gateway-fsync")


def litellm_config(context: Context) -> str:
    def entry(model: str, base: str) -> str:
        return (
            f"  - model_name: {model}\n    litellm_params:\n      model: openai/{model}\n"
            f"      api_base: {base}\n      api_key: sk-bench-upstream\n"
        )

    return (
        "# Written by bench/run.py: the same fake upstreams as the gateway's, no callbacks, no telemetry.\n"
        "model_list:\n"
        + entry(FAST_MODEL, context.upstream_url)
        + entry(LLM_MODEL, context.llm_upstream_url)
        + "litellm_settings:\n  telemetry: false\n  success_callback: []\n  failure_callback: []\n"
        "  callbacks: []\n  drop_params: true\n  request_timeout: 120\n"
        f"general_settings:\n  master_key: {context.litellm_key}\n  disable_spend_logs: true\n"
        "  disable_error_logs: true\n"
    )


LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the price list from the internet at start-up
    "LITELLM_TELEMETRY": "False",
    "LITELLM_LOG": "ERROR",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "true",
}


def _launch_litellm(context: Context, port: int) -> Server:
    config = context.log_dir / "litellm.yaml"
    config.write_text(litellm_config(context))
    command = [
        str(LITELLM_VENV / "bin" / "litellm"),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
        "--telemetry",
        "False",
    ]
    server = start("litellm", command, core=context.server_core, log_dir=context.log_dir, env=LITELLM_ENV)
    wait_ready(server, f"http://127.0.0.1:{port}/health/liveliness", timeout=120)
    return server


def _launch_go_proxy(context: Context, port: int) -> Server:
    command = [
        str(BUILD / "goproxy"),
        "-addr",
        f"127.0.0.1:{port}",
        "-upstream",
        context.upstream_url,
        "-llm-upstream",
        context.llm_upstream_url,
    ]
    server = start("go-proxy", command, core=context.server_core, log_dir=context.log_dir, env={"GOMAXPROCS": "1"})
    wait_ready(server, f"http://127.0.0.1:{port}/healthz")
    return server


def all_targets() -> list[Target]:
    return [
        Target(
            "direct",
            "the fake upstream itself (Go, GOMAXPROCS=1, on the load core)",
            lambda context, port: None,
            lambda context, port: {"fast": context.upstream_url, "llm": context.llm_upstream_url},
        ),
        Target(
            "gateway",
            "this project's gateway (bench/gateway.yaml: key auth, casbin policy, audit trail with its default "
            "ack: write), one uvicorn worker",
            _launch_gateway,
            _server_urls,
            key="gateway",
        ),
        Target(
            "gateway-fsync",
            "the same gateway with audit.ack: fsync (bench/gateway-ack-fsync.yaml): every reply waits for its "
            "record's fsync",
            _launch_gateway_fsync,
            _server_urls,
            key="gateway",
        ),
        Target(
            "litellm",
            "LiteLLM proxy (bench/.venv-litellm): master-key auth, openai/ models at the fake upstream, "
            "no callbacks or DB, one worker",
            _launch_litellm,
            _server_urls,
            key="litellm",
        ),
        Target(
            "aiohttp-proxy",
            "bare starlette + aiohttp.ClientSession pass-through (bench/proxies/aiohttp_proxy.py)",
            _launch_proxy("aiohttp_proxy.py", "aiohttp-proxy"),
            _proxy_urls,
        ),
        Target(
            "httpx-proxy",
            "bare starlette + httpx.AsyncClient pass-through (bench/proxies/httpx_proxy.py)",
            _launch_proxy("httpx_proxy.py", "httpx-proxy"),
            _proxy_urls,
        ),
        Target(
            "go-proxy",
            "bare Go reverse proxy (bench/go/goproxy, net/http/httputil, GOMAXPROCS=1): what a compiled "
            "pass-through adds on this machine",
            _launch_go_proxy,
            _proxy_urls,
        ),
    ]
