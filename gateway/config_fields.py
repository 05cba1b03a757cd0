"""Small validators shared by every configuration section.

Each takes the mapping, the key and the dotted path of the mapping, so that a
failure names exactly which key is wrong and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    """The configuration is invalid; the message names the key and the problem."""


def mapping(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
    return value


def unknown_keys(data: Mapping[str, Any], allowed: set[str], path: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise ConfigError(f"{path}: unknown key {extra[0]!r} (allowed: {', '.join(sorted(allowed))})")


def number(data: Mapping[str, Any], key: str, path: str, default: float, *, minimum: float = 0) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= minimum:
        raise ConfigError(f"{path}.{key}: expected a number greater than {minimum:g}, got {value!r}")
    return float(value)


def integer(data: Mapping[str, Any], key: str, path: str, default: int, *, minimum: int = 1) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{path}.{key}: expected an integer of at least {minimum}, got {value!r}")
    return value


def string(data: Mapping[str, Any], key: str, path: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}.{key}: expected a non-empty string")
    return value


def boolean(data: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}.{key}: expected true or false, got {value!r}")
    return value


def choice(data: Mapping[str, Any], key: str, path: str, default: str, options: tuple[str, ...]) -> str:
    value = data.get(key, default)
    if value not in options:
        raise ConfigError(f"{path}.{key}: expected one of {', '.join(options)}, got {value!r}")
    return str(value)


def load_yaml_file(path: Path) -> Any:
    """Read and parse a YAML file; any problem is a :class:`ConfigError` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
