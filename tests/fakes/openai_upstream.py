"""A fake OpenAI (and Azure OpenAI) server, faithful to the published API.

Default behaviour answers like the real API: a ``chat.completion`` object, or an
SSE stream of ``chat.completion.chunk`` events (``usage: null`` on every chunk
and a final ``choices: []`` usage chunk when ``include_usage`` is set, extra
fields such as ``obfuscation``, ``data: [DONE]``), and embeddings as floats or
base64. A wrong key gets OpenAI's 401 body, which names part of the key: the
gateway must never pass it on. Every request is validated against OpenAI's
request schema and recorded.

Tests script unusual answers with :meth:`FakeOpenAI.push`.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson
from jsonschema import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.scripting import Recorded, ScriptedFake
from tests.openai_schema import validate

API_KEY = "sk-test-upstream-secret-0123456789"


def openai_error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status)


def completion(model: str, text: str, *, prompt_tokens: int = 9, completion_tokens: int = 3) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake123",
        "object": "chat.completion",
        "created": 1_731_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }


def forced_tool(body: dict[str, Any]) -> str | None:
    """The function the model must call, when ``tool_choice`` forces one."""
    choice = body.get("tool_choice")
    tools = body.get("tools") or []
    if isinstance(choice, dict):
        return str(choice["function"]["name"])
    if choice == "required" and tools:
        return str(tools[0]["function"]["name"])
    return None


TOOL_ARGUMENTS = '{"city": "Oslo"}'


def tool_completion(model: str, name: str) -> dict[str, Any]:
    answer = completion(model, "")
    call = {"id": "call_fake123", "type": "function", "function": {"name": name, "arguments": TOOL_ARGUMENTS}}
    answer["choices"][0]["message"].update(content=None, tool_calls=[call])
    answer["choices"][0]["finish_reason"] = "tool_calls"
    return answer


def tool_stream_chunks(model: str, name: str) -> list[bytes]:
    base = {"id": "chatcmpl-fake123", "object": "chat.completion.chunk", "created": 1_731_000_000, "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

    head = {"index": 0, "id": "call_fake123", "type": "function", "function": {"name": name, "arguments": ""}}
    pieces = [TOOL_ARGUMENTS[:5], TOOL_ARGUMENTS[5:]]
    out = [chunk({"role": "assistant", "content": None, "tool_calls": [head]})]
    out += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}) for piece in pieces]
    out += [chunk({}, "tool_calls"), b"data: [DONE]\n\n"]
    return out


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def stream_chunks(model: str, words: list[str], *, include_usage: bool) -> list[bytes]:
    base: dict[str, Any] = {
        "id": "chatcmpl-fake123",
        "object": "chat.completion.chunk",
        "created": 1_731_000_000,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }
    if include_usage:
        base["usage"] = None
    first = {
        **base,
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": "", "refusal": None},
                "logprobs": None,
                "finish_reason": None,
            }
        ],
        "obfuscation": "x1",
    }
    out = [sse(first)]
    for word in words:
        out.append(
            sse(
                {
                    **base,
                    "choices": [{"index": 0, "delta": {"content": word}, "logprobs": None, "finish_reason": None}],
                    "obfuscation": "ab",
                }
            )
        )
    out.append(sse({**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]}))
    if include_usage:
        usage = {
            "prompt_tokens": 9,
            "completion_tokens": len(words),
            "total_tokens": 9 + len(words),
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }
        out.append(sse({**base, "choices": [], "usage": usage, "obfuscation": "zz"}))
    out.append(b"data: [DONE]\n\n")
    return out


class FakeOpenAI(ScriptedFake):
    """The fake server's state: recorded requests and scripted answers."""

    def __init__(self, api_key: str = API_KEY, *, azure: bool = False) -> None:
        super().__init__()
        self.api_key = api_key
        self.azure = azure
        #: Requests that broke OpenAI's published request schema (the gateway must send none).
        self.violations: list[str] = []
        self.reply_words = ["Hello", " from", " the", " fake", "."]
        self.app = Starlette(routes=self._routes())

    def _routes(self) -> list[Route]:
        if self.azure:
            return [
                Route("/openai/deployments/{deployment}/chat/completions", self._chat, methods=["POST"]),
                Route("/openai/deployments/{deployment}/embeddings", self._embeddings, methods=["POST"]),
            ]
        return [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/embeddings", self._embeddings, methods=["POST"]),
        ]

    def _auth_error(self, recorded: Recorded) -> Response | None:
        if self.azure:
            if recorded.headers.get("api-key") != self.api_key:
                return openai_error(
                    401, "Access denied due to invalid subscription key.", "invalid_request_error", "401"
                )
            if "api-version" not in recorded.query:
                return openai_error(404, "Resource not found", "invalid_request_error", "404")
            return None
        header = recorded.headers.get("authorization", "")
        if header != f"Bearer {self.api_key}":
            shown = header.removeprefix("Bearer ")
            masked = f"{shown[:6]}***{shown[-4:]}" if len(shown) > 10 else shown
            return openai_error(
                401,
                f"Incorrect API key provided: {masked}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        return None

    def _invalid(self, body: Any, schema: str) -> Response | None:
        try:
            validate(body, schema)
        except ValidationError as exc:
            self.violations.append(f"{schema}: {exc.message}")
            return openai_error(400, f"Invalid request: {exc.message}", "invalid_request_error")
        return None

    async def _chat(self, request: Request) -> Response:
        recorded = await self.record(request)
        if (denied := self._auth_error(recorded)) is not None:
            return denied
        if (invalid := self._invalid(recorded.body, "CreateChatCompletionRequest")) is not None:
            return invalid
        if self.scripts:
            return await self.play(self.scripts.popleft())
        body = recorded.body
        model = body["model"]
        if (tool := forced_tool(body)) is not None:
            if body.get("stream"):
                return StreamingResponse(iter(tool_stream_chunks(model, tool)), media_type="text/event-stream")
            return JSONResponse(tool_completion(model, tool))
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                iter(stream_chunks(model, self.reply_words, include_usage=include_usage)),
                media_type="text/event-stream",
            )
        return JSONResponse(completion(model, "".join(self.reply_words)))

    async def _embeddings(self, request: Request) -> Response:
        recorded = await self.record(request)
        if (denied := self._auth_error(recorded)) is not None:
            return denied
        if (invalid := self._invalid(recorded.body, "CreateEmbeddingRequest")) is not None:
            return invalid
        if self.scripts:
            return await self.play(self.scripts.popleft())
        body = recorded.body
        inputs = body["input"]
        items = [inputs] if isinstance(inputs, str) or (inputs and isinstance(inputs[0], int)) else inputs
        dims = body.get("dimensions") or 4
        data = []
        for index, _ in enumerate(items):
            vector = [round(0.1 * (index + 1) + 0.01 * d, 4) for d in range(dims)]
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 5 * len(items), "total_tokens": 5 * len(items)},
            }
        )
