"""Gemini's ``streamGenerateContent?alt=sse`` → OpenAI ``chat.completion.chunk``s.

Each SSE event is a whole ``GenerateContentResponse`` holding the parts
generated since the previous one, and the running usage totals (so usage is
overwritten, never added). There is no ``[DONE]``: a stream is complete when
every candidate it started has a ``finishReason`` (or the prompt was blocked).
Gemini sends a function call whole, so each becomes one complete
``tool_calls`` delta. The usage chunk (``choices: []``) is sent when the body
ends, as OpenAI does with ``include_usage``.
"""

from __future__ import annotations

from typing import Any, cast

import orjson

from adapters.errors import StreamError, UpstreamFormatError
from adapters.gemini.common import signature_extra
from adapters.gemini.errors import error_from_body
from adapters.gemini.response import (
    candidate_index,
    candidate_parts,
    completion_id,
    finish_reason,
    logprobs,
    prompt_blocked,
    tool_call,
    usage,
)
from adapters.sse import Event
from adapters.stream import EventStreamDecoder
from adapters.types import ChatCompletionChunk, ChunkChoice, Delta, ToolCallDelta, Usage


class GeminiStreamDecoder(EventStreamDecoder):
    """Decode one Gemini SSE stream; ``n`` is how many candidates were asked for."""

    __slots__ = ("_created", "_finished", "_id", "_model", "_n", "_response_id", "_started", "_tools", "_usage")

    end_marker = "every candidate finished"

    def __init__(self, model: str, n: int, created: int) -> None:
        super().__init__()
        self._model = model
        self._n = n
        self._created = created
        self._id = ""
        self._response_id: Any = None
        self._started: set[int] = set()
        self._finished: set[int] = set()
        self._tools: dict[int, int] = {}
        self._usage: Usage | None = None

    def _complete(self) -> bool:
        return bool(self._finished) and not self._started - self._finished

    def _final_chunks(self) -> list[ChatCompletionChunk]:
        return [] if self._usage is None else [self._chunk([], usage=self._usage)]

    def _chunks(self, events: list[Event]) -> list[ChatCompletionChunk]:
        out: list[ChatCompletionChunk] = []
        for event in events:
            try:
                data = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                raise UpstreamFormatError("a Gemini stream event is not valid JSON") from None
            if not isinstance(data, dict):
                raise UpstreamFormatError("a Gemini stream event is not a JSON object")
            if "error" in data:
                error = data["error"]
                code = error.get("code") if isinstance(error, dict) else None
                status = code if isinstance(code, int) and not isinstance(code, bool) else 500
                raise StreamError(error_from_body(status, {}, event.data.encode()))
            self._event(data, event.data.encode(), out)
        return out

    def _event(self, data: dict[str, Any], raw: bytes, out: list[ChatCompletionChunk]) -> None:
        if not self._id:
            self._response_id = data.get("responseId")
            self._id = completion_id(self._response_id, raw)
            self._model = str(data.get("modelVersion") or self._model)
        if "usageMetadata" in data:
            self._usage = usage(data["usageMetadata"])
        candidates = data.get("candidates", [])
        if not isinstance(candidates, list):
            raise UpstreamFormatError("a stream event's candidates is not a list")
        if not candidates and prompt_blocked(data):
            for index in range(self._n):
                self._start(index, out)
                self._finish(index, "content_filter", out)
            return
        for candidate in candidates:
            self._candidate(candidate, candidate_index(candidate), out)

    def _candidate(self, candidate: dict[str, Any], index: int, out: list[ChatCompletionChunk]) -> None:
        if index in self._finished:
            return
        self._start(index, out)
        first_text: ChunkChoice | None = None
        for part in candidate_parts(candidate):
            delta: dict[str, Any] = {}
            if "functionCall" in part:
                position = self._tools.get(index, 0)
                self._tools[index] = position + 1
                call = tool_call(part, self._response_id, index, position)
                item: ToolCallDelta = {
                    "index": position,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": call["function"]["arguments"]},
                }
                if "extra_content" in call:
                    item["extra_content"] = call["extra_content"]
                delta["tool_calls"] = [item]
            else:
                text = part.get("text")
                if isinstance(text, str) and text:
                    delta["reasoning_content" if part.get("thought") else "content"] = text
                signature = part.get("thoughtSignature")
                if isinstance(signature, str) and signature:
                    # Delta has no such field yet; Google's OpenAI layer streams it this way.
                    delta["extra_content"] = signature_extra(signature)
            if not delta:
                continue
            chunk = self._chunk(
                [{"index": index, "delta": cast(Delta, delta), "finish_reason": None, "logprobs": None}]
            )
            if first_text is None and "content" in delta:
                first_text = chunk["choices"][0]
            out.append(chunk)
        if first_text is not None:
            first_text["logprobs"] = logprobs(candidate.get("logprobsResult"))
        reason = candidate.get("finishReason")
        if reason:
            self._finish(index, finish_reason(str(reason), self._tools.get(index, 0) > 0), out)

    def _start(self, index: int, out: list[ChatCompletionChunk]) -> None:
        if index in self._started:
            return
        self._started.add(index)
        delta: Delta = {"role": "assistant", "content": ""}
        out.append(self._chunk([{"index": index, "delta": delta, "finish_reason": None, "logprobs": None}]))

    def _finish(self, index: int, reason: str, out: list[ChatCompletionChunk]) -> None:
        self._finished.add(index)
        out.append(self._chunk([{"index": index, "delta": {}, "finish_reason": reason, "logprobs": None}]))

    def _chunk(self, choices: list[ChunkChoice], usage: Usage | None = None) -> ChatCompletionChunk:
        chunk: ChatCompletionChunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage
        return chunk
