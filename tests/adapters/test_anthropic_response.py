"""Anthropic ``Message`` answers and error bodies → canonical responses and errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from adapters.anthropic import AnthropicAdapter
from adapters.base import ProviderError, Target
from adapters.errors import InvalidRequest, UpstreamFormatError
from adapters.schema import parse_chat_request, parse_embeddings_request
from adapters.types import ChatCompletion
from tests.openai_schema import validate

TARGET = Target(base_url="https://api.anthropic.com", model="claude-sonnet-4-5")
CREATED = 1_760_000_000
ADAPTER = AnthropicAdapter(clock=lambda: CREATED + 0.75)
REQUEST = parse_chat_request(b'{"model": "claude", "messages": [{"role": "user", "content": "Hi"}]}')


def message(content: list[dict[str, Any]], stop_reason: str = "end_turn", **extra: Any) -> dict[str, Any]:
    """A Message as the API reference shows it."""
    return {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 2095,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 503,
            "service_tier": "standard",
        },
        **extra,
    }


def parse(payload: dict[str, Any]) -> ChatCompletion:
    completion = ADAPTER.parse_chat_response(orjson.dumps(payload), REQUEST, TARGET)
    validate(completion, "CreateChatCompletionResponse")
    return completion


def test_text_answer() -> None:
    completion = parse(message([{"type": "text", "text": "Hi! My name is Claude."}]))
    assert completion == {
        "id": "chatcmpl-msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "object": "chat.completion",
        "created": CREATED,
        "model": "claude-sonnet-4-5-20250929",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi! My name is Claude.", "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 2095,
            "completion_tokens": 503,
            "total_tokens": 2598,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        },
    }


def test_parallel_tool_use_with_leading_text() -> None:
    completion = parse(
        message(
            [
                {"type": "text", "text": "I'll check the weather and the time in San Francisco."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A09q90qw90lq917835lq9",
                    "name": "get_weather",
                    "input": {"location": "San Francisco, CA", "unit": "celsius"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_01B1x1fJ34qAmk2tNTrN7Up6",
                    "name": "get_time",
                    "input": {"timezone": "America/Los_Angeles"},
                },
                {"type": "tool_use", "id": "toolu_01C3n4pzq2yY6vKq8r4d1aXh", "name": "ping", "input": {}},
            ],
            "tool_use",
        )
    )
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I'll check the weather and the time in San Francisco."
    calls = choice["message"]["tool_calls"]
    assert [c["id"] for c in calls] == [
        "toolu_01A09q90qw90lq917835lq9",
        "toolu_01B1x1fJ34qAmk2tNTrN7Up6",
        "toolu_01C3n4pzq2yY6vKq8r4d1aXh",
    ]
    assert calls[0] == {
        "id": "toolu_01A09q90qw90lq917835lq9",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"location":"San Francisco, CA","unit":"celsius"}'},
    }
    assert orjson.loads(calls[1]["function"]["arguments"]) == {"timezone": "America/Los_Angeles"}
    assert calls[2]["function"]["arguments"] == "{}"


def test_tool_use_alone_has_null_content() -> None:
    completion = parse(
        message(
            [{"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"location": "Paris"}}], "tool_use"
        )
    )
    assert completion["choices"][0]["message"]["content"] is None


def test_thinking_becomes_reasoning_content_and_thinking_blocks() -> None:
    signature = "WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEczmEsUjavL"
    redacted = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB8URj2pLmN4o"
    completion = parse(
        message(
            [
                {"type": "thinking", "thinking": "Let me analyze this step by step...", "signature": signature},
                {"type": "redacted_thinking", "data": redacted},
                {"type": "thinking", "thinking": " Then check the result.", "signature": "sig2"},
                {"type": "text", "text": "Based on my analysis, 12,231."},
            ],
            usage={"input_tokens": 50, "output_tokens": 300, "output_tokens_details": {"thinking_tokens": 240}},
        )
    )
    result = completion["choices"][0]["message"]
    assert result["content"] == "Based on my analysis, 12,231."
    assert result["reasoning_content"] == "Let me analyze this step by step... Then check the result."
    assert result["thinking_blocks"] == [
        {"type": "thinking", "thinking": "Let me analyze this step by step...", "signature": signature},
        {"type": "redacted_thinking", "data": redacted},
        {"type": "thinking", "thinking": " Then check the result.", "signature": "sig2"},
    ]
    assert completion["usage"]["completion_tokens_details"] == {"reasoning_tokens": 240}


def test_refusal_maps_to_content_filter_with_the_explanation() -> None:
    completion = parse(
        message(
            [{"type": "text", "text": "I can't help"}],
            "refusal",
            stop_details={
                "type": "refusal",
                "category": "cyber",
                "explanation": "This request could enable malware development.",
            },
        )
    )
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["content"] == "I can't help"
    assert choice["message"]["refusal"] == "This request could enable malware development."


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("a_reason_added_later", "stop"),
    ],
)
def test_stop_reasons(stop_reason: str, finish: str) -> None:
    completion = parse(message([{"type": "text", "text": "Partial ans"}], stop_reason))
    assert completion["choices"][0]["finish_reason"] == finish


def test_max_tokens_cut_off_keeps_the_partial_text() -> None:
    completion = parse(
        message([{"type": "text", "text": "The first three primes are 2, 3"}], "max_tokens", stop_sequence=None)
    )
    assert completion["choices"][0]["message"]["content"] == "The first three primes are 2, 3"
    assert completion["choices"][0]["finish_reason"] == "length"


def test_empty_content() -> None:
    completion = parse(message([], usage={"input_tokens": 12, "output_tokens": 3}))
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": "", "refusal": None}
    assert completion["usage"]["total_tokens"] == 15


def test_cached_input_counts_toward_prompt_tokens() -> None:
    completion = parse(
        message(
            [{"type": "text", "text": "Done."}],
            usage={
                "input_tokens": 21,
                "cache_creation_input_tokens": 188086,
                "cache_read_input_tokens": 1500,
                "output_tokens": 393,
                "cache_creation": {"ephemeral_5m_input_tokens": 188086, "ephemeral_1h_input_tokens": 0},
            },
        )
    )
    assert completion["usage"] == {
        "prompt_tokens": 21 + 188086 + 1500,
        "completion_tokens": 393,
        "total_tokens": 21 + 188086 + 1500 + 393,
        "prompt_tokens_details": {"cached_tokens": 1500, "cache_write_tokens": 188086},
    }


def test_unknown_block_types_are_ignored() -> None:
    completion = parse(
        message(
            [
                {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {"query": "x"}},
                {"type": "text", "text": "Found it.", "citations": None},
            ]
        )
    )
    assert completion["choices"][0]["message"]["content"] == "Found it."


def test_model_falls_back_to_the_target() -> None:
    payload = message([{"type": "text", "text": "Hi"}])
    del payload["model"]
    assert parse(payload)["model"] == "claude-sonnet-4-5"


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b"[]",
        orjson.dumps({"type": "completion", "id": "x", "content": []}),
        orjson.dumps({**message([]), "content": "Hi"}),
        orjson.dumps(message([{"type": "tool_use", "input": {}}])),
    ],
)
def test_malformed_answers_raise_upstream_format_error(body: bytes) -> None:
    with pytest.raises(UpstreamFormatError):
        ADAPTER.parse_chat_response(body, REQUEST, TARGET)


def test_embeddings_are_refused_clearly() -> None:
    request = parse_embeddings_request(b'{"model": "claude-embed", "input": "hello"}')
    with pytest.raises(InvalidRequest, match="no embeddings API") as caught:
        ADAPTER.build_embeddings_request(request, TARGET)
    assert caught.value.param == "model"
    with pytest.raises(InvalidRequest):
        ADAPTER.parse_embeddings_response(b"{}", request, TARGET)


def error(kind: str, message: str) -> bytes:
    return orjson.dumps(
        {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
    )


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (
            400,
            {},
            error("invalid_request_error", "max_tokens: Field required"),
            ProviderError(400, "invalid_request_error", "max_tokens: Field required"),
        ),
        (
            401,
            {},
            error("authentication_error", "invalid x-api-key"),
            ProviderError(401, "authentication_error", "invalid x-api-key"),
        ),
        (
            402,
            {},
            error("billing_error", "Your credit balance is too low."),
            ProviderError(402, "insufficient_quota", "Your credit balance is too low.", code="billing_error"),
        ),
        (
            403,
            {},
            error("permission_error", "Your API key does not have permission to use the specified resource."),
            ProviderError(
                403, "permission_error", "Your API key does not have permission to use the specified resource."
            ),
        ),
        (
            404,
            {},
            error("not_found_error", "model: claude-9"),
            ProviderError(404, "not_found_error", "model: claude-9"),
        ),
        (
            413,
            {},
            error("request_too_large", "Request exceeds the maximum allowed number of bytes."),
            ProviderError(
                413,
                "invalid_request_error",
                "Request exceeds the maximum allowed number of bytes.",
                code="request_too_large",
            ),
        ),
        (
            429,
            {"retry-after": "17", "anthropic-ratelimit-requests-remaining": "0"},
            error("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
            ProviderError(
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit.",
                retry_after=17.0,
            ),
        ),
        (
            500,
            {},
            error("api_error", "Internal server error"),
            ProviderError(500, "api_error", "Internal server error"),
        ),
        (
            504,
            {},
            error("timeout_error", "Request timed out"),
            ProviderError(504, "timeout_error", "Request timed out"),
        ),
        (
            529,
            {"retry-after": "3"},
            error("overloaded_error", "Overloaded"),
            ProviderError(529, "overloaded_error", "Overloaded", retry_after=3.0),
        ),
        (
            502,
            {},
            b"<html><body>Bad gateway</body></html>",
            ProviderError(502, "api_error", "upstream returned HTTP 502"),
        ),
        (529, {}, b"", ProviderError(529, "overloaded_error", "upstream returned HTTP 529")),
        (418, {}, b'{"error": "teapot"}', ProviderError(418, "invalid_request_error", "upstream returned HTTP 418")),
    ],
)
def test_parse_error(status: int, headers: dict[str, str], body: bytes, expected: ProviderError) -> None:
    assert ADAPTER.parse_error(status, headers, body) == expected
