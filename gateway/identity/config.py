"""The ``auth:`` configuration section.

Authentication cannot be switched off by accident: a configuration that names
no way to authenticate (no key file, no JWT issuer, no demo key) refuses to
load unless it says ``anonymous: true`` explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.config_fields import ConfigError, boolean, integer, mapping, number, string, unknown_keys

DEFAULT_KEY_FILE = "var/keys.json"
_ASYMMETRIC = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
_SYMMETRIC = {"HS256", "HS384", "HS512"}


@dataclass(frozen=True, slots=True)
class JwtConfig:
    algorithms: tuple[str, ...]
    secret: str | None = field(default=None, repr=False)
    jwks_file: str | None = None
    jwks_url: str | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway: float = 30.0
    max_token_bytes: int = 8192
    subject_claim: str = "sub"
    roles_claim: str = "roles"
    team_claim: str = "team"
    default_team: str = "default"
    jwks_timeout: float = 5.0
    jwks_max_bytes: int = 1024 * 1024
    #: Seconds before the key set is fetched again, so withdrawn keys stop working.
    jwks_max_age: float = 600.0


@dataclass(frozen=True, slots=True)
class DemoKey:
    key: str = field(repr=False)
    subject: str
    team: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuthConfig:
    #: Where gateway-issued keys live when no Redis is configured.
    key_file: str | None = DEFAULT_KEY_FILE
    jwt: JwtConfig | None = None
    demo_keys: tuple[DemoKey, ...] = ()
    anonymous: bool = False
    anonymous_roles: tuple[str, ...] = ("anonymous",)


def _roles(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{path}: expected a list of role names")
    return tuple(value)


def _jwt(data: dict[str, Any], path: str) -> JwtConfig:
    unknown_keys(data, set(JwtConfig.__slots__), path)
    algorithms = data.get("algorithms")
    if not isinstance(algorithms, list) or not algorithms:
        raise ConfigError(f"{path}.algorithms: expected a non-empty list, e.g. [RS256]")
    for algorithm in algorithms:
        if algorithm not in _ASYMMETRIC | _SYMMETRIC:
            raise ConfigError(f"{path}.algorithms: {algorithm!r} is not an accepted algorithm")
    optional: dict[str, str | None] = {}
    for key in ("secret", "jwks_file", "jwks_url", "issuer", "audience"):
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{path}.{key}: expected a non-empty string")
        optional[key] = value
    if set(algorithms) & _SYMMETRIC and not optional["secret"]:
        raise ConfigError(f"{path}.secret: required for {sorted(set(algorithms) & _SYMMETRIC)}")
    if set(algorithms) & _ASYMMETRIC and not (optional["jwks_file"] or optional["jwks_url"]):
        raise ConfigError(f"{path}: jwks_file or jwks_url is required for {sorted(set(algorithms) & _ASYMMETRIC)}")
    if optional["secret"] is not None and len(optional["secret"]) < 32:
        raise ConfigError(f"{path}.secret: use at least 32 characters")
    defaults = JwtConfig(algorithms=())
    return JwtConfig(
        algorithms=tuple(algorithms),
        secret=optional["secret"],
        jwks_file=optional["jwks_file"],
        jwks_url=optional["jwks_url"],
        issuer=optional["issuer"],
        audience=optional["audience"],
        leeway=number(data, "leeway", path, defaults.leeway, minimum=-1),
        max_token_bytes=integer(data, "max_token_bytes", path, defaults.max_token_bytes, minimum=256),
        subject_claim=string(data, "subject_claim", path, defaults.subject_claim),
        roles_claim=string(data, "roles_claim", path, defaults.roles_claim),
        team_claim=string(data, "team_claim", path, defaults.team_claim),
        default_team=string(data, "default_team", path, defaults.default_team),
        jwks_timeout=number(data, "jwks_timeout", path, defaults.jwks_timeout),
        jwks_max_bytes=integer(data, "jwks_max_bytes", path, defaults.jwks_max_bytes, minimum=1024),
        jwks_max_age=number(data, "jwks_max_age", path, defaults.jwks_max_age),
    )


def _demo_keys(value: Any, path: str) -> tuple[DemoKey, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{path}: expected a list")
    keys = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        item = mapping(item, where)
        unknown_keys(item, {"key", "subject", "team", "roles"}, where)
        keys.append(
            DemoKey(
                key=string(item, "key", where),
                subject=string(item, "subject", where),
                team=string(item, "team", where, "demo"),
                roles=_roles(item.get("roles"), f"{where}.roles"),
            )
        )
    return tuple(keys)


def parse_auth_config(value: Any, path: str = "auth") -> AuthConfig:
    if value is None:
        raise ConfigError(
            f"{path}: no authentication is configured. Configure key_file, jwt or demo_keys, "
            "or set 'anonymous: true' to run without authentication on purpose."
        )
    data = mapping(value, path)
    unknown_keys(data, {"key_file", "jwt", "demo_keys", "anonymous", "anonymous_roles"}, path)
    key_file = data.get("key_file", DEFAULT_KEY_FILE)
    if key_file is not None and (not isinstance(key_file, str) or not key_file):
        raise ConfigError(f"{path}.key_file: expected a file path, or null to disable gateway keys")
    jwt_data = data.get("jwt")
    anonymous = boolean(data, "anonymous", path, False)
    config = AuthConfig(
        key_file=key_file,
        jwt=_jwt(mapping(jwt_data, f"{path}.jwt"), f"{path}.jwt") if jwt_data is not None else None,
        demo_keys=_demo_keys(data.get("demo_keys"), f"{path}.demo_keys"),
        anonymous=anonymous,
        anonymous_roles=_roles(data.get("anonymous_roles", ["anonymous"]), f"{path}.anonymous_roles"),
    )
    if not (config.key_file or config.jwt or config.demo_keys or config.anonymous):
        raise ConfigError(
            f"{path}: every way to authenticate is off. Configure key_file, jwt or demo_keys, "
            "or set 'anonymous: true' to run without authentication on purpose."
        )
    return config
