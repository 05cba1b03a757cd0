"""The audit stage's rare paths, driven directly: a stream nobody reads, and a bug below the stage."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.types import ChatCompletionChunk
from gateway.audit.capture import CapturePolicy
from gateway.audit.log import AuditLog
from gateway.exchange import Exchange, Reply
from gateway.pipeline.audit import Audit
from tests.audit.conftest import trail_records
from tests.audit.support import audit_config


def _exchange(request_id: str) -> Exchange:
    return Exchange(request_id, "chat.completions", b"", {}, "127.0.0.1", time.perf_counter(), model="echo")


async def _chunks() -> AsyncIterator[list[ChatCompletionChunk]]:
    yield [{"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": []}]
    raise KeyError("a bug in a stage below audit")


async def test_a_stream_dropped_unread_is_still_recorded(tmp_path: Path) -> None:
    log = AuditLog(audit_config(tmp_path), capture=CapturePolicy())
    log.start()
    try:
        stage = Audit(log)

        async def answer(exchange: Exchange) -> Reply:
            return Reply(stream=_chunks())

        reply = await stage(_exchange("req_dropped"), answer)
        assert reply.stream is not None
        del reply
        gc.collect()
        await asyncio.sleep(0.2)
    finally:
        await log.close()
    assert trail_records(tmp_path)["req_dropped"]["outcome"] == "abandoned"


async def test_a_bug_below_the_stage_is_recorded_and_propagates(tmp_path: Path) -> None:
    log = AuditLog(audit_config(tmp_path), capture=CapturePolicy())
    log.start()
    try:
        stage = Audit(log)

        async def broken(exchange: Exchange) -> Reply:
            raise KeyError("a bug")

        async def streaming(exchange: Exchange) -> Reply:
            return Reply(stream=_chunks())

        with pytest.raises(KeyError):
            await stage(_exchange("req_bug"), broken)
        reply = await stage(_exchange("req_stream_bug"), streaming)
        assert reply.stream is not None
        with pytest.raises(KeyError):
            async for _ in reply.stream:
                pass
        await reply.stream.aclose()  # type: ignore[attr-defined]
    finally:
        await log.close()
    records = trail_records(tmp_path)
    assert (records["req_bug"]["status"], records["req_bug"]["error"]["type"]) == (500, "api_error")
    assert (records["req_stream_bug"]["outcome"], records["req_stream_bug"]["error"]["type"]) == ("error", "api_error")
