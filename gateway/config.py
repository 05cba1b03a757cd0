"""Configuration: YAML in, validated frozen objects out.

Secrets come from the environment through ``${VAR}`` (required) or
``${VAR:-default}`` interpolation, applied to string values only, after YAML
parsing, so an environment value can never change the document's structure.
Every problem raises :class:`ConfigError` naming the key path and what is wrong.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from adapters.options import option_problems
from adapters.registry import adapter_names, get_adapter
from gateway.audit.config import AuditConfig, parse_audit_config
from gateway.config_fields import ConfigError, boolean, integer, load_yaml_file, mapping, number, string, unknown_keys
from gateway.identity.config import AuthConfig, parse_auth_config
from gateway.policy.config import PolicyConfig, parse_policy_config
from gateway.pricing import Pricing, parse_pricing

__all__ = ["ConfigError", "Deployment", "GatewayConfig", "ModelConfig", "ProviderConfig", "ServerConfig", "Timeouts"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 5.0
    #: Longest wait for the next byte from the provider (first token included).
    read: float = 300.0
    total: float = 600.0


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    type: str
    base_url: str
    api_key: str = field(repr=False, default="")
    timeouts: Timeouts = field(default_factory=Timeouts)
    max_connections: int = 512
    forward_headers: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Deployment:
    provider: str
    model: str
    pricing: Pricing | None = None


@dataclass(frozen=True, slots=True)
class ModelConfig:
    name: str
    deployments: tuple[Deployment, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_body_bytes: int = 8 * 1024 * 1024
    body_timeout: float = 30.0
    graceful_shutdown: float = 30.0
    access_log: bool = True
    #: Proxies (IPs or CIDRs) whose X-Forwarded-For/-Proto are believed; none by default,
    #: so a client cannot claim another address in the audit trail.
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StateConfig:
    """Where state shared by replicas lives: nowhere (embedded default) or one Redis."""

    redis_url: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    server: ServerConfig
    providers: Mapping[str, ProviderConfig]
    models: Mapping[str, ModelConfig]
    auth: AuthConfig
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    state: StateConfig = field(default_factory=StateConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    #: Providers left out because they are ``optional`` and have no credentials.
    inactive_providers: tuple[str, ...] = ()
    source: str = "<memory>"


def _interpolate(value: Any, path: str, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{path}: environment variable {name} is not set")

        return _ENV.sub(replace, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{path}.{k}" if path else str(k), env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{path}[{i}]", env) for i, v in enumerate(value)]
    return value


def _server(data: dict[str, Any]) -> ServerConfig:
    path = "server"
    defaults = ServerConfig()
    unknown_keys(data, set(ServerConfig.__slots__), path)
    return ServerConfig(
        host=string(data, "host", path, defaults.host),
        port=integer(data, "port", path, defaults.port, minimum=0),
        workers=integer(data, "workers", path, defaults.workers),
        max_body_bytes=integer(data, "max_body_bytes", path, defaults.max_body_bytes, minimum=1024),
        body_timeout=number(data, "body_timeout", path, defaults.body_timeout),
        graceful_shutdown=number(data, "graceful_shutdown", path, defaults.graceful_shutdown),
        access_log=boolean(data, "access_log", path, defaults.access_log),
        trusted_proxies=_trusted_proxies(data.get("trusted_proxies", []), f"{path}.trusted_proxies"),
    )


def _trusted_proxies(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{path}: expected a list of IP addresses or networks")
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: {item!r} is not an IP address or network") from None
    return tuple(value)


_PROVIDER_KEYS = {
    "type",
    "base_url",
    "api_key",
    "optional",
    "timeouts",
    "max_connections",
    "forward_headers",
    "headers",
    "options",
}
_DEFAULT_URLS = {"echo": "echo://local/v1"}
#: Headers a client may never choose for an upstream, whatever the allow-list says.
_FORBIDDEN_FORWARD = {
    "authorization",
    "api-key",
    "x-api-key",
    "x-goog-api-key",
    "host",
    "cookie",
    "connection",
    "content-length",
    "transfer-encoding",
    "proxy-authorization",
}


def _provider(name: str, data: dict[str, Any]) -> ProviderConfig | None:
    path = f"providers.{name}"
    unknown_keys(data, _PROVIDER_KEYS, path)
    kind = data.get("type")
    if kind not in adapter_names():
        raise ConfigError(f"{path}.type: unknown provider type {kind!r} (known: {', '.join(adapter_names())})")
    # Checked before an optional provider without credentials is left out, so a misspelt
    # option shows now, not on the day the credential is set.
    options = mapping(data.get("options"), f"{path}.options")
    problems = option_problems(options, get_adapter(kind).accepted_options)
    if problems:
        option, problem = problems[0]
        raise ConfigError(f"{path}.options.{option}: {problem}")
    base_url = data.get("base_url", _DEFAULT_URLS.get(kind))
    if not isinstance(base_url, str) or not base_url:
        raise ConfigError(f"{path}.base_url: required for providers of type {kind}")
    if kind != "echo":
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{path}.base_url: expected an http(s) URL, got {base_url!r}")
    api_key = data.get("api_key", "")
    if not isinstance(api_key, str):
        raise ConfigError(f"{path}.api_key: expected a string")
    optional = boolean(data, "optional", path, False)
    if kind != "echo" and not api_key:
        if optional:
            return None
        raise ConfigError(f"{path}.api_key: required (use ${{VAR}} to read it from the environment)")
    timeouts_data = mapping(data.get("timeouts"), f"{path}.timeouts")
    unknown_keys(timeouts_data, {"connect", "read", "total"}, f"{path}.timeouts")
    defaults = Timeouts()
    timeouts = Timeouts(
        connect=number(timeouts_data, "connect", f"{path}.timeouts", defaults.connect),
        read=number(timeouts_data, "read", f"{path}.timeouts", defaults.read),
        total=number(timeouts_data, "total", f"{path}.timeouts", defaults.total),
    )
    forward = data.get("forward_headers", [])
    if not isinstance(forward, list) or not all(isinstance(h, str) for h in forward):
        raise ConfigError(f"{path}.forward_headers: expected a list of header names")
    forward_lower = tuple(h.lower() for h in forward)
    for header in forward_lower:
        if header in _FORBIDDEN_FORWARD:
            raise ConfigError(f"{path}.forward_headers: {header!r} may never be forwarded from clients")
    headers = mapping(data.get("headers"), f"{path}.headers")
    if not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"{path}.headers: header values must be strings")
    return ProviderConfig(
        name=name,
        type=kind,
        base_url=base_url,
        api_key=api_key,
        timeouts=timeouts,
        max_connections=integer(data, "max_connections", path, 512),
        forward_headers=forward_lower,
        headers=MappingProxyType({k.lower(): v for k, v in headers.items()}),
        options=MappingProxyType(options),
    )


def _model(name: str, data: Any, providers: Mapping[str, ProviderConfig], inactive: set[str]) -> ModelConfig | None:
    path = f"models.{name}"
    if not _NAME.match(name):
        raise ConfigError(f"{path}: model names may use letters, digits and . _ : / @ + - (at most 128)")
    data = mapping(data, path)
    unknown_keys(data, {"deployments", "description"}, path)
    raw = data.get("deployments")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}.deployments: expected a non-empty list")
    deployments = []
    for i, item in enumerate(raw):
        where = f"{path}.deployments[{i}]"
        item = mapping(item, where)
        unknown_keys(item, {"provider", "model", "pricing"}, where)
        provider = string(item, "provider", where)
        if provider in inactive:
            continue
        if provider not in providers:
            raise ConfigError(f"{where}.provider: no provider named {provider!r} is configured")
        deployments.append(
            Deployment(
                provider=provider,
                model=string(item, "model", where, name),
                pricing=parse_pricing(item.get("pricing"), f"{where}.pricing"),
            )
        )
    if not deployments:
        return None
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{path}.description: expected a string")
    return ModelConfig(name=name, deployments=tuple(deployments), description=description)


def _state(data: dict[str, Any]) -> StateConfig:
    unknown_keys(data, {"redis_url"}, "state")
    url = data.get("redis_url")
    if url in (None, ""):
        return StateConfig()
    if not isinstance(url, str) or urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("state.redis_url: expected a redis://, rediss:// or unix:// URL")
    return StateConfig(redis_url=url)


def parse_config(document: Any, env: Mapping[str, str] | None = None, source: str = "<memory>") -> GatewayConfig:
    """Validate a parsed YAML document into a :class:`GatewayConfig`."""
    root = mapping(document, "(top level)")
    unknown_keys(root, {"server", "providers", "models", "auth", "policy", "state", "audit"}, "(top level)")
    root = _interpolate(root, "", os.environ if env is None else env)
    server = _server(mapping(root.get("server"), "server"))
    state = _state(mapping(root.get("state"), "state"))
    providers: dict[str, ProviderConfig] = {}
    inactive: set[str] = set()
    for name, data in mapping(root.get("providers"), "providers").items():
        provider = _provider(str(name), mapping(data, f"providers.{name}"))
        if provider is None:
            inactive.add(str(name))
        else:
            providers[str(name)] = provider
    models: dict[str, ModelConfig] = {}
    for name, data in mapping(root.get("models"), "models").items():
        model = _model(str(name), data, providers, inactive)
        if model is not None:
            models[str(name)] = model
    if not models:
        raise ConfigError("models: no model is configured (or every model's providers are inactive)")
    return GatewayConfig(
        server=server,
        providers=MappingProxyType(providers),
        models=MappingProxyType(models),
        auth=parse_auth_config(root.get("auth")),
        policy=parse_policy_config(root.get("policy")),
        state=state,
        audit=parse_audit_config(root.get("audit"), shared_redis_url=state.redis_url),
        inactive_providers=tuple(sorted(inactive)),
        source=source,
    )


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read and validate a YAML configuration file."""
    return parse_config(load_yaml_file(Path(path)), env, source=str(path))
