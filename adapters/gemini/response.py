"""A ``GenerateContentResponse`` → an OpenAI ``chat.completion``; pieces shared with the stream decoder."""

from __future__ import annotations

import hashlib
from typing import Any, cast

import orjson

from adapters.errors import UpstreamFormatError
from adapters.gemini.common import signature_extra, tool_call_id
from adapters.types import ChatCompletion, Choice, Message, ToolCall, Usage

# Reasons that mean "output was withheld or cut by a filter"; see the package docstring.
_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "LANGUAGE",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "MODEL_ARMOR",
        "ESCALATION",
        "PUP_LIMITED_DISABLED",
    }
)
_LENGTH = frozenset({"MAX_TOKENS", "CONTINUATION"})


def finish_reason(reason: str, has_tool_calls: bool) -> str:
    """Map Gemini's ``finishReason``; it ends a function-calling turn with plain ``STOP``."""
    if reason in _FILTERED:
        return "content_filter"
    if reason in _LENGTH:
        return "length"
    return "tool_calls" if has_tool_calls else "stop"


def completion_id(response_id: Any, fallback: bytes) -> str:
    if isinstance(response_id, str) and response_id:
        return f"chatcmpl-{response_id}"
    return f"chatcmpl-{hashlib.sha256(fallback).hexdigest()[:24]}"


def _count(meta: dict[str, Any], key: str) -> int:
    # proto3 JSON leaves zero counts out.
    value = meta.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UpstreamFormatError(f"usageMetadata.{key} is not an integer")
    return value


def usage(meta: Any) -> Usage:
    """OpenAI usage from ``usageMetadata``.

    ``candidatesTokenCount`` excludes thinking, so completion tokens add
    ``thoughtsTokenCount`` back (as OpenAI counts reasoning tokens); tokens of
    tool results Gemini fed itself count as prompt, as Google bills them.
    """
    if not isinstance(meta, dict):
        raise UpstreamFormatError("usageMetadata is not an object")
    prompt = _count(meta, "promptTokenCount") + _count(meta, "toolUsePromptTokenCount")
    thoughts = _count(meta, "thoughtsTokenCount")
    completion = _count(meta, "candidatesTokenCount") + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": _count(meta, "cachedContentTokenCount")},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _token_logprob(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise UpstreamFormatError("a logprobs candidate is not an object")
    token = entry.get("token", "")
    value = entry.get("logProbability", 0.0)
    if not isinstance(token, str) or isinstance(value, bool) or not isinstance(value, int | float):
        raise UpstreamFormatError("a logprobs candidate has no token or log probability")
    return {"token": token, "logprob": float(value), "bytes": list(token.encode())}


def logprobs(result: Any) -> dict[str, Any] | None:
    """OpenAI ``logprobs.content`` from ``logprobsResult`` (chosen token and top alternatives per step)."""
    if not isinstance(result, dict):
        return None
    chosen = result.get("chosenCandidates") or []
    tops = result.get("topCandidates") or []
    content = []
    for step, entry in enumerate(chosen):
        item = _token_logprob(entry)
        alternatives = tops[step].get("candidates", []) if step < len(tops) and isinstance(tops[step], dict) else []
        item["top_logprobs"] = [_token_logprob(alt) for alt in alternatives]
        content.append(item)
    return {"content": content, "refusal": None}


def candidate_parts(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    if content is None:
        return []
    parts = content.get("parts", []) if isinstance(content, dict) else None
    if not isinstance(parts, list) or not all(isinstance(part, dict) for part in parts):
        raise UpstreamFormatError("a candidate's content has no list of part objects")
    return parts


def tool_call(part: dict[str, Any], response_id: Any, candidate: int, position: int) -> ToolCall:
    call = part["functionCall"]
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        raise UpstreamFormatError("a functionCall part has no name")
    args = call.get("args", {})
    if not isinstance(args, dict):
        raise UpstreamFormatError("a functionCall's args is not an object")
    rid = response_id if isinstance(response_id, str) else None
    result: ToolCall = {
        "id": tool_call_id(call, rid, candidate, position),
        "type": "function",
        "function": {"name": call["name"], "arguments": orjson.dumps(args).decode()},
    }
    signature = part.get("thoughtSignature")
    if isinstance(signature, str) and signature:
        result["extra_content"] = signature_extra(signature)
    return result


def candidate_index(candidate: Any) -> int:
    if not isinstance(candidate, dict):
        raise UpstreamFormatError("a candidate is not an object")
    # proto3 JSON leaves index 0 out, so a missing index is 0, not the position.
    index = candidate.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int):
        raise UpstreamFormatError("a candidate's index is not an integer")
    return index


def _choice(candidate: dict[str, Any], index: int, response_id: Any) -> Choice:
    text: list[str] = []
    thoughts: list[str] = []
    calls: list[ToolCall] = []
    signature: str | None = None
    for part in candidate_parts(candidate):
        if "functionCall" in part:
            calls.append(tool_call(part, response_id, index, len(calls)))
            continue
        if isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else text).append(part["text"])
        # Parts OpenAI cannot express (inline images, executable code) only
        # come with features this adapter never enables; they are dropped.
        if isinstance(part.get("thoughtSignature"), str):
            signature = part["thoughtSignature"]
    body = "".join(text)
    message: dict[str, Any] = {"role": "assistant", "content": body if body or not calls else None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if signature:
        # Not a field of Message yet: Google's OpenAI layer puts it here, clients send it back.
        message["extra_content"] = signature_extra(signature)
    reason = candidate.get("finishReason") or "STOP"
    return {
        "index": index,
        "message": cast(Message, message),
        "finish_reason": finish_reason(str(reason), bool(calls)),
        "logprobs": logprobs(candidate.get("logprobsResult")),
    }


def blocked_choice(index: int) -> Choice:
    """The answer to a prompt Gemini refused to process (``promptFeedback.blockReason``)."""
    message: Message = {"role": "assistant", "content": "", "refusal": None}
    return {"index": index, "message": message, "finish_reason": "content_filter", "logprobs": None}


def prompt_blocked(data: dict[str, Any]) -> bool:
    feedback = data.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))


def parse_completion(body: bytes, data: dict[str, Any], n: int, model: str, created: int) -> ChatCompletion:
    response_id = data.get("responseId")
    candidates = data.get("candidates", [])
    if not isinstance(candidates, list):
        raise UpstreamFormatError("the response's candidates is not a list")
    if candidates:
        choices = [_choice(c, candidate_index(c), response_id) for c in candidates]
        choices.sort(key=lambda choice: choice["index"])
    elif prompt_blocked(data):
        choices = [blocked_choice(i) for i in range(n)]
    else:
        raise UpstreamFormatError("the response has neither candidates nor a prompt block reason")
    completion: ChatCompletion = {
        "id": completion_id(response_id, body),
        "object": "chat.completion",
        "created": created,
        "model": str(data.get("modelVersion") or model),
        "choices": choices,
    }
    if "usageMetadata" in data:
        completion["usage"] = usage(data["usageMetadata"])
    return completion
