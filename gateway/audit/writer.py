"""The audit writer: records are written on the caller's thread, fsynced on a sync thread.

``submit`` seals a record into the chain and ``write``s it to the segment file
at once, under a lock, on the calling thread (the event loop for requests): a
``write`` of a few kilobytes to the page cache costs microseconds, far less
than handing the record to another thread and waking the loop again when it
is done. The fsync, which waits for the disk, runs on the sync thread, with
the lock released, so appends go on meanwhile and the next fsync covers
everything written during this one (group commit without a queue).

When a request may be answered (``audit.ack``):

- ``fsync``: once an fsync that started after its record was written has
  returned. The waiters of one fsync are woken with one ``call_soon_threadsafe``
  per event loop. Under load (the last fsync covered more than one record) the
  thread lingers up to ``group_commit_ms`` while records keep arriving (each
  within 0.2 ms of the last), so one fsync serves more requests.
- ``write``: as soon as the ``write`` returned. The record then survives a crash
  of the gateway (the kernel holds the page). The sync thread starts an fsync
  one ``sync_interval`` after the start of the last one (at once if that one took
  longer), so a power cut can take the records of about the last interval and
  one fsync. The thread needs the interpreter's lock to start it: when the event
  loop never sleeps, that adds a few milliseconds (bench/README.md: 10 ms
  configured, fsyncs 11-12 ms apart on average at 64 connections, p99 17-19 ms).
  At one request in flight a per-record fsync costs this VM more CPU than the
  rest of the request (bench/README.md).

Rotation, timed checkpoints and the head file are the sync thread's work. A
failed write or fsync (a full disk, say) fails the waiting requests and every
later one: the gateway fails closed rather than answer unaudited.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.audit.segments import SegmentWriter

log = logging.getLogger("gateway.audit")

_TICK = 0.25  # seconds between checks for timed checkpoints when idle
_GAP = 0.0002  # seconds without a new record that end a lingering group commit early
_POKE_DELAY = 0.001  # seconds from a first unsynced record to waking the sync thread, at least
#: How early an fsync may count as due. The event loop's timers are rounded to the millisecond and
#: fire up to that much early (uvloop); without this slack an early poke found the fsync not yet
#: due and the thread slept once more, paying a second wake-up and GIL hand-over per interval.
_TIMER_SLACK = 0.001

Waiter = asyncio.Future[None] | concurrent.futures.Future[None] | None


class AuditWriteError(Exception):
    """The record could not be made durable."""


@dataclass(slots=True)
class WriterStats:
    #: records written to the segment.
    records: int = 0
    #: fsyncs that covered at least one record, and the most records one of them covered.
    batches: int = 0
    #: submissions answered with an error (not JSON, or the trail could not be written).
    failed: int = 0
    largest_batch: int = 0


class Writer:
    def __init__(
        self,
        segments: SegmentWriter,
        *,
        window: float,
        ack_on_write: bool = False,
        sync_interval: float = 0.0,
        deliver: Callable[[list[bytes]], None],
        on_checkpoint: Callable[[], None],
    ) -> None:
        self.segments = segments
        self.window = window
        self.ack_on_write = ack_on_write
        self.sync_interval = sync_interval if ack_on_write else 0.0
        self.stats = WriterStats()
        self._deliver = deliver
        self._on_checkpoint = on_checkpoint
        self._lock = threading.Lock()
        # Held while nobody has asked the sync thread to look; released (by a submitter, under
        # ``_lock``) to wake it. Cheaper than a Condition, whose waiter wakes into a held lock.
        self._signal = threading.Lock()
        self._signal.acquire()
        self._thread = threading.Thread(target=self._run, name="audit-sync", daemon=True)
        # Positions count appended lines of any kind; a waiter waits for its position to be synced.
        self._appended = 0
        self._synced = 0
        self._records_unsynced = 0
        self._last_batch = 0  # records covered by the last fsync: more than one means load
        self._waiters: list[tuple[int, Waiter]] = []
        self._syncing = False
        #: When the last fsync started: the next is due one interval after that, not after it
        #: returned, so a record waits at most the interval for the start of its fsync.
        self._last_sync = time.monotonic()
        self._checkpoints_saved = 0
        self._broken: BaseException | None = None
        self._stopping = False

    def start(self) -> None:
        self._thread.start()

    def submit(self, record: dict[str, Any], waiter: Waiter) -> None:
        """Seal and write ``record`` now; ``waiter`` completes when the record is acknowledged."""
        with self._lock:
            error = self._append(record, waiter)
            if error is None and not self.ack_on_write:
                return  # the sync thread releases it after an fsync that covers the record
        _release_now(waiter, error)

    def write(self, record: dict[str, Any]) -> None:
        """Seal and write ``record`` now (raises :class:`AuditWriteError`), with nobody to wake.

        With ``ack: write`` the record is acknowledged once this returns; with
        ``ack: fsync`` a caller that must wait for the fsync uses :meth:`submit`.
        """
        with self._lock:
            error = self._append(record, None)
        if error is not None:
            raise error

    def _append(self, record: dict[str, Any], waiter: Waiter) -> AuditWriteError | None:
        """With the lock held: write the record; queue its waiter (``ack: fsync``) or wake the sync thread."""
        if self._broken is not None or self._stopping:
            return self._refused(self._broken if self._broken is not None else "the gateway is shutting down")
        checkpoints = self.segments.checkpoints
        try:
            failed = self.segments.append([record])
        except OSError as exc:
            self._fail(exc)
            return self._refused(exc)
        if failed:
            self.stats.failed += 1
            return AuditWriteError("the record is not JSON-serialisable")
        was_clean = self._appended == self._synced
        self._appended += 1 + (self.segments.checkpoints - checkpoints)
        self._records_unsynced += 1
        self.stats.records += 1
        if not self.ack_on_write:
            self._waiters.append((self._appended, waiter))
            if not self._syncing:
                self._poke()
        elif was_clean and not self._syncing:
            # The sync thread sleeps up to _TICK while nothing is unsynced: wake it when this
            # record's fsync is due. Once per interval at most, not per record; from the event loop,
            # and never sooner than _POKE_DELAY: a thread woken at once would preempt the request it
            # serves and contend for the GIL before the reply is written.
            loop = waiter.get_loop() if isinstance(waiter, asyncio.Future) else _running_loop()
            if loop is not None:
                due = self._last_sync + self.sync_interval - time.monotonic()
                loop.call_later(max(_POKE_DELAY, due), self._poke_unlocked)
            else:
                self._poke()
        return None

    def _refused(self, reason: object, count: int = 1) -> AuditWriteError:
        """With the lock held: the error for records the trail could not take (counted as failed)."""
        self.stats.failed += count
        return AuditWriteError(f"the audit trail is unavailable: {reason}")

    def stop(self) -> None:
        """Fsync what is written, close the segment with a final checkpoint, end the thread (blocking)."""
        with self._lock:
            self._stopping = True
            self._poke()
        if self._thread.is_alive():
            self._thread.join()

    def _fail(self, exc: BaseException) -> None:
        """Called with the lock held: refuse everything from now on."""
        if self._broken is None:
            log.error("audit trail write failed, refusing further requests: %s", exc)
            self._broken = exc

    # -- the sync thread ------------------------------------------------

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            target, records, head = job
            started = time.monotonic()
            error = self._guarded(self.segments.sync)
            if error is None and head is not None:
                error = self._guarded(functools.partial(self.segments.publish, head))
            with self._lock:
                self._syncing = False
                self._last_sync = started
                if error is not None:
                    self._fail(error)
                else:
                    self._synced = target
                    self._last_batch = records
                    if records:
                        self.stats.batches += 1
                        self.stats.largest_batch = max(self.stats.largest_batch, records)
                    if self.segments.rotation_due():
                        # Rare (by size or age); appends wait for the closing fsync of the old segment.
                        self._fail_on_error(self.segments.rotate)
                released = self._take_waiters()
                lines = self.segments.drain() if self._broken is None else []
                checkpointed = self.segments.checkpoints != self._checkpoints_saved
                self._checkpoints_saved = self.segments.checkpoints
            self._release_waiters(released)
            if lines:
                self._deliver(lines)
            if checkpointed:
                self._on_checkpoint()
        self._close()

    def _next_job(self) -> tuple[int, int, bytes | None] | None:
        """Wait until an fsync is due; what it covers, or None when it is time to stop."""
        lingered = False
        while True:
            released: list[tuple[Waiter, BaseException | None]] = []
            with self._lock:
                if self._stopping:
                    return None
                timeout = _TICK
                if self._broken is not None:
                    released = self._take_waiters()
                else:
                    unsynced = self._appended > self._synced
                    due = unsynced and time.monotonic() - self._last_sync >= self.sync_interval - _TIMER_SLACK
                    if self._waiters and not lingered and self._last_batch > 1 and self.window > 0:
                        lingered = True
                    elif self._waiters or due:
                        job = self._appended, self._records_unsynced, self.segments.take_unpublished()
                        self._records_unsynced = 0
                        self._syncing = True
                        return job
                    elif self._fail_on_error(self.segments.checkpoint_if_due):
                        self._appended += 1
                        continue
                    elif unsynced:
                        timeout = max(0.0, min(timeout, self._last_sync + self.sync_interval - time.monotonic()))
            self._release_waiters(released)
            if lingered:
                self._linger()
            else:
                self._signal.acquire(timeout=timeout)

    def _linger(self) -> None:
        """Under load, let more records join this fsync while they keep coming."""
        deadline = time.monotonic() + self.window
        while not self._stopping:
            before = self._appended
            remaining = min(deadline - time.monotonic(), _GAP)
            if remaining <= 0:
                return
            self._signal.acquire(timeout=remaining)
            if self._appended == before:
                return

    def _poke_unlocked(self) -> None:
        with self._lock:
            if not self._syncing:
                self._poke()

    def _poke(self) -> None:
        """With the lock held: wake the sync thread (a bare lock release, one futex call)."""
        if self._signal.locked():
            self._signal.release()

    @staticmethod
    def _guarded(action: Callable[[], Any]) -> BaseException | None:
        try:
            action()
        except OSError as exc:
            return exc
        return None

    def _fail_on_error(self, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except OSError as exc:
            self._fail(exc)
            return None

    def _take_waiters(self) -> list[tuple[Waiter, BaseException | None]]:
        """With the lock held: the waiters whose records are now durable, or all of them if broken."""
        if self._broken is not None:
            done, self._waiters = self._waiters, []
            error = self._refused(self._broken, len(done))
            return [(waiter, error) for _, waiter in done]
        durable: list[tuple[Waiter, BaseException | None]] = [
            (waiter, None) for position, waiter in self._waiters if position <= self._synced
        ]
        if durable:
            self._waiters = [(p, w) for p, w in self._waiters if p > self._synced]
        return durable

    def _close(self) -> None:
        with self._lock:
            if self._broken is None:
                self._fail_on_error(self.segments.close)
                self._synced = self._appended
            released = self._take_waiters()
            lines = self.segments.drain() if self._broken is None else []
        self._release_waiters(released)
        if lines:
            self._deliver(lines)

    @staticmethod
    def _release_waiters(waiters: list[tuple[Waiter, BaseException | None]]) -> None:
        """Wake the waiters of one fsync: one thread-safe call per event loop, not one per request."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[None], BaseException | None]]] = {}
        for waiter, error in waiters:
            if isinstance(waiter, asyncio.Future):
                by_loop.setdefault(waiter.get_loop(), []).append((waiter, error))
            elif waiter is not None:
                _settle_concurrent(waiter, error)
        for loop, futures in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a loop that has closed has nobody left waiting
                loop.call_soon_threadsafe(_settle_each, futures)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _release_now(waiter: Waiter, error: BaseException | None) -> None:
    """Complete a waiter from the submitting thread: directly on its own loop, else thread-safely."""
    if isinstance(waiter, concurrent.futures.Future):
        _settle_concurrent(waiter, error)
    elif waiter is not None:
        if waiter.get_loop() is _running_loop():
            _settle_each([(waiter, error)])
        else:
            with contextlib.suppress(RuntimeError):
                waiter.get_loop().call_soon_threadsafe(_settle_each, [(waiter, error)])


def _settle_concurrent(waiter: concurrent.futures.Future[None], error: BaseException | None) -> None:
    if error is None:
        waiter.set_result(None)
    else:
        waiter.set_exception(error)


def _settle_each(waiters: list[tuple[asyncio.Future[None], BaseException | None]]) -> None:
    for future, error in waiters:
        if future.done():  # the waiter was cancelled (client gone); the record is written all the same
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
