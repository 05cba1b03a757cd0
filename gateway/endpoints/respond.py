"""Serialisation at the edge: a Reply becomes JSON, or server-sent events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

from adapters.sse import DONE, encode_data
from adapters.types import ChatCompletionChunk
from gateway.asgi.types import Receive, Send
from gateway.errors import GatewayError
from gateway.exchange import Reply

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def _extra_headers(reply: Reply) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]


async def send_json(send: Send, reply: Reply) -> None:
    body = reply.raw if reply.raw is not None else orjson.dumps(reply.body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if reply.headers:
        headers.extend(_extra_headers(reply))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _for_client(chunk: ChatCompletionChunk, include_usage: bool) -> ChatCompletionChunk | None:
    """Hide the usage the gateway asked for on the client's behalf, unless the client asked too."""
    if include_usage or "usage" not in chunk:
        return chunk
    if not chunk["choices"]:
        return None
    trimmed: Any = dict(chunk)
    del trimmed["usage"]
    return trimmed  # type: ignore[no-any-return]


async def _pump(send: Send, batches: AsyncIterator[list[ChatCompletionChunk]], include_usage: bool) -> None:
    ending = DONE
    try:
        async for batch in batches:
            events = [encode_data(orjson.dumps(shown)) for c in batch if (shown := _for_client(c, include_usage))]
            if events:
                await send({"type": "http.response.body", "body": b"".join(events), "more_body": True})
    except GatewayError as exc:
        # Headers are gone already: the error travels as an SSE event, which the
        # OpenAI SDKs raise as an APIError instead of hanging or ending silently.
        ending = encode_data(exc.body())
    await send({"type": "http.response.body", "body": ending, "more_body": False})


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def send_stream(send: Send, receive: Receive, reply: Reply, include_usage: bool) -> None:
    """Stream chunks as SSE; a client that goes away cancels the upstream at once.

    The chunks are pumped in the request's own task; a second task waits for the
    client to leave and then cancels this one, wherever it waits (mostly on the
    provider's next chunk). One task and no ``asyncio.wait`` per stream, where a
    pump task beside the watcher cost a task, a loop step and a wait's future more.
    """
    assert reply.stream is not None
    headers = list(_SSE_HEADERS)
    if reply.headers:
        headers.extend(_extra_headers(reply))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    task = asyncio.current_task()
    assert task is not None
    pumping = True
    client_left = False

    def on_client_left(watcher: asyncio.Future[None]) -> None:
        nonlocal client_left
        # Only while the pump runs: a cancel requested after it would hit whatever the task awaits next.
        if pumping and not watcher.cancelled():
            watcher.exception()  # retrieved, so that a failing receive is not reported as never seen
            client_left = True
            task.cancel()

    watcher = asyncio.ensure_future(_wait_for_disconnect(receive))
    watcher.add_done_callback(on_client_left)
    try:
        await _pump(send, reply.stream, include_usage)
    except asyncio.CancelledError:
        # The client's departure is this request's normal end; any other cancellation goes on.
        if not client_left or task.uncancel() > 0:
            raise
    finally:
        pumping = False
        watcher.remove_done_callback(on_client_left)
        watcher.cancel()
        # A pump cancelled mid-read leaves the stream's generators closed by the exception;
        # aclose() closes the upstream connection if they had not (and records the stream).
        aclose = getattr(reply.stream, "aclose", None)
        if aclose is not None:
            await aclose()
