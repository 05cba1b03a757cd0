"""A fake Anthropic Messages API, faithful to the published API.

``POST /v1/messages`` checks the credential (``x-api-key``, or the
``Authorization: Bearer`` that current SDKs send) and the ``anthropic-version``
header, validates the body as the real API does (required fields, unknown
fields, alternating roles starting with a user turn, known block types,
non-empty text, tool results matching the previous turn's tool uses and
coming first, thinking budget below ``max_tokens``, sampling ranges) and
answers Anthropic's error shape when something is wrong.

By default it answers a realistic ``Message``: a thinking block (with a
signature) when thinking was asked for, a ``tool_use`` block when
``tool_choice`` requires a tool, otherwise text. With ``stream: true`` the same
message is sent as Anthropic's event stream (``event:`` lines, ``ping``, an
empty first ``input_json_delta``, a ``signature_delta``, running usage totals
in ``message_delta``). Tests script anything else with :meth:`FakeAnthropic.push`.

Stricter than the current documentation on one point: the API now merges
consecutive same-role turns itself, but this fake refuses them (as the API
used to), so that tests notice an adapter that does not merge them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.anthropic_checks import Invalid, validate_request
from tests.fakes.scripting import ScriptedFake

API_KEY = "sk-ant-api03-test-upstream-secret-0123456789"
MESSAGE_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
TOOL_USE_ID = "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
REPLY_TEXT = "Hello! How can I help you today?"
THINKING_TEXT = "The user greets me. A short, friendly answer fits."


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}


def anthropic_error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(kind, message), status)


def event(payload: dict[str, Any]) -> bytes:
    """One SSE event; Anthropic names each event after its payload's ``type``."""
    return b"event: " + str(payload["type"]).encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def error_event(kind: str, message: str) -> bytes:
    return event(error_body(kind, message))


# --- answers --------------------------------------------------------------------------------------------------


def _tokens(value: Any) -> int:
    return max(1, math.ceil(len(orjson.dumps(value)) / 4))


def _tool_input(tool: dict[str, Any]) -> dict[str, Any]:
    properties = tool["input_schema"].get("properties") or {}
    return {name: "fake" for name in tool["input_schema"].get("required") or [] if name in properties}


def default_message(body: dict[str, Any]) -> dict[str, Any]:
    """The ``Message`` this fake answers to a valid request."""
    content: list[dict[str, Any]] = []
    if (body.get("thinking") or {}).get("type") in ("enabled", "adaptive"):
        content.append({"type": "thinking", "thinking": THINKING_TEXT, "signature": SIGNATURE})
    choice = body.get("tool_choice") or {}
    stop_reason = "end_turn"
    if choice.get("type") in ("any", "tool"):
        tool = next(t for t in body["tools"] if choice.get("type") == "any" or t["name"] == choice["name"])
        content.append({"type": "tool_use", "id": TOOL_USE_ID, "name": tool["name"], "input": _tool_input(tool)})
        stop_reason = "tool_use"
    else:
        content.append({"type": "text", "text": REPLY_TEXT})
    return {
        "id": MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": _tokens([body.get("system"), body["messages"], body.get("tools")]),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": _tokens(content),
            "service_tier": "standard",
        },
    }


def _pieces(text: str, size: int = 12) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _block_events(index: int, block: dict[str, Any]) -> Iterable[bytes]:
    def start(content_block: dict[str, Any]) -> bytes:
        return event({"type": "content_block_start", "index": index, "content_block": content_block})

    def delta(kind: str, key: str, value: str) -> bytes:
        return event({"type": "content_block_delta", "index": index, "delta": {"type": kind, key: value}})

    kind = block["type"]
    if kind == "text":
        yield start({"type": "text", "text": ""})
        yield from (delta("text_delta", "text", piece) for piece in _pieces(block["text"]))
    elif kind == "thinking":
        yield start({"type": "thinking", "thinking": "", "signature": ""})
        yield from (delta("thinking_delta", "thinking", piece) for piece in _pieces(block["thinking"]))
        yield delta("signature_delta", "signature", block["signature"])
    elif kind == "tool_use":
        yield start({**block, "input": {}})
        # The API's first input_json_delta is always empty.
        pieces = ["", *_pieces(orjson.dumps(block["input"]).decode(), 8)]
        yield from (delta("input_json_delta", "partial_json", piece) for piece in pieces)
    else:
        yield start(block)
    yield event({"type": "content_block_stop", "index": index})


def message_events(message: dict[str, Any]) -> list[bytes]:
    """The SSE stream the API sends for ``message``, one event per item."""
    usage = message["usage"]
    initial = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    out = [event({"type": "message_start", "message": {**initial, "usage": {**usage, "output_tokens": 1}}})]
    for index, block in enumerate(message["content"]):
        out.extend(_block_events(index, block))
        if index == 0:
            out.append(event({"type": "ping"}))
    # message_delta carries running totals, not increments.
    totals = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    out.append(event({"type": "message_delta", "delta": stop, "usage": {k: usage[k] for k in totals if k in usage}}))
    out.append(event({"type": "message_stop"}))
    return out


# --- the server -----------------------------------------------------------------------------------------------


class FakeAnthropic(ScriptedFake):
    """The fake server's state: recorded requests and scripted answers."""

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])

    def _denied(self, headers: dict[str, str]) -> Response | None:
        key = headers.get("x-api-key")
        if key is None and headers.get("authorization", "").startswith("Bearer "):
            key = headers["authorization"].removeprefix("Bearer ")
        if key != self.api_key:
            return anthropic_error(401, "authentication_error", "invalid x-api-key")
        if not headers.get("anthropic-version"):
            return anthropic_error(400, "invalid_request_error", "anthropic-version: header is required")
        return None

    async def _messages(self, request: Request) -> Response:
        recorded = await self.record(request)
        if (denied := self._denied(recorded.headers)) is not None:
            return denied
        try:
            validate_request(recorded.body)
        except Invalid as exc:
            return anthropic_error(400, "invalid_request_error", str(exc))
        if self.scripts:
            return await self.play(self.scripts.popleft())
        message = default_message(recorded.body)
        if recorded.body.get("stream"):
            return StreamingResponse(iter(message_events(message)), media_type="text/event-stream")
        return JSONResponse(message)
