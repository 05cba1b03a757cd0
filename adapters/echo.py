"""The built-in offline ``echo`` provider.

It lets a new user try the gateway (and every governance stage) with no API
key, and gives tests a deterministic upstream. It speaks OpenAI's wire format,
so the request is built and the answer parsed by the OpenAI adapter; what this
module adds is the "server": :func:`respond` turns the request the gateway
would send into the bytes a real OpenAI-compatible server would answer.

Behaviour, all deterministic:

* chat: the reply is the text of the last user (or tool) message, so the user
  sees exactly what reached the provider (after redaction, for instance);
  ``max_tokens``/``max_completion_tokens`` cut it short with
  ``finish_reason: "length"``; ``tool_choice`` of ``"required"`` or a named
  function yields a tool call whose arguments echo the text; ``n`` gives n
  identical choices; ``response_format`` json answers ``{"echo": text}``.
* streams: the reply is split into word chunks, in OpenAI's SSE framing, with
  a usage chunk when asked and ``data: [DONE]``.
* embeddings: a unit vector derived from a hash of each input.
* token counts are ``ceil(characters / 4)``, which is close to real tokenisers.
"""

from __future__ import annotations

import hashlib
import math
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from adapters.base import HttpRequest
from adapters.openai import OpenAIAdapter
from adapters.vectors import encode_base64

CREATED = 1_700_000_000


@dataclass(frozen=True, slots=True)
class EchoResponse:
    status: int
    headers: dict[str, str]
    #: The body as the pieces a server would write; one piece unless streamed.
    chunks: list[bytes]


def count_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(_text_of(m.get("content")) for m in messages)


def _reply_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") in ("user", "tool"):
            return _text_of(message.get("content"))
    return ""


def _error(status: int, message: str, param: str | None = None) -> EchoResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    return EchoResponse(status, {"content-type": "application/json"}, [orjson.dumps(body)])


def _limit(body: dict[str, Any]) -> int | None:
    value = body.get("max_completion_tokens") or body.get("max_tokens")
    return int(value) if isinstance(value, int) else None


def _tool_call(body: dict[str, Any], text: str, request_id: str) -> dict[str, Any] | None:
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if not tools or choice in (None, "none", "auto"):
        return None
    name = tools[0]["function"]["name"]
    if isinstance(choice, dict):
        name = choice["function"]["name"]
    return {
        "id": f"call_{request_id[-12:]}",
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps({"text": text}).decode()},
    }


def _chat(body: dict[str, Any]) -> EchoResponse:
    messages = body["messages"]
    text = _reply_text(messages)
    fmt = (body.get("response_format") or {}).get("type")
    if fmt in ("json_object", "json_schema"):
        text = orjson.dumps({"echo": text}).decode()
    finish = "stop"
    limit = _limit(body)
    if limit is not None and count_tokens(text) > limit:
        text, finish = text[: limit * 4], "length"
    prompt_tokens = count_tokens(_prompt_text(messages))
    digest = zlib.crc32(orjson.dumps(messages)) & 0xFFFFFFFF
    request_id = f"chatcmpl-echo{digest:08x}"
    call = _tool_call(body, text, request_id)
    completion_tokens = count_tokens(call["function"]["arguments"]) if call else count_tokens(text)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    n = int(body.get("n") or 1)
    model = body["model"]
    if body.get("stream"):
        return _stream(body, request_id, model, text, call, finish, usage, n)
    message: dict[str, Any] = {"role": "assistant", "content": None if call else text, "refusal": None}
    if call:
        message["tool_calls"] = [call]
    choices = [
        {"index": i, "message": message, "finish_reason": "tool_calls" if call else finish, "logprobs": None}
        for i in range(n)
    ]
    completion = {
        "id": request_id,
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": choices,
        "usage": usage,
        "system_fingerprint": "echo",
    }
    return EchoResponse(200, {"content-type": "application/json"}, [orjson.dumps(completion)])


def _words(text: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for i, char in enumerate(text):
        if char == " " and i > start:
            pieces.append(text[start:i])
            start = i
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _stream(
    body: dict[str, Any],
    request_id: str,
    model: str,
    text: str,
    call: dict[str, Any] | None,
    finish: str,
    usage: dict[str, int],
    n: int,
) -> EchoResponse:
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base: dict[str, Any] = {"id": request_id, "object": "chat.completion.chunk", "created": CREATED, "model": model}
    if include_usage:
        base["usage"] = None

    def frame(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return b"data: " + orjson.dumps({**base, "choices": choices, **extra}) + b"\n\n"

    def each(delta: dict[str, Any], finish_reason: str | None = None) -> list[dict[str, Any]]:
        return [{"index": i, "delta": delta, "finish_reason": finish_reason, "logprobs": None} for i in range(n)]

    chunks = [frame(each({"role": "assistant", "content": "" if not call else None}))]
    if call:
        arguments = call["function"]["arguments"]
        name = call["function"]["name"]
        head = {"index": 0, "id": call["id"], "type": "function", "function": {"name": name, "arguments": ""}}
        chunks.append(frame(each({"tool_calls": [head]})))
        for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
            chunks.append(frame(each({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})))
        chunks.append(frame(each({}, "tool_calls")))
    else:
        chunks.extend(frame(each({"content": word})) for word in _words(text))
        chunks.append(frame(each({}, finish)))
    if include_usage:
        chunks.append(frame([], usage=usage))
    chunks.append(b"data: [DONE]\n\n")
    return EchoResponse(200, {"content-type": "text/event-stream"}, chunks)


def _vector(item: str | list[int], dimensions: int) -> list[float]:
    seed = item.encode() if isinstance(item, str) else orjson.dumps(item)
    raw = b""
    counter = 0
    while len(raw) < dimensions * 4:
        raw += hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        counter += 1
    values = [(v / 2**31) - 1.0 for v in struct.unpack(f"<{dimensions}I", raw[: dimensions * 4])]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _embeddings(body: dict[str, Any]) -> EchoResponse:
    value = body["input"]
    items = [value] if isinstance(value, str) or (value and isinstance(value[0], int)) else value
    dimensions = int(body.get("dimensions") or 16)
    if dimensions > 4096:
        return _error(400, "'dimensions' may be at most 4096 for the echo model.", "dimensions")
    data = []
    tokens = 0
    for index, item in enumerate(items):
        vector = _vector(item, dimensions)
        encoded: list[float] | str = vector
        if body.get("encoding_format") == "base64":
            encoded = encode_base64(vector)
        data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens += count_tokens(item) if isinstance(item, str) else len(item)
    response = {
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return EchoResponse(200, {"content-type": "application/json"}, [orjson.dumps(response)])


def respond(request: HttpRequest) -> EchoResponse:
    """Answer one request as an OpenAI-compatible server would."""
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return _error(400, "The request body is not valid JSON.")
    if request.url.endswith("/chat/completions"):
        return _chat(body)
    if request.url.endswith("/embeddings"):
        return _embeddings(body)
    return _error(404, f"Unknown echo operation: {request.url.rsplit('/', 1)[-1]}")


class EchoAdapter(OpenAIAdapter):
    """Translation for the echo provider: OpenAI's format, at a local pseudo-URL."""

    name = "echo"
    default_base_url = "echo://local/v1"
