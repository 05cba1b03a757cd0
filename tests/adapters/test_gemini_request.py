"""OpenAI chat and embeddings requests → Gemini requests.

Every body built here is also run through the fake Gemini's request checks,
which model what the real API refuses.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from adapters.base import HttpRequest, Target
from adapters.errors import InvalidRequest, UnsupportedParameter
from adapters.gemini import GeminiAdapter
from adapters.schema import parse_chat_request
from tests.fakes.gemini_checks import check_generate_request, normalize

ADAPTER = GeminiAdapter(clock=lambda: 1_750_000_000)
FLASH = Target(base_url="https://generativelanguage.googleapis.com/v1beta", model="gemini-2.5-flash")
GEMINI_3 = Target(base_url="https://generativelanguage.googleapis.com/v1", model="gemini-3-pro-preview")
SIGNATURE = "CiIB0e2Kb6xQm3cTEa6Rd3Fk1s8mZcR2y8o1Qn6d7v0J8Xb1"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


def build(body: dict[str, Any], target: Target = FLASH) -> tuple[HttpRequest, dict[str, Any]]:
    request = parse_chat_request(orjson.dumps({"model": "alias", **body}))
    http = ADAPTER.build_chat_request(request, target)
    sent = orjson.loads(http.body)
    check_generate_request(normalize(sent, "request"), target.model.removeprefix("models/"))
    return http, sent


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def test_url_headers_and_credential_for_plain_and_streamed_calls() -> None:
    http, _ = build({"messages": [user("Hi")]})
    assert http.method == "POST"
    assert http.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert http.headers["content-type"] == "application/json"
    streamed, _ = build(
        {"messages": [user("Hi")], "stream": True}, Target("http://fake/v1/", "models/gemini-2.0-flash")
    )
    assert streamed.url == "http://fake/v1/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    assert streamed.headers["accept"] == "text/event-stream"
    assert (ADAPTER.credential_header, ADAPTER.credential_prefix) == ("x-goog-api-key", "")


def test_system_and_developer_messages_become_one_system_instruction() -> None:
    _, sent = build(
        {
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                user("Hello"),
            ]
        }
    )
    assert sent["systemInstruction"] == {"parts": [{"text": "You are terse."}, {"text": "Answer in French."}]}
    assert sent["contents"] == [{"role": "user", "parts": [{"text": "Hello"}]}]


def test_roles_map_to_user_and_model_and_consecutive_turns_merge() -> None:
    _, sent = build(
        {
            "messages": [
                user("First"),
                user(""),
                {"role": "user", "content": [{"type": "text", "text": "Second"}]},
                {"role": "assistant", "content": "Reply", "name": "bot"},
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
                user("Third"),
            ]
        }
    )
    assert sent["contents"] == [
        {"role": "user", "parts": [{"text": "First"}, {"text": "Second"}]},
        {"role": "model", "parts": [{"text": "Reply"}, {"text": "No."}]},
        {"role": "user", "parts": [{"text": "Third"}]},
    ]


def test_a_conversation_without_content_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        build({"messages": [{"role": "system", "content": "Only a system prompt"}, user("")]})
    assert caught.value.param == "messages"


def test_images_audio_and_files_become_inline_or_file_data() -> None:
    _, sent = build(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare these"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"}},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.JPG?size=large"}},
                        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0="}},
                        {"type": "file", "file": {"file_data": "aGVsbG8=", "filename": "notes.txt"}},
                    ],
                }
            ]
        }
    )
    assert sent["contents"][0]["parts"] == [
        {"text": "Compare these"},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.JPG?size=large"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
        {"inlineData": {"mimeType": "text/plain", "data": "aGVsbG8="}},
    ]


@pytest.mark.parametrize(
    ("part", "param", "error"),
    [
        ({"type": "image_url", "image_url": {"url": "https://example.com/image"}}, ".image_url.url", InvalidRequest),
        ({"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}, ".image_url.url", InvalidRequest),
        ({"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}, ".image_url.url", InvalidRequest),
        ({"type": "file", "file": {"file_id": "file-abc123"}}, ".file.file_id", UnsupportedParameter),
        ({"type": "file", "file": {"file_data": "aGVsbG8=", "filename": "x.bin"}}, ".file.filename", InvalidRequest),
        ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "flac"}}, ".input_audio", InvalidRequest),
    ],
)
def test_media_gemini_cannot_take_is_refused_naming_the_field(
    part: dict[str, Any], param: str, error: type[InvalidRequest]
) -> None:
    with pytest.raises(error) as caught:
        build({"messages": [{"role": "user", "content": [{"type": "text", "text": "Look"}, part]}]})
    assert type(caught.value) is error
    assert caught.value.param == f"messages[0].content[1]{param}"


def tool_history(calls: list[dict[str, Any]], results: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        user("Weather in Paris and Rome?"),
        {"role": "assistant", "content": None, "tool_calls": calls},
        *({"role": "tool", "tool_call_id": call_id, "content": content} for call_id, content in results),
    ]


def call(call_id: str, name: str, arguments: str, signature: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    if signature:
        out["extra_content"] = {"google": {"thought_signature": signature}}
    return out


def test_tool_round_trip_keeps_thought_signatures_and_names_results() -> None:
    calls = [
        call("call_x5-2aKbVIrGhz7IPq6vB-Ag_0_0", "get_weather", '{"city": "Paris"}', SIGNATURE),
        call("call_x5-2aKbVIrGhz7IPq6vB-Ag_0_1", "get_weather", '{"city": "Rome", "unit": "c"}'),
    ]
    results = [("call_x5-2aKbVIrGhz7IPq6vB-Ag_0_0", '{"temp_c": 21}'), ("call_x5-2aKbVIrGhz7IPq6vB-Ag_0_1", "sunny")]
    _, sent = build({"messages": [*tool_history(calls, results), user("Thanks!")], "tools": [WEATHER_TOOL]}, GEMINI_3)
    assert sent["contents"][1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SIGNATURE},
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome", "unit": "c"}}},
        ],
    }
    # Both results share one user turn (Gemini wants them together), and the next user text joins it.
    assert sent["contents"][2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}},
            {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}},
            {"text": "Thanks!"},
        ],
    }


def test_ids_gemini_issued_go_back_but_minted_and_openai_ids_do_not() -> None:
    calls = [call("fc_7d1e2b", "get_weather", '{"city": "Paris"}', SIGNATURE), call("call_abc", "get_weather", "")]
    results = [("fc_7d1e2b", "[1, 2]"), ("call_abc", "cloudy")]
    _, sent = build({"messages": tool_history(calls, results), "tools": [WEATHER_TOOL]})
    model_parts, result_parts = sent["contents"][1]["parts"], sent["contents"][2]["parts"]
    assert model_parts[0]["functionCall"]["id"] == "fc_7d1e2b"
    assert model_parts[1]["functionCall"] == {"name": "get_weather", "args": {}}
    assert result_parts[0]["functionResponse"] == {
        "name": "get_weather",
        "response": {"result": "[1, 2]"},
        "id": "fc_7d1e2b",
    }
    assert "id" not in result_parts[1]["functionResponse"]


def test_unsigned_history_gets_googles_skip_value_on_gemini_3_only() -> None:
    calls = [call("call_1", "get_weather", '{"city": "Paris"}'), call("call_2", "get_weather", '{"city": "Rome"}')]
    results = [("call_1", "sunny"), ("call_2", "rain")]
    messages = tool_history(calls, results)
    _, sent = build({"messages": messages, "tools": [WEATHER_TOOL]}, GEMINI_3)
    parts = sent["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == "skip_thought_signature_validator"
    assert "thoughtSignature" not in parts[1]
    _, older = build({"messages": messages, "tools": [WEATHER_TOOL]})
    assert all("thoughtSignature" not in part for part in older["contents"][1]["parts"])


def test_a_text_signature_returns_on_the_last_text_part() -> None:
    assistant = {
        "role": "assistant",
        "content": "Bonjour ! Comment puis-je vous aider ?",
        "reasoning_content": "A greeting.",
        "extra_content": {"google": {"thought_signature": SIGNATURE}},
    }
    _, sent = build({"messages": [user("Salut"), assistant, user("Merci")]}, GEMINI_3)
    assert sent["contents"][1] == {
        "role": "model",
        "parts": [{"text": "Bonjour ! Comment puis-je vous aider ?", "thoughtSignature": SIGNATURE}],
    }


@pytest.mark.parametrize(
    ("arguments", "problem"), [("{not json", "is not valid JSON"), ('["Paris"]', "must be a JSON object")]
)
def test_bad_tool_call_arguments_are_refused_naming_the_field(arguments: str, problem: str) -> None:
    calls = [call("call_1", "get_weather", arguments)]
    with pytest.raises(InvalidRequest) as caught:
        build({"messages": tool_history(calls, [("call_1", "x")]), "tools": [WEATHER_TOOL]})
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"
    assert problem in caught.value.message


def test_a_tool_result_must_answer_an_earlier_call() -> None:
    with pytest.raises(InvalidRequest) as caught:
        build({"messages": [user("Hi"), {"role": "tool", "tool_call_id": "call_nowhere", "content": "42"}]})
    assert caught.value.param == "messages[1].tool_call_id"


def test_legacy_function_messages_are_refused() -> None:
    legacy = {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}}
    with pytest.raises(UnsupportedParameter) as caught:
        build({"messages": [user("Hi"), legacy]})
    assert caught.value.param == "messages[1].function_call"
    with pytest.raises(UnsupportedParameter) as caught:
        build({"messages": [user("Hi"), {"role": "function", "name": "f", "content": "1"}]})
    assert caught.value.param == "messages[1].role"


def test_tools_are_declared_with_their_json_schema_untouched() -> None:
    bare = {"type": "function", "function": {"name": "now"}}
    _, sent = build({"messages": [user("Weather?")], "tools": [WEATHER_TOOL, bare]})
    assert sent["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "parametersJsonSchema": WEATHER_TOOL["function"]["parameters"],  # type: ignore[index]
                },
                {"name": "now"},
            ]
        }
    ]


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("none", {"mode": "NONE"}),
        ("auto", {"mode": "AUTO"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice_becomes_a_function_calling_mode(choice: Any, config: dict[str, Any]) -> None:
    _, sent = build({"messages": [user("Weather?")], "tools": [WEATHER_TOOL], "tool_choice": choice})
    assert sent["toolConfig"] == {"functionCallingConfig": config}


def test_tool_choice_must_fit_the_tools() -> None:
    _, sent = build({"messages": [user("Hi")], "tool_choice": "none"})
    assert "toolConfig" not in sent
    with pytest.raises(InvalidRequest) as caught:
        build({"messages": [user("Hi")], "tool_choice": "required"})
    assert caught.value.param == "tool_choice"
    named = {"type": "function", "function": {"name": "get_time"}}
    with pytest.raises(InvalidRequest, match="get_time"):
        build({"messages": [user("Hi")], "tools": [WEATHER_TOOL], "tool_choice": named})


def test_generation_parameters_map_to_generation_config() -> None:
    _, sent = build(
        {
            "messages": [user("Write a haiku")],
            "temperature": 0.7,
            "top_p": 0.9,
            "max_completion_tokens": 256,
            "max_tokens": 999,
            "stop": "END",
            "n": 2,
            "seed": 42,
            "presence_penalty": 0.5,
            "frequency_penalty": -0.25,
            "user": "user-1234",
            "metadata": {"team": "a"},
            "store": False,
            "service_tier": "flex",
            "parallel_tool_calls": True,
        }
    )
    assert sent["generationConfig"] == {
        "temperature": 0.7,
        "topP": 0.9,
        "candidateCount": 2,
        "seed": 42,
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.25,
        "maxOutputTokens": 256,
        "stopSequences": ["END"],
    }
    assert sent["serviceTier"] == "flex"
    _, legacy = build({"messages": [user("Hi")], "max_tokens": 64, "stop": ["a", "b"], "service_tier": "auto"})
    assert legacy["generationConfig"] == {"maxOutputTokens": 64, "stopSequences": ["a", "b"]}
    assert "serviceTier" not in legacy


def test_response_formats_ask_for_json() -> None:
    _, plain = build({"messages": [user("Hi")], "response_format": {"type": "json_object"}})
    assert plain["generationConfig"] == {"responseMimeType": "application/json"}
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
    _, structured = build({"messages": [user("Hi")], "response_format": fmt})
    assert structured["generationConfig"] == {"responseMimeType": "application/json", "responseJsonSchema": schema}
    _, text = build({"messages": [user("Hi")], "response_format": {"type": "text"}})
    assert "generationConfig" not in text


@pytest.mark.parametrize(
    ("effort", "target", "thinking"),
    [
        ("low", FLASH, {"thinkingBudget": 1024, "includeThoughts": True}),
        ("medium", FLASH, {"thinkingBudget": 8192, "includeThoughts": True}),
        ("high", FLASH, {"thinkingBudget": 24576, "includeThoughts": True}),
        ("none", FLASH, {"thinkingBudget": 0}),
        ("low", GEMINI_3, {"thinkingLevel": "LOW", "includeThoughts": True}),
        ("high", GEMINI_3, {"thinkingLevel": "HIGH", "includeThoughts": True}),
        ("none", GEMINI_3, {"thinkingLevel": "MINIMAL"}),
    ],
)
def test_reasoning_effort_becomes_a_thinking_budget_or_level(
    effort: str, target: Target, thinking: dict[str, Any]
) -> None:
    _, sent = build({"messages": [user("Prove it")], "reasoning_effort": effort}, target)
    assert sent["generationConfig"]["thinkingConfig"] == thinking


def test_logprobs_map_to_response_logprobs() -> None:
    _, sent = build({"messages": [user("Hi")], "logprobs": True, "top_logprobs": 3})
    assert sent["generationConfig"] == {"responseLogprobs": True, "logprobs": 3}
    with pytest.raises(InvalidRequest) as caught:
        build({"messages": [user("Hi")], "top_logprobs": 3})
    assert caught.value.param == "top_logprobs"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"audio": {"voice": "alloy", "format": "wav"}, "modalities": ["text", "audio"]}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"verbosity": "low"}, "verbosity"),
        ({"store": True}, "store"),
        ({"functions": [{"name": "f", "parameters": {}}]}, "functions"),
        ({"parallel_tool_calls": False, "tools": [WEATHER_TOOL]}, "parallel_tool_calls"),
        ({"seed": 2**40}, "seed"),
        ({"service_tier": "scale"}, "service_tier"),
    ],
)
def test_parameters_gemini_cannot_honour_are_refused(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedParameter) as caught:
        build({"messages": [user("Hi")], **extra})
    assert caught.value.param == param
    assert caught.value.code == "unsupported_parameter"
