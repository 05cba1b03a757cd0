"""Anthropic streams that end badly or carry unusual events."""

from __future__ import annotations

import pytest

from adapters.anthropic import AnthropicStreamDecoder
from adapters.errors import StreamError, UpstreamFormatError
from tests.adapters.test_anthropic_stream import ADAPTER, CREATED, REQUEST, TARGET, TEXT_STREAM, decode
from tests.fakes.anthropic_upstream import event

START = event(
    {
        "type": "message_start",
        "message": {
            "id": "msg_01Usage",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-haiku-4-5",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 100,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            },
        },
    }
)
STOP = event({"type": "message_stop"})


def test_message_delta_usage_is_a_running_total_and_overwrites() -> None:
    chunks = decode(
        START,
        event({"type": "message_delta", "delta": {"stop_reason": None}, "usage": {"output_tokens": 10}}),
        event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
                "usage": {"input_tokens": 100, "cache_read_input_tokens": 400, "output_tokens": 25},
            }
        ),
        STOP,
    )
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 500,
        "completion_tokens": 25,
        "total_tokens": 525,
        "prompt_tokens_details": {"cached_tokens": 400, "cache_write_tokens": 0},
    }


def test_error_event_after_http_200_raises_stream_error() -> None:
    decoder = ADAPTER.chat_stream_decoder(REQUEST, TARGET)
    first = decoder.feed(
        START + event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    )
    assert first[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    error = b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
    with pytest.raises(StreamError) as caught:
        decoder.feed(error)
    assert (caught.value.error.status, caught.value.error.type) == (529, "overloaded_error")
    assert caught.value.error.message == "Overloaded"


def test_error_event_of_an_unknown_type_is_a_server_error() -> None:
    with pytest.raises(StreamError) as caught:
        decode(START, b'event: error\ndata: {"type": "error", "error": {"type": "mystery_error"}}\n\n')
    assert (caught.value.error.status, caught.value.error.type) == (500, "mystery_error")
    assert caught.value.error.message == "upstream returned HTTP 500"


@pytest.mark.parametrize(
    "cut",
    [len(TEXT_STREAM) - len(b'event: message_stop\ndata: {"type": "message_stop"}\n\n'), len(TEXT_STREAM) // 2, 0],
)
def test_truncated_stream_raises_on_close(cut: int) -> None:
    decoder = ADAPTER.chat_stream_decoder(REQUEST, TARGET)
    decoder.feed(TEXT_STREAM[:cut])
    with pytest.raises(StreamError) as caught:
        decoder.close()
    assert caught.value.error.status == 502
    assert "message_stop" in caught.value.error.message


def test_final_event_without_trailing_blank_line_still_completes() -> None:
    chunks = decode(TEXT_STREAM.rstrip(b"\n"))
    assert chunks[-1]["usage"] is not None


def test_refusal_in_a_stream() -> None:
    chunks = decode(
        START,
        event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "I"}}),
        event(
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": "refusal",
                    "stop_sequence": None,
                    "stop_details": {"type": "refusal", "category": "bio", "explanation": "Dangerous lab methods."},
                },
                "usage": {"output_tokens": 3},
            }
        ),
        STOP,
    )
    assert chunks[1]["choices"][0]["delta"] == {"content": "I"}
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {"refusal": "Dangerous lab methods."},
        "finish_reason": "content_filter",
        "logprobs": None,
    }


def test_unknown_events_and_events_after_message_stop_are_ignored() -> None:
    chunks = decode(
        START,
        event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        event(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "citations_delta", "citation": {"type": "char_location"}},
            }
        ),
        event({"type": "brand_new_event", "x": 1}),
        b": keep-alive comment\n\n",
        STOP,
        event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "late"}}),
    )
    assert [c["choices"][0]["delta"] if c["choices"] else "usage" for c in chunks] == [
        {"role": "assistant", "content": ""},
        {},
        "usage",
    ]


@pytest.mark.parametrize(
    "stream",
    [
        event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        b"event: message_start\ndata: {not json\n\n",
        b"event: message_start\ndata: [1]\n\n",
        event({"type": "message_start", "message": {"type": "message"}}),
        START
        + event(
            {"type": "content_block_delta", "index": 5, "delta": {"type": "input_json_delta", "partial_json": "{}"}}
        ),
        START + event({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "input": {}}}),
    ],
)
def test_malformed_streams_raise_upstream_format_error(stream: bytes) -> None:
    decoder = AnthropicStreamDecoder("claude", CREATED)
    with pytest.raises(UpstreamFormatError):
        decoder.feed(stream)
