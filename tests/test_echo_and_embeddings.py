"""The built-in echo provider and the embeddings endpoint, through the official SDK."""

from __future__ import annotations

import json

import openai
import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.scripting import Scripted
from tests.openai_schema import validate


def test_echo_answers_with_what_reached_the_provider(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="echo", messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "ping pong"}]
    )
    validate(json.loads(raw.text), "CreateChatCompletionResponse")
    completion = raw.parse()
    assert completion.choices[0].message.content == "ping pong"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 4


def test_echo_stream_length_cutoff_and_n(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="echo",
            messages=[{"role": "user", "content": "one two three four five six seven eight"}],
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=2,
            n=2,
        )
    )
    for chunk in chunks:
        validate(chunk.model_dump(exclude_unset=True), "CreateChatCompletionStreamResponse")
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    # The echo model counts four characters as a token.
    assert text == "one two three four five six seven eight"[:8]
    finishes = {c.choices[i].finish_reason for c in chunks for i in range(len(c.choices))} - {None}
    assert finishes == {"length"}
    assert {choice.index for c in chunks for choice in c.choices} == {0, 1}
    assert chunks[-1].usage is not None


def test_echo_tool_call_round_trip_streamed(client: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    chunks = list(
        client.chat.completions.create(
            model="echo",
            messages=[{"role": "user", "content": "find it"}],
            tools=tools,  # type: ignore[arg-type]
            tool_choice="required",
            stream=True,
        )
    )
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id
    assert calls[0].function is not None
    assert calls[0].function.name == "lookup"
    arguments = "".join(tc.function.arguments or "" for tc in calls if tc.function)
    assert json.loads(arguments) == {"text": "find it"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_echo_embeddings_float_and_base64(client: openai.OpenAI) -> None:
    # The SDK asks for base64 by default and decodes it; both must give the same vector.
    default = client.embeddings.create(model="echo", input=["alpha", "beta"], dimensions=8)
    floats = client.embeddings.create(model="echo", input=["alpha", "beta"], dimensions=8, encoding_format="float")
    assert len(default.data) == 2
    assert len(default.data[0].embedding) == 8
    for a, b in zip(default.data[0].embedding, floats.data[0].embedding, strict=True):
        assert a == pytest.approx(b, abs=1e-6)
    validate(floats.model_dump(), "CreateEmbeddingResponse")


def test_openai_embeddings_pass_through(client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str]) -> None:
    fake, _ = fake_openai
    result = client.embeddings.create(model="text-embedding-3-small", input="hello", dimensions=3)
    assert result.data[0].embedding == pytest.approx([0.1, 0.11, 0.12], abs=1e-6)
    sent = fake.requests[-1]
    assert sent.path == "/v1/embeddings"
    assert sent.body["model"] == "text-embedding-3-small"
    assert sent.body["encoding_format"] == "base64"
    assert sent.body["dimensions"] == 3
    tokens = client.embeddings.create(
        model="text-embedding-3-small", input=[[1, 2, 3], [4, 5]], encoding_format="float"
    )
    assert len(tokens.data) == 2
    assert fake.requests[-1].body["input"] == [[1, 2, 3], [4, 5]]


def test_openai_embeddings_reach_the_client_byte_for_byte(
    client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    # A vector of floats is not serialised a second time: the client gets the provider's digits.
    fake, _ = fake_openai
    raw = (
        b'{"object": "list", "data": [{"object": "embedding", "index": 0,'
        b' "embedding": [0.10000000149011612, -1.5e-05, 3E+2]}],'
        b' "model": "text-embedding-3-small", "usage": {"prompt_tokens": 1, "total_tokens": 1}}'
    )
    fake.push(Scripted(body=raw))
    response = client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="hello", encoding_format="float"
    )
    assert response.http_response.content == raw
    assert response.parse().data[0].embedding == [0.10000000149011612, -1.5e-05, 300.0]
