"""The batched access log: one escaped line per request, written together."""

from __future__ import annotations

import asyncio
import os

from gateway.asgi import access_log
from gateway.asgi.access_log import AccessLog
from gateway.asgi.edge import new_request_id


async def test_lines_are_batched_and_escaped() -> None:
    read, write = os.pipe()
    log = AccessLog(fd=write)
    log.write("GET", "/v1/models", 200, 1.234, "req_a")
    log.write("POST", "/v1/chat/\ncompletions\x1b[31m", 404, 0.5, "req_b")
    await asyncio.sleep(access_log.FLUSH_SECONDS * 3)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        lines = pipe.read().decode().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(" GET /v1/models 200 1.2ms req_a")
    assert lines[1].endswith(" POST /v1/chat/\\ncompletions\\x1b[31m 404 0.5ms req_b"), lines[1]
    assert lines[0][:4].isdigit()
    assert lines[0][23] == "Z"


def test_request_ids_are_unique_and_well_formed() -> None:
    ids = {new_request_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(i.startswith("req_") and i.isascii() and len(i) <= 128 for i in ids)
