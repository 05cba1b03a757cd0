"""``AuditLog``: what the runtime owns and the stages call.

:meth:`AuditLog.submit` (on the event loop) writes a record and returns a
future that completes once it is acknowledged under ``audit.ack`` (written,
or fsynced; see ``gateway.audit.writer``); :meth:`AuditLog.write` does the same
without a future when records are acknowledged on write; :meth:`AuditLog.event`
does it from any thread for policy and key events.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from gateway.audit.capture import CapturePolicy, load_capture_policy
from gateway.audit.chain import make_signer
from gateway.audit.config import AuditConfig
from gateway.audit.files import write_atomic
from gateway.audit.record import Content, event_record, utc_iso
from gateway.audit.relay import RedisSink, Relay, Sink, SinkStats, StdoutSink
from gateway.audit.segments import SegmentWriter
from gateway.audit.spool import Spool
from gateway.audit.writer import Writer, WriterStats
from gateway.config_fields import ConfigError
from gateway.identity.principal import Principal


@dataclass(slots=True)
class AuditStats:
    """Counters for ``gateway audit stats`` and, later, metrics."""

    replica: str
    records: int
    batches: int
    failed: int
    largest_batch: int
    checkpoints: int
    sinks: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class AuditLog:
    def __init__(
        self, config: AuditConfig, capture: CapturePolicy | None = None, stdout: BinaryIO | None = None
    ) -> None:
        self.config = config
        self.capture = capture if capture is not None else load_capture_policy(config.capture_policy)
        self._stdout = stdout
        try:
            signer = make_signer(config.checkpoint_key, config.checkpoint_signing_key)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"audit.checkpoint_signing_key: cannot load the signing key: {exc}") from None
        self._segments = SegmentWriter(config, signer)
        self._writer: Writer | None = None
        self._relays: list[Relay] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def replica(self) -> str:
        return self._segments.replica

    @property
    def directory(self) -> Path:
        return self._segments.directory

    def start(self) -> None:
        """Open this replica's chain and start the writer; call inside the running event loop.

        The directory is opened synchronously: this runs once at start-up,
        before the loop serves any request, and a trail that cannot be opened
        must stop the gateway from starting.
        """
        self._loop = asyncio.get_running_loop()
        self._segments.open()
        spool_dir = Path(self.config.spool_dir) if self.config.spool_dir else self.directory / "spool"
        for sink in self._sinks():
            self._relays.append(Relay(sink, Spool(spool_dir, f"{self.replica}.{sink.name}")))
        self._writer = Writer(
            self._segments,
            window=self.config.group_commit_ms / 1000,
            ack_on_write=self.config.ack == "write",
            sync_interval=self.config.sync_interval_ms / 1000,
            deliver=self._deliver_threadsafe,
            on_checkpoint=self._save_stats,
        )
        for relay in self._relays:
            relay.start()
        self._writer.start()

    def _sinks(self) -> list[Sink]:
        sinks: list[Sink] = []
        if "stdout" in self.config.sinks:
            sinks.append(StdoutSink(self._stdout))
        if "redis" in self.config.sinks:
            sinks.append(RedisSink(self.config.redis_url, self.config.redis_stream, self.config.redis_maxlen))
        return sinks

    async def close(self) -> None:
        """Write what is queued, close the segment with a final checkpoint, flush or spool the sinks."""
        if self._writer is not None:
            await asyncio.to_thread(self._writer.stop)
        for relay in self._relays:
            await relay.close()
        if self.replica:
            await asyncio.to_thread(self._save_stats)

    # -- writing --------------------------------------------------------

    def submit(self, record: dict[str, Any]) -> asyncio.Future[None]:
        """Write a record; the future completes when it is acknowledged (or fails with ``AuditWriteError``)."""
        assert self._writer is not None, "AuditLog.start() has not run"
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        # Records of cancelled requests have no waiter; a failure is logged by the writer, not by asyncio.
        future.add_done_callback(_retrieve)
        self._writer.submit(record, future)
        return future

    def write(self, record: dict[str, Any]) -> asyncio.Future[None] | None:
        """Write a record: None once it is acknowledged, or a future to await when ``audit.ack`` is ``fsync``.

        Raises ``AuditWriteError`` when the trail cannot take it. Cheaper than
        :meth:`submit` when records are acknowledged on write: no future, no callback.
        """
        assert self._writer is not None, "AuditLog.start() has not run"
        if not self._writer.ack_on_write:
            return self.submit(record)
        self._writer.write(record)
        return None

    def event(self, kind: str, **fields: Any) -> concurrent.futures.Future[None]:
        """Record a policy or key event (``policy.reload``, ``key.created``, …) from any thread.

        Fields must be JSON values and must not hold secrets (name a key by its
        id, a policy by its version). Returns a future that completes once the
        event is durable; ``await asyncio.wrap_future(...)`` it from async code.
        """
        assert self._writer is not None, "AuditLog.start() has not run"
        orjson.dumps(fields)  # refuse a value that is not JSON here, before the writer's lock is taken
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._writer.submit(event_record(kind, time.time(), dict(fields)), future)
        return future

    def content_for(self, principal: Principal | None) -> Content | None:
        mode = self.capture.mode_for(principal.team if principal is not None else None)
        if mode == "none":
            return None
        return Content(mode, self.capture.redactor if mode == "redacted" else None)

    # -- sinks and counters ---------------------------------------------

    def _deliver_threadsafe(self, lines: list[bytes]) -> None:
        if self._relays and lines and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._offer, lines)

    def _offer(self, lines: list[bytes]) -> None:
        for relay in self._relays:
            relay.offer(lines)

    def stats(self) -> AuditStats:
        writer = self._writer.stats if self._writer is not None else WriterStats()
        return AuditStats(
            replica=self.replica,
            records=writer.records,
            batches=writer.batches,
            failed=writer.failed,
            largest_batch=writer.largest_batch,
            checkpoints=self._segments.checkpoints,
            sinks={relay.sink.name: relay.stats.as_dict() for relay in self._relays},
        )

    def sink_stats(self, name: str) -> SinkStats | None:
        return next((relay.stats for relay in self._relays if relay.sink.name == name), None)

    def _save_stats(self) -> None:
        data = {"time": utc_iso(time.time()), **self.stats().as_dict()}
        write_atomic(self.directory / f"{self.replica}.stats.json", orjson.dumps(data), fsync=False)


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
