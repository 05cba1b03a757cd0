"""Key records in Redis, shared by every replica.

Lookups are cached in process for a few seconds (a key is checked on every
request); a revocation is published on :data:`REVOCATIONS` and every replica
drops its cached copy at once, so a revoked key stops working everywhere
without waiting for the cache to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import cast

import orjson
import redis.asyncio as aioredis

from gateway.identity.keys import KeyRecord

log = logging.getLogger("gateway.identity")

PREFIX = "gw:keys:"
INDEX = "gw:keys"
REVOCATIONS = "gw:keys:revoked"
CACHE_SECONDS = 5.0


class RedisKeyStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}
        self._listener: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str) -> RedisKeyStore:
        return cls(aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2))

    async def start(self) -> None:
        ready = asyncio.Event()
        self._listener = asyncio.create_task(self._listen(ready))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await ready.wait()

    async def _listen(self, ready: asyncio.Event) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(REVOCATIONS)
                    # Anything cached before the subscription could miss a revocation.
                    self._cache.clear()
                    ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._cache.pop(message["data"].decode(), None)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep listening across Redis restarts
                log.warning("key revocation channel lost; retrying", exc_info=False)
                self._cache.clear()
                await asyncio.sleep(0.5)

    async def get(self, key_id: str) -> KeyRecord | None:
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        raw = await self._redis.get(PREFIX + key_id)
        record = KeyRecord.from_dict(orjson.loads(raw)) if raw else None
        self._cache[key_id] = (now + CACHE_SECONDS, record)
        return record

    async def put(self, record: KeyRecord) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(PREFIX + record.key_id, orjson.dumps(record.to_dict()))
            pipe.sadd(INDEX, record.key_id)
            await pipe.execute()
        self._cache.pop(record.key_id, None)

    async def list(self) -> list[KeyRecord]:
        members = cast(set[bytes], await self._redis.smembers(INDEX))
        ids = sorted(member.decode() for member in members)
        if not ids:
            return []
        raws = await self._redis.mget([PREFIX + key_id for key_id in ids])
        records = [KeyRecord.from_dict(orjson.loads(raw)) for raw in raws if raw]
        return sorted(records, key=lambda r: r.created_at)

    async def revoke(self, key_id: str) -> KeyRecord | None:
        raw = await self._redis.get(PREFIX + key_id)
        if not raw:
            return None
        record = KeyRecord.from_dict(orjson.loads(raw))
        if record.revoked_at is None:
            record = record.revoked()
            await self._redis.set(PREFIX + key_id, orjson.dumps(record.to_dict()))
        await self._redis.publish(REVOCATIONS, key_id)
        self._cache.pop(key_id, None)
        return record

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._redis.aclose()
