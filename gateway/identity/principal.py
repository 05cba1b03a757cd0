"""The authenticated caller, as every later stage and the audit trail see it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``method`` is how it proved who it is (``api_key`` or ``jwt``); ``key_id``
    names the gateway key used (never the key itself) and ``issuer`` the JWT
    issuer. ``delegation`` is, for an agent acting for someone, the chain of
    subjects from the accountable human to this caller, outermost first.
    """

    subject: str
    roles: tuple[str, ...]
    team: str
    method: str
    key_id: str | None = None
    issuer: str | None = None
    delegation: tuple[str, ...] = ()
