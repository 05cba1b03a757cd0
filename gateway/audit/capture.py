"""Content capture: whether a record keeps the prompt and the answer, per team.

The choice belongs to compliance, not to operators, so it lives in a policy
file (default ``policies/audit.yaml``) rather than in the gateway config::

    default: none          # none | redacted | full
    teams:
      research: redacted
      legal-hold: full

``redacted`` passes every captured string through a :data:`Redactor`. The
built-in :func:`mask_text` masks e-mail addresses, phone numbers and
key-shaped strings; the PII stage will install its own (the hook is
:attr:`CapturePolicy.redactor`, replaced with :meth:`CapturePolicy.with_redactor`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gateway.config_fields import ConfigError, load_yaml_file, mapping, unknown_keys
from gateway.errors import scrub

MODES = ("none", "redacted", "full")

Redactor = Callable[[str], str]

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# Seven or more digits, optionally grouped by spaces, dots, dashes or brackets, with an optional +.
_PHONE = re.compile(r"(?<![\w])\+?\(?\d[\d\s().\-]{5,}\d(?![\w])")
# Long opaque tokens (hex, base64url) that the named key shapes in ``scrub`` do not cover.
_TOKEN = re.compile(r"\b(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{32,}\b")


def mask_text(text: str) -> str:
    """The built-in redactor: e-mails, phone numbers and key-shaped strings become placeholders."""
    text = scrub(text)
    text = _TOKEN.sub("[redacted]", text)
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub(lambda m: "[phone]" if sum(c.isdigit() for c in m.group()) >= 7 else m.group(), text)


@dataclass(frozen=True, slots=True)
class CapturePolicy:
    default: str = "none"
    teams: Mapping[str, str] = field(default_factory=dict)
    redactor: Redactor = mask_text
    source: str = "<default>"

    def mode_for(self, team: str | None) -> str:
        if team is not None:
            return self.teams.get(team, self.default)
        return self.default

    def with_redactor(self, redactor: Redactor) -> CapturePolicy:
        return replace(self, redactor=redactor)


def _mode(value: Any, path: str) -> str:
    if value not in MODES:
        raise ConfigError(f"{path}: expected one of {', '.join(MODES)}, got {value!r}")
    return str(value)


def parse_capture_policy(document: Any, source: str = "<memory>") -> CapturePolicy:
    root = mapping(document, source)
    unknown_keys(root, {"default", "teams"}, source)
    default = _mode(root.get("default", "none"), f"{source}: default")
    teams = {
        str(team): _mode(mode, f"{source}: teams.{team}")
        for team, mode in mapping(root.get("teams"), f"{source}: teams").items()
    }
    return CapturePolicy(default=default, teams=MappingProxyType(teams), source=source)


def load_capture_policy(path: str | Path) -> CapturePolicy:
    """Read the policy file; a missing file means "capture nothing" (the safe default)."""
    file = Path(path)
    if not file.exists():
        return CapturePolicy(source=f"{file} (absent: capture none)")
    return parse_capture_policy(load_yaml_file(file), source=str(file))
