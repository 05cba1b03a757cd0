"""Canonical types: OpenAI's chat and embeddings wire format is the lingua franca.

Wire shapes are ``TypedDict``s so that they cost nothing at run time (they are
the dicts ``orjson`` produces) while mypy still checks every key we touch.
A request is wrapped in a small dataclass that keeps the validated body and the
few facts every stage asks for, so nobody re-reads the dict to find them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict


class FunctionCall(TypedDict):
    name: str
    arguments: str


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall
    extra_content: NotRequired[dict[str, Any]]


class ThinkingBlock(TypedDict, total=False):
    """A reasoning block that must be sent back verbatim on the next turn.

    ``type`` is ``"thinking"`` (with ``thinking`` text and ``signature``) or
    ``"redacted_thinking"`` (with opaque ``data``).
    """

    type: str
    thinking: str
    signature: str
    data: str


class Message(TypedDict, total=False):
    role: str
    content: str | list[dict[str, Any]] | None
    name: str
    tool_calls: list[ToolCall]
    tool_call_id: str
    refusal: str | None
    reasoning_content: str
    thinking_blocks: list[ThinkingBlock]
    #: Provider data that must survive a round trip (e.g. Gemini thought signatures).
    extra_content: dict[str, Any]


class Usage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: dict[str, int]
    completion_tokens_details: dict[str, int]


class Choice(TypedDict):
    index: int
    message: Message
    finish_reason: str | None
    logprobs: dict[str, Any] | None


class ChatCompletion(TypedDict):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: NotRequired[Usage]
    system_fingerprint: NotRequired[str | None]


class ToolCallDelta(TypedDict, total=False):
    index: int
    id: str
    type: Literal["function"]
    function: dict[str, str]
    extra_content: dict[str, Any]


class Delta(TypedDict, total=False):
    role: str
    content: str | None
    refusal: str | None
    tool_calls: list[ToolCallDelta]
    reasoning_content: str
    thinking_blocks: list[ThinkingBlock]
    extra_content: dict[str, Any]


class ChunkChoice(TypedDict):
    index: int
    delta: Delta
    finish_reason: str | None
    logprobs: NotRequired[dict[str, Any] | None]


class ChatCompletionChunk(TypedDict):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: NotRequired[Usage | None]
    system_fingerprint: NotRequired[str | None]


class Embedding(TypedDict):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str


class EmbeddingsResponse(TypedDict):
    object: Literal["list"]
    data: list[Embedding]
    model: str
    usage: Usage


@dataclass(slots=True)
class ChatRequest:
    """A validated chat completion request.

    ``body`` is the client's JSON object as received (unknown fields included,
    so that OpenAI-format upstreams get them); ``messages`` is the same list
    as ``body["messages"]``. ``include_usage`` records what the *client*
    asked for: the gateway always asks upstreams for usage, and only passes
    the usage chunk on when this is true.
    """

    body: dict[str, Any]
    model: str
    messages: list[Message]
    stream: bool
    include_usage: bool


@dataclass(slots=True)
class EmbeddingsRequest:
    """A validated embeddings request; ``inputs`` is always a list."""

    body: dict[str, Any]
    model: str
    inputs: list[str] | list[list[int]]
    encoding_format: Literal["float", "base64"]
    dimensions: int | None
