"""Filters over audit records, and the aggregate figures ``gateway audit stats`` prints.

A filter can also name byte strings that any matching *raw line* must
contain (the JSON encoding of a wanted subject, model, request id, …): records
are written by orjson, so the encoded value appears verbatim. Scans use these
to skip lines without parsing them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, now: datetime | None = None) -> str:
    """An ISO-8601 date or time (UTC unless it says otherwise) or an age like ``15m``, ``24h``, ``7d``.

    Returns the record's time format (``YYYY-MM-DDTHH:MM:SS.mmmZ``), which sorts as text.
    """
    match = _RELATIVE.match(text.strip())
    if match:
        moment = (now or datetime.now(UTC)) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    else:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"not a time: {text!r} (use ISO-8601 such as 2026-03-01T12:00Z, or an age such as 24h)"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Filters:
    since: str | None = None
    until: str | None = None
    subject: str | None = None
    team: str | None = None
    model: str | None = None
    provider: str | None = None
    #: ``allow`` or ``deny``.
    decision: str | None = None
    status: int | None = None
    pii_type: str | None = None
    request_id: str | None = None
    #: ``request`` (default), ``event``, or ``any``.
    type: str = "request"

    def needles(self) -> list[bytes]:
        """Byte strings every matching line contains; the most selective first."""
        values = [self.request_id, self.subject, self.model, self.provider, self.pii_type, self.team]
        return [orjson.dumps(v) for v in values if v is not None]

    def matches(self, record: dict[str, Any]) -> bool:
        kind = record.get("type")
        if self.type == "any":
            if kind not in ("request", "event"):
                return False
        elif kind != self.type:
            return False
        time = record.get("time", "")
        if self.since is not None and time < self.since:
            return False
        if self.until is not None and time >= self.until:
            return False
        principal = record.get("principal") or {}
        checks: list[tuple[str | None, Any]] = [
            (self.subject, principal.get("subject")),
            (self.team, principal.get("team")),
            (self.model, record.get("model")),
            (self.provider, record.get("provider")),
            (self.request_id, record.get("request_id")),
        ]
        if any(wanted is not None and wanted != actual for wanted, actual in checks):
            return False
        if self.status is not None and record.get("status") != self.status:
            return False
        if self.decision is not None:
            decision = record.get("decision")
            if decision is None or decision.get("allowed") != (self.decision == "allow"):
                return False
        if self.pii_type is not None:
            return any(f.get("type") == self.pii_type for f in record.get("pii") or ())
        return True


def is_error(record: dict[str, Any]) -> bool:
    status = record.get("status")
    return record.get("error") is not None or (isinstance(status, int) and status >= 400)


def is_denial(record: dict[str, Any]) -> bool:
    decision = record.get("decision")
    return decision is not None and decision.get("allowed") is False


@dataclass(slots=True)
class Totals:
    calls: int = 0
    denials: int = 0
    errors: int = 0
    pii_findings: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    #: None while no record in the group carries a cost (pricing not configured).
    cost: float | None = None

    def add(self, other: Totals) -> None:
        self.calls += other.calls
        self.denials += other.denials
        self.errors += other.errors
        self.pii_findings += other.pii_findings
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.total_tokens += other.total_tokens
        if other.cost is not None:
            self.cost = (self.cost or 0.0) + other.cost

    def add_record(self, record: dict[str, Any]) -> None:
        usage = record.get("usage") or {}
        cost = record.get("cost")
        self.add(
            Totals(
                calls=1,
                denials=int(is_denial(record)),
                errors=int(is_error(record)),
                pii_findings=sum(int(f.get("count") or 0) for f in record.get("pii") or ()),
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                total_tokens=int(usage.get("total_tokens") or 0),
                cost=float(cost) if isinstance(cost, int | float) else None,
            )
        )


@dataclass(slots=True)
class Stats:
    """Totals per (team, model); ``-`` stands for a request without a team or a model."""

    groups: dict[tuple[str, str], Totals] = field(default_factory=dict)

    def group(self, team: str, model: str) -> Totals:
        return self.groups.setdefault((team, model), Totals())

    def add_record(self, record: dict[str, Any]) -> None:
        principal = record.get("principal") or {}
        self.group(principal.get("team") or "-", record.get("model") or "-").add_record(record)

    def merge(self, other: Stats) -> None:
        for key, totals in other.groups.items():
            self.group(*key).add(totals)

    def total(self) -> Totals:
        overall = Totals()
        for totals in self.groups.values():
            overall.add(totals)
        return overall
