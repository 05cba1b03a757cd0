"""Gemini ``streamGenerateContent?alt=sse`` bodies (recorded shapes) → OpenAI chunks."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from adapters.base import Target
from adapters.errors import StreamError, UpstreamFormatError
from adapters.gemini import GeminiAdapter
from adapters.schema import parse_chat_request
from adapters.types import ChatCompletionChunk
from tests.openai_schema import validate

ADAPTER = GeminiAdapter(clock=lambda: 1_750_000_000)
TARGET = Target(base_url="https://generativelanguage.googleapis.com/v1beta", model="gemini-2.5-flash")
SIGNATURE = "CiIB0e2Kb6xQm3cTEa6Rd3Fk1s8mZcR2y8o1Qn6d7v0J8Xb1"
RESPONSE_ID = "x5-2aKbVIrGhz7IPq6vB-Ag"


def event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"


def chunk(parts: list[dict[str, Any]], usage: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": "gemini-2.5-flash",
        "responseId": RESPONSE_ID,
    }


# A thinking model with includeThoughts, answering in German (multi-byte UTF-8) over four events.
TEXT_STREAM = b"".join(
    [
        event(
            chunk(
                [{"text": "**Greeting in German**\n\nA warm, short answer.\n", "thought": True}],
                {
                    "promptTokenCount": 8,
                    "totalTokenCount": 420,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}],
                    "thoughtsTokenCount": 412,
                },
            )
        ),
        event(
            chunk(
                [{"text": "Grüße"}],
                {"promptTokenCount": 8, "candidatesTokenCount": 2, "totalTokenCount": 422, "thoughtsTokenCount": 412},
            )
        ),
        event(
            chunk(
                [{"text": " aus Köln 👋"}],
                {"promptTokenCount": 8, "candidatesTokenCount": 7, "totalTokenCount": 427, "thoughtsTokenCount": 412},
            )
        ),
        event(
            chunk(
                [{"text": "!"}],
                {"promptTokenCount": 8, "candidatesTokenCount": 8, "totalTokenCount": 428, "thoughtsTokenCount": 412},
                "STOP",
            )
        ),
    ]
)


def request(**body: Any) -> Any:
    return parse_chat_request(
        orjson.dumps({"model": "alias", "stream": True, "messages": [{"role": "user", "content": "Hallo"}], **body})
    )


def decode(pieces: list[bytes], **body: Any) -> list[ChatCompletionChunk]:
    decoder = ADAPTER.chat_stream_decoder(request(**body), TARGET)
    chunks = [c for piece in pieces for c in decoder.feed(piece)]
    return chunks + decoder.close()


def test_a_text_stream_becomes_openai_chunks() -> None:
    chunks = decode([TEXT_STREAM])
    for c in chunks:
        validate(c, "CreateChatCompletionStreamResponse")
        assert (c["id"], c["model"], c["created"]) == (f"chatcmpl-{RESPONSE_ID}", "gemini-2.5-flash", 1_750_000_000)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[1] == {"reasoning_content": "**Greeting in German**\n\nA warm, short answer.\n"}
    assert "".join(d.get("content") or "" for d in deltas) == "Grüße aus Köln 👋!"
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish == [None, None, None, None, None, "stop"]


def test_usage_arrives_last_from_the_final_running_totals() -> None:
    *_, last = decode([TEXT_STREAM])
    assert last["choices"] == []
    # Each event repeats the totals so far: the last one counts, nothing is added up.
    assert last["usage"] == {
        "prompt_tokens": 8,
        "completion_tokens": 420,
        "total_tokens": 428,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 412},
    }


def test_the_same_chunks_come_out_wherever_the_bytes_are_split() -> None:
    whole = decode([TEXT_STREAM])
    for cut in range(1, len(TEXT_STREAM)):
        assert decode([TEXT_STREAM[:cut], TEXT_STREAM[cut:]]) == whole, f"split at byte {cut}"
    assert decode([TEXT_STREAM[i : i + 1] for i in range(len(TEXT_STREAM))]) == whole


TOOL_STREAM = b"".join(
    [
        event(
            {
                "candidates": [
                    {
                        "content": {
                            "parts": [
                                {
                                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                                    "thoughtSignature": SIGNATURE,
                                },
                                {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
                            ],
                            "role": "model",
                        },
                        "finishReason": "STOP",
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
        )
    ]
)


def test_function_calls_stream_as_complete_tool_call_deltas() -> None:
    chunks = decode([TOOL_STREAM])
    for c in chunks:
        validate(c, "CreateChatCompletionStreamResponse")
    calls = [t for c in chunks if c["choices"] for t in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls == [
        {
            "index": 0,
            "id": "call_aLpuaJ-XBO2nz7IP3qHSsQk_0_0",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            "extra_content": {"google": {"thought_signature": SIGNATURE}},
        },
        {
            "index": 1,
            "id": "call_aLpuaJ-XBO2nz7IP3qHSsQk_0_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
        },
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert (chunks[-1].get("usage") or {}).get("completion_tokens") == 109


def test_stream_and_plain_answers_name_the_same_tool_call_ids() -> None:
    data = orjson.loads(TOOL_STREAM.removeprefix(b"data: "))
    completion = ADAPTER.parse_chat_response(orjson.dumps(data), request(stream=False), TARGET)
    streamed = [
        t["id"] for c in decode([TOOL_STREAM]) if c["choices"] for t in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert streamed == [t["id"] for t in completion["choices"][0]["message"]["tool_calls"]]


def test_a_text_signature_streams_on_its_delta() -> None:
    stream = event(chunk([{"text": "Hi"}], {"promptTokenCount": 2})) + event(
        chunk([{"text": "", "thoughtSignature": SIGNATURE}], {"promptTokenCount": 2, "candidatesTokenCount": 1}, "STOP")
    )
    deltas: list[dict[str, Any]] = [dict(c["choices"][0]["delta"]) for c in decode([stream]) if c["choices"]]
    assert deltas[2] == {"extra_content": {"google": {"thought_signature": SIGNATURE}}}


def test_several_candidates_stream_with_their_own_index() -> None:
    first = {
        "candidates": [
            {"content": {"parts": [{"text": "A"}], "role": "model"}},
            {"content": {"parts": [{"text": "B"}], "role": "model"}, "index": 1},
        ],
        "responseId": "m1",
    }
    last = {
        "candidates": [
            {"content": {"parts": [{"text": "a"}], "role": "model"}, "finishReason": "STOP"},
            {"content": {"parts": [{"text": "b"}], "role": "model"}, "finishReason": "MAX_TOKENS", "index": 1},
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7},
        "responseId": "m1",
    }
    chunks = decode([event(first), event(last)], n=2)
    text: dict[int, str] = {0: "", 1: ""}
    finish: dict[int, str | None] = {}
    for c in chunks:
        validate(c, "CreateChatCompletionStreamResponse")
        for choice in c["choices"]:
            text[choice["index"]] += choice["delta"].get("content") or ""
            finish[choice["index"]] = choice["finish_reason"] or finish.get(choice["index"])
    assert text == {0: "Aa", 1: "Bb"}
    assert finish == {0: "stop", 1: "length"}


def test_a_blocked_prompt_streams_a_content_filter_finish() -> None:
    blocked = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "z9",
    }
    chunks = decode([event(blocked)])
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]] == [None, "content_filter"]
    assert (chunks[-1].get("usage") or {}).get("prompt_tokens") == 5


def test_logprobs_stream_with_their_text() -> None:
    payload = chunk([{"text": "Hi"}], {"promptTokenCount": 1}, "STOP")
    payload["candidates"][0]["logprobsResult"] = {
        "topCandidates": [{"candidates": [{"token": "Hi", "logProbability": -0.1}]}],
        "chosenCandidates": [{"token": "Hi", "logProbability": -0.1}],
    }
    chunks = decode([event(payload)], logprobs=True, top_logprobs=1)
    for c in chunks:
        validate(c, "CreateChatCompletionStreamResponse")
    [text] = [c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert text["logprobs"] == {
        "content": [
            {
                "token": "Hi",
                "logprob": -0.1,
                "bytes": [72, 105],
                "top_logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]}],
            }
        ],
        "refusal": None,
    }


def test_a_stream_without_usage_sends_no_usage_chunk() -> None:
    stream = event({"candidates": [{"content": {"parts": [{"text": "ok"}], "role": "model"}, "finishReason": "STOP"}]})
    chunks = decode([stream])
    assert all(c["choices"] for c in chunks)
    assert chunks[0]["id"].startswith("chatcmpl-")
    assert chunks[0]["model"] == "gemini-2.5-flash"


def test_a_stream_cut_before_its_finish_reason_is_an_error() -> None:
    decoder = ADAPTER.chat_stream_decoder(request(), TARGET)
    cut = TEXT_STREAM[: TEXT_STREAM.rindex(b"data: ")]
    assert decoder.feed(cut)
    with pytest.raises(StreamError) as caught:
        decoder.close()
    assert caught.value.error.status == 502
    empty = ADAPTER.chat_stream_decoder(request(), TARGET)
    with pytest.raises(StreamError):
        empty.close()


def test_an_error_inside_the_stream_is_a_stream_error() -> None:
    error = {
        "error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}
    }
    decoder = ADAPTER.chat_stream_decoder(request(), TARGET)
    decoder.feed(event(chunk([{"text": "Grü"}], {"promptTokenCount": 8})))
    with pytest.raises(StreamError) as caught:
        decoder.feed(event(error))
    assert (caught.value.error.status, caught.value.error.type) == (503, "api_error")
    assert caught.value.error.message == "The model is overloaded. Please try again later."


@pytest.mark.parametrize(
    "data", [b"data: {not json}\r\n\r\n", b"data: [1, 2]\r\n\r\n", b'data: {"candidates": {}}\r\n\r\n']
)
def test_unreadable_events_are_upstream_format_errors(data: bytes) -> None:
    decoder = ADAPTER.chat_stream_decoder(request(), TARGET)
    with pytest.raises(UpstreamFormatError):
        decoder.feed(data)
