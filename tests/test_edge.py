"""The edge's body deadlines, driven directly: late bodies become 408, nothing else is touched."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from gateway.asgi.edge import Edge
from gateway.asgi.types import Message, Receive, Scope, Send

TIMEOUT = 0.2


def _scope() -> Scope:
    return {"type": "http", "method": "POST", "path": "/x", "headers": [(b"content-length", b"10")], "state": {}}


async def _reading_app(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    await asyncio.sleep(0)  # the task must still be usable after a body read that was on the clock
    body = message.get("body", b"")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def _serve(edge: Edge, receive: Receive) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await edge(_scope(), receive, send)
    return sent


def _edge() -> Edge:
    return Edge(_reading_app, access_log=None, max_body_bytes=100, body_timeout=TIMEOUT)


async def _never() -> Message:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def _at_once() -> Message:
    return {"type": "http.request", "body": b"0123456789", "more_body": False}


def _status_and_body(sent: list[Message]) -> tuple[int, Any]:
    return sent[0]["status"], orjson.loads(sent[1]["body"]) if sent[0]["status"] != 200 else sent[1]["body"]


async def test_a_body_that_never_arrives_is_answered_408_in_time() -> None:
    edge = _edge()
    started = asyncio.get_running_loop().time()
    status, body = _status_and_body(await _serve(edge, _never))
    waited = asyncio.get_running_loop().time() - started
    assert status == 408
    assert body["error"]["code"] == "request_timeout"
    assert TIMEOUT <= waited < TIMEOUT + 2 * edge.deadlines.resolution + 0.1
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_body_that_is_there_is_read_and_nothing_stays_watched() -> None:
    edge = _edge()
    assert _status_and_body(await _serve(edge, _at_once)) == (200, b"0123456789")
    assert not edge.deadlines._waiting
    assert not edge.deadlines._expired


async def test_a_cancellation_from_elsewhere_is_not_turned_into_a_408() -> None:
    edge = _edge()
    task = asyncio.ensure_future(_serve(edge, _never))
    await asyncio.sleep(TIMEOUT / 4)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not edge.deadlines._waiting


def test_the_same_app_on_a_new_event_loop_still_cuts_late_bodies_off() -> None:
    edge = _edge()
    for _ in range(2):  # e.g. a test client that starts a loop per session
        status, _ = _status_and_body(asyncio.run(_serve(edge, _never)))
        assert status == 408
