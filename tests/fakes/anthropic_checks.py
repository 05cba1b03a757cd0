"""Request checks of the fake Anthropic server: what the real Messages API refuses.

Every check raises :class:`Invalid` with the message the API would give; the
fake answers it as a 400 ``invalid_request_error``.
"""

from __future__ import annotations

import re
from typing import Any

_CORE = {"model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream", "tools", "tool_choice"}
_TUNING = {"temperature", "top_p", "top_k", "thinking", "output_config", "service_tier", "cache_control", "speed"}
_TOP_LEVEL = frozenset({*_CORE, *_TUNING, "container", "inference_geo", "diagnostics"})
_USER_BLOCKS = frozenset({"text", "image", "document", "tool_result", "search_result"})
_ASSISTANT_BLOCKS = frozenset({"text", "tool_use", "thinking", "redacted_thinking"})
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_EFFORTS = frozenset({"low", "medium", "high", "xhigh", "max"})


class Invalid(Exception):
    """A request the real API would answer with ``invalid_request_error``."""


def _check_text(block: dict[str, Any], where: str) -> None:
    if not isinstance(block.get("text"), str):
        raise Invalid(f"{where}.text: Field required")
    if not block["text"]:
        raise Invalid("messages: text content blocks must be non-empty")


def _check_source(block: dict[str, Any], where: str, kinds: dict[str, tuple[str, ...]]) -> None:
    source = block.get("source")
    if not isinstance(source, dict) or source.get("type") not in kinds:
        raise Invalid(f"{where}.source: Input tag '{(source or {}).get('type')}' does not match any expected tag")
    media_types = kinds[source["type"]]
    if media_types and source.get("media_type") not in media_types:
        allowed = ", ".join(f"'{m}'" for m in media_types)
        raise Invalid(f"{where}.source.media_type: Input should be {allowed}")
    if source["type"] == "url" and not isinstance(source.get("url"), str):
        raise Invalid(f"{where}.source.url: Field required")
    if source["type"] in ("base64", "text") and not isinstance(source.get("data"), str):
        raise Invalid(f"{where}.source.data: Field required")


def _check_block(block: Any, where: str, role: str) -> None:
    allowed = _USER_BLOCKS if role == "user" else _ASSISTANT_BLOCKS
    kind = block.get("type") if isinstance(block, dict) else None
    if kind not in allowed:
        raise Invalid(f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected tags")
    if kind == "text":
        _check_text(block, where)
    elif kind == "image":
        _check_source(block, where, {"base64": _IMAGE_TYPES, "url": ()})
    elif kind == "document":
        _check_source(block, where, {"base64": ("application/pdf",), "text": ("text/plain",), "url": ()})
    elif kind == "tool_use":
        if not isinstance(block.get("id"), str) or not _ID.match(block["id"]):
            raise Invalid(f"{where}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
        if not isinstance(block.get("name"), str) or not isinstance(block.get("input"), dict):
            raise Invalid(f"{where}: tool_use blocks need a 'name' and an object 'input'")
    elif kind == "tool_result":
        if not isinstance(block.get("tool_use_id"), str):
            raise Invalid(f"{where}.tool_use_id: Field required")
        content = block.get("content")
        if isinstance(content, list):
            for i, inner in enumerate(content):
                if not isinstance(inner, dict) or inner.get("type") not in ("text", "image", "document"):
                    raise Invalid(f"{where}.content.{i}: Input tag does not match any of the expected tags")
                _check_block(inner, f"{where}.content.{i}", "user")
        elif content is not None and not isinstance(content, str):
            raise Invalid(f"{where}.content: Input should be a valid string or list")
    elif kind == "thinking":
        if not isinstance(block.get("thinking"), str) or not isinstance(block.get("signature"), str):
            raise Invalid(f"{where}: thinking blocks need 'thinking' and 'signature'")
    elif kind == "redacted_thinking" and not isinstance(block.get("data"), str):
        raise Invalid(f"{where}.data: Field required")


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content or [])


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list):
        raise Invalid("messages: Field required")
    if not messages:
        raise Invalid("messages: at least one message is required")
    previous_tool_uses: set[str] = set()
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise Invalid(f"{where}.role: Input should be 'user' or 'assistant'")
        if i == 0 and role != "user":
            raise Invalid('messages: first message must use the "user" role')
        if i and messages[i - 1].get("role") == role:
            raise Invalid(
                f'messages: roles must alternate between "user" and "assistant", but found multiple "{role}" roles '
                "in a row"
            )
        content = message.get("content")
        if not isinstance(content, str | list):
            raise Invalid(f"{where}.content: Input should be a valid string or list")
        blocks = _blocks(message)
        if not blocks and not (role == "assistant" and i == len(messages) - 1):
            raise Invalid(
                f"{where}: all messages must have non-empty content except for the optional final assistant message"
            )
        for j, block in enumerate(blocks):
            _check_block(block, f"{where}.content.{j}", role)
        results = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
        if role == "user":
            unexpected = [r for r in results if r not in previous_tool_uses]
            if unexpected:
                raise Invalid(
                    f"{where}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: {unexpected[0]}. "
                    "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                )
            missing = sorted(previous_tool_uses - set(results))
            if missing:
                raise Invalid(
                    f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                    f"{missing[0]}. Each `tool_use` block must have a corresponding `tool_result` block in the next "
                    "message."
                )
            kinds = [b["type"] for b in blocks]
            if results and kinds[: len(results)] != ["tool_result"] * len(results):
                raise Invalid(f"{where}: `tool_result` blocks must come first in the user message content")
            previous_tool_uses = set()
        else:
            previous_tool_uses = {b["id"] for b in blocks if b["type"] == "tool_use"}


def _check_number(body: dict[str, Any], key: str, low: float, high: float | None) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(f"{key}: Input should be a valid number")
    if value < low:
        raise Invalid(f"{key}: Input should be greater than or equal to {low:g}")
    if high is not None and value > high:
        raise Invalid(f"{key}: Input should be less than or equal to {high:g}")


def _check_tools(body: dict[str, Any]) -> None:
    names: set[str] = set()
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not _TOOL_NAME.match(tool["name"]):
            raise Invalid(f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise Invalid(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
        names.add(tool["name"])
    choice = body.get("tool_choice")
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in ("auto", "any", "tool", "none"):
        raise Invalid(f"tool_choice: Input tag '{kind}' found using 'type' does not match any of the expected tags")
    if kind == "tool" and choice.get("name") not in names:
        raise Invalid(f"tool_choice.tool.name: tool '{choice.get('name')}' is not defined in tools")
    if kind in ("any", "tool") and not names:
        raise Invalid("tool_choice: tool_choice may only be specified while providing tools")


def _check_thinking(body: dict[str, Any]) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in ("enabled", "disabled", "adaptive"):
        raise Invalid(f"thinking: Input tag '{kind}' found using 'type' does not match any of the expected tags")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise Invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if budget >= body["max_tokens"]:
            raise Invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
        if body.get("temperature") not in (None, 1):
            raise Invalid("`temperature` may only be set to 1 when thinking is enabled.")


def _check_output_config(body: dict[str, Any]) -> None:
    config = body.get("output_config")
    if config is None:
        return
    if not isinstance(config, dict) or set(config) - {"effort", "format"}:
        raise Invalid("output_config: Extra inputs are not permitted")
    if config.get("effort") is not None and config["effort"] not in _EFFORTS:
        raise Invalid("output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'")
    fmt = config.get("format")
    if fmt is not None and (fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict)):
        raise Invalid("output_config.format: expected {type: 'json_schema', schema: {...}}")


def validate_request(body: Any) -> None:
    """Raise :class:`Invalid` with the real API's wording for a body it would refuse."""
    if not isinstance(body, dict):
        raise Invalid("Invalid JSON body")
    for key in body:
        if key not in _TOP_LEVEL:
            raise Invalid(f"{key}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str):
        raise Invalid("model: Field required")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise Invalid("max_tokens: Field required")
    _check_number(body, "max_tokens", 0, None)
    _check_messages(body.get("messages"))
    system = body.get("system")
    if isinstance(system, list):
        for i, block in enumerate(system):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise Invalid(f"system.{i}.type: Input should be 'text'")
            _check_text(block, f"system.{i}")
    elif system is not None and not isinstance(system, str):
        raise Invalid("system: Input should be a valid string or list")
    _check_number(body, "temperature", 0, 1)
    _check_number(body, "top_p", 0, 1)
    _check_number(body, "top_k", 0, None)
    stop = body.get("stop_sequences")
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise Invalid("stop_sequences: Input should be a valid list of strings")
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or set(metadata) - {"user_id"}):
        raise Invalid("metadata: Extra inputs are not permitted")
    if body.get("service_tier") not in (None, "auto", "standard_only"):
        raise Invalid("service_tier: Input should be 'auto' or 'standard_only'")
    if body.get("stream") not in (None, True, False):
        raise Invalid("stream: Input should be a valid boolean")
    _check_tools(body)
    _check_thinking(body)
    _check_output_config(body)
