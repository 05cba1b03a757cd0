"""Anthropic's SSE event stream → canonical ``chat.completion.chunk`` dicts."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from adapters.anthropic import AnthropicAdapter
from adapters.base import Target
from adapters.schema import parse_chat_request
from adapters.types import ChatCompletionChunk
from tests.fakes.anthropic_upstream import message_events
from tests.openai_schema import validate

TARGET = Target(base_url="https://api.anthropic.com", model="claude-sonnet-4-5")
CREATED = 1_760_000_000
ADAPTER = AnthropicAdapter(clock=lambda: CREATED)
REQUEST = parse_chat_request(b'{"model": "claude", "messages": [{"role": "user", "content": "Hi"}], "stream": true}')

# Recorded in the shape of the streaming examples of Anthropic's API reference.
TEXT_STREAM = b"""event: message_start
data: {"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", \
"role": "assistant", "content": [], "model": "claude-sonnet-4-5-20250929", "stop_reason": null, \
"stop_sequence": null, "usage": {"input_tokens": 25, "cache_creation_input_tokens": 0, \
"cache_read_input_tokens": 10, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", \
"text": " \xc3\xa9t\xc3\xa9 \xe2\x98\x80!"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence":null}, \
"usage": {"output_tokens": 15}}

event: message_stop
data: {"type": "message_stop"}

"""

TOOL_STREAM = b"""event: message_start
data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant",\
"model":"claude-sonnet-4-5-20250929","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},\
"content":[],"stop_reason":null}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay, let's check"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" both cities:"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use",\
"id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"location\\":"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \\"San Francisc"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"o, CA\\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use",\
"id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta",\
"partial_json":"{\\"location\\": \\"Tokyo\\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

event: message_stop
data: {"type":"message_stop"}

"""

THINKING_STREAM = b"""event: message_start
data: {"type": "message_start", "message": {"id": "msg_01ThinkStream", "type": "message", "role": "assistant", \
"content": [], "model": "claude-sonnet-4-5-20250929", "stop_reason": null, "stop_sequence": null, \
"usage": {"input_tokens": 60, "output_tokens": 4}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", \
"thinking": "I need the GCD of 1071 and 462.\\n\\n1071 = 2 \xc3\x97 462 + 147"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", \
"thinking": "\\n462 = 3 \xc3\x97 147 + 21\\n147 = 7 \xc3\x97 21"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", \
"signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: content_block_start
data: {"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", \
"data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 1}

event: content_block_start
data: {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", \
"text": "The greatest common divisor of 1071 and 462 is **21**."}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 2}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, \
"usage": {"input_tokens": 60, "output_tokens": 210, "output_tokens_details": {"thinking_tokens": 180}}}

event: message_stop
data: {"type": "message_stop"}

"""


def decode(*pieces: bytes, check: bool = True) -> list[ChatCompletionChunk]:
    """Feed ``pieces`` to a fresh decoder; ``check`` validates every chunk against OpenAI's schema."""
    decoder = ADAPTER.chat_stream_decoder(REQUEST, TARGET)
    chunks: list[ChatCompletionChunk] = []
    for piece in pieces:
        chunks.extend(decoder.feed(piece))
    chunks.extend(decoder.close())
    for chunk in chunks if check else ():
        validate(chunk, "CreateChatCompletionStreamResponse")
    return chunks


def reassemble(chunks: list[ChatCompletionChunk]) -> dict[str, Any]:
    """Rebuild the message as a client would, thinking blocks by the documented rule."""
    message: dict[str, Any] = {"content": "", "tool_calls": {}, "reasoning_content": "", "thinking_blocks": []}
    pending_thinking = ""
    for chunk in chunks:
        if not chunk["choices"]:
            message["usage"] = chunk["usage"]
            continue
        choice = chunk["choices"][0]
        delta = choice["delta"]
        message["content"] += delta.get("content") or ""
        message["reasoning_content"] += delta.get("reasoning_content", "")
        pending_thinking += delta.get("reasoning_content", "")
        for block in delta.get("thinking_blocks", []):
            if block["type"] == "thinking":
                message["thinking_blocks"].append({**block, "thinking": pending_thinking})
                pending_thinking = ""
            else:
                message["thinking_blocks"].append(block)
        for call in delta.get("tool_calls", []):
            entry = message["tool_calls"].setdefault(call["index"], {"arguments": ""})
            function = call.get("function", {})
            if "id" in call:
                entry.update(id=call["id"], name=function["name"])
            entry["arguments"] += function.get("arguments", "")
        if delta.get("refusal"):
            message["refusal"] = delta["refusal"]
        if choice["finish_reason"]:
            message["finish_reason"] = choice["finish_reason"]
    return message


def test_text_stream() -> None:
    chunks = decode(TEXT_STREAM)
    base = {
        "id": "chatcmpl-msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "claude-sonnet-4-5-20250929",
    }

    def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

    assert chunks == [
        choice({"role": "assistant", "content": ""}),
        choice({"content": "Hello"}),
        choice({"content": " été ☀!"}),
        choice({}, "stop"),
        {
            **base,
            "choices": [],
            "usage": {
                "prompt_tokens": 35,
                "completion_tokens": 15,
                "total_tokens": 50,
                "prompt_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 0},
            },
        },
    ]


def test_tool_stream_counts_tool_indexes_among_tool_calls_and_skips_empty_pieces() -> None:
    chunks = decode(TOOL_STREAM)
    tool_deltas = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert tool_deltas[0] == {
        "index": 0,
        "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert tool_deltas[4] == {
        "index": 1,
        "id": "toolu_01A09q90qw90lq917835lq9",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert all(d["function"]["arguments"] for d in tool_deltas if "id" not in d)
    message = reassemble(chunks)
    assert message["content"] == "Okay, let's check both cities:"
    assert message["tool_calls"] == {
        0: {
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "name": "get_weather",
            "arguments": '{"location": "San Francisco, CA"}',
        },
        1: {"id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "arguments": '{"location": "Tokyo"}'},
    }
    assert message["finish_reason"] == "tool_calls"
    assert message["usage"]["completion_tokens"] == 89


def test_thinking_stream_reassembles_signed_blocks() -> None:
    chunks = decode(THINKING_STREAM)
    signature_deltas = [
        c["choices"][0]["delta"] for c in chunks if c["choices"] and "thinking_blocks" in c["choices"][0]["delta"]
    ]
    assert signature_deltas[0] == {
        "thinking_blocks": [
            {"type": "thinking", "thinking": "", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}
        ]
    }
    message = reassemble(chunks)
    thinking = "I need the GCD of 1071 and 462.\n\n1071 = 2 × 462 + 147\n462 = 3 × 147 + 21\n147 = 7 × 21"  # noqa: RUF001
    assert message["reasoning_content"] == thinking
    assert message["thinking_blocks"] == [
        {
            "type": "thinking",
            "thinking": thinking,
            "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds",
        },
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw"},
    ]
    assert message["content"] == "The greatest common divisor of 1071 and 462 is **21**."
    assert message["usage"]["completion_tokens_details"] == {"reasoning_tokens": 180}


@pytest.mark.parametrize("stream", [TEXT_STREAM, TOOL_STREAM, THINKING_STREAM], ids=["text", "tool", "thinking"])
def test_byte_splits_at_every_position_give_the_same_chunks(stream: bytes) -> None:
    whole = decode(stream)
    for cut in range(1, len(stream)):
        assert decode(stream[:cut], stream[cut:], check=False) == whole, f"split at byte {cut}"


def test_byte_at_a_time_and_crlf_line_endings() -> None:
    whole = decode(TOOL_STREAM)
    assert decode(*(TOOL_STREAM[i : i + 1] for i in range(len(TOOL_STREAM)))) == whole
    assert decode(TOOL_STREAM.replace(b"\n", b"\r\n")) == whole


def test_stream_and_non_stream_agree_on_the_same_message() -> None:
    message = {
        "id": "msg_01Agree",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "Two lookups, in parallel.", "signature": "c2lnLTE="},
            {"type": "text", "text": "Looking up both."},
            {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "a", "n": [1, 2]}},
            {"type": "tool_use", "id": "toolu_2", "name": "lookup", "input": {"q": "b"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 120,
            "cache_creation_input_tokens": 30,
            "cache_read_input_tokens": 50,
            "output_tokens": 77,
        },
    }
    parsed = ADAPTER.parse_chat_response(orjson.dumps(message), REQUEST, TARGET)
    streamed = reassemble(decode(*message_events(message)))
    expected = parsed["choices"][0]["message"]
    assert streamed["content"] == expected["content"] or (streamed["content"], expected["content"]) == ("", None)
    assert streamed["reasoning_content"] == expected["reasoning_content"]
    assert streamed["thinking_blocks"] == expected["thinking_blocks"]
    assert [
        {"id": c["id"], "name": c["name"], "arguments": orjson.loads(c["arguments"])}
        for c in streamed["tool_calls"].values()
    ] == [
        {"id": c["id"], "name": c["function"]["name"], "arguments": orjson.loads(c["function"]["arguments"])}
        for c in expected["tool_calls"]
    ]
    assert streamed["finish_reason"] == parsed["choices"][0]["finish_reason"]
    assert streamed["usage"] == parsed["usage"]
