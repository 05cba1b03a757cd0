"""End to end: the official openai SDK → gateway → a fake OpenAI server, and back."""

from __future__ import annotations

import json

import openai
import pytest

from tests.fakes.openai_upstream import API_KEY, FakeOpenAI, completion
from tests.fakes.scripting import Scripted
from tests.openai_schema import validate

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def test_non_streamed_completion_round_trip(client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str]) -> None:
    fake, _ = fake_openai
    response = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        temperature=0.2,
        top_p=0.9,
        max_tokens=50,
        stop=["\n\n"],
        seed=7,
        user="user-42",
        metadata={"ticket": "T-1"},
        extra_body={"store": False, "some_future_field": {"a": 1}},
        extra_headers={"x-trace-id": "trace-1", "x-not-allowed": "nope", "connection": "keep-alive"},
    )
    completion = response.parse()
    assert completion.choices[0].message.content == "Hello from the fake."
    assert completion.usage is not None
    assert completion.usage.total_tokens == 12
    validate(json.loads(response.text), "CreateChatCompletionResponse")
    assert response.headers["x-request-id"].startswith("req_")

    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "gpt-4o-mini-2024-07-18"
    for key, value in {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 50,
        "stop": ["\n\n"],
        "seed": 7,
        "user": "user-42",
        "metadata": {"ticket": "T-1"},
        "store": False,
        "some_future_field": {"a": 1},
    }.items():
        assert sent.body[key] == value, key
    # The gateway's credential goes upstream; the client's never does.
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert "client-key" not in json.dumps(sent.headers)
    assert sent.headers["x-trace-id"] == "trace-1"
    assert "x-not-allowed" not in sent.headers
    assert not any(name.startswith("x-stainless") for name in sent.headers)


def test_streamed_completion_hides_usage_the_client_did_not_ask_for(
    client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, _ = fake_openai
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the fake."
    assert all(c.choices for c in chunks), "the usage-only chunk must not reach a client that did not ask"
    assert all(c.usage is None for c in chunks)
    for chunk in chunks:
        raw_chunk = chunk.model_dump(exclude_unset=True)
        assert "usage" not in raw_chunk
        validate(raw_chunk, "CreateChatCompletionStreamResponse")
    # ...but the gateway asked upstream for usage anyway, for accounting.
    assert fake.requests[-1].body["stream_options"] == {"include_usage": True}


def test_streamed_completion_with_include_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5
    for chunk in chunks:
        validate(chunk.model_dump(exclude_unset=True), "CreateChatCompletionStreamResponse")


async def test_async_client_stream(async_client: openai.AsyncOpenAI) -> None:
    stream = await async_client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    text = ""
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
    assert text == "Hello from the fake."


def test_tools_and_multimodal_content_pass_through(client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str]) -> None:
    fake, _ = fake_openai
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is the weather where this photo was taken?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "12°C, rain"},
    ]
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=messages,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}},
    )
    sent = fake.requests[-1].body
    assert sent["messages"] == messages
    assert sent["tools"] == TOOLS
    assert sent["tool_choice"]["function"]["name"] == "get_weather"
    assert sent["parallel_tool_calls"] is False
    assert sent["response_format"]["type"] == "json_schema"


def test_models_are_listed_by_public_name(client: openai.OpenAI) -> None:
    models = client.models.list()
    names = {m.id for m in models.data}
    assert names == {"echo", "gpt-4o-mini", "text-embedding-3-small"}
    for model in models.data:
        validate(model.model_dump(), "Model")
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-5-secret")


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "model_not_found"
    validate(info.value.response.json(), "ErrorResponse")


def test_an_openai_answer_reaches_the_client_byte_for_byte(
    client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    # Parsed for the audit trail and usage, but sent on as the provider wrote it: no second
    # serialisation, so escapes, number forms and key order are the provider's own.
    fake, _ = fake_openai
    answer = completion("gpt-4o-mini-2024-07-18", "caf\u00e9 \u2014 ok")
    answer["system_fingerprint"] = "fp_1"
    raw = json.dumps(answer, indent=2, ensure_ascii=True).replace('"fp_1"', '"fp_1" ').encode() + b"\n"
    fake.push(Scripted(body=raw))
    response = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]
    )
    assert response.http_response.content == raw
    assert response.headers["content-length"] == str(len(raw))
    assert response.parse().choices[0].message.content == "caf\u00e9 \u2014 ok"
