"""AuditLog: group commit, events, the stdout and Redis sinks, and their spool when a sink is down."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio

from gateway.audit.capture import CapturePolicy
from gateway.audit.chain import Verifiers
from gateway.audit.log import AuditLog
from gateway.audit.verify import verify
from gateway.cli import main
from tests.audit.conftest import trail_lines
from tests.audit.support import KEY, audit_config, request, segments
from tests.redis_server import RedisServer


async def _until(condition: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def _log(directory: Path, stdout: Any = None, **overrides: Any) -> AuditLog:
    return AuditLog(audit_config(directory, **overrides), capture=CapturePolicy(), stdout=stdout)


async def test_group_commit_shares_fsyncs_and_loses_nothing(tmp_path: Path) -> None:
    log = _log(tmp_path, checkpoint_every=100, ack="fsync")
    log.start()
    try:
        await asyncio.gather(*(log.submit(request(n)) for n in range(500)))
        stats = log.stats()
    finally:
        await log.close()
    assert stats.records == 500
    assert stats.batches < 100, f"{stats.batches} batches for 500 concurrent records: no group commit"
    assert stats.largest_batch > 10
    ids = [line["request_id"] for line in trail_lines(tmp_path) if line["type"] == "request"]
    assert sorted(ids) == sorted(f"req_{n:06d}" for n in range(500))
    assert verify(tmp_path, Verifiers.load(KEY)).ok


async def test_a_lone_record_is_not_held_back_by_the_window(tmp_path: Path) -> None:
    log = _log(tmp_path, group_commit_ms=500)
    log.start()
    try:
        await log.submit(request(0))  # warm-up
        started = time.perf_counter()
        await log.submit(request(1))
        elapsed = time.perf_counter() - started
    finally:
        await log.close()
    assert elapsed < 0.25, f"a single record waited {elapsed * 1000:.0f} ms"


async def test_events_are_chained_and_may_come_from_any_thread(tmp_path: Path) -> None:
    log = _log(tmp_path)
    log.start()
    try:
        await asyncio.wrap_future(log.event("policy.reload", accepted=True, policy_version="abc123"))
        from_thread = await asyncio.to_thread(lambda: log.event("key.revoked", key_id="k1", by="admin").result(5))
        assert from_thread is None
        with pytest.raises(TypeError):
            log.event("key.created", when=object())
        with pytest.raises(ValueError, match="may not be named seq"):
            log.event("key.created", seq=1)
    finally:
        await log.close()
    events = [line for line in trail_lines(tmp_path) if line["type"] == "event"]
    assert [(e["kind"], e.get("accepted"), e.get("key_id")) for e in events] == [
        ("policy.reload", True, None),
        ("key.revoked", None, "k1"),
    ]
    assert all(e["v"] == 1 and e["replica"] == "r1" for e in events)


async def test_two_logs_on_one_directory_take_separate_chains(tmp_path: Path) -> None:
    first, second = _log(tmp_path), _log(tmp_path)
    first.start()
    second.start()
    try:
        assert (first.replica, second.replica) == ("r1", "r1.1")
        await asyncio.gather(first.submit(request(1)), second.submit(request(2)))
    finally:
        await first.close()
        await second.close()
    report = verify(tmp_path, Verifiers.load(KEY))
    assert report.ok, report.findings
    assert sorted(s.replica for s in report.replicas) == ["r1", "r1.1"]


class FlakyStream(io.BytesIO):
    """A stdout that can be 'down' (a shipper that went away): writes fail with EPIPE."""

    down = False

    def write(self, data: Any) -> int:
        if self.down:
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(data)


async def test_stdout_sink_spools_while_down_and_delivers_in_order(tmp_path: Path) -> None:
    stream = FlakyStream()
    log = _log(tmp_path, stdout=stream, sinks=("file", "stdout"))
    log.start()
    try:
        await asyncio.gather(*(log.submit(request(n)) for n in range(5)))
        sink = log.sink_stats("stdout")
        assert sink is not None
        await _until(lambda: sink.delivered >= 6)  # the header and five records
        stream.down = True
        await asyncio.gather(*(log.submit(request(n)) for n in range(5, 10)))
        await _until(lambda: sink.spooled > 0)
        assert sink.failed > 0
        stream.down = False
        await _until(lambda: sink.pending == 0 and b"req_000009" in stream.getvalue())
    finally:
        await log.close()
    lines = [orjson.loads(line) for line in stream.getvalue().split(b"\n")[:-1]]
    seqs = [line["seq"] for line in lines]
    assert seqs == list(range(1, len(seqs) + 1)), "lines were lost, duplicated or reordered"
    assert [line["request_id"] for line in lines if line["type"] == "request"] == [f"req_{n:06d}" for n in range(10)]
    assert sink.lost == 0


async def _stream_lines(url: str, stream: str) -> list[dict[str, Any]]:
    client = redis.asyncio.Redis.from_url(url)
    try:
        entries = await client.xrange(stream)
    finally:
        await client.aclose()
    return [orjson.loads(fields[b"line"]) for _, fields in entries]


async def test_redis_sink_survives_redis_going_down_and_coming_back(tmp_path: Path, redis_server: RedisServer) -> None:
    config = {"sinks": ("file", "redis"), "redis_url": redis_server.url, "redis_stream": "audit-test"}
    log = _log(tmp_path / "trail", **config)
    log.start()
    try:
        sink = log.sink_stats("redis")
        assert sink is not None
        await asyncio.gather(*(log.submit(request(n)) for n in range(10)))
        await _until(lambda: sink.delivered >= 11)
        first = await _stream_lines(redis_server.url, "audit-test")
        assert [line["request_id"] for line in first if line["type"] == "request"] == [
            f"req_{n:06d}" for n in range(10)
        ]

        redis_server.stop()
        await asyncio.gather(*(log.submit(request(n)) for n in range(10, 30)))  # durable in the file meanwhile
        await _until(lambda: sink.spooled >= 20 and sink.failed > 0)
        assert sink.pending >= 20

        redis_server.start()  # a fresh, empty instance on the same port
        await _until(lambda: sink.pending == 0)
        after = await _stream_lines(redis_server.url, "audit-test")
    finally:
        await log.close()
    requests = [line["request_id"] for line in after if line["type"] == "request"]
    assert requests == [f"req_{n:06d}" for n in range(10, 30)], "spooled records lost or reordered"
    seqs = [line["seq"] for line in after]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert sink.lost == 0


async def test_spooled_lines_survive_a_restart(
    tmp_path: Path, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {"sinks": ("file", "redis"), "redis_url": redis_server.url, "redis_stream": "audit-restart"}
    redis_server.stop()
    log = _log(tmp_path / "trail", **config)
    log.start()
    await asyncio.gather(*(log.submit(request(n)) for n in range(5)))
    sink = log.sink_stats("redis")
    assert sink is not None
    await _until(lambda: sink.spooled >= 5)
    await log.close()

    redis_server.start()
    again = _log(tmp_path / "trail", **config)
    again.start()
    try:
        resumed = again.sink_stats("redis")
        assert resumed is not None
        assert resumed.pending >= 6  # found in the spool at start
        await _until(lambda: resumed.pending == 0)
    finally:
        await again.close()
    lines = await _stream_lines(redis_server.url, "audit-restart")
    assert [line["request_id"] for line in lines if line["type"] == "request"] == [f"req_{n:06d}" for n in range(5)]
    stats = orjson.loads((tmp_path / "trail" / "r1.stats.json").read_bytes())
    assert stats["sinks"]["redis"]["delivered"] >= 6
    assert main(["audit", "stats", "--dir", str(tmp_path / "trail")]) == 0
    assert "redis: delivered" in capsys.readouterr().out


async def test_timed_checkpoints_seal_a_quiet_trail(tmp_path: Path) -> None:
    log = _log(tmp_path, checkpoint_every=1000, checkpoint_seconds=0.2)
    log.start()
    try:
        await log.submit(request(1))
        head = tmp_path / "r1.head.json"
        opened = orjson.loads(head.read_bytes())["seq"]
        await _until(lambda: orjson.loads(head.read_bytes())["seq"] > opened, within=5)
    finally:
        await log.close()
    report = verify(tmp_path, Verifiers.load(KEY))
    assert report.ok
    assert report.replicas[0].checkpoints >= 3  # at start, timed, at close


async def test_verifying_a_live_trail_reports_no_tampering(tmp_path: Path) -> None:
    log = _log(tmp_path, checkpoint_every=5, segment_max_bytes=16384)
    log.start()
    stop = asyncio.Event()

    async def write() -> None:
        n = 0
        while not stop.is_set():
            await asyncio.gather(*(log.submit(request(n + i)) for i in range(4)))
            n += 4

    writer = asyncio.create_task(write())
    deadline = time.monotonic() + 20
    verified = 0
    try:
        # Until the trail has rotated a few times under the verifier's feet.
        while len(segments(tmp_path)) < 4 and time.monotonic() < deadline:
            report = await asyncio.to_thread(verify, tmp_path, Verifiers.load(KEY))
            assert report.ok, report.findings
            verified += 1
    finally:
        stop.set()
        await writer
        await log.close()
    assert verified >= 2
    assert len(segments(tmp_path)) >= 4
