"""Validation of incoming canonical requests.

The checks follow OpenAI's published request schema for the fields the gateway
or an adapter reads; anything else is left for the upstream to judge (and is
passed through to OpenAI-format upstreams). Every failure names the field, so
a client sees ``messages[2].content: expected a string or a list of parts``
rather than a stack trace.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, cast

import orjson

from adapters.errors import InvalidRequest
from adapters.types import ChatRequest, EmbeddingsRequest, Message

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
#: Roles whose message needs no check beyond string content (tool messages need an id, assistants may call tools).
_PLAIN_ROLES = frozenset({"system", "developer", "user"})
_PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})
_MAX_N = 128
_MAX_STOP = 4
#: Optional numeric fields and their bounds (low, high; None: no upper bound).
_NUMBERS: dict[str, tuple[float, float]] = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
}
_INTEGERS: dict[str, tuple[int, int | None]] = {
    "max_tokens": (1, None),
    "max_completion_tokens": (1, None),
    "n": (1, _MAX_N),
    "seed": (-(2**63), 2**63 - 1),
}


def load_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a request body that must be one JSON object."""
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc.msg} at position {exc.pos}.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return data


def _require_str(value: Any, param: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value):
        raise InvalidRequest(f"'{param}' must be a non-empty string.", param=param)
    return value


def _optional_number(value: Any, key: str, low: float, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidRequest(f"'{key}' must be a number between {low:g} and {high:g}.", param=key)


def _optional_int(value: Any, key: str, low: int, high: int | None = None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidRequest(f"'{key}' must be an integer {bound}.", param=key)


def _check_content(content: Any, param: str, role: str) -> None:
    if content is None:
        if role in ("assistant", "function"):
            return
        raise InvalidRequest(f"'{param}' must not be null for role '{role}'.", param=param)
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise InvalidRequest(f"'{param}' must be a string or a list of content parts.", param=param)
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise InvalidRequest(f"'{where}' must be an object.", param=where)
        kind = part.get("type")
        if kind not in _PART_TYPES:
            raise InvalidRequest(f"'{where}.type' must be one of {sorted(_PART_TYPES)}.", param=f"{where}.type")
        if kind == "text":
            _require_str(part.get("text"), f"{where}.text", allow_empty=True)
        elif kind == "image_url":
            image = part.get("image_url")
            if not isinstance(image, dict):
                raise InvalidRequest(f"'{where}.image_url' must be an object with a 'url'.", param=f"{where}.image_url")
            _require_str(image.get("url"), f"{where}.image_url.url")


def _check_tool_calls(calls: Any, param: str) -> None:
    if not isinstance(calls, list):
        raise InvalidRequest(f"'{param}' must be a list.", param=param)
    for i, call in enumerate(calls):
        where = f"{param}[{i}]"
        if not isinstance(call, dict):
            raise InvalidRequest(f"'{where}' must be an object.", param=where)
        _require_str(call.get("id"), f"{where}.id")
        function = call.get("function")
        if not isinstance(function, dict):
            raise InvalidRequest(f"'{where}.function' must be an object.", param=f"{where}.function")
        _require_str(function.get("name"), f"{where}.function.name")
        _require_str(function.get("arguments"), f"{where}.function.arguments", allow_empty=True)


def _check_messages(messages: Any) -> list[Message]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty list.", param="messages")
    for i, message in enumerate(messages):
        # The common message (a known role, text content) is accepted before any field name is formatted.
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            role = message.get("role")
            if role in _PLAIN_ROLES or (role == "assistant" and message.get("tool_calls") is None):
                continue
        _check_message(message, f"messages[{i}]")
    return cast(list[Message], messages)


def _check_message(message: Any, where: str) -> None:
    if not isinstance(message, dict):
        raise InvalidRequest(f"'{where}' must be an object.", param=where)
    role = message.get("role")
    if role not in _ROLES:
        raise InvalidRequest(f"'{where}.role' must be one of {sorted(_ROLES)}.", param=f"{where}.role")
    _check_content(message.get("content"), f"{where}.content", role)
    if role == "assistant" and message.get("tool_calls") is not None:
        _check_tool_calls(message["tool_calls"], f"{where}.tool_calls")
    if role == "tool":
        _require_str(message.get("tool_call_id"), f"{where}.tool_call_id")


def _check_tools(tools: Any, key: str) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be a list.", param="tools")
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise InvalidRequest(f"'{where}' must be an object with type 'function'.", param=where)
        function = tool.get("function")
        if not isinstance(function, dict):
            raise InvalidRequest(f"'{where}.function' must be an object.", param=f"{where}.function")
        _require_str(function.get("name"), f"{where}.function.name")
        params = function.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise InvalidRequest(f"'{where}.function.parameters' must be an object.", param=f"{where}.function")


def _check_tool_choice(choice: Any, key: str) -> None:
    if choice is None or choice in ("none", "auto", "required"):
        return
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        _require_str(choice["function"].get("name"), "tool_choice.function.name")
        return
    raise InvalidRequest(
        "'tool_choice' must be 'none', 'auto', 'required' or {'type': 'function', 'function': {'name': ...}}.",
        param="tool_choice",
    )


def _check_response_format(fmt: Any, key: str) -> None:
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in ("text", "json_object", "json_schema"):
        raise InvalidRequest(
            "'response_format.type' must be 'text', 'json_object' or 'json_schema'.", param="response_format"
        )
    if kind == "json_schema":
        schema = fmt.get("json_schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("name"), str):
            raise InvalidRequest(
                "'response_format.json_schema' must be an object with a 'name' and a 'schema'.",
                param="response_format.json_schema",
            )


def _check_stop(stop: Any, key: str) -> None:
    if stop is None or isinstance(stop, str):
        return
    if isinstance(stop, list) and len(stop) <= _MAX_STOP and all(isinstance(s, str) for s in stop):
        return
    raise InvalidRequest(f"'stop' must be a string or a list of at most {_MAX_STOP} strings.", param="stop")


def _check_user(user: Any, key: str) -> None:
    if user is not None and not isinstance(user, str):
        raise InvalidRequest("'user' must be a string.", param="user")


def _check_metadata(metadata: Any, key: str) -> None:
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise InvalidRequest("'metadata' must be an object of string values.", param="metadata")


#: The optional chat fields that are checked, each with its check ``(value, field name)``.
_OPTIONAL_CHECKS: dict[str, Callable[[Any, str], None]] = {
    **{key: partial(_optional_number, low=low, high=high) for key, (low, high) in _NUMBERS.items()},
    **{key: partial(_optional_int, low=low, high=high) for key, (low, high) in _INTEGERS.items()},
    "stop": _check_stop,
    "tools": _check_tools,
    "tool_choice": _check_tool_choice,
    "response_format": _check_response_format,
    "user": _check_user,
    "metadata": _check_metadata,
}


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Validate a ``POST /v1/chat/completions`` body."""
    body = load_json_object(raw)
    model = _require_str(body.get("model"), "model")
    messages = _check_messages(body.get("messages"))
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean.", param="stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object.", param="stream_options")
    include_usage = bool(options and options.get("include_usage"))
    # Only the fields a request carries are looked at: most carry a few of the many optional ones.
    for key, value in body.items():
        check = _OPTIONAL_CHECKS.get(key)
        if check is not None:
            check(value, key)
    return ChatRequest(body=body, model=model, messages=messages, stream=stream, include_usage=include_usage)


def _is_token_list(value: Any) -> bool:
    return (
        isinstance(value, list) and bool(value) and all(isinstance(t, int) and not isinstance(t, bool) for t in value)
    )


def parse_embeddings_request(raw: bytes) -> EmbeddingsRequest:
    """Validate a ``POST /v1/embeddings`` body; ``input`` becomes a list."""
    body = load_json_object(raw)
    model = _require_str(body.get("model"), "model")
    value = body.get("input")
    inputs: list[str] | list[list[int]]
    if isinstance(value, str) or _is_token_list(value):
        inputs = cast("list[str] | list[list[int]]", [value])
    elif (
        isinstance(value, list)
        and value
        and (all(isinstance(v, str) for v in value) or all(_is_token_list(v) for v in value))
    ):
        inputs = value
    else:
        raise InvalidRequest(
            "'input' must be a string, a list of strings, a list of token ids, or a list of token id lists.",
            param="input",
        )
    if len(inputs) > 2048:
        raise InvalidRequest("'input' may hold at most 2048 items.", param="input")
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise InvalidRequest("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    _optional_int(body.get("dimensions"), "dimensions", 1)
    return EmbeddingsRequest(
        body=body, model=model, inputs=inputs, encoding_format=fmt, dimensions=body.get("dimensions")
    )
