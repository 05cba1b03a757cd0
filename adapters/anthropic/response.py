"""An Anthropic ``Message`` → an OpenAI ``chat.completion``.

Text blocks are joined into ``content`` (Anthropic splits text around tool
use; a stream would show the same text joined). ``tool_use`` blocks become
``tool_calls`` with their ids kept. Thinking becomes ``reasoning_content``
(the readable text) plus ``thinking_blocks`` (what must be sent back, with
signatures, for the next turn). Block types we never ask for (server tools,
citations) are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from adapters.errors import UpstreamFormatError
from adapters.openai import load_object
from adapters.types import ChatCompletion, FunctionCall, Message, ThinkingBlock, ToolCall, Usage

FINISH_REASONS: Mapping[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    # The turn paused (long server-side tool use); to the client it simply ended.
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def openai_usage(usage: Mapping[str, Any]) -> Usage:
    """Anthropic counts cached input apart from ``input_tokens``; OpenAI counts it in ``prompt_tokens``."""
    cache_read = _count(usage, "cache_read_input_tokens")
    cache_write = _count(usage, "cache_creation_input_tokens")
    prompt = _count(usage, "input_tokens") + cache_read + cache_write
    completion = _count(usage, "output_tokens")
    result: Usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read, "cache_write_tokens": cache_write},
    }
    details = usage.get("output_tokens_details")
    if isinstance(details, Mapping) and isinstance(details.get("thinking_tokens"), int):
        result["completion_tokens_details"] = {"reasoning_tokens": details["thinking_tokens"]}
    return result


def refusal_explanation(stop_details: Any) -> str | None:
    """Anthropic's human-readable refusal explanation, OpenAI's ``refusal`` text."""
    if isinstance(stop_details, Mapping) and stop_details.get("type") == "refusal":
        explanation = stop_details.get("explanation")
        if isinstance(explanation, str) and explanation:
            return explanation
    return None


def completion_id(message_id: str) -> str:
    return f"chatcmpl-{message_id}"


def _block_list(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = data.get("content")
    if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
        raise UpstreamFormatError("the Anthropic message has no 'content' list of blocks")
    return content


def _message(blocks: list[dict[str, Any]], stop_details: Any) -> Message:
    texts: list[str] = []
    reasoning: list[str] = []
    thinking: list[ThinkingBlock] = []
    calls: list[ToolCall] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise UpstreamFormatError("a tool_use block has no 'id' or 'name'")
            arguments = orjson.dumps(block.get("input") or {}).decode()
            function: FunctionCall = {"name": block["name"], "arguments": arguments}
            calls.append({"id": block["id"], "type": "function", "function": function})
        elif kind == "thinking":
            text = str(block.get("thinking") or "")
            reasoning.append(text)
            thinking.append({"type": "thinking", "thinking": text, "signature": str(block.get("signature") or "")})
        elif kind == "redacted_thinking":
            thinking.append({"type": "redacted_thinking", "data": str(block.get("data") or "")})
    text = "".join(texts)
    message: Message = {
        "role": "assistant",
        "content": text if text or not calls else None,
        "refusal": refusal_explanation(stop_details),
    }
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["reasoning_content"] = "".join(reasoning)
        message["thinking_blocks"] = thinking
    return message


def parse_message(body: bytes, model: str, created: int) -> ChatCompletion:
    data = load_object(body, "the Anthropic message")
    message_id = data.get("id")
    if data.get("type") != "message" or not isinstance(message_id, str):
        raise UpstreamFormatError("the Anthropic answer is not a 'message' object with an id")
    usage = data.get("usage")
    completion: ChatCompletion = {
        "id": completion_id(message_id),
        "object": "chat.completion",
        "created": created,
        "model": str(data.get("model") or model),
        "choices": [
            {
                "index": 0,
                "message": _message(_block_list(data), data.get("stop_details")),
                "finish_reason": finish_reason(data.get("stop_reason")),
                "logprobs": None,
            }
        ],
        "usage": openai_usage(usage if isinstance(usage, Mapping) else {}),
    }
    return completion
