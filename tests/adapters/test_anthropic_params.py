"""OpenAI request parameters → Anthropic's: tools, sampling, reasoning, output format, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.base import Target
from adapters.errors import InvalidRequest, UnsupportedParameter
from tests.adapters.test_anthropic_request import build, chat, user

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("none", None, {"type": "none"}),
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "function": {"name": "get_weather"}}, None, {"type": "tool", "name": "get_weather"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        (None, True, None),
    ],
)
def test_tool_choice_variants(choice: Any, parallel: bool | None, expected: dict[str, Any] | None) -> None:
    extra: dict[str, Any] = {"tools": TOOLS}
    if choice is not None:
        extra["tool_choice"] = choice
    if parallel is not None:
        extra["parallel_tool_calls"] = parallel
    body = chat(user("Weather?"), **extra)
    assert body.get("tool_choice") == expected


def test_sampling_limits_stop_and_user() -> None:
    body = chat(
        user("Count."),
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        max_tokens=50,
        max_completion_tokens=60,
        stop="\n\n",
        user="user-7f3a",
        n=1,
        seed=None,
        presence_penalty=0,
        logprobs=False,
        stream_options={"include_usage": True},
        metadata={"team": "blue"},
        store=False,
        service_tier="default",
    )
    assert body["temperature"] == 0.2
    assert (body["top_p"], body["top_k"]) == (0.9, 40)
    assert body["max_tokens"] == 60
    assert body["stop_sequences"] == ["\n\n"]
    assert body["metadata"] == {"user_id": "user-7f3a"}
    assert body["service_tier"] == "standard_only"
    assert "stream" not in body
    assert chat(user("x"), stop=["END", "STOP"])["stop_sequences"] == ["END", "STOP"]


def test_sampling_params_can_be_dropped_for_models_that_refuse_them() -> None:
    target = Target(
        base_url="https://api.anthropic.com", model="claude-opus-4-7", options={"drop_sampling_params": True}
    )
    body = build({"messages": [user("Hi")], "temperature": 0.5, "top_p": 0.5, "top_k": 5}, target)
    assert not {"temperature", "top_p", "top_k"} & set(body)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 1.5),
        ("n", 2),
        ("logprobs", True),
        ("top_logprobs", 3),
        ("logit_bias", {"50256": -100}),
        ("presence_penalty", 0.5),
        ("frequency_penalty", -0.1),
        ("seed", 42),
        ("audio", {"voice": "alloy", "format": "wav"}),
        ("modalities", ["text", "audio"]),
        ("response_format", {"type": "json_object"}),
        ("service_tier", "flex"),
        ("prediction", {"type": "content", "content": "x"}),
        ("functions", [{"name": "f", "parameters": {}}]),
    ],
)
def test_parameters_anthropic_cannot_honour_are_refused(field: str, value: Any) -> None:
    with pytest.raises(UnsupportedParameter) as caught:
        chat(user("Hi"), **{field: value})
    assert caught.value.param == field
    assert caught.value.code == "unsupported_parameter"
    assert "anthropic" in caught.value.message


def test_function_role_messages_are_refused() -> None:
    with pytest.raises(UnsupportedParameter) as caught:
        chat(user("Hi"), {"role": "function", "name": "f", "content": "x"})
    assert caught.value.param == "messages[1].role"


def test_empty_user_message_and_system_only_conversations_are_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat(user(""))
    assert caught.value.param == "messages[0]"
    with pytest.raises(InvalidRequest) as caught:
        chat({"role": "system", "content": "Be nice."})
    assert caught.value.param == "messages"


def test_response_format_json_schema_becomes_structured_output() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "additionalProperties": False,
    }
    body = chat(
        user("Extract."),
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}},
    )
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "output_config" not in chat(user("x"), response_format={"type": "text"})


def test_json_schema_without_a_schema_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat(user("x"), response_format={"type": "json_schema", "json_schema": {"name": "x"}})
    assert caught.value.param == "response_format.json_schema.schema"


@pytest.mark.parametrize(
    ("effort", "thinking", "output_config"),
    [
        ("low", {"type": "adaptive"}, {"effort": "low"}),
        ("minimal", {"type": "adaptive"}, {"effort": "low"}),
        ("high", {"type": "adaptive"}, {"effort": "high"}),
        ("none", {"type": "disabled"}, None),
    ],
)
def test_reasoning_effort_in_adaptive_mode(effort: str, thinking: dict[str, Any], output_config: Any) -> None:
    body = chat(user("Think."), reasoning_effort=effort)
    assert body["thinking"] == thinking
    assert body.get("output_config") == output_config


def test_reasoning_effort_in_budget_mode() -> None:
    target = Target(
        base_url="https://api.anthropic.com", model="claude-3-7-sonnet-20250219", options={"thinking_mode": "budget"}
    )
    unlimited = build({"messages": [user("Think.")], "reasoning_effort": "medium"}, target)
    assert unlimited["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert unlimited["max_tokens"] == 4096 + 4096
    assert "output_config" not in unlimited
    limited = build({"messages": [user("Think.")], "reasoning_effort": "high", "max_tokens": 3000}, target)
    assert limited["thinking"] == {"type": "enabled", "budget_tokens": 2999}
    assert limited["max_tokens"] == 3000
    with pytest.raises(UnsupportedParameter) as caught:
        build({"messages": [user("Think.")], "reasoning_effort": "low", "max_tokens": 500}, target)
    assert caught.value.param == "reasoning_effort"


def test_explicit_thinking_object_wins_and_effort_still_applies() -> None:
    body = chat(user("Think."), thinking={"type": "adaptive", "display": "summarized"}, reasoning_effort="max")
    assert body["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert body["output_config"] == {"effort": "max"}


@pytest.mark.parametrize("thinking", [{"type": "enabled", "budget_tokens": 100}, {"type": "sometimes"}, "yes"])
def test_malformed_thinking_config_is_refused(thinking: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat(user("Think."), thinking=thinking)
    assert caught.value.param is not None
    assert caught.value.param.startswith("thinking")
