"""audit_review: answer the auditors' read-only JSON API (``audit.search``, ``audit.record``, ``audit.verify``).

Runs after ``authenticate`` and ``authorize`` (the policy grants ``audit.*``
to auditors and admins). Reading the trail is file I/O, so it runs in a
worker thread. Query parameters of ``GET /admin/audit/records``: ``since``,
``until``, ``subject``, ``team``, ``model``, ``provider``, ``decision``
(allow|deny), ``status``, ``pii_type``, ``request_id``, ``type``
(request|event|any) and ``limit`` (default 100, at most 1000); newest first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.audit import search
from gateway.audit.chain import Verifiers
from gateway.audit.config import AuditConfig
from gateway.audit.query import Filters, parse_time
from gateway.audit.verify import verify
from gateway.config_fields import ConfigError
from gateway.errors import InvalidRequestError, NotFoundError
from gateway.exchange import Exchange, Handler, Reply

if TYPE_CHECKING:
    from gateway.runtime import Runtime

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_TEXT_FILTERS = ("subject", "team", "model", "provider", "pii_type", "request_id")
_KNOWN = {*_TEXT_FILTERS, "since", "until", "decision", "status", "type", "limit"}


def filters_from_query(query: Mapping[str, str]) -> tuple[Filters, int]:
    """Validate query parameters into filters and a limit; every mistake names the parameter."""
    unknown = sorted(set(query) - _KNOWN)
    if unknown:
        raise InvalidRequestError(f"Unknown filter '{unknown[0]}'.", param=unknown[0])
    values: dict[str, Any] = {name: query[name] for name in _TEXT_FILTERS if query.get(name)}
    for name in ("since", "until"):
        if query.get(name):
            try:
                values[name] = parse_time(query[name])
            except ValueError as exc:
                raise InvalidRequestError(str(exc), param=name) from None
    if query.get("decision"):
        if query["decision"] not in ("allow", "deny"):
            raise InvalidRequestError("'decision' must be allow or deny.", param="decision")
        values["decision"] = query["decision"]
    if query.get("type"):
        if query["type"] not in ("request", "event", "any"):
            raise InvalidRequestError("'type' must be request, event or any.", param="type")
        values["type"] = query["type"]
    values["status"] = _integer(query, "status", None, 100, 599)
    limit = _integer(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    assert limit is not None
    return Filters(**values), limit


def _integer(query: Mapping[str, str], name: str, default: int | None, low: int, high: int) -> int | None:
    text = query.get(name)
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise InvalidRequestError(f"'{name}' must be a whole number from {low} to {high}.", param=name)
    return int(text)


class AuditReview:
    def __init__(self, config: AuditConfig) -> None:
        self._directory = Path(config.dir)
        try:
            self._verifiers = Verifiers.load(config.checkpoint_key, config.checkpoint_signing_key)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"audit.checkpoint_signing_key: cannot load the key: {exc}") from None

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        if exchange.operation == "audit.search":
            filters, limit = filters_from_query(exchange.query)
            records = await asyncio.to_thread(search.search, self._directory, filters, limit=limit, newest_first=True)
            return Reply(body={"object": "list", "data": records, "limit": limit, "has_more": len(records) == limit})
        if exchange.operation == "audit.record":
            request_id = exchange.resource_id or ""
            record = await asyncio.to_thread(search.find, self._directory, request_id) if request_id else None
            if record is None:
                raise NotFoundError(f"No audit record for request '{request_id}'.", code="record_not_found")
            return Reply(body=record)
        report = await asyncio.to_thread(verify, self._directory, self._verifiers)
        return Reply(body=report.as_dict())


def create(runtime: Runtime) -> AuditReview:
    return AuditReview(runtime.config.audit)
