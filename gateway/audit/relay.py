"""Copies of the trail for log shippers (stdout) and for replicas sharing a Redis stream.

The file segments are the source of truth and a request waits only for them;
these sinks are fed afterwards, one batch at a time, by a :class:`Relay` task
per sink. When a sink fails, its lines go to a local :class:`Spool` and the
relay retries with backoff, delivering the spool in order before anything
newer. No line is dropped silently: :class:`SinkStats` counts what was
delivered, spooled and failed, and ``lost`` (lines that could not even be
spooled, each also logged as an error) should stay zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections import deque
from dataclasses import asdict, dataclass
from typing import BinaryIO, Protocol

import redis.asyncio
import redis.exceptions

from gateway.audit.spool import Spool

log = logging.getLogger("gateway.audit")

_MIN_BACKOFF = 0.2
_MAX_BACKOFF = 5.0
_BATCH = 512


class SinkUnavailable(Exception):
    """The sink could not take the lines; they will be spooled and retried."""


class Sink(Protocol):
    name: str

    async def deliver(self, lines: list[bytes]) -> None: ...

    async def close(self) -> None: ...


class StdoutSink:
    """JSON lines on standard output (logs go to stderr), for a log shipper to collect."""

    name = "stdout"

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer

    def _write(self, data: bytes) -> None:
        self._stream.write(data)
        self._stream.flush()

    async def deliver(self, lines: list[bytes]) -> None:
        try:
            # A pipe to a stalled shipper blocks; that must not stall the event loop.
            await asyncio.to_thread(self._write, b"".join(lines))
        except OSError as exc:
            raise SinkUnavailable(str(exc)) from None

    async def close(self) -> None:
        return None


class RedisSink:
    """``XADD <stream> MAXLEN ~ <maxlen> * line <json>``, one pipelined round trip per batch."""

    name = "redis"

    def __init__(self, url: str, stream: str, maxlen: int) -> None:
        self._client = redis.asyncio.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._stream = stream
        self._maxlen = maxlen

    async def deliver(self, lines: list[bytes]) -> None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for line in lines:
                    pipe.xadd(self._stream, {"line": line.rstrip(b"\n")}, maxlen=self._maxlen, approximate=True)
                await pipe.execute()
        except (redis.exceptions.RedisError, OSError) as exc:
            raise SinkUnavailable(f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        await self._client.aclose()


@dataclass(slots=True)
class SinkStats:
    delivered: int = 0
    spooled: int = 0
    failed: int = 0
    pending: int = 0
    lost: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Relay:
    def __init__(self, sink: Sink, spool: Spool) -> None:
        self.sink = sink
        self.spool = spool
        self.stats = SinkStats(pending=spool.pending)
        self._buffer: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        if spool.pending:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"audit-relay-{self.sink.name}")

    def offer(self, lines: list[bytes]) -> None:
        """Queue lines for delivery (on the event loop; called once per written batch)."""
        self._buffer.extend(lines)
        self._wake.set()

    async def close(self, grace: float = 5.0) -> None:
        self._closing.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, grace)
            except TimeoutError:
                log.warning("audit sink %s did not finish in %.0fs; the rest waits in its spool", self.sink.name, grace)
        if self._buffer:
            await self._spill()
        await self.sink.close()

    async def _run(self) -> None:
        delay = _MIN_BACKOFF
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.spool.pending or self._buffer:
                if await self._deliver_next():
                    delay = _MIN_BACKOFF
                    continue
                if self._closing.is_set():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
                delay = min(delay * 2, _MAX_BACKOFF)
            if self._closing.is_set():
                return

    async def _deliver_next(self) -> bool:
        """Deliver the oldest lines (spooled ones first, to keep the order); False if the sink failed."""
        if self.spool.pending:
            if self._buffer:
                await self._spill()
            lines, offset = await asyncio.to_thread(self.spool.peek, _BATCH)
            if not lines:  # only a torn line was left: nothing deliverable
                await asyncio.to_thread(self.spool.advance, offset, self.spool.pending)
                return True
            if not await self._try(lines):
                return False
            await asyncio.to_thread(self.spool.advance, offset, len(lines))
            self.stats.pending = self.spool.pending
            return True
        lines = [self._buffer.popleft() for _ in range(min(len(self._buffer), 4 * _BATCH))]
        if await self._try(lines):
            return True
        self._buffer.extendleft(reversed(lines))
        await self._spill()
        return False

    async def _try(self, lines: list[bytes]) -> bool:
        try:
            await self.sink.deliver(lines)
        except SinkUnavailable as exc:
            self.stats.failed += 1
            log.warning("audit sink %s unavailable (%s); spooling", self.sink.name, exc)
            return False
        self.stats.delivered += len(lines)
        return True

    async def _spill(self) -> None:
        lines = list(self._buffer)
        self._buffer.clear()
        try:
            await asyncio.to_thread(self.spool.append, lines)
        except OSError as exc:
            self.stats.lost += len(lines)
            log.error("audit sink %s: %d lines could not be spooled and are lost: %s", self.sink.name, len(lines), exc)
            return
        self.stats.spooled += len(lines)
        self.stats.pending = self.spool.pending
