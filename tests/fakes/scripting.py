"""What every fake provider shares: recording requests and playing scripted answers."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Scripted:
    """One scripted answer. ``chunks`` makes it a stream of raw SSE pieces."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    #: A stream's wait between its head and its first chunk (a model still thinking).
    first_chunk_delay: float = 0.0
    #: Stop the stream after this many chunks by dropping the connection.
    cut_after: int | None = None


class ScriptedFake:
    """Base of the fakes: ``requests`` as received, ``push`` to script the next answer.

    ``cancelled`` is set when the gateway drops a scripted stream mid-way, which
    is how tests see that a client's disconnect reached the provider.
    """

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.scripts: deque[Scripted] = deque()
        self.cancelled = asyncio.Event()

    def push(self, script: Scripted) -> None:
        self.scripts.append(script)

    async def record(self, request: Request) -> Recorded:
        raw = await request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = raw
        recorded = Recorded(request.method, request.url.path, dict(request.query_params), dict(request.headers), body)
        self.requests.append(recorded)
        return recorded

    async def play(self, script: Scripted) -> Response:
        if script.delay:
            await asyncio.sleep(script.delay)
        if script.chunks is None:
            body = script.body if isinstance(script.body, bytes) else orjson.dumps(script.body)
            return Response(body, script.status, headers=script.headers, media_type="application/json")
        chunks = script.chunks

        async def produce() -> AsyncIterator[bytes]:
            try:
                for i, chunk in enumerate(chunks):
                    if script.cut_after is not None and i >= script.cut_after:
                        raise ConnectionResetError("scripted cut")
                    if script.chunk_delay and i:
                        await asyncio.sleep(script.chunk_delay)
                    elif script.first_chunk_delay and not i:
                        await asyncio.sleep(script.first_chunk_delay)
                    yield chunk
            except asyncio.CancelledError:
                self.cancelled.set()
                raise

        return StreamingResponse(produce(), script.status, headers=script.headers, media_type="text/event-stream")
