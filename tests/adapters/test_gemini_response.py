"""Gemini answers (recorded shapes) → OpenAI completions, errors and embeddings."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from adapters.base import Target
from adapters.errors import UpstreamFormatError
from adapters.gemini import GeminiAdapter
from adapters.schema import parse_chat_request
from adapters.types import ChatCompletion
from tests.openai_schema import validate

ADAPTER = GeminiAdapter(clock=lambda: 1_750_000_000)
TARGET = Target(base_url="https://generativelanguage.googleapis.com/v1beta", model="gemini-2.5-flash")
SIGNATURE = "CiIB0e2Kb6xQm3cTEa6Rd3Fk1s8mZcR2y8o1Qn6d7v0J8Xb1"

TEXT_RESPONSE: dict[str, Any] = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {"text": "**Weighing the request**\n\nA haiku about autumn; five-seven-five.\n", "thought": True},
                    {"text": "Crimson leaves drifting,\nwhispers of the cooling wind,\nthe year exhales slow."},
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 11,
        "candidatesTokenCount": 21,
        "totalTokenCount": 521,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}],
        "thoughtsTokenCount": 489,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "x5-2aKbVIrGhz7IPq6vB-Ag",
}

PARALLEL_CALLS: dict[str, Any] = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SIGNATURE},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Rome", "unit": "c"}}},
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 64,
        "candidatesTokenCount": 30,
        "totalTokenCount": 173,
        "thoughtsTokenCount": 79,
    },
    "modelVersion": "gemini-3-pro-preview",
    "responseId": "aLpuaJ-XBO2nz7IP3qHSsQk",
}


def chat(**body: Any) -> Any:
    return parse_chat_request(orjson.dumps({"model": "alias", "messages": [{"role": "user", "content": "Hi"}], **body}))


def parse(payload: dict[str, Any], **body: Any) -> ChatCompletion:
    completion = ADAPTER.parse_chat_response(orjson.dumps(payload), chat(**body), TARGET)
    validate(completion, "CreateChatCompletionResponse")
    return completion


def test_text_and_thoughts_become_content_and_reasoning() -> None:
    completion = parse(TEXT_RESPONSE)
    assert completion["id"] == "chatcmpl-x5-2aKbVIrGhz7IPq6vB-Ag"
    assert completion["object"] == "chat.completion"
    assert completion["created"] == 1_750_000_000
    assert completion["model"] == "gemini-2.5-flash"
    [choice] = completion["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["logprobs"] is None
    assert choice["message"]["content"] == TEXT_RESPONSE["candidates"][0]["content"]["parts"][1]["text"]
    assert choice["message"]["reasoning_content"].startswith("**Weighing the request**")
    assert "tool_calls" not in choice["message"]


def test_usage_counts_thinking_as_completion_and_reasoning_tokens() -> None:
    assert parse(TEXT_RESPONSE)["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 510,
        "total_tokens": 521,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 489},
    }
    cached = {
        **TEXT_RESPONSE,
        "usageMetadata": {
            "promptTokenCount": 2048,
            "cachedContentTokenCount": 1024,
            "toolUsePromptTokenCount": 100,
            "candidatesTokenCount": 5,
        },
    }
    usage = parse(cached)["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (2148, 5, 2153)
    assert usage["prompt_tokens_details"] == {"cached_tokens": 1024}
    no_usage = {k: v for k, v in TEXT_RESPONSE.items() if k != "usageMetadata"}
    assert "usage" not in parse(no_usage)


def test_parallel_function_calls_get_stable_ids_and_keep_the_signature() -> None:
    completion = parse(PARALLEL_CALLS)
    [choice] = completion["choices"]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {
            "id": "call_aLpuaJ-XBO2nz7IP3qHSsQk_0_0",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            "extra_content": {"google": {"thought_signature": SIGNATURE}},
        },
        {
            "id": "call_aLpuaJ-XBO2nz7IP3qHSsQk_0_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Rome","unit":"c"}'},
        },
    ]
    assert parse(PARALLEL_CALLS)["choices"][0]["message"]["tool_calls"] == message["tool_calls"]


def test_without_a_response_id_call_ids_are_still_stable_and_distinct() -> None:
    payload = {k: v for k, v in PARALLEL_CALLS.items() if k != "responseId"}
    first = parse(payload)
    again = parse(payload)
    assert first["id"] == again["id"]
    assert first["id"].startswith("chatcmpl-")
    ids = [c["id"] for c in first["choices"][0]["message"]["tool_calls"]]
    assert ids == [c["id"] for c in again["choices"][0]["message"]["tool_calls"]]
    assert len(set(ids)) == 2
    assert all(i.startswith("call_") for i in ids)


def test_an_id_sent_by_gemini_is_used() -> None:
    payload = orjson.loads(orjson.dumps(PARALLEL_CALLS))
    payload["candidates"][0]["content"]["parts"][0]["functionCall"]["id"] = "fc_7d1e2b"
    ids = [c["id"] for c in parse(payload)["choices"][0]["message"]["tool_calls"]]
    assert ids == ["fc_7d1e2b", "call_aLpuaJ-XBO2nz7IP3qHSsQk_0_1"]


def test_text_with_a_function_call_keeps_both() -> None:
    payload = orjson.loads(orjson.dumps(PARALLEL_CALLS))
    payload["candidates"][0]["content"]["parts"].insert(0, {"text": "Let me check."})
    message = parse(payload)["choices"][0]["message"]
    assert message["content"] == "Let me check."
    assert len(message["tool_calls"]) == 2


def test_a_text_signature_rides_on_the_message() -> None:
    payload = {
        "candidates": [
            {
                "content": {
                    "parts": [{"text": "Hello! How can I help?", "thoughtSignature": SIGNATURE}],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "modelVersion": "gemini-3-pro-preview",
        "responseId": "b1",
    }
    message: dict[str, Any] = dict(parse(payload)["choices"][0]["message"])
    assert message["extra_content"] == {"google": {"thought_signature": SIGNATURE}}


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", "stop"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
        ("FINISH_REASON_UNSPECIFIED", "stop"),
    ],
)
def test_finish_reasons(reason: str, expected: str) -> None:
    payload = orjson.loads(orjson.dumps(TEXT_RESPONSE))
    payload["candidates"][0]["finishReason"] = reason
    assert parse(payload)["choices"][0]["finish_reason"] == expected


def test_a_candidate_stopped_by_safety_has_empty_content() -> None:
    payload = {
        "candidates": [
            {
                "finishReason": "SAFETY",
                "index": 0,
                "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
                    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
                ],
            }
        ],
        "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "c2",
    }
    [choice] = parse(payload)["choices"]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["content"] == ""


def test_thinking_that_used_every_token_ends_with_length_and_no_text() -> None:
    payload = {
        "candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}],
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 73, "thoughtsTokenCount": 64},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "d3",
    }
    completion = parse(payload, max_tokens=64)
    assert completion["choices"][0]["finish_reason"] == "length"
    assert completion["choices"][0]["message"]["content"] == ""
    assert completion["usage"]["completion_tokens_details"] == {"reasoning_tokens": 64}


def test_a_blocked_prompt_answers_every_choice_with_content_filter() -> None:
    payload = {
        "promptFeedback": {
            "blockReason": "PROHIBITED_CONTENT",
            "safetyRatings": [{"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "HIGH"}],
        },
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "e4",
    }
    completion = parse(payload, n=2)
    assert [c["index"] for c in completion["choices"]] == [0, 1]
    assert all(c["finish_reason"] == "content_filter" and c["message"]["content"] == "" for c in completion["choices"])
    assert completion["usage"]["prompt_tokens"] == 8


def test_several_candidates_become_ordered_choices() -> None:
    payload = {
        "candidates": [
            {"content": {"parts": [{"text": "Two"}], "role": "model"}, "finishReason": "STOP", "index": 1},
            {"content": {"parts": [{"text": "One"}], "role": "model"}, "finishReason": "STOP"},
        ],
        "modelVersion": "gemini-2.0-flash",
        "responseId": "f5",
    }
    choices = parse(payload, n=2)["choices"]
    assert [(c["index"], c["message"]["content"]) for c in choices] == [(0, "One"), (1, "Two")]


def test_logprobs_become_openai_token_logprobs() -> None:
    payload = orjson.loads(orjson.dumps(TEXT_RESPONSE))
    payload["candidates"][0]["logprobsResult"] = {
        "topCandidates": [
            {"candidates": [{"token": "Crim", "logProbability": -0.01}, {"token": "Gold", "logProbability": -4.6}]},
            {"candidates": [{"token": "son"}]},
        ],
        "chosenCandidates": [{"token": "Crim", "logProbability": -0.01}, {"token": "son"}],
    }
    logprobs = parse(payload, logprobs=True, top_logprobs=2)["choices"][0]["logprobs"]
    assert logprobs == {
        "content": [
            {
                "token": "Crim",
                "logprob": -0.01,
                "bytes": list(b"Crim"),
                "top_logprobs": [
                    {"token": "Crim", "logprob": -0.01, "bytes": list(b"Crim")},
                    {"token": "Gold", "logprob": -4.6, "bytes": list(b"Gold")},
                ],
            },
            {
                "token": "son",
                "logprob": 0.0,
                "bytes": list(b"son"),
                "top_logprobs": [{"token": "son", "logprob": 0.0, "bytes": list(b"son")}],
            },
        ],
        "refusal": None,
    }


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Bad Gateway</html>",
        b"[]",
        b'{"modelVersion": "gemini-2.5-flash"}',
        b'{"candidates": {"content": {}}}',
        b'{"candidates": [{"content": {"parts": "text"}}]}',
        b'{"candidates": [{"content": {"parts": [{"functionCall": {"args": {}}}]}}]}',
        b'{"candidates": [{"index": "0"}]}',
        b'{"candidates": [{}], "usageMetadata": {"promptTokenCount": "9"}}',
    ],
)
def test_unreadable_answers_are_upstream_format_errors(body: bytes) -> None:
    with pytest.raises(UpstreamFormatError):
        ADAPTER.parse_chat_response(body, chat(), TARGET)
