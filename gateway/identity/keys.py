"""Gateway-issued API keys: format, hashing and verification.

A key reads ``gw-<id>_<secret>``. The id is public (it names the key in lists,
logs and the audit trail); the secret is 32 random bytes. The gateway stores
only ``sha256(salt || secret)`` with a per-key random salt: the secret has 256
bits of entropy, so a slow password hash would add cost without adding safety.
Comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

PREFIX = "gw-"
_KEY = re.compile(r"^gw-([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What the gateway keeps about a key: never the key itself."""

    key_id: str
    salt: str
    digest: str = field(repr=False)
    subject: str
    team: str
    roles: tuple[str, ...]
    description: str = ""
    created_at: float = 0.0
    expires_at: float | None = None
    revoked_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["roles"] = list(self.roles)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyRecord:
        return cls(**{**data, "roles": tuple(data.get("roles", ()))})

    def public(self) -> dict[str, Any]:
        """The record without salt and digest, for lists and the admin API."""
        data = self.to_dict()
        del data["salt"], data["digest"]
        return data

    def revoked(self, when: float | None = None) -> KeyRecord:
        return replace(self, revoked_at=when or time.time())


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode("ascii")).hexdigest()


def new_key(
    subject: str,
    team: str,
    roles: tuple[str, ...],
    *,
    description: str = "",
    expires_at: float | None = None,
) -> tuple[str, KeyRecord]:
    """Mint a key; returns the full key (shown once) and the record to store."""
    key_id = base64.b32encode(os.urandom(10)).decode().lower()[:12]
    secret = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    salt = os.urandom(16).hex()
    record = KeyRecord(
        key_id=key_id,
        salt=salt,
        digest=_digest(salt, secret),
        subject=subject,
        team=team,
        roles=roles,
        description=description,
        created_at=time.time(),
        expires_at=expires_at,
    )
    return f"{PREFIX}{key_id}_{secret}", record


def split_key(token: str) -> tuple[str, str] | None:
    """Return ``(key_id, secret)`` for a well-formed key, else None."""
    match = _KEY.match(token)
    return (match.group(1), match.group(2)) if match else None


def secret_matches(record: KeyRecord, secret: str) -> bool:
    return hmac.compare_digest(_digest(record.salt, secret), record.digest)
