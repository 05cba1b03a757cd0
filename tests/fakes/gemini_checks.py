"""The request checks of the fake Gemini API (see :mod:`tests.fakes.gemini_upstream`).

Each failure raises :class:`Invalid` with the message the real API gives
(``400 INVALID_ARGUMENT``) where it is known. Like the real API (proto JSON),
field names may be spelt in camelCase or snake_case (the official SDK sends
``thinkingConfig`` in snake_case); :func:`normalize` turns a body into
camelCase before it is checked or answered, leaving free-form values (function
arguments and results, JSON schemas, schema property names) untouched.
"""

from __future__ import annotations

import binascii
import itertools
import re
from typing import Any


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


_FIELDS: dict[str, frozenset[str]] = {
    "request": _names(
        "cachedContent contents generationConfig model safetySettings serviceTier systemInstruction toolConfig tools"
    ),
    "content": _names("parts role"),
    "part": _names(
        "codeExecutionResult executableCode fileData functionCall functionResponse inlineData mediaResolution "
        "partMetadata text thought thoughtSignature toolCall toolResponse videoMetadata"
    ),
    "inlineData": _names("data mimeType"),
    "fileData": _names("fileUri mimeType"),
    "functionCall": _names("args id name"),
    "functionResponse": _names("id name parts response scheduling willContinue"),
    "tool": _names(
        "codeExecution computerUse fileSearch functionDeclarations googleMaps googleSearch "
        "googleSearchRetrieval mcpServers urlContext"
    ),
    "declaration": _names("behavior description name parameters parametersJsonSchema response responseJsonSchema"),
    "toolConfig": _names("functionCallingConfig includeServerSideToolInvocations retrievalConfig"),
    "functionCallingConfig": _names("allowedFunctionNames mode"),
    "generationConfig": _names(
        "candidateCount enableEnhancedCivicAnswers frequencyPenalty imageConfig logprobs maxOutputTokens "
        "mediaResolution presencePenalty responseJsonSchema responseLogprobs responseMimeType "
        "responseModalities responseSchema seed speechConfig stopSequences temperature thinkingConfig topK "
        "topP"
    ),
    "thinkingConfig": _names("includeThoughts thinkingBudget thinkingLevel"),
    # ``parameters`` takes an OpenAPI 3.0 subset, not JSON Schema: additionalProperties, $ref … are unknown.
    "schema": _names(
        "anyOf default description enum example format items maxItems maxLength maxProperties maximum "
        "minItems minLength minProperties minimum nullable pattern properties propertyOrdering required title "
        "type"
    ),
    "safetySetting": _names("category method threshold"),
    "batch": _names("requests"),
    "embed": _names("content model outputDimensionality taskType title"),
}
_DATA = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "toolCall",
    "toolResponse",
)
_MODES = frozenset({"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"})
_LEVELS = frozenset({"THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH", "XHIGH"})
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")
_MAX_EMBED_BATCH = 100
# Which message kind each message-typed field holds (lists hold that kind too).
_SUB = {
    ("request", "contents"): "content",
    ("request", "systemInstruction"): "content",
    ("request", "tools"): "tool",
    ("request", "toolConfig"): "toolConfig",
    ("request", "generationConfig"): "generationConfig",
    ("request", "safetySettings"): "safetySetting",
    ("content", "parts"): "part",
    ("part", "inlineData"): "inlineData",
    ("part", "fileData"): "fileData",
    ("part", "functionCall"): "functionCall",
    ("part", "functionResponse"): "functionResponse",
    ("tool", "functionDeclarations"): "declaration",
    ("declaration", "parameters"): "schema",
    ("toolConfig", "functionCallingConfig"): "functionCallingConfig",
    ("generationConfig", "thinkingConfig"): "thinkingConfig",
    ("generationConfig", "responseSchema"): "schema",
    ("schema", "items"): "schema",
    ("schema", "anyOf"): "schema",
    ("batch", "requests"): "embed",
    ("embed", "content"): "content",
}


class Invalid(Exception):
    """A request the real API answers with ``400 INVALID_ARGUMENT``."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def normalize(value: Any, kind: str) -> Any:
    """The same message with camelCase field names (unknown names are kept, to be refused)."""
    if isinstance(value, list):
        return [normalize(item, kind) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for name, item in value.items():
        key = _camel(name) if _camel(name) in _FIELDS[kind] else name
        if kind == "schema" and key == "properties" and isinstance(item, dict):
            out[key] = {prop: normalize(sub, "schema") for prop, sub in item.items()}
        elif (kind, key) in _SUB:
            out[key] = normalize(item, _SUB[(kind, key)])
        else:
            out[key] = item
    return out


def valid_base64(value: Any) -> bool:
    """Proto JSON bytes: standard or URL-safe base64, padding optional."""
    if not isinstance(value, str):
        return False
    text = value.replace("-", "+").replace("_", "/")
    try:
        binascii.a2b_base64(text + "=" * (-len(text) % 4), strict_mode=True)
    except binascii.Error:
        return False
    return True


def _known(value: Any, kind: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(f"Invalid value at '{where}': expected an object.")
    for name in value:
        if name not in _FIELDS[kind]:
            raise Invalid(f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field.")
    return value


def _number(config: dict[str, Any], key: str, low: float, high: float, *, integer: bool = False) -> None:
    value = config.get(key)
    if value is None:
        return
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        raise Invalid(f"* GenerateContentRequest.generation_config.{key}: must be within [{low}, {high}].")


def _part(part: Any, where: str) -> None:
    _known(part, "part", where)
    kinds = [kind for kind in _DATA if kind in part]
    if len(kinds) != 1:
        raise Invalid(
            f"* GenerateContentRequest.{where}.data: required oneof field 'data' must have one initialized field"
        )
    if "text" in part and not isinstance(part["text"], str):
        raise Invalid(f"Invalid value at '{where}.text' (TYPE_STRING)")
    if "inlineData" in part:
        blob = _known(part["inlineData"], "inlineData", f"{where}.inline_data")
        if not blob.get("mimeType") or not valid_base64(blob.get("data")):
            raise Invalid(f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed")
    if "fileData" in part:
        file = _known(part["fileData"], "fileData", f"{where}.file_data")
        if not isinstance(file.get("fileUri"), str) or not file["fileUri"]:
            raise Invalid(f"* GenerateContentRequest.{where}.file_data.file_uri: file_uri must not be empty")
    if "functionCall" in part:
        call = _known(part["functionCall"], "functionCall", f"{where}.function_call")
        if not isinstance(call.get("name"), str) or not isinstance(call.get("args", {}), dict):
            raise Invalid(f"* GenerateContentRequest.{where}.function_call: name and an object 'args' are required")
    if "functionResponse" in part:
        response = _known(part["functionResponse"], "functionResponse", f"{where}.function_response")
        if not isinstance(response.get("name"), str) or not isinstance(response.get("response"), dict):
            raise Invalid(f"* GenerateContentRequest.{where}.function_response: name and response are required")
    if "thought" in part and not isinstance(part["thought"], bool):
        raise Invalid(f"Invalid value at '{where}.thought' (TYPE_BOOL)")
    if "thoughtSignature" in part and not valid_base64(part["thoughtSignature"]):
        raise Invalid(f"Invalid value at '{where}.thought_signature' (TYPE_BYTES), Base64 decoding failed")


def _content(content: Any, where: str) -> str:
    _known(content, "content", where)
    role = content.get("role", "user")
    if role not in ("user", "model"):
        raise Invalid("Please use a valid role: user, model.")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise Invalid(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.")
    for j, part in enumerate(parts):
        _part(part, f"{where}.parts[{j}]")
    return str(role)


def _of(content: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [part[kind] for part in content["parts"] if kind in part]


def _function_turns(contents: list[dict[str, Any]]) -> None:
    for i, content in enumerate(contents):
        responses = _of(content, "functionResponse")
        if not responses:
            continue
        calls = _of(contents[i - 1], "functionCall") if i else []
        if not calls:
            raise Invalid("Please ensure that function response turn comes immediately after a function call turn.")
        if len(responses) != len(calls):
            raise Invalid(
                "Please ensure that the number of function response parts is equal to the number of function call "
                "parts of the function call turn."
            )
        if sorted(r["name"] for r in responses) != sorted(c["name"] for c in calls):
            raise Invalid("Please ensure that function response names match the function calls of the previous turn.")


def _signatures(contents: list[dict[str, Any]]) -> None:
    """Gemini 3: the first function call of every step of the current turn must be signed."""
    starts = [
        i
        for i, content in enumerate(contents)
        if content.get("role", "user") == "user" and any("functionResponse" not in p for p in content["parts"])
    ]
    for content in contents[(starts[-1] + 1 if starts else 0) :]:
        for position, part in enumerate(content["parts"], start=1):
            if "functionCall" not in part:
                continue
            if "thoughtSignature" not in part:
                raise Invalid(
                    "Function call is missing a thought_signature in functionCall parts. This is required for tools "
                    "to work correctly, and missing thought_signature may lead to degraded model performance. "
                    f"Additional data, function call `default_api:{part['functionCall']['name']}` , position "
                    f"{position}. please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more "
                    "details."
                )
            break


def _schema(schema: Any, where: str) -> None:
    _known(schema, "schema", where)
    for name, sub in (schema.get("properties") or {}).items():
        _schema(sub, f"{where}.properties[{name}].value")
    if "items" in schema:
        _schema(schema["items"], f"{where}.items")
    for k, sub in enumerate(schema.get("anyOf") or []):
        _schema(sub, f"{where}.any_of[{k}]")


def _tools(body: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for i, tool in enumerate(body.get("tools") or []):
        _known(tool, "tool", f"tools[{i}]")
        for j, declaration in enumerate(tool.get("functionDeclarations") or []):
            where = f"tools[{i}].function_declarations[{j}]"
            _known(declaration, "declaration", where)
            if not _FUNCTION_NAME.match(str(declaration.get("name", ""))):
                raise Invalid(f"* GenerateContentRequest.{where}.name: Invalid function name.")
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                raise Invalid(f"* GenerateContentRequest.{where}: parameters and parameters_json_schema are exclusive")
            if "parameters" in declaration:
                _schema(declaration["parameters"], f"{where}.parameters")
            names.add(declaration["name"])
    return names


def _tool_config(body: dict[str, Any], declared: set[str]) -> None:
    config = body.get("toolConfig")
    if config is None:
        return
    calling = _known(
        _known(config, "toolConfig", "tool_config").get("functionCallingConfig", {}),
        "functionCallingConfig",
        "tool_config.function_calling_config",
    )
    if calling and not declared:
        raise Invalid("Function calling config is set without function_declarations.")
    mode = calling.get("mode", "MODE_UNSPECIFIED")
    if mode not in _MODES:
        raise Invalid(
            f"Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/"
            f'google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), "{mode}"'
        )
    allowed = calling.get("allowedFunctionNames")
    if allowed is not None and (mode not in ("ANY", "VALIDATED") or not set(allowed) <= declared):
        raise Invalid(
            "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
            "only allowed with mode ANY, and must name declared functions."
        )


def _generation_config(body: dict[str, Any], model: str) -> None:
    config = _known(body.get("generationConfig", {}), "generationConfig", "generation_config")
    _number(config, "temperature", 0, 2)
    _number(config, "topP", 0, 1)
    _number(config, "candidateCount", 1, 8, integer=True)
    _number(config, "maxOutputTokens", 1, 65536, integer=True)
    _number(config, "seed", -(2**31), 2**31 - 1, integer=True)
    _number(config, "presencePenalty", -2, 2)
    _number(config, "frequencyPenalty", -2, 2)
    _number(config, "logprobs", 0, 20, integer=True)
    stops = config.get("stopSequences", [])
    if not isinstance(stops, list) or len(stops) > 5 or not all(isinstance(s, str) for s in stops):
        raise Invalid("* GenerateContentRequest.generation_config.stop_sequences: at most 5 strings.")
    if "logprobs" in config and not config.get("responseLogprobs"):
        raise Invalid("logprobs is only valid when response_logprobs is true.")
    if "responseSchema" in config and "responseJsonSchema" in config:
        raise Invalid("response_schema and response_json_schema are mutually exclusive.")
    if ("responseSchema" in config or "responseJsonSchema" in config) and config.get("responseMimeType") not in (
        "application/json",
        "text/x.enum",
    ):
        raise Invalid(
            "* GenerateContentRequest.generation_config.response_mime_type: must be application/json "
            "when a response schema is set."
        )
    thinking = _known(config.get("thinkingConfig", {}), "thinkingConfig", "generation_config.thinking_config")
    if "thinkingBudget" in thinking and "thinkingLevel" in thinking:
        raise Invalid("You can only set only one of thinking budget and thinking level.")
    if "thinkingLevel" in thinking:
        if str(thinking["thinkingLevel"]).upper() not in _LEVELS:
            raise Invalid("Invalid value at 'generation_config.thinking_config.thinking_level'")
        if not model.startswith("gemini-3"):
            raise Invalid("Thinking level is not supported for this model.")


def check_generate_request(body: dict[str, Any], model: str) -> None:
    """Raise :class:`Invalid` where the real ``generateContent`` would answer 400."""
    _known(body, "request", "")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise Invalid("* GenerateContentRequest.contents: contents is not specified")
    roles = [_content(content, f"contents[{i}]") for i, content in enumerate(contents)]
    if any(a == b for a, b in itertools.pairwise(roles)):
        raise Invalid("Please ensure that multiturn requests alternate between user and model.")
    if "systemInstruction" in body:
        _content(body["systemInstruction"], "system_instruction")
    _function_turns(contents)
    if model.startswith("gemini-3"):
        _signatures(contents)
    _tool_config(body, _tools(body))
    _generation_config(body, model)
    for i, setting in enumerate(body.get("safetySettings") or []):
        _known(setting, "safetySetting", f"safety_settings[{i}]")


def check_embed_request(body: dict[str, Any], model: str) -> None:
    """Raise :class:`Invalid` where the real ``batchEmbedContents`` would answer 400."""
    _known(body, "batch", "")
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise Invalid("* BatchEmbedContentsRequest.requests: requests is not specified")
    if len(requests) > _MAX_EMBED_BATCH:
        raise Invalid(f"* BatchEmbedContentsRequest.requests: at most {_MAX_EMBED_BATCH} requests can be in one batch")
    for i, entry in enumerate(requests):
        where = f"requests[{i}]"
        _known(entry, "embed", where)
        if entry.get("model") != f"models/{model}":
            raise Invalid(
                f"* BatchEmbedContentsRequest.{where}.model: the model must match the model in the URL "
                f"(models/{model})."
            )
        _content(entry.get("content"), f"{where}.content")
        if not all(isinstance(p.get("text"), str) for p in entry["content"]["parts"]):
            raise Invalid(f"* BatchEmbedContentsRequest.{where}.content: only text can be embedded.")
        _number(entry, "outputDimensionality", 1, 3072, integer=True)
