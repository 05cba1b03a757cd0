"""One contract, every provider: the same official-SDK client code works whatever serves the model.

Each provider's fake speaks that provider's real wire format and refuses what the
real API would refuse, so these tests prove the whole path: translation out,
HTTP, translation back, streaming, tool round trips and error mapping.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from tests.fakes import anthropic_upstream, gemini_upstream, openai_upstream
from tests.fakes.scripting import Scripted
from tests.fakes.server import serve
from tests.openai_schema import validate

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


@dataclass
class Providers:
    gateway: str
    fakes: dict[str, Any]


@pytest.fixture
def providers(start_gateway: Callable[[dict[str, Any]], str]) -> Iterator[Providers]:
    fakes = {
        "gpt": openai_upstream.FakeOpenAI(),
        "claude": anthropic_upstream.FakeAnthropic(),
        "gemini": gemini_upstream.FakeGemini(),
    }
    with ExitStack() as stack:
        urls = {name: stack.enter_context(serve(fake.app)) for name, fake in fakes.items()}
        document = {
            "server": {"access_log": False},
            "providers": {
                "openai": {"type": "openai", "base_url": f"{urls['gpt']}/v1", "api_key": openai_upstream.API_KEY},
                "anthropic": {
                    "type": "anthropic",
                    "base_url": urls["claude"],
                    "api_key": anthropic_upstream.API_KEY,
                },
                "gemini": {
                    "type": "gemini",
                    "base_url": f"{urls['gemini']}/v1beta",
                    "api_key": gemini_upstream.API_KEY,
                },
                "echo": {"type": "echo"},
            },
            "models": {
                "gpt": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini"}]},
                "claude": {"deployments": [{"provider": "anthropic", "model": "claude-sonnet-4-6"}]},
                "gemini": {"deployments": [{"provider": "gemini", "model": "gemini-2.5-flash"}]},
                "echo": {"deployments": [{"provider": "echo", "model": "echo-1"}]},
            },
        }
        yield Providers(start_gateway(document), fakes)
    for name, fake in fakes.items():
        assert not getattr(fake, "violations", []), f"{name}: the gateway sent requests the API would refuse"


MODELS = ["gpt", "claude", "gemini", "echo"]


@pytest.fixture
def client(providers: Providers, sdk: Callable[..., openai.OpenAI]) -> openai.OpenAI:
    return sdk(providers.gateway)


@pytest.mark.parametrize("model", MODELS)
def test_streamed_and_plain_answers_agree(client: openai.OpenAI, model: str) -> None:
    messages: Any = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hello there"}]
    raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, max_tokens=100)
    validate(json.loads(raw.text), "CreateChatCompletionResponse")
    plain = raw.parse()
    text = plain.choices[0].message.content
    assert text
    assert plain.choices[0].finish_reason == "stop"
    assert plain.usage is not None
    assert plain.usage.total_tokens > 0

    chunks = list(
        client.chat.completions.create(
            model=model, messages=messages, max_tokens=100, stream=True, stream_options={"include_usage": True}
        )
    )
    for chunk in chunks:
        validate(chunk.model_dump(exclude_unset=True), "CreateChatCompletionStreamResponse")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None


@pytest.mark.parametrize("model", MODELS)
def test_tool_call_round_trip(client: openai.OpenAI, model: str) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Oslo?"}]
    first = client.chat.completions.create(
        model=model,
        messages=messages,
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert isinstance(json.loads(call.function.arguments), dict)  # type: ignore[union-attr]
    # The SDK's own message object goes back as the next turn, as real applications do.
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temperature_c": 12, "sky": "rain"}'})
    second = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert second.choices[0].message.content


@pytest.mark.parametrize("model", MODELS)
def test_streamed_tool_call_arguments_reassemble(client: openai.OpenAI, model: str) -> None:
    chunks = list(
        client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Weather in Oslo?"}],
            tools=TOOLS,  # type: ignore[arg-type]
            tool_choice="required",
            stream=True,
        )
    )
    for chunk in chunks:
        validate(chunk.model_dump(exclude_unset=True), "CreateChatCompletionStreamResponse")
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id
    assert deltas[0].function is not None
    assert deltas[0].function.name == "get_weather"
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert isinstance(json.loads(arguments), dict)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]


def _rate_limited(model: str) -> Scripted:
    if model == "claude":
        body: Any = {"type": "error", "error": {"type": "rate_limit_error", "message": "Number of requests exceeded"}}
        return Scripted(status=429, body=body, headers={"retry-after": "3"})
    if model == "gemini":
        body = {
            "error": {
                "code": 429,
                "message": "Resource has been exhausted (e.g. check quota).",
                "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}],
            }
        }
        return Scripted(status=429, body=body)
    body = {
        "error": {"message": "Rate limit reached", "type": "requests", "param": None, "code": "rate_limit_exceeded"}
    }
    return Scripted(status=429, body=body, headers={"retry-after": "3"})


@pytest.mark.parametrize("model", ["gpt", "claude", "gemini"])
def test_rate_limits_become_429_with_retry_after(client: openai.OpenAI, providers: Providers, model: str) -> None:
    providers.fakes[model].push(_rate_limited(model))
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert info.value.response.headers["retry-after"] == "3"
    validate(info.value.response.json(), "ErrorResponse")


def _stream_of(model: str) -> list[bytes]:
    if model == "claude":
        message = anthropic_upstream.default_message(
            {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x"}]}
        )
        return anthropic_upstream.message_events(message)
    if model == "gemini":
        piece = {
            "candidates": [{"content": {"parts": [{"text": "partial"}], "role": "model"}, "index": 0}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "r1",
        }
        return [gemini_upstream.sse_event(piece)] * 4
    return openai_upstream.stream_chunks("gpt-4o-mini", ["a", "b", "c", "d"], include_usage=True)


@pytest.mark.parametrize("model", ["gpt", "claude", "gemini"])
def test_a_stream_cut_mid_way_ends_with_an_error(client: openai.OpenAI, providers: Providers, model: str) -> None:
    providers.fakes[model].push(Scripted(chunks=_stream_of(model), cut_after=2))
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}], stream=True)
    received = []
    with pytest.raises(openai.APIError):
        received.extend(stream)
    assert received


@pytest.mark.parametrize("model", ["claude", "gemini"])
def test_reasoning_surfaces_and_round_trips(client: openai.OpenAI, providers: Providers, model: str) -> None:
    messages: list[Any] = [{"role": "user", "content": "Think, then greet me."}]
    first = client.chat.completions.create(model=model, messages=messages, reasoning_effort="low", max_tokens=4000)
    message = first.choices[0].message.model_dump(exclude_none=True)
    assert message["reasoning_content"], "the provider's thinking must not be lost in translation"
    assert message["content"]
    if model == "claude":
        (block,) = message["thinking_blocks"]
        assert block["signature"]
    messages += [message, {"role": "user", "content": "And again?"}]
    second = client.chat.completions.create(model=model, messages=messages, reasoning_effort="low", max_tokens=4000)
    assert second.choices[0].message.content
    if model == "claude":
        sent = providers.fakes["claude"].requests[-1].body["messages"][1]["content"]
        assert sent[0] == {"type": "thinking", "thinking": block["thinking"], "signature": block["signature"]}

    streamed = list(
        client.chat.completions.create(
            model=model, messages=messages[:1], reasoning_effort="low", max_tokens=4000, stream=True
        )
    )
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in streamed if c.choices)
    assert reasoning == message["reasoning_content"]


def test_an_error_event_mid_stream_never_carries_the_provider_key(client: openai.OpenAI, providers: Providers) -> None:
    message = anthropic_upstream.default_message(
        {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "x"}]}
    )
    events = anthropic_upstream.message_events(message)[:3]
    events.append(
        anthropic_upstream.error_event("invalid_request_error", f"bad input near {anthropic_upstream.API_KEY}")
    )
    providers.fakes["claude"].push(Scripted(chunks=events))
    stream = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}], stream=True)
    with pytest.raises(openai.APIError) as info:
        list(stream)
    assert "bad input near" in info.value.message
    assert anthropic_upstream.API_KEY not in info.value.message
