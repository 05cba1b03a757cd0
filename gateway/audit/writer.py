"""The group-commit writer: one thread seals, writes and fsyncs batches of records.

Callers on the event loop hand over a record and await a future; the thread
takes everything queued, writes it with one ``write``, fsyncs once, then
releases every waiter of that batch with a single ``call_soon_threadsafe``
per loop. Records that arrive during an fsync form the next batch, so the
cost of an fsync is shared by all requests in flight. Under load (the last
batch held more than one record) the thread also lingers for stragglers, up
to ``group_commit_ms`` in all but only while records keep arriving (each
within 0.2 ms of the last); a lone request is written at once, so a quiet
gateway pays no waiting time.

A failed write or fsync (a full disk, say) fails the waiting requests and
every later one: the gateway fails closed rather than answer unaudited.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.audit.segments import SegmentWriter

log = logging.getLogger("gateway.audit")

_MAX_BATCH = 2048
_TICK = 0.25  # seconds between checks for timed checkpoints when idle
_GAP = 0.0002  # seconds without a new record that end a lingering batch early

Waiter = asyncio.Future[None] | concurrent.futures.Future[None] | None


class AuditWriteError(Exception):
    """The record could not be made durable."""


@dataclass(slots=True)
class WriterStats:
    records: int = 0
    batches: int = 0
    failed: int = 0
    largest_batch: int = 0


class Writer:
    def __init__(
        self,
        segments: SegmentWriter,
        *,
        window: float,
        ack_on_write: bool = False,
        deliver: Callable[[list[bytes]], None],
        on_checkpoint: Callable[[], None],
    ) -> None:
        self.segments = segments
        self.window = window
        self.ack_on_write = ack_on_write
        self.stats = WriterStats()
        self._deliver = deliver
        self._on_checkpoint = on_checkpoint
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], Waiter] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._broken: BaseException | None = None
        self._stopping = False
        self._done = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def submit(self, record: dict[str, Any], waiter: Waiter) -> None:
        if self._broken is not None or self._stopping:
            reason = self._broken if self._broken is not None else "the gateway is shutting down"
            _release_one(waiter, AuditWriteError(f"the audit trail is unavailable: {reason}"))
            return
        self._queue.put((record, waiter))

    def stop(self) -> None:
        """Write what is queued, close the segment with a final checkpoint, end the thread (blocking)."""
        self._stopping = True
        if self._thread.is_alive():
            self._queue.put(None)
            self._done.wait()
            self._thread.join()
        # A submit that raced with the sentinel is refused rather than left waiting forever.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                _release_one(item[1], AuditWriteError("the audit trail is unavailable: the gateway is shutting down"))

    # -- the thread -----------------------------------------------------

    def _run(self) -> None:
        stopping = False
        linger = False
        while not stopping:
            try:
                item = self._queue.get(timeout=_TICK)
            except queue.Empty:
                if self._broken is None and self._guard(self.segments.checkpoint_if_due):
                    self._commit([])
                continue
            batch: list[tuple[dict[str, Any], Waiter]] = []
            stopping = self._collect(item, batch, linger)
            linger = len(batch) > 1
            self._commit(batch)
        if self._broken is None:
            self._guard(self.segments.close)
            self._deliver(self.segments.drain())
        self._done.set()

    def _collect(self, item: tuple[dict[str, Any], Waiter] | None, batch: list[Any], linger: bool) -> bool:
        """Fill ``batch`` from the queue; True when the stop sentinel was seen."""
        deadline = time.monotonic() + self.window if linger else 0.0
        while True:
            if item is None:
                return True
            batch.append(item)
            if len(batch) >= _MAX_BATCH:
                return False
            try:
                # Linger only while records keep coming: a pause longer than _GAP means every
                # request in flight is already in the batch, and waiting longer only adds latency.
                remaining = min(deadline - time.monotonic(), _GAP)
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                return False

    def _guard(self, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except OSError as exc:
            log.error("audit trail write failed, refusing further requests: %s", exc)
            self._broken = exc
            return None

    def _commit(self, batch: list[tuple[dict[str, Any], Waiter]]) -> None:
        error: BaseException | None = None
        failed: list[int] = []
        released = False
        if self._broken is None:
            checkpoints = self.segments.checkpoints

            def write() -> None:
                nonlocal released
                failed.extend(self.segments.append([record for record, _ in batch]) if batch else ())
                if self.ack_on_write and batch:
                    # ack: write — the records are with the operating system, which survives a
                    # crash of this process; answer now and let the fsync follow.
                    _release(batch, None, set(failed))
                    released = True
                self.segments.sync()
                self.segments.after_sync()

            self._guard(write)
            if self._broken is None and self.segments.checkpoints != checkpoints:
                self._on_checkpoint()
        if self._broken is not None:
            error = AuditWriteError(f"the audit trail is unavailable: {self._broken}")
        else:
            self._deliver(self.segments.drain())
        self.stats.batches += 1
        self.stats.records += len(batch) - len(failed)
        self.stats.failed += len(failed) if error is None else len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        if not released:
            _release(batch, error, set(failed))


def _release_one(waiter: Waiter, error: BaseException | None) -> None:
    if isinstance(waiter, concurrent.futures.Future):
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
    elif waiter is not None:
        # A loop that has closed has nobody left waiting.
        with contextlib.suppress(RuntimeError):
            waiter.get_loop().call_soon_threadsafe(_settle, [waiter], error)


def _release(batch: list[tuple[dict[str, Any], Waiter]], error: BaseException | None, failed: set[int]) -> None:
    """Wake every waiter of a batch: one thread-safe call per event loop, not one per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None], BaseException | None]]] = {}
    for i, (_, waiter) in enumerate(batch):
        outcome = AuditWriteError("the record is not JSON-serialisable") if i in failed else error
        if isinstance(waiter, asyncio.Future):
            by_loop.setdefault(waiter.get_loop(), []).append((waiter, outcome))
        elif waiter is not None:
            _release_one(waiter, outcome)
    for loop, waiters in by_loop.items():
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle_each, waiters)


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    _settle_each([(f, error) for f in futures])


def _settle_each(waiters: list[tuple[asyncio.Future[None], BaseException | None]]) -> None:
    for future, error in waiters:
        if future.done():  # the waiter was cancelled (client gone); the record is written all the same
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
