"""OpenAI's wire format: OpenAI itself, any OpenAI-compatible server, and Azure OpenAI.

The canonical format *is* this format, so a request goes out nearly as it came
in: unknown fields pass through untouched; only ``model`` is replaced by the
deployment's upstream name, and streams always ask for usage so the gateway
can account for every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import quote

import orjson

from adapters.base import HttpRequest, ProviderError, Target
from adapters.errors import StreamError, UpstreamFormatError
from adapters.options import Option
from adapters.sse import Event
from adapters.stream import EventStreamDecoder
from adapters.types import ChatCompletion, ChatCompletionChunk, ChatRequest, EmbeddingsRequest, EmbeddingsResponse

JSON_HEADERS: Mapping[str, str] = {"content-type": "application/json", "accept": "application/json"}
SSE_HEADERS: Mapping[str, str] = {"content-type": "application/json", "accept": "text/event-stream"}

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def load_object(body: bytes, what: str) -> dict[str, Any]:
    """Parse an upstream JSON body that must be an object."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamFormatError(f"{what} is not valid JSON") from None
    if not isinstance(data, dict):
        raise UpstreamFormatError(f"{what} is not a JSON object")
    return data


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Read ``retry-after-ms`` or ``retry-after`` (seconds) when present."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


def error_from_openai_body(status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """Read an OpenAI-shaped error body; tolerate servers that send something else."""
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    message, code, param = "", None, None
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            message = str(error.get("message") or "")
            kind = str(error.get("type") or kind)
            code = str(error["code"]) if error.get("code") is not None else None
            param = str(error["param"]) if error.get("param") is not None else None
        elif isinstance(error, str):
            message = error
    return ProviderError(
        status=status,
        type=kind,
        message=message or f"upstream returned HTTP {status}",
        code=code,
        param=param,
        retry_after=retry_after_seconds(headers),
    )


class OpenAIStreamDecoder(EventStreamDecoder):
    """Decode an OpenAI ``chat.completion.chunk`` SSE stream."""

    __slots__ = ()
    end_marker = "[DONE]"

    def _chunks(self, events: list[Event]) -> list[ChatCompletionChunk]:
        chunks: list[ChatCompletionChunk] = []
        for event in events:
            if self._done:
                break
            if event.data == "[DONE]":
                self._done = True
                break
            try:
                data = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                raise UpstreamFormatError("a stream event is not valid JSON") from None
            if not isinstance(data, dict):
                raise UpstreamFormatError("a stream event is not a JSON object")
            if "error" in data:
                raise StreamError(error_from_openai_body(500, {}, event.data.encode()))
            if not isinstance(data.get("choices"), list):
                raise UpstreamFormatError("a stream chunk has no 'choices' list")
            chunks.append(cast(ChatCompletionChunk, data))
        return chunks


class OpenAIAdapter:
    """OpenAI and OpenAI-compatible servers (vLLM, Ollama, LM Studio, Together, …)."""

    name = "openai"
    answers_verbatim = True
    credential_header = "authorization"
    credential_prefix = "Bearer "
    accepted_options: Mapping[str, Option] = {}

    def _url(self, target: Target, operation: str) -> str:
        return f"{target.base_url.rstrip('/')}/{operation}"

    def build_chat_request(self, request: ChatRequest, target: Target) -> HttpRequest:
        body = dict(request.body)
        body["model"] = target.model
        if request.stream:
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body["stream_options"] = options
        return HttpRequest(
            method="POST",
            url=self._url(target, "chat/completions"),
            headers=SSE_HEADERS if request.stream else JSON_HEADERS,
            body=orjson.dumps(body),
        )

    def parse_chat_response(self, body: bytes, request: ChatRequest, target: Target) -> ChatCompletion:
        data = load_object(body, "the chat completion")
        if not isinstance(data.get("choices"), list):
            raise UpstreamFormatError("the chat completion has no 'choices' list")
        return cast(ChatCompletion, data)

    def chat_stream_decoder(self, request: ChatRequest, target: Target) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder()

    def build_embeddings_request(self, request: EmbeddingsRequest, target: Target) -> HttpRequest:
        body = dict(request.body)
        body["model"] = target.model
        return HttpRequest(
            method="POST", url=self._url(target, "embeddings"), headers=JSON_HEADERS, body=orjson.dumps(body)
        )

    def parse_embeddings_response(self, body: bytes, request: EmbeddingsRequest, target: Target) -> EmbeddingsResponse:
        data = load_object(body, "the embeddings response")
        if not isinstance(data.get("data"), list):
            raise UpstreamFormatError("the embeddings response has no 'data' list")
        return cast(EmbeddingsResponse, data)

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        return error_from_openai_body(status, headers, body)


class AzureOpenAIAdapter(OpenAIAdapter):
    """Azure OpenAI: a deployment in the URL, ``api-version`` in the query, ``api-key`` header.

    ``target.model`` is the Azure deployment name; ``options.api_version`` is
    required by Azure and defaults to a current GA version.
    """

    name = "azure"
    credential_header = "api-key"
    credential_prefix = ""
    accepted_options: Mapping[str, Option] = {"api_version": Option("string")}
    default_api_version = "2024-10-21"

    def _url(self, target: Target, operation: str) -> str:
        version = str(target.options.get("api_version") or self.default_api_version)
        deployment = quote(target.model, safe="")
        base = target.base_url.rstrip("/")
        return f"{base}/openai/deployments/{deployment}/{operation}?api-version={quote(version, safe='')}"
