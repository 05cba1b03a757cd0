"""When a request may be answered: ``ack: write`` (written now, fsynced within the interval) and ``ack: fsync``."""

from __future__ import annotations

import asyncio
import errno
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.audit.capture import CapturePolicy
from gateway.audit.chain import Verifiers
from gateway.audit.log import AuditLog
from gateway.audit.verify import verify
from gateway.audit.writer import AuditWriteError
from tests.audit.conftest import trail_lines
from tests.audit.support import KEY, audit_config, request


def _log(directory: Path, **overrides: Any) -> AuditLog:
    return AuditLog(audit_config(directory, **overrides), capture=CapturePolicy())


def _request_ids(directory: Path) -> list[str]:
    return [line["request_id"] for line in trail_lines(directory) if line["type"] == "request"]


class SyncProbe:
    """Wraps ``SegmentWriter.sync``: counts calls, and can hold each one until a permit is given."""

    def __init__(self, log: AuditLog, *, gated: bool = False) -> None:
        self.calls: list[float] = []
        self.entered = threading.Event()
        self._permits = threading.Semaphore(0)
        self._gated = gated
        self._sync = log._segments.sync
        log._segments.sync = self  # type: ignore[method-assign]

    def __call__(self) -> None:
        self.calls.append(time.monotonic())
        self.entered.set()
        if self._gated:
            assert self._permits.acquire(timeout=10), "the test never let this fsync finish"
        self._sync()

    def allow(self) -> None:
        self._permits.release()


async def test_ack_write_answers_once_written_and_fsyncs_within_the_interval(tmp_path: Path) -> None:
    log = _log(tmp_path, ack="write", sync_interval_ms=100)
    log.start()
    probe = SyncProbe(log)
    try:
        submitted = time.monotonic()
        future = log.submit(request(1))
        # Answered at once: the record is in the file (the kernel's page cache), not yet fsynced.
        assert future.done()
        assert future.exception() is None
        assert _request_ids(tmp_path) == ["req_000001"]
        assert await asyncio.to_thread(probe.entered.wait, 5), "the written record was never fsynced"
        assert probe.calls[0] - submitted < 0.1 + 0.15, "the fsync came later than sync_interval_ms"

        # A burst shares fsyncs: one per interval, not one per record.
        before = len(probe.calls)
        for n in range(2, 202):
            await log.submit(request(n))
            if n % 20 == 0:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        assert 1 <= len(probe.calls) - before <= 5, f"{len(probe.calls) - before} fsyncs for 200 records"
    finally:
        await log.close()
    assert len(_request_ids(tmp_path)) == 201
    assert verify(tmp_path, Verifiers.load(KEY)).ok


async def test_ack_write_fsyncs_start_one_interval_apart_even_when_an_fsync_is_slow(tmp_path: Path) -> None:
    # The interval runs from the start of one fsync to the start of the next: a slow disk must not
    # stretch the window a power cut could take to the interval plus every fsync's duration.
    log = _log(tmp_path, ack="write", sync_interval_ms=100)
    log.start()
    probe = SyncProbe(log)
    probed = log._segments.sync

    def slow_sync() -> None:
        probed()
        time.sleep(0.06)

    log._segments.sync = slow_sync  # type: ignore[method-assign]
    try:
        ends = time.monotonic() + 1.2
        n = 0
        while time.monotonic() < ends:
            n += 1
            log.write(request(n))
            await asyncio.sleep(0.002)
    finally:
        await log.close()
    starts = probe.calls[1:-1]  # the first follows an idle period; the last is close()'s own
    gaps = sorted(b - a for a, b in itertools.pairwise(starts))
    assert len(gaps) >= 4, f"only {len(probe.calls)} fsyncs in 1.2 s"
    # Measured from the end of the last fsync, they were 0.16 s apart.
    assert gaps[len(gaps) // 2] < 0.13, f"fsyncs started {gaps} s apart"
    assert verify(tmp_path, Verifiers.load(KEY)).ok


class CountingSignal:
    """The sync thread's wake-up lock, counting the thread's waits on it."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self.waits = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        self.waits += 1
        return bool(self._lock.acquire(blocking, timeout))

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return bool(self._lock.locked())


async def test_a_poke_slightly_early_starts_the_fsync_without_another_sleep(tmp_path: Path) -> None:
    # The event loop's timers fire up to a millisecond early (uvloop rounds them): a poke that
    # early must start the fsync, not put the thread to sleep for the rest of the interval.
    log = _log(tmp_path, ack="write", sync_interval_ms=300)
    log.start()
    probe = SyncProbe(log)
    writer = log._writer
    assert writer is not None
    signal = writer._signal = CountingSignal(writer._signal)  # type: ignore[assignment]
    waits_at_fsync: list[int] = []
    probed = log._segments.sync

    def sync() -> None:
        waits_at_fsync.append(signal.waits)
        probed()

    log._segments.sync = sync  # type: ignore[method-assign]
    try:
        log.write(request(1))
        assert await asyncio.to_thread(probe.entered.wait, 5)
        await asyncio.sleep(0.05)  # the first fsync's bookkeeping is done: the next interval starts
        log.write(request(2))
        early = writer._last_sync + 0.3 - 0.0005
        await asyncio.sleep(max(0.0, early - time.monotonic() - 0.005))
        while time.monotonic() < early:  # to the sub-millisecond, which asyncio.sleep is not
            pass
        waits = signal.waits
        writer._poke_unlocked()
        for _ in range(500):
            if len(probe.calls) >= 2:
                break
            await asyncio.sleep(0.001)
        assert len(probe.calls) >= 2, "the second record was never fsynced"
        assert waits_at_fsync[1] == waits, "the early poke was taken as not due: the thread slept again first"
    finally:
        await log.close()


async def test_ack_fsync_answers_only_after_an_fsync_that_covers_the_record(tmp_path: Path) -> None:
    log = _log(tmp_path, ack="fsync")
    log.start()
    probe = SyncProbe(log, gated=True)
    try:
        first = log.submit(request(1))
        assert await asyncio.to_thread(probe.entered.wait, 5)
        # Written during the first fsync: that fsync may have started before the write, so it
        # does not count for this record.
        second = log.submit(request(2))
        await asyncio.sleep(0.05)
        assert not first.done()
        assert not second.done()
        probe.allow()
        await asyncio.wait_for(asyncio.shield(first), 5)
        await asyncio.sleep(0.05)
        assert not second.done(), "a record written during an fsync was acknowledged by it"
        probe.allow()
        await asyncio.wait_for(asyncio.shield(second), 5)
    finally:
        for _ in range(3):  # the closing checkpoint's fsync, and spares
            probe.allow()
        await log.close()
    assert _request_ids(tmp_path) == ["req_000001", "req_000002"]


@pytest.mark.parametrize("ack", ["write", "fsync"])
async def test_a_write_that_fails_fails_this_request_and_every_later_one(
    tmp_path: Path, ack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _log(tmp_path, ack=ack)
    log.start()
    try:
        await log.submit(request(1))

        def disk_full(fd: int, data: Any) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr("gateway.audit.segments.os.write", disk_full)
        with pytest.raises(AuditWriteError, match="No space left"):
            await log.submit(request(2))
        monkeypatch.undo()
        with pytest.raises(AuditWriteError, match="unavailable"):
            await log.submit(request(3))  # the disk has room again; the trail stays closed
        assert (log.stats().records, log.stats().failed) == (1, 2)
    finally:
        await log.close()
    assert _request_ids(tmp_path) == ["req_000001"]
