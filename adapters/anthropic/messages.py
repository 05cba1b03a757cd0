"""OpenAI ``messages`` → Anthropic ``system`` and alternating ``messages``.

Anthropic keeps the system prompt outside the conversation, wants turns that
alternate between ``user`` and ``assistant``, and carries tool results as
``tool_result`` blocks inside a user turn. So: system and developer messages
(wherever they appear) become ``system`` text blocks in order; tool messages
become ``tool_result`` blocks; then consecutive turns of the same role are
merged into one, which also groups the results of parallel tool calls into a
single user turn, results first, as Anthropic requires.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from adapters.errors import InvalidRequest, UnsupportedParameter
from adapters.types import Message, ToolCall

PROVIDER = "anthropic"
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

Block = dict[str, Any]


def _data_url(url: str, where: str) -> tuple[str, str]:
    """Split ``data:<media type>;base64,<data>`` into its media type and data."""
    head, sep, data = url.partition(",")
    media_type, _, encoding = head.removeprefix("data:").partition(";")
    if not sep or encoding != "base64" or not data:
        raise InvalidRequest(f"'{where}' must be a base64 data URL (data:<media type>;base64,<data>).", param=where)
    return media_type.lower(), data


def _image(part: dict[str, Any], where: str) -> Block:
    url = part["image_url"]["url"]
    if url.startswith("data:"):
        media_type, data = _data_url(url, f"{where}.image_url.url")
        if media_type not in _IMAGE_TYPES:
            raise UnsupportedParameter(
                PROVIDER, f"{where}.image_url.url", f"images must be one of {', '.join(sorted(_IMAGE_TYPES))}"
            )
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest(f"'{where}.image_url.url' must be an http(s) URL or a base64 data URL.", param=where)


def _file(part: dict[str, Any], where: str) -> Block:
    file = part.get("file")
    data_url = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data_url, str):
        # An OpenAI ``file_id`` names a file stored at OpenAI; Anthropic cannot read it.
        raise UnsupportedParameter(PROVIDER, f"{where}.file", "only inline 'file_data' (PDF or plain text) is accepted")
    media_type, data = _data_url(data_url, f"{where}.file.file_data")
    block: Block
    if media_type == "application/pdf":
        block = {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}
    elif media_type == "text/plain":
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidRequest(f"'{where}.file.file_data' is not base64-encoded UTF-8 text.", param=where) from None
        block = {"type": "document", "source": {"type": "text", "media_type": media_type, "data": text}}
    else:
        raise UnsupportedParameter(PROVIDER, f"{where}.file", "documents must be application/pdf or text/plain")
    filename = file.get("filename") if isinstance(file, dict) else None
    if isinstance(filename, str) and filename:
        block["title"] = filename
    return block


def content_blocks(content: Any, where: str, *, images: bool = True) -> list[Block]:
    """Translate an OpenAI message ``content`` into Anthropic blocks (empty text dropped)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[Block] = []
    for i, part in enumerate(content):
        at = f"{where}[{i}]"
        kind = part.get("type")
        if kind in ("text", "refusal"):
            text = part.get(kind)
            if isinstance(text, str) and text:
                blocks.append({"type": "text", "text": text})
        elif kind == "image_url" and images:
            blocks.append(_image(part, at))
        elif kind == "file" and images:
            blocks.append(_file(part, at))
        else:
            raise UnsupportedParameter(PROVIDER, f"{at}.type", f"'{kind}' parts are not accepted here")
    return blocks


def _system_text(content: Any, where: str) -> list[Block]:
    return content_blocks(content, where, images=False)


def _thinking_blocks(value: Any, where: str) -> list[Block]:
    if not isinstance(value, list):
        raise InvalidRequest(f"'{where}' must be a list of thinking blocks.", param=where)
    blocks: list[Block] = []
    for i, block in enumerate(value):
        at = f"{where}[{i}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "thinking" and isinstance(block.get("signature"), str) and isinstance(block.get("thinking"), str):
            blocks.append({"type": "thinking", "thinking": block["thinking"], "signature": block["signature"]})
        elif kind == "redacted_thinking" and isinstance(block.get("data"), str):
            blocks.append({"type": "redacted_thinking", "data": block["data"]})
        else:
            raise InvalidRequest(
                f"'{at}' must be {{type: thinking, thinking, signature}} or {{type: redacted_thinking, data}}.",
                param=at,
            )
    return blocks


def _tool_use(call: ToolCall, where: str) -> Block:
    arguments = call["function"]["arguments"]
    try:
        parsed = orjson.loads(arguments) if arguments.strip() else {}
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            f"'{where}.function.arguments' is not valid JSON.", param=f"{where}.function.arguments"
        ) from None
    if not isinstance(parsed, dict):
        raise InvalidRequest(
            f"'{where}.function.arguments' must encode a JSON object.", param=f"{where}.function.arguments"
        )
    return {"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": parsed}


def _assistant(message: Message, where: str) -> list[Block]:
    blocks: list[Block] = []
    # Signed thinking must come first in the turn, exactly as Anthropic produced it.
    if message.get("thinking_blocks"):
        blocks.extend(_thinking_blocks(message["thinking_blocks"], f"{where}.thinking_blocks"))
    blocks.extend(content_blocks(message.get("content"), f"{where}.content", images=False))
    refusal = message.get("refusal")
    if refusal and not message.get("content"):
        blocks.append({"type": "text", "text": refusal})
    for i, call in enumerate(message.get("tool_calls") or []):
        blocks.append(_tool_use(call, f"{where}.tool_calls[{i}]"))
    return blocks


def _tool_result(message: Message, where: str) -> Block:
    block: Block = {"type": "tool_result", "tool_use_id": message["tool_call_id"]}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        parts = content_blocks(content, f"{where}.content")
        if parts:
            block["content"] = parts
    return block


def translate_messages(messages: list[Message]) -> tuple[list[Block], list[dict[str, Any]]]:
    """Return Anthropic's ``system`` blocks and alternating ``messages``."""
    system: list[Block] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_system_text(message.get("content"), f"{where}.content"))
            continue
        if role == "user":
            turn_role, blocks = "user", content_blocks(message.get("content"), f"{where}.content")
            if not blocks:
                raise InvalidRequest(f"'{where}.content' must not be empty for the {PROVIDER} provider.", param=where)
        elif role == "assistant":
            turn_role, blocks = "assistant", _assistant(message, where)
            if not blocks:
                continue  # an empty assistant turn carries nothing Anthropic would accept
        elif role == "tool":
            turn_role, blocks = "user", [_tool_result(message, where)]
        else:
            raise UnsupportedParameter(PROVIDER, f"{where}.role", f"role '{role}' is not supported; use 'tool'")
        if turns and turns[-1]["role"] == turn_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": turn_role, "content": blocks})
    for turn in turns:
        if turn["role"] == "user":
            # Anthropic wants a turn's tool results before any other block.
            turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    if not turns:
        raise InvalidRequest(
            f"The {PROVIDER} provider needs at least one user or assistant message besides system messages.",
            param="messages",
        )
    return system, turns
