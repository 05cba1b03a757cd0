"""Anthropic's Messages SSE stream → OpenAI ``chat.completion.chunk`` dicts.

Event by event:

* ``message_start`` → the first chunk, ``delta: {role: assistant, content: ""}``;
  its usage (input and cache counts) is remembered.
* ``content_block_start``: a ``tool_use`` block opens a tool call
  (``index`` counts tool calls only, as OpenAI does; ``id``, ``type``,
  ``function.name`` and ``arguments: ""``); a ``redacted_thinking`` block is
  passed whole as ``thinking_blocks: [{type: redacted_thinking, data}]``.
* ``content_block_delta``: ``text_delta`` → ``content``; ``input_json_delta``
  → a piece of ``function.arguments`` (empty pieces, which Anthropic sends
  first, are skipped); ``thinking_delta`` → ``reasoning_content``;
  ``signature_delta`` → ``thinking_blocks: [{type: thinking, thinking: "",
  signature}]``.
* ``message_delta`` carries the stop reason and *running totals* of usage:
  each one replaces what we had, field by field, never adds to it.
* ``message_stop`` → a chunk with ``finish_reason`` (and ``refusal`` when
  Anthropic explained one), then a usage chunk with ``choices: []``; the
  gateway decides whether the client asked for it.
* ``ping`` and event types added after this was written are ignored;
  ``error`` (which can come after HTTP 200) raises :class:`StreamError`.

Reassembling thinking for the next turn: the text of a thinking block is
the ``reasoning_content`` received since the previous ``thinking_blocks``
delta; the ``thinking_blocks`` delta that closes it carries its signature.
A client that sends back ``thinking_blocks`` with each ``thinking`` filled in
that way (and redacted blocks as received) round-trips Claude's reasoning.
"""

from __future__ import annotations

from typing import Any

import orjson

from adapters.anthropic.errors import provider_error
from adapters.anthropic.response import completion_id, finish_reason, openai_usage, refusal_explanation
from adapters.errors import StreamError, UpstreamFormatError
from adapters.sse import Event
from adapters.stream import EventStreamDecoder
from adapters.types import ChatCompletionChunk, Delta, ToolCallDelta

_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "output_tokens_details",
)


class AnthropicStreamDecoder(EventStreamDecoder):
    """Decode one Anthropic stream; a new decoder per response."""

    __slots__ = (
        "_blocks",
        "_created",
        "_id",
        "_model",
        "_refusal",
        "_stop_reason",
        "_tools",
        "_usage",
    )

    end_marker = "message_stop"

    def __init__(self, model: str, created: int) -> None:
        super().__init__()
        self._model = model
        self._created = created
        self._id: str | None = None
        #: Anthropic block index → OpenAI tool call index, for tool_use blocks only.
        self._blocks: dict[int, int] = {}
        self._tools = 0
        self._usage: dict[str, Any] = {}
        self._stop_reason: Any = None
        self._refusal: str | None = None

    def _chunks(self, events: list[Event]) -> list[ChatCompletionChunk]:
        chunks: list[ChatCompletionChunk] = []
        for event in events:
            if self._done:
                break
            data = self._load(event.data)
            kind = data.get("type", event.event)
            if kind == "error" or event.event == "error":
                error = data.get("error")
                raise StreamError(provider_error(None, error if isinstance(error, dict) else None))
            handler = _HANDLERS.get(kind)
            if handler is None:
                continue
            if self._id is None and kind != "message_start":
                raise UpstreamFormatError(f"the Anthropic stream sent '{kind}' before 'message_start'")
            chunks.extend(handler(self, data))
        return chunks

    @staticmethod
    def _load(raw: str) -> dict[str, Any]:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamFormatError("an Anthropic stream event is not valid JSON") from None
        if not isinstance(data, dict):
            raise UpstreamFormatError("an Anthropic stream event is not a JSON object")
        return data

    def _chunk(self, delta: Delta, finish: str | None = None) -> ChatCompletionChunk:
        return {
            "id": self._id or "",
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    def _merge_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            for key in _USAGE_KEYS:
                if usage.get(key) is not None:
                    self._usage[key] = usage[key]

    def _message_start(self, data: dict[str, Any]) -> list[ChatCompletionChunk]:
        message = data.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("id"), str):
            raise UpstreamFormatError("the Anthropic 'message_start' event has no message id")
        self._id = completion_id(message["id"])
        self._model = str(message.get("model") or self._model)
        self._merge_usage(message.get("usage"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, data: dict[str, Any]) -> list[ChatCompletionChunk]:
        block = data.get("content_block")
        index = data.get("index")
        if not isinstance(block, dict) or not isinstance(index, int):
            raise UpstreamFormatError("an Anthropic 'content_block_start' event has no block or index")
        kind = block.get("type")
        if kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise UpstreamFormatError("a streamed tool_use block has no 'id' or 'name'")
            self._blocks[index] = self._tools
            call: ToolCallDelta = {
                "index": self._tools,
                "id": block["id"],
                "type": "function",
                "function": {"name": block["name"], "arguments": ""},
            }
            self._tools += 1
            return [self._chunk({"tool_calls": [call]})]
        if kind == "redacted_thinking":
            return [self._chunk({"thinking_blocks": [{"type": "redacted_thinking", "data": str(block.get("data"))}]})]
        # A text or thinking block may start with text already in it (usually it is "").
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": str(block["text"])})]
        if kind == "thinking" and block.get("thinking"):
            return [self._chunk({"reasoning_content": str(block["thinking"])})]
        return []

    def _block_delta(self, data: dict[str, Any]) -> list[ChatCompletionChunk]:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            raise UpstreamFormatError("an Anthropic 'content_block_delta' event has no delta")
        kind = delta.get("type")
        if kind == "text_delta":
            text = str(delta.get("text") or "")
            return [self._chunk({"content": text})] if text else []
        if kind == "input_json_delta":
            piece = str(delta.get("partial_json") or "")
            tool = self._blocks.get(data.get("index", -1))
            if tool is None:
                raise UpstreamFormatError("an Anthropic 'input_json_delta' belongs to no tool_use block")
            return [self._chunk({"tool_calls": [{"index": tool, "function": {"arguments": piece}}]})] if piece else []
        if kind == "thinking_delta":
            text = str(delta.get("thinking") or "")
            return [self._chunk({"reasoning_content": text})] if text else []
        if kind == "signature_delta":
            signature = str(delta.get("signature") or "")
            return [self._chunk({"thinking_blocks": [{"type": "thinking", "thinking": "", "signature": signature}]})]
        return []

    def _message_delta(self, data: dict[str, Any]) -> list[ChatCompletionChunk]:
        delta = data.get("delta")
        if isinstance(delta, dict):
            if delta.get("stop_reason") is not None:
                self._stop_reason = delta["stop_reason"]
            self._refusal = refusal_explanation(delta.get("stop_details")) or self._refusal
        self._merge_usage(data.get("usage"))
        return []

    def _message_stop(self, data: dict[str, Any]) -> list[ChatCompletionChunk]:
        self._done = True
        last: Delta = {"refusal": self._refusal} if self._refusal else {}
        usage_chunk: ChatCompletionChunk = {
            "id": self._id or "",
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [],
            "usage": openai_usage(self._usage),
        }
        return [self._chunk(last, finish_reason(self._stop_reason)), usage_chunk]


_HANDLERS = {
    "message_start": AnthropicStreamDecoder._message_start,
    "content_block_start": AnthropicStreamDecoder._block_start,
    "content_block_delta": AnthropicStreamDecoder._block_delta,
    "message_delta": AnthropicStreamDecoder._message_delta,
    "message_stop": AnthropicStreamDecoder._message_stop,
}
