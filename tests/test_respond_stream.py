"""The edge's stream writer: a client that leaves ends the stream quietly; any other cancellation goes on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.types import ChatCompletionChunk
from gateway.endpoints.respond import send_stream
from gateway.exchange import Reply


def _chunk(text: str) -> ChatCompletionChunk:
    chunk: Any = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return chunk  # type: ignore[no-any-return]


class Upstream:
    """Batches on demand: the test releases each one; records whether the stream was closed."""

    def __init__(self) -> None:
        self.release: asyncio.Queue[list[ChatCompletionChunk] | None] = asyncio.Queue()
        self.closed = False
        self.waiting = asyncio.Event()

    async def batches(self) -> AsyncIterator[list[ChatCompletionChunk]]:
        try:
            while True:
                self.waiting.set()
                batch = await self.release.get()
                self.waiting.clear()
                if batch is None:
                    return
                yield batch
        finally:
            self.closed = True


class Client:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.left = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def receive(self) -> dict[str, Any]:
        await self.left.wait()
        return {"type": "http.disconnect"}

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


async def _streaming(upstream: Upstream, client: Client) -> asyncio.Task[None]:
    reply = Reply(stream=upstream.batches())
    task = asyncio.ensure_future(send_stream(client.send, client.receive, reply, include_usage=False))  # type: ignore[arg-type]
    await upstream.waiting.wait()
    return task


async def test_a_stream_that_ends_sends_done_and_leaves_no_watcher_behind() -> None:
    upstream, client = Upstream(), Client()
    task = await _streaming(upstream, client)
    before = len(asyncio.all_tasks())
    upstream.release.put_nowait([_chunk("hi")])
    upstream.release.put_nowait(None)
    await task
    await asyncio.sleep(0)
    assert client.body() == b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",' + (
        b'"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\ndata: [DONE]\n\n'
    )
    assert upstream.closed
    assert len(asyncio.all_tasks()) == before - 2  # the stream's task and its watcher are both gone


async def test_a_client_that_leaves_ends_the_stream_quietly_and_closes_the_upstream() -> None:
    upstream, client = Upstream(), Client()
    task = await _streaming(upstream, client)
    upstream.release.put_nowait([_chunk("hi")])
    await asyncio.sleep(0)
    await upstream.waiting.wait()
    client.left.set()  # the client goes while the upstream has nothing to say
    await asyncio.wait_for(task, 5)  # returns: the departure is the request's normal end
    assert task.cancelling() == 0
    assert upstream.closed
    assert not client.body().endswith(b"[DONE]\n\n")


async def test_a_cancellation_from_elsewhere_is_not_taken_for_the_client_leaving() -> None:
    upstream, client = Upstream(), Client()
    task = await _streaming(upstream, client)
    task.cancel()  # e.g. the server shutting down
    with pytest.raises(asyncio.CancelledError):
        await task
    assert upstream.closed


async def test_a_cancellation_from_elsewhere_goes_on_even_when_the_client_left_too() -> None:
    upstream, client = Upstream(), Client()
    task = await _streaming(upstream, client)
    client.left.set()
    while task.cancelling() == 0:  # noqa: ASYNC110 (no event to wait for) — the watcher sees the departure, cancels…
        await asyncio.sleep(0)
    assert not task.done()
    task.cancel()  # …and, before the stream has handled that, the server cancels it as well
    with pytest.raises(asyncio.CancelledError):
        await task
    assert upstream.closed
