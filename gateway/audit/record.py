"""Version-1 audit records, built from an :class:`~gateway.exchange.Exchange`.

The field-by-field schema is in ``gateway/audit/README.md``. Records are plain
dicts of JSON values: the writer thread adds ``replica``, ``seq``, ``prev`` and
``hash`` and serialises them with orjson, whose escaping keeps any client
input inside its JSON string (no newline or quote can end a line or a field).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from gateway.audit.capture import Redactor
from gateway.exchange import Exchange

if TYPE_CHECKING:
    from gateway.identity.principal import Principal
    from gateway.policy.decision import Decision

VERSION = 1


#: The last second formatted, and its text: records of one second share it (a datetime per record
#: cost more than the rest of the timestamp handling on a cold cache).
_last_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def utc_iso(timestamp: float) -> str:
    """UTC ISO-8601 with milliseconds, e.g. ``2026-03-01T12:00:00.123Z`` (milliseconds truncated, as datetime does)."""
    global _last_second
    # Rounded to the microsecond the way datetime.fromtimestamp rounds, then truncated to milliseconds.
    fraction, whole = math.modf(timestamp)
    micros = round(fraction * 1_000_000)
    second = int(whole)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    cached, text = _last_second
    if second != cached:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (second, text)
    return f"{text}.{micros // 1000:03d}Z"


def _ms(seconds: float | None) -> float | None:
    # Microseconds rounded half up, as milliseconds: round(x, 3) formats the float as a string.
    return None if seconds is None else math.floor(seconds * 1_000_000 + 0.5) / 1000


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


@dataclass(slots=True)
class Content:
    """What a record keeps of the conversation, for teams whose capture mode is not ``none``."""

    mode: str
    redact: Redactor | None

    def _clean(self, text: str) -> str:
        return self.redact(text) if self.redact is not None else text

    def request(self, exchange: Exchange) -> list[dict[str, str]] | None:
        if exchange.chat is not None:
            return [
                {"role": str(m.get("role", "")), "content": self._clean(_text(m.get("content")))}
                for m in exchange.chat.messages
            ]
        if exchange.embeddings is not None:
            inputs = exchange.embeddings.inputs
            return [{"role": "input", "content": self._clean(i) if isinstance(i, str) else "[tokens]"} for i in inputs]
        return None

    def response(self, texts: Iterable[str]) -> list[str]:
        return [self._clean(t) for t in texts]


def completion_texts(body: Any) -> list[str]:
    """The answer texts of a chat completion body (empty for anything else)."""
    if not isinstance(body, dict) or body.get("object") != "chat.completion":
        return []
    return [_text(choice.get("message", {}).get("content")) for choice in body.get("choices", [])]


#: Recent principals and decisions with their serialised record parts. Both are immutable and
#: reused across requests (the authenticator keeps a key's principal, the policy engine caches its
#: decisions), so each is serialised once; the value holds the object, which keeps its id unique.
_PARTS: dict[int, tuple[object, orjson.Fragment]] = {}
_MAX_PARTS = 4096
_Owner = TypeVar("_Owner")


def _principal_fields(principal: Principal) -> dict[str, Any]:
    return {
        "subject": principal.subject,
        "roles": list(principal.roles),
        "team": principal.team,
        "method": principal.method,
        "key_id": principal.key_id,
        "issuer": principal.issuer,
        "delegation": list(principal.delegation),
    }


def _decision_fields(decision: Decision) -> dict[str, Any]:
    return {
        "allowed": decision.allowed,
        "action": decision.action,
        "resource": decision.resource,
        "domain": decision.domain,
        "policy_version": decision.policy_version,
        "rule": decision.rule,
    }


def _part(owner: _Owner, fields: Callable[[_Owner], dict[str, Any]]) -> orjson.Fragment:
    """``owner``'s fields, serialised on first use and then reused for as long as the object lives."""
    known = _PARTS.get(id(owner))
    if known is not None and known[0] is owner:
        return known[1]
    # Sorted keys: the chain hashes the canonical (key-sorted) text, which a fragment is copied into as it is.
    part = orjson.Fragment(orjson.dumps(fields(owner), option=orjson.OPT_SORT_KEYS))
    if len(_PARTS) >= _MAX_PARTS:
        _PARTS.clear()
    _PARTS[id(owner)] = (owner, part)
    return part


def request_record(
    exchange: Exchange,
    *,
    wall: float,
    ended: float,
    status: int | None,
    error: tuple[str, str | None] | None,
    outcome: str,
    stream: bool,
    content: Content | None = None,
    answer: Iterable[str] = (),
) -> dict[str, Any]:
    """One request's record; ``wall`` is its arrival (epoch seconds), ``ended`` a perf_counter reading."""
    principal = exchange.principal
    decision = exchange.decision
    attempts = exchange.attempts
    last = attempts[-1] if attempts else None
    upstream = sum(a.latency for a in attempts if a.latency is not None) if attempts else None
    total = ended - exchange.started
    usage = exchange.usage
    captured = None
    if content is not None:
        captured = {"mode": content.mode, "request": content.request(exchange), "response": content.response(answer)}
    return {
        "v": VERSION,
        "type": "request",
        "time": utc_iso(wall),
        "request_id": exchange.request_id,
        "operation": exchange.operation,
        "client": exchange.client,
        "principal": None if principal is None else _part(principal, _principal_fields),
        "model": exchange.model,
        "provider": last.provider if last is not None else None,
        "deployment": last.model if last is not None else None,
        "attempts": [
            {
                "provider": a.provider,
                "model": a.model,
                "status": a.status,
                "error": a.error,
                "latency_ms": _ms(a.latency),
            }
            for a in attempts
        ],
        "decision": None if decision is None else _part(decision, _decision_fields),
        "pii": None
        if exchange.pii is None
        else [{"type": f.type, "count": f.count, "action": f.action} for f in exchange.pii],
        "usage": None
        if usage is None
        else {
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"),
            "total_tokens": usage.get("total_tokens"),
        },
        # Stays null until pricing lands; readers must treat null as "not priced", not as zero.
        "cost": exchange.cost,
        "latency_ms": {
            "total": _ms(total),
            "upstream": _ms(upstream),
            "ttft": _ms(exchange.first_token_at - exchange.started) if exchange.first_token_at is not None else None,
            "overhead": _ms(total - upstream) if upstream is not None else _ms(total),
        },
        "status": status,
        "error": None if error is None else {"type": error[0], "code": error[1]},
        "outcome": outcome,
        "stream": stream,
        "content": captured,
    }


def event_record(kind: str, wall: float, fields: dict[str, Any]) -> dict[str, Any]:
    """A policy or administrative event (policy reload, key created or revoked, retention)."""
    reserved = {"v", "type", "time", "kind", "replica", "seq", "prev", "hash"} & fields.keys()
    if reserved:
        raise ValueError(f"event fields may not be named {', '.join(sorted(reserved))}")
    return {"v": VERSION, "type": "event", "time": utc_iso(wall), "kind": kind, **fields}
