"""One authorization decision, as recorded in the audit trail."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one ``enforce`` call.

    ``policy_version`` is the content hash of the policy files the decision was
    made under; ``rule`` is the policy line that decided (for auditors and
    ``gateway policy check``, never shown to the client).
    """

    allowed: bool
    action: str
    resource: str
    domain: str
    policy_version: str
    rule: str | None = None
