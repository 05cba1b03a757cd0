"""OpenAI chat requests → Anthropic Messages requests."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from adapters.anthropic import AnthropicAdapter
from adapters.base import Target
from adapters.errors import InvalidRequest
from adapters.schema import parse_chat_request
from tests.fakes.anthropic_checks import Invalid, validate_request

TARGET = Target(base_url="https://api.anthropic.com", model="claude-sonnet-4-5-20250929")
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"


def build(body: dict[str, Any], target: Target = TARGET) -> dict[str, Any]:
    """Translate, then check the result is a body the real API would accept."""
    request = parse_chat_request(orjson.dumps({"model": "claude", **body}))
    http = AnthropicAdapter().build_chat_request(request, target)
    sent: dict[str, Any] = orjson.loads(http.body)
    validate_request(sent)
    return sent


def chat(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return build({"messages": list(messages), **extra})


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def test_url_headers_and_defaults() -> None:
    adapter = AnthropicAdapter()
    request = parse_chat_request(orjson.dumps({"model": "claude", "messages": [user("Hello, Claude")]}))
    http = adapter.build_chat_request(request, TARGET)
    assert (http.method, http.url) == ("POST", "https://api.anthropic.com/v1/messages")
    assert http.headers == {
        "content-type": "application/json",
        "accept": "application/json",
        "anthropic-version": "2023-06-01",
    }
    assert orjson.loads(http.body) == {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello, Claude"}]}],
    }
    assert (adapter.name, adapter.credential_header, adapter.credential_prefix) == ("anthropic", "x-api-key", "")


def test_target_options_version_beta_and_default_max_tokens() -> None:
    target = Target(
        base_url="https://gateway.example/anthropic/v1/",
        model="claude-opus-4-1",
        options={
            "anthropic_version": "2026-10-21",
            "beta": ["context-1m-2025-08-07", "fine-grained-tool-streaming-2025-05-14"],
            "default_max_tokens": 1000,
        },
    )
    request = parse_chat_request(orjson.dumps({"model": "c", "messages": [user("hi")], "stream": True}))
    http = AnthropicAdapter().build_chat_request(request, target)
    assert http.url == "https://gateway.example/anthropic/v1/messages"
    assert http.headers["anthropic-version"] == "2026-10-21"
    assert http.headers["anthropic-beta"] == "context-1m-2025-08-07,fine-grained-tool-streaming-2025-05-14"
    assert http.headers["accept"] == "text/event-stream"
    body = orjson.loads(http.body)
    assert (body["max_tokens"], body["stream"]) == (1000, True)


def test_system_and_developer_messages_become_top_level_system() -> None:
    body = chat(
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        user("Hi"),
        {"role": "system", "content": "Never use emoji."},
        {"role": "assistant", "content": "Bonjour."},
        user("Again"),
    )
    assert body["system"] == [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Answer in French."},
        {"type": "text", "text": "Never use emoji."},
    ]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


def test_consecutive_same_role_messages_are_merged() -> None:
    body = chat(
        user("First."),
        user([{"type": "text", "text": "Second."}, {"type": "text", "text": ""}]),
        {"role": "assistant", "content": "One."},
        {"role": "assistant", "content": [{"type": "text", "text": "Two."}]},
        {"role": "assistant", "content": ""},
        user("Third."),
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "First."}, {"type": "text", "text": "Second."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}]},
        {"role": "user", "content": [{"type": "text", "text": "Third."}]},
    ]


def test_images_from_data_and_http_urls() -> None:
    body = chat(
        user(
            [
                {"type": "text", "text": "Compare these."},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://upload.wikimedia.org/cat.jpg"}},
            ]
        )
    )
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Compare these."},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://upload.wikimedia.org/cat.jpg"}},
    ]


def test_inline_files_become_documents() -> None:
    text = base64.b64encode(b"Quarterly figures: up 4 %.").decode()
    body = chat(
        user(
            [
                {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PNG}", "filename": "q3.pdf"}},
                {"type": "file", "file": {"file_data": f"data:text/plain;base64,{text}"}},
                {"type": "text", "text": "Summarise."},
            ]
        )
    )
    assert body["messages"][0]["content"][:2] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PNG},
            "title": "q3.pdf",
        },
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "Quarterly figures: up 4 %."},
        },
    ]


@pytest.mark.parametrize(
    ("part", "param"),
    [
        ({"type": "image_url", "image_url": {"url": f"data:image/bmp;base64,{PNG}"}}, "messages[0].content[0]"),
        ({"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}, "messages[0].content[0]"),
        ({"type": "image_url", "image_url": {"url": "ftp://example.com/cat.png"}}, "messages[0].content[0]"),
        ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}, "messages[0].content[0].type"),
        ({"type": "file", "file": {"file_id": "file-abc123"}}, "messages[0].content[0].file"),
        ({"type": "file", "file": {"file_data": f"data:application/zip;base64,{PNG}"}}, "messages[0].content[0].file"),
    ],
)
def test_parts_anthropic_cannot_take_are_refused(part: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat(user([part]))
    assert caught.value.param is not None
    assert caught.value.param.startswith(param)


def test_tool_round_trip_with_parallel_results_grouped() -> None:
    body = chat(
        user("Weather in Paris and Tokyo?"),
        {
            "role": "assistant",
            "content": "Checking both.",
            "tool_calls": [
                {
                    "id": "call_paris",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "toolu_01A09q90qw90lq917835lq9",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_paris", "content": "18°C, cloudy"},
        {
            "role": "tool",
            "tool_call_id": "toolu_01A09q90qw90lq917835lq9",
            "content": [{"type": "text", "text": "25°C, sunny"}],
        },
        user("Which is warmer?"),
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather for a city.",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                },
            }
        ],
    )
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking both."},
            {"type": "tool_use", "id": "call_paris", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {}},
        ],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "call_paris", "content": "18°C, cloudy"},
            {
                "type": "tool_result",
                "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                "content": [{"type": "text", "text": "25°C, sunny"}],
            },
            {"type": "text", "text": "Which is warmer?"},
        ],
    }
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ]


def test_tool_results_are_placed_before_user_text_of_the_same_turn() -> None:
    body = chat(
        user("Look it up."),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}],
        },
        user("(also, be brief)"),
        {"role": "tool", "tool_call_id": "call_1", "content": ""},
        tools=[{"type": "function", "function": {"name": "lookup", "strict": True}}],
    )
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1"},
        {"type": "text", "text": "(also, be brief)"},
    ]
    assert body["tools"] == [{"name": "lookup", "input_schema": {"type": "object", "properties": {}}, "strict": True}]


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]"])
def test_bad_tool_arguments_name_the_field(arguments: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat(
            user("Go."),
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments}}],
            },
        )
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"
    assert "messages[1].tool_calls[0].function.arguments" in caught.value.message


def test_thinking_blocks_go_first_in_the_assistant_turn() -> None:
    body = chat(
        user("What is 27 * 453?"),
        {
            "role": "assistant",
            "content": "27 * 453 = 12,231.",
            "reasoning_content": "27 * 453 = 27 * 400 + 27 * 53 = 10800 + 1431 = 12231.",
            "thinking_blocks": [
                {
                    "type": "thinking",
                    "thinking": "27 * 453 = 27 * 400 + 27 * 53 = 10800 + 1431 = 12231.",
                    "signature": SIGNATURE,
                },
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr"},
            ],
        },
        user("And times 2?"),
        thinking={"type": "enabled", "budget_tokens": 2048},
        max_tokens=8000,
    )
    assert body["messages"][1]["content"] == [
        {
            "type": "thinking",
            "thinking": "27 * 453 = 27 * 400 + 27 * 53 = 10800 + 1431 = 12231.",
            "signature": SIGNATURE,
        },
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr"},
        {"type": "text", "text": "27 * 453 = 12,231."},
    ]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}


def test_malformed_thinking_blocks_are_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat(user("Hi"), {"role": "assistant", "content": "Hello", "thinking_blocks": [{"type": "thinking"}]})
    assert caught.value.param == "messages[1].thinking_blocks[0]"


def test_fake_upstream_refuses_what_the_adapter_must_never_send() -> None:
    """The validator the tests above rely on does catch the mistakes it exists for."""
    good = {"model": "c", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    validate_request(good)
    bad = [
        {**good, "n": 1},
        {**good, "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
        {**good, "messages": [{"role": "assistant", "content": "a"}]},
        {**good, "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
        {**good, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x"}]}]},
        {"model": "c", "messages": good["messages"]},
        {**good, "temperature": 1.2},
        {**good, "thinking": {"type": "enabled", "budget_tokens": 2048}},
    ]
    for body in bad:
        with pytest.raises(Invalid):
            validate_request(body)
