"""The fake Gemini is faithful (Google's own SDK talks to it), and the adapter talks to it over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from adapters.base import HttpRequest, Target
from adapters.errors import StreamError
from adapters.gemini import GeminiAdapter
from adapters.schema import parse_chat_request, parse_embeddings_request
from adapters.types import ChatCompletionChunk
from tests.fakes.gemini_upstream import API_KEY, REPLY_TEXT, SIGNATURE, FakeGemini, overloaded, rate_limited, sse_event
from tests.fakes.scripting import Scripted
from tests.fakes.server import serve
from tests.openai_schema import validate

ADAPTER = GeminiAdapter()
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def fake() -> Iterator[tuple[FakeGemini, str]]:
    server = FakeGemini()
    with serve(server.app) as url:
        yield server, url


def sdk(url: str, version: str = "v1beta", key: str = API_KEY) -> genai.Client:
    options = types.HttpOptions(base_url=url, api_version=version, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=key, http_options=options)


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_the_official_sdk_reads_the_fakes_answers(fake: tuple[FakeGemini, str], version: str) -> None:
    server, url = fake
    client = sdk(url, version)
    config = types.GenerateContentConfig(
        system_instruction="Be brief.",
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=1024),
    )
    answer = client.models.generate_content(model="gemini-2.5-flash", contents="Hello", config=config)
    assert answer.candidates is not None
    assert answer.candidates[0].content is not None
    parts = answer.candidates[0].content.parts or []
    assert [(bool(p.thought), p.text) for p in parts][1] == (False, REPLY_TEXT)
    assert parts[0].thought
    assert answer.response_id
    assert answer.model_version == "gemini-2.5-flash"
    assert answer.usage_metadata is not None
    assert answer.usage_metadata.thoughts_token_count == 57

    totals: list[int] = []
    text, finish = "", None
    for piece in client.models.generate_content_stream(model="gemini-3-flash-preview", contents="Hello"):
        assert piece.usage_metadata is not None
        assert piece.candidates
        content = piece.candidates[0].content
        assert content is not None
        assert piece.usage_metadata.total_token_count is not None
        totals.append(piece.usage_metadata.total_token_count)
        text += "".join(p.text or "" for p in content.parts or [])
        finish = piece.candidates[0].finish_reason or finish
    assert text == REPLY_TEXT
    assert finish == types.FinishReason.STOP
    assert totals == sorted(totals)
    assert len(totals) > 2
    assert server.requests[-1].query == {"alt": "sse"}
    assert server.requests[-1].headers["x-goog-api-key"] == API_KEY

    embedded = client.models.embed_content(
        model="gemini-embedding-001", contents=["a", "b"], config=types.EmbedContentConfig(output_dimensionality=8)
    )
    assert [len(e.values or []) for e in embedded.embeddings or []] == [8, 8]
    assert server.violations == []


def test_the_official_sdk_round_trips_a_signed_function_call(fake: tuple[FakeGemini, str]) -> None:
    server, url = fake
    client = sdk(url)
    declaration = types.FunctionDeclaration(
        name="get_weather",
        parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[declaration])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.ANY)
        ),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    question = types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])
    first = client.models.generate_content(model="gemini-3-pro-preview", contents=[question], config=config)
    assert first.candidates
    assert first.candidates[0].content
    assert first.candidates[0].content.parts
    call_part = first.candidates[0].content.parts[0]
    assert call_part.function_call is not None
    assert call_part.function_call.args == {"city": "Weather in Paris?"}
    assert call_part.thought_signature
    result = types.Part.from_function_response(name="get_weather", response={"temp_c": 21})
    history = [question, first.candidates[0].content, types.Content(role="user", parts=[result])]
    plain = types.GenerateContentConfig(
        tools=config.tools, automatic_function_calling=config.automatic_function_calling
    )
    second = client.models.generate_content(model="gemini-3-pro-preview", contents=history, config=plain)
    assert second.candidates
    assert second.candidates[0].finish_reason == types.FinishReason.STOP
    assert server.violations == []

    unsigned = types.Content(role="model", parts=[types.Part(function_call=call_part.function_call)])
    with pytest.raises(genai_errors.ClientError) as caught:
        client.models.generate_content(
            model="gemini-3-pro-preview", contents=[question, unsigned, history[2]], config=plain
        )
    assert caught.value.code == 400
    assert "thought_signature" in str(caught.value.message)


def test_the_official_sdk_sees_googles_errors(fake: tuple[FakeGemini, str]) -> None:
    server, url = fake
    wrong = sdk(url, key="AIzaWrongKey")
    with pytest.raises(genai_errors.ClientError) as caught:
        wrong.models.generate_content(model="gemini-2.5-flash", contents="Hi")
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    server.push(rate_limited())
    client = sdk(url)
    with pytest.raises(genai_errors.ClientError) as limited:
        client.models.generate_content(model="gemini-2.5-flash", contents="Hi")
    assert (limited.value.code, limited.value.status) == (429, "RESOURCE_EXHAUSTED")
    server.push(overloaded())
    with pytest.raises(genai_errors.ServerError) as busy:
        client.models.generate_content(model="gemini-2.5-flash", contents="Hi")
    assert busy.value.code == 503


def test_the_fake_refuses_what_the_real_api_refuses(fake: tuple[FakeGemini, str]) -> None:
    server, url = fake
    headers = {"x-goog-api-key": API_KEY}
    cases = [
        (
            {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}], "generationConfig": {"topK": 1, "foo": 2}},
            'Unknown name "foo"',
        ),
        ({"contents": []}, "contents is not specified"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "Hi"}]}]}, "valid role"),
        (
            {"contents": [{"role": "user", "parts": [{"text": "a"}]}, {"role": "user", "parts": [{"text": "b"}]}]},
            "alternate",
        ),
        (
            {
                "contents": [
                    {"role": "user", "parts": [{"text": "a", "inlineData": {"mimeType": "image/png", "data": "AA=="}}]}
                ]
            },
            "oneof",
        ),
        (
            {"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
            "function call turn",
        ),
    ]
    with httpx.Client(base_url=url, headers=headers) as client:
        for body, message in cases:
            answer = client.post("/v1beta/models/gemini-2.5-flash:generateContent", json=body)
            assert answer.status_code == 400, body
            assert message in answer.json()["error"]["message"]
        missing = client.post("/v1/models/gemini-2.5-flash:generateContent", json={}, headers={"x-goog-api-key": ""})
        assert missing.json()["error"]["status"] == "PERMISSION_DENIED"
        unknown = client.post("/v1/models/gpt-4o:generateContent", json={"contents": [{"parts": [{"text": "x"}]}]})
        assert unknown.status_code == 404
    assert len(server.violations) == len(cases)


def send(url: str, http: HttpRequest, key: str = API_KEY) -> httpx.Response:
    headers = {**http.headers, ADAPTER.credential_header: ADAPTER.credential_prefix + key}
    return httpx.post(http.url, headers=headers, content=http.body, timeout=10)


def chat(url: str, model: str, **body: Any) -> tuple[Any, Target]:
    messages = body.pop("messages", [{"role": "user", "content": "Hello"}])
    request = parse_chat_request(orjson.dumps({"model": "alias", "messages": messages, **body}))
    return request, Target(f"{url}/v1beta", model)


def test_the_adapter_completes_a_chat_through_the_fake(fake: tuple[FakeGemini, str]) -> None:
    server, url = fake
    request, target = chat(url, "gemini-2.5-flash", reasoning_effort="low", n=2)
    answer = send(url, ADAPTER.build_chat_request(request, target))
    completion = ADAPTER.parse_chat_response(answer.content, request, target)
    validate(completion, "CreateChatCompletionResponse")
    assert [c["message"]["content"] for c in completion["choices"]] == [REPLY_TEXT, REPLY_TEXT]
    assert completion["choices"][0]["message"]["reasoning_content"]
    assert completion["usage"]["completion_tokens_details"] == {"reasoning_tokens": 57}
    assert server.violations == []


def test_the_adapter_decodes_the_fakes_stream(fake: tuple[FakeGemini, str]) -> None:
    server, url = fake
    request, target = chat(url, "gemini-3-flash-preview", stream=True)
    http = ADAPTER.build_chat_request(request, target)
    decoder = ADAPTER.chat_stream_decoder(request, target)
    chunks: list[ChatCompletionChunk] = []
    headers = {**http.headers, ADAPTER.credential_header: API_KEY}
    with httpx.stream("POST", http.url, headers=headers, content=http.body, timeout=10) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        for data in answer.iter_raw():
            chunks.extend(decoder.feed(data))
    chunks.extend(decoder.close())
    for c in chunks:
        validate(c, "CreateChatCompletionStreamResponse")
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == REPLY_TEXT
    assert chunks[-1]["choices"] == []
    assert (chunks[-1].get("usage") or {}).get("completion_tokens", 0) > 0
    assert server.violations == []


def test_the_adapter_round_trips_tool_calls_with_gemini_3(fake: tuple[FakeGemini, str]) -> None:
    server, url = fake
    question = {"role": "user", "content": "Paris"}
    request, target = chat(url, "gemini-3-pro-preview", messages=[question], tools=[WEATHER], tool_choice="required")
    completion = ADAPTER.parse_chat_response(
        send(url, ADAPTER.build_chat_request(request, target)).content, request, target
    )
    message = completion["choices"][0]["message"]
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    [call] = message["tool_calls"]
    assert call["extra_content"] == {"google": {"thought_signature": SIGNATURE}}
    result = {"role": "tool", "tool_call_id": call["id"], "content": '{"temp_c": 21}'}
    follow_up, _ = chat(url, "gemini-3-pro-preview", messages=[question, message, result], tools=[WEATHER])
    answer = send(url, ADAPTER.build_chat_request(follow_up, target))
    assert answer.status_code == 200, answer.text
    assert server.requests[-1].body["contents"][1]["parts"][0]["thoughtSignature"] == SIGNATURE
    # History written by another provider carries no signature; Google's skip value gets it through.
    foreign = {**message, "tool_calls": [{k: v for k, v in call.items() if k != "extra_content"}]}
    from_elsewhere, _ = chat(url, "gemini-3-pro-preview", messages=[question, foreign, result], tools=[WEATHER])
    assert send(url, ADAPTER.build_chat_request(from_elsewhere, target)).status_code == 200
    assert server.violations == []


def test_the_adapter_embeds_through_the_fake(fake: tuple[FakeGemini, str]) -> None:
    server, url = fake
    request = parse_embeddings_request(
        orjson.dumps({"model": "e", "input": ["a", "b", "c"], "dimensions": 8, "encoding_format": "base64"})
    )
    target = Target(f"{url}/v1", "gemini-embedding-001")
    answer = send(url, ADAPTER.build_embeddings_request(request, target))
    response = ADAPTER.parse_embeddings_response(answer.content, request, target)
    assert [len(str(e["embedding"])) for e in response["data"]] == [44, 44, 44]
    assert server.violations == []


def test_the_adapter_reads_the_fakes_errors(fake: tuple[FakeGemini, str]) -> None:
    server, url = fake
    request, target = chat(url, "gemini-2.5-flash")
    http = ADAPTER.build_chat_request(request, target)
    wrong = send(url, http, key="AIzaWrongKey")
    assert ADAPTER.parse_error(wrong.status_code, dict(wrong.headers), wrong.content).type == "authentication_error"
    server.push(rate_limited("21s"))
    limited = send(url, http)
    error = ADAPTER.parse_error(limited.status_code, dict(limited.headers), limited.content)
    assert (error.type, error.retry_after) == ("rate_limit_error", 21.0)
    server.push(overloaded())
    busy = send(url, http)
    assert ADAPTER.parse_error(busy.status_code, dict(busy.headers), busy.content).type == "api_error"


def test_a_stream_cut_mid_way_ends_in_a_stream_error(fake: tuple[FakeGemini, str]) -> None:
    server, url = fake
    first = {"candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}}], "responseId": "r1"}
    last = {
        "candidates": [{"content": {"parts": [{"text": "lo"}], "role": "model"}, "finishReason": "STOP"}],
        "responseId": "r1",
    }
    server.push(Scripted(chunks=[sse_event(first), sse_event(first), sse_event(last)], cut_after=2))
    request, target = chat(url, "gemini-2.5-flash", stream=True)
    http = ADAPTER.build_chat_request(request, target)
    decoder = ADAPTER.chat_stream_decoder(request, target)
    received: list[ChatCompletionChunk] = []

    def read() -> None:
        headers = {**http.headers, "x-goog-api-key": API_KEY}
        with httpx.stream("POST", http.url, headers=headers, content=http.body, timeout=10) as answer:
            for data in answer.iter_raw():
                received.extend(decoder.feed(data))

    with pytest.raises(httpx.RemoteProtocolError):
        read()
    assert [c["choices"][0]["delta"].get("content") for c in received] == ["", "Hel", "Hel"]
    with pytest.raises(StreamError):
        decoder.close()
