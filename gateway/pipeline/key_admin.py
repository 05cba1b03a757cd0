"""key_admin: the admin HTTP API for gateway keys (create, list, revoke).

``POST /admin/keys`` with ``{"subject", "team", "roles", "description"?, "expires_in_days"?}``
answers the full key once; it is never retrievable again. ``GET /admin/keys`` lists
records without secrets; ``DELETE /admin/keys/{key_id}`` revokes.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from adapters.errors import InvalidRequest
from adapters.schema import load_json_object
from gateway.audit.log import AuditLog
from gateway.errors import InvalidRequestError, NotFoundError
from gateway.exchange import Exchange, Handler, Reply
from gateway.identity.keys import KeyRecord, new_key
from gateway.identity.keystore import KeyStore

if TYPE_CHECKING:
    from gateway.runtime import Runtime

_NAME_LIMIT = 256


def _text(body: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > _NAME_LIMIT:
        raise InvalidRequestError(f"'{key}' must be a non-empty string of at most {_NAME_LIMIT} characters.", param=key)
    return value.strip()


def _creation(raw: bytes) -> tuple[str, str, tuple[str, ...], str, float | None]:
    try:
        body = load_json_object(raw)
    except InvalidRequest as exc:
        raise InvalidRequestError(exc.message) from None
    roles = body.get("roles")
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) and r.strip() for r in roles):
        raise InvalidRequestError("'roles' must be a non-empty list of role names.", param="roles")
    days = body.get("expires_in_days")
    expires_at = None
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, int | float) or days <= 0:
            raise InvalidRequestError("'expires_in_days' must be a positive number.", param="expires_in_days")
        expires_at = time.time() + float(days) * 86400
    return (
        _text(body, "subject"),
        _text(body, "team"),
        tuple(r.strip() for r in roles),
        _text(body, "description", required=False),
        expires_at,
    )


class KeyAdmin:
    def __init__(self, keys: KeyStore | None, audit: AuditLog | None) -> None:
        self._keys = keys
        self._audit = audit

    async def _event(self, kind: str, record: KeyRecord, exchange: Exchange) -> None:
        # The request itself is audited too; the event makes key history searchable on its own.
        if self._audit is not None:
            by = exchange.principal.subject if exchange.principal else None
            fields = {"key_id": record.key_id, "subject": record.subject, "team": record.team, "by": by}
            await asyncio.wrap_future(self._audit.event(kind, **fields, roles=list(record.roles)))

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        keys = self._keys
        if keys is None:
            raise NotFoundError("Gateway API keys are not enabled in this configuration.")
        if exchange.operation == "keys.create":
            subject, team, roles, description, expires_at = _creation(exchange.body)
            key, record = new_key(subject, team, roles, description=description, expires_at=expires_at)
            await keys.put(record)
            await self._event("key.created", record, exchange)
            return Reply(body={**record.public(), "key": key}, status=201)
        if exchange.operation == "keys.list":
            return Reply(body={"object": "list", "data": [r.public() for r in await keys.list()]})
        revoked = await keys.revoke(exchange.resource_id or "")
        if revoked is None:
            raise NotFoundError(f"No key with id '{exchange.resource_id}'.", code="key_not_found")
        await self._event("key.revoked", revoked, exchange)
        return Reply(body=revoked.public())


def create(runtime: Runtime) -> KeyAdmin:
    return KeyAdmin(runtime.keys, runtime.audit)
