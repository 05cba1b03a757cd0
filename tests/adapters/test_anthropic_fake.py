"""The fake Anthropic server speaks the real wire format, and the adapter works against it.

Faithfulness is shown with the official ``anthropic`` SDK: its strict models
accept every body and every stream event the fake sends, and its stream
accumulator rebuilds exactly the message the fake answers unstreamed. The
adapter is then run over real HTTP against the fake, whose validator plays
the part of Anthropic's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pydantic
import pytest
from anthropic.types import Message, RawMessageStreamEvent

from adapters.anthropic import AnthropicAdapter
from adapters.base import Target
from adapters.errors import StreamError
from adapters.schema import parse_chat_request
from adapters.sse import SSEDecoder
from adapters.types import ChatCompletion, ChatCompletionChunk
from tests.fakes.anthropic_upstream import (
    API_KEY,
    MESSAGE_ID,
    FakeAnthropic,
    anthropic_error,
    error_body,
    error_event,
    message_events,
)
from tests.fakes.scripting import Scripted
from tests.fakes.server import serve
from tests.openai_schema import validate

EVENTS = pydantic.TypeAdapter(RawMessageStreamEvent)
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeAnthropic, str]]:
    fake = FakeAnthropic()
    with serve(fake.app) as url:
        yield fake, url


@pytest.fixture
def fake(server: tuple[FakeAnthropic, str]) -> Iterator[FakeAnthropic]:
    server[0].requests.clear()
    server[0].scripts.clear()
    yield server[0]
    server[0].scripts.clear()


@pytest.fixture
def url(server: tuple[FakeAnthropic, str]) -> str:
    return server[1]


@pytest.fixture
def client(url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key=API_KEY, base_url=url, max_retries=0) as sdk:
        yield sdk


# --- the fake, judged by the official SDK -------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        {"tools": [WEATHER], "tool_choice": {"type": "any"}},
    ],
    ids=["text", "thinking", "tool_use"],
)
def test_sdk_reads_default_answers_streamed_and_not(
    client: anthropic.Anthropic, fake: FakeAnthropic, url: str, extra: dict[str, Any]
) -> None:
    params: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 2048,
        "messages": [{"role": "user", "content": "Hello, Claude"}],
        **extra,
    }
    raw = client.messages.with_raw_response.create(**params)
    strict = Message.model_validate(orjson.loads(raw.http_response.content), strict=True)
    message = raw.parse()
    assert message == strict
    assert message.id == MESSAGE_ID
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0

    raw_stream = httpx.post(
        f"{url}/v1/messages",
        headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
        json={**params, "stream": True},
    )
    assert raw_stream.headers["content-type"].startswith("text/event-stream")
    sse = SSEDecoder()
    received = [*sse.feed(raw_stream.content), *sse.close()]
    # The SDK drops keep-alive pings before parsing; every other event must fit its strict models.
    assert [e.data for e in received if e.event == "ping"] == ['{"type":"ping"}']
    events = [EVENTS.validate_json(e.data, strict=True) for e in received if e.event != "ping"]
    assert [e.event for e in received if e.event != "ping"] == [e.type for e in events]
    assert [e.type for e in events][:2] == ["message_start", "content_block_start"]
    assert events[-1].type == "message_stop"

    with client.messages.stream(**params) as accumulated:
        final = accumulated.get_final_message()
    assert final.model_dump(exclude={"content"}) == message.model_dump(exclude={"content"})
    assert [b.model_dump(exclude={"parsed_output"}) for b in final.content] == [b.model_dump() for b in message.content]
    assert all(r.headers["anthropic-version"] for r in fake.requests)


def test_sdk_sees_the_documented_error_types(client: anthropic.Anthropic, fake: FakeAnthropic, url: str) -> None:
    params: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    with (
        anthropic.Anthropic(api_key="sk-ant-wrong", base_url=url, max_retries=0) as wrong,
        pytest.raises(anthropic.AuthenticationError) as auth,
    ):
        wrong.messages.create(**params)
    assert auth.value.body == error_body("authentication_error", "invalid x-api-key")

    with pytest.raises(anthropic.BadRequestError, match="roles must alternate"):
        client.messages.create(
            **{**params, "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}
        )

    fake.push(
        Scripted(
            status=429,
            headers={"retry-after": "12"},
            body=error_body("rate_limit_error", "Number of requests has exceeded your rate limit."),
        )
    )
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(**params)
    assert limited.value.response.headers["retry-after"] == "12"

    fake.push(Scripted(status=529, body=error_body("overloaded_error", "Overloaded")))
    with pytest.raises(anthropic.InternalServerError) as overloaded:
        client.messages.create(**params)
    assert overloaded.value.status_code == 529

    start = message_events(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 1},
        }
    )[0]
    fake.push(Scripted(chunks=[start, error_event("overloaded_error", "Overloaded")]))
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"), client.messages.stream(**params) as stream:
        stream.get_final_message()


def test_missing_version_header_is_refused(url: str) -> None:
    answer = httpx.post(
        f"{url}/v1/messages",
        headers={"x-api-key": API_KEY},
        json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
    )
    assert answer.status_code == 400
    assert answer.json() == error_body("invalid_request_error", "anthropic-version: header is required")
    assert anthropic_error(400, "invalid_request_error", "x").status_code == 400


# --- the adapter against the fake ---------------------------------------------------------------------------

ADAPTER = AnthropicAdapter(clock=lambda: 1_760_000_000)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def target(url: str) -> Target:
    return Target(base_url=url, model="claude-sonnet-4-6")


def send(url: str, body: dict[str, Any], key: str = API_KEY) -> tuple[httpx.Response, Any]:
    request = parse_chat_request(orjson.dumps({"model": "claude", **body}))
    http = ADAPTER.build_chat_request(request, target(url))
    headers = {**http.headers, ADAPTER.credential_header: ADAPTER.credential_prefix + key}
    return httpx.post(http.url, headers=headers, content=http.body), request


def complete(url: str, body: dict[str, Any]) -> ChatCompletion:
    answer, request = send(url, body)
    assert answer.status_code == 200, answer.text
    completion = ADAPTER.parse_chat_response(answer.content, request, target(url))
    validate(completion, "CreateChatCompletionResponse")
    return completion


def stream(url: str, body: dict[str, Any]) -> list[ChatCompletionChunk]:
    request = parse_chat_request(orjson.dumps({"model": "claude", **body, "stream": True}))
    http = ADAPTER.build_chat_request(request, target(url))
    decoder = ADAPTER.chat_stream_decoder(request, target(url))
    chunks: list[ChatCompletionChunk] = []
    headers = {**http.headers, "x-api-key": API_KEY}
    with httpx.stream("POST", http.url, headers=headers, content=http.body) as answer:
        assert answer.status_code == 200
        for piece in answer.iter_raw():
            chunks.extend(decoder.feed(piece))
    chunks.extend(decoder.close())
    for chunk in chunks:
        validate(chunk, "CreateChatCompletionStreamResponse")
    return chunks


def test_tool_round_trip_through_the_fake(fake: FakeAnthropic, url: str) -> None:
    history: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    first = complete(url, {"messages": history, "tools": TOOLS, "tool_choice": "required"})
    reply = first["choices"][0]["message"]
    assert first["choices"][0]["finish_reason"] == "tool_calls"
    assert reply["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"fake"}'}
    history += [dict(reply), {"role": "tool", "tool_call_id": reply["tool_calls"][0]["id"], "content": "18°C"}]
    second = complete(url, {"messages": history, "tools": TOOLS})
    assert second["choices"][0]["message"]["content"] == "Hello! How can I help you today?"
    sent = fake.requests[-1]
    assert sent.headers["x-api-key"] == API_KEY
    assert sent.body["messages"][-1]["content"][0]["type"] == "tool_result"


def test_thinking_round_trip_through_the_fake_streamed(fake: FakeAnthropic, url: str) -> None:
    history: list[dict[str, Any]] = [{"role": "user", "content": "What is 27 * 453?"}]
    chunks = stream(url, {"messages": history, "reasoning_effort": "high"})
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks if c["choices"])
    closing = [b for c in chunks if c["choices"] for b in c["choices"][0]["delta"].get("thinking_blocks", [])]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert len(closing) == 1
    assert chunks[-1]["usage"] is not None
    history += [
        {"role": "assistant", "content": content, "thinking_blocks": [{**closing[0], "thinking": reasoning}]},
        {"role": "user", "content": "Thanks!"},
    ]
    complete(url, {"messages": history, "reasoning_effort": "high"})
    assert fake.requests[-1].body["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": reasoning,
        "signature": closing[0]["signature"],
    }
    assert fake.requests[-1].body["thinking"] == {"type": "adaptive"}


def test_provider_errors_through_the_fake(fake: FakeAnthropic, url: str) -> None:
    body = {"messages": [{"role": "user", "content": "Hi"}]}
    answer, _ = send(url, body, key="sk-ant-wrong")
    error = ADAPTER.parse_error(answer.status_code, answer.headers, answer.content)
    assert (error.status, error.type, error.message) == (401, "authentication_error", "invalid x-api-key")

    fake.push(
        Scripted(
            status=429,
            headers={"retry-after": "30"},
            body=error_body("rate_limit_error", "Number of requests has exceeded your rate limit."),
        )
    )
    answer, _ = send(url, body)
    error = ADAPTER.parse_error(answer.status_code, answer.headers, answer.content)
    assert (error.status, error.type, error.retry_after) == (429, "rate_limit_error", 30.0)


def test_cut_connection_ends_in_a_stream_error(fake: FakeAnthropic, url: str) -> None:
    message = {
        "id": "msg_cut",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [{"type": "text", "text": "This answer will never finish arriving."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 9},
    }
    fake.push(Scripted(chunks=message_events(message), cut_after=4))
    request = parse_chat_request(b'{"model": "c", "messages": [{"role": "user", "content": "x"}], "stream": true}')
    http = ADAPTER.build_chat_request(request, target(url))
    decoder = ADAPTER.chat_stream_decoder(request, target(url))
    received: list[ChatCompletionChunk] = []

    def drain(pieces: Iterator[bytes]) -> None:
        for piece in pieces:
            received.extend(decoder.feed(piece))

    headers = {**http.headers, "x-api-key": API_KEY}
    with (
        httpx.stream("POST", http.url, headers=headers, content=http.body) as answer,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        drain(answer.iter_raw())
    assert received
    assert received[0]["choices"][0]["delta"]["role"] == "assistant"
    with pytest.raises(StreamError):
        decoder.close()


def test_mid_stream_error_event_through_the_fake(fake: FakeAnthropic, url: str) -> None:
    message = {
        "id": "msg_err",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [{"type": "text", "text": "Partial"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 2},
    }
    events = message_events(message)
    fake.push(Scripted(chunks=[*events[:3], error_event("api_error", "Internal server error")]))
    with pytest.raises(StreamError) as caught:
        stream(url, {"messages": [{"role": "user", "content": "x"}]})
    assert (caught.value.error.status, caught.value.error.type) == (500, "api_error")
