"""OpenAI ``messages`` → Gemini ``systemInstruction`` and ``contents``.

Gemini has one system instruction and two roles (``user`` and ``model``);
function results are ``functionResponse`` parts of a user turn, and a turn may
hold several parts. So: system and developer messages are gathered, in order,
into the system instruction; tool messages become user turns; consecutive
turns of one role are merged, which also puts the results of parallel calls
into the single turn Gemini requires.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import orjson

from adapters.errors import InvalidRequest, UnsupportedParameter
from adapters.gemini.common import (
    MINTED_ID_PREFIX,
    PROVIDER,
    SKIP_SIGNATURE,
    google_signature,
    requires_thought_signatures,
)
from adapters.types import Message, ToolCall

# A fixed table rather than :mod:`mimetypes`, which reads the host's
# /etc/mime.types and so would make translation depend on the machine.
_MIME_BY_EXTENSION = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
    "gif": "image/gif",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "md": "text/md",
    "html": "text/html",
    "htm": "text/html",
    "csv": "text/csv",
    "xml": "text/xml",
    "rtf": "text/rtf",
    "wav": "audio/wav",
    "mp3": "audio/mp3",
    "aiff": "audio/aiff",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "mp4": "video/mp4",
    "mpeg": "video/mpeg",
    "mov": "video/mov",
    "webm": "video/webm",
}
_AUDIO_FORMATS = {"wav": "audio/wav", "mp3": "audio/mp3"}


def _extension(name: str) -> str:
    path = name.split("?", 1)[0].split("#", 1)[0]
    tail = path.rsplit("/", 1)[-1]
    return tail.rsplit(".", 1)[-1].lower() if "." in tail else ""


def _data_url(url: str, param: str) -> dict[str, Any]:
    header, sep, data = url.partition(",")
    mime, _, encoding = header.removeprefix("data:").partition(";")
    if not sep or not mime or encoding.split(";")[-1] != "base64":
        raise InvalidRequest(f"'{param}' must be a base64 data URL such as 'data:image/png;base64,...'.", param=param)
    return {"inlineData": {"mimeType": mime, "data": data}}


def _image_part(image: dict[str, Any], param: str) -> dict[str, Any]:
    url = str(image["url"])
    if url.startswith("data:"):
        return _data_url(url, param)
    if not url.startswith(("https://", "http://")):
        raise InvalidRequest(f"'{param}' must be an http(s) URL or a base64 data URL.", param=param)
    mime = _MIME_BY_EXTENSION.get(_extension(url), "")
    if not mime.startswith("image/"):
        raise InvalidRequest(
            f"'{param}': Gemini needs the image's type, and it cannot be told from this URL; use a URL ending "
            "in .png, .jpg, .jpeg, .webp, .heic, .heif or .gif, or send the image as a base64 data URL.",
            param=param,
        )
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _file_part(file: Any, param: str) -> dict[str, Any]:
    if not isinstance(file, dict):
        raise InvalidRequest(f"'{param}' must be an object.", param=param)
    if file.get("file_id") and not file.get("file_data"):
        raise UnsupportedParameter(PROVIDER, f"{param}.file_id", "send the file's content as 'file_data' instead")
    data = file.get("file_data")
    if not isinstance(data, str) or not data:
        raise InvalidRequest(f"'{param}.file_data' must be a non-empty string.", param=f"{param}.file_data")
    if data.startswith("data:"):
        return _data_url(data, f"{param}.file_data")
    mime = _MIME_BY_EXTENSION.get(_extension(str(file.get("filename") or "")))
    if mime is None:
        raise InvalidRequest(
            f"'{param}': Gemini needs the file's type; send 'file_data' as a data URL "
            "('data:application/pdf;base64,...') or give a 'filename' with a known extension.",
            param=f"{param}.filename",
        )
    return {"inlineData": {"mimeType": mime, "data": data}}


def _part(part: dict[str, Any], param: str) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        return {"text": text} if text else None
    if kind == "refusal":
        text = part.get("refusal")
        return {"text": text} if isinstance(text, str) and text else None
    if kind == "image_url":
        return _image_part(part["image_url"], f"{param}.image_url.url")
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict) or audio.get("format") not in _AUDIO_FORMATS or not audio.get("data"):
            raise InvalidRequest(
                f"'{param}.input_audio' must have base64 'data' and a 'format' of 'wav' or 'mp3'.",
                param=f"{param}.input_audio",
            )
        return {"inlineData": {"mimeType": _AUDIO_FORMATS[audio["format"]], "data": audio["data"]}}
    if kind == "file":
        return _file_part(part.get("file"), f"{param}.file")
    raise InvalidRequest(f"'{param}.type' {kind!r} cannot be sent to Gemini.", param=f"{param}.type")


def content_parts(content: Any, param: str) -> list[dict[str, Any]]:
    """Gemini parts for an OpenAI ``content`` (a string, a part list or null); empty text is dropped."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts = (_part(part, f"{param}[{i}]") for i, part in enumerate(content))
    return [part for part in parts if part is not None]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _arguments(raw: str, param: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        args = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest(f"'{param}' is not valid JSON.", param=param) from None
    if not isinstance(args, dict):
        raise InvalidRequest(f"'{param}' must be a JSON object.", param=param)
    return args


def _upstream_id(call_id: str) -> str | None:
    """The id to show Gemini: its own ids go back, ids minted here (or by OpenAI) mean nothing to it."""
    return None if call_id.startswith(MINTED_ID_PREFIX) else call_id


def _model_parts(message: Message, param: str, model: str) -> list[dict[str, Any]]:
    parts = content_parts(message.get("content"), f"{param}.content")
    # Google's OpenAI layer carries a text part's signature on the message itself.
    signature = google_signature(cast(dict[str, Any], message))
    if signature:
        for part in reversed(parts):
            if "text" in part:
                part["thoughtSignature"] = signature
                break
    calls: list[ToolCall] = message.get("tool_calls") or []
    call_parts: list[dict[str, Any]] = []
    for i, call in enumerate(calls):
        where = f"{param}.tool_calls[{i}]"
        function = call["function"]
        payload: dict[str, Any] = {
            "name": function["name"],
            "args": _arguments(function["arguments"], f"{where}.function.arguments"),
        }
        if (upstream := _upstream_id(call["id"])) is not None:
            payload["id"] = upstream
        call_part: dict[str, Any] = {"functionCall": payload}
        if call_signature := google_signature(cast(dict[str, Any], call)):
            call_part["thoughtSignature"] = call_signature
        call_parts.append(call_part)
    if call_parts and requires_thought_signatures(model) and not any("thoughtSignature" in p for p in call_parts):
        # History written by another provider has no signatures; Google documents this value
        # for exactly that case, and Gemini 3 refuses unsigned function calls otherwise.
        call_parts[0]["thoughtSignature"] = SKIP_SIGNATURE
    return parts + call_parts


def _tool_response(message: Message, param: str, names: dict[str, str]) -> dict[str, Any]:
    call_id = message["tool_call_id"]
    name = names.get(call_id)
    if name is None:
        raise InvalidRequest(
            f"'{param}.tool_call_id' {call_id!r} does not answer a tool call of an earlier assistant message.",
            param=f"{param}.tool_call_id",
        )
    text = _text_of(message.get("content"))
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"result": text}
    payload: dict[str, Any] = {"name": name, "response": response}
    if (upstream := _upstream_id(call_id)) is not None:
        payload["id"] = upstream
    return {"functionResponse": payload}


def _turns(messages: list[Message], model: str, system: list[dict[str, Any]]) -> Iterator[tuple[str, list[Any]]]:
    names: dict[str, str] = {}
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        role = message["role"]
        if role in ("system", "developer"):
            system.extend(content_parts(message.get("content"), f"{param}.content"))
        elif role == "user":
            yield "user", content_parts(message.get("content"), f"{param}.content")
        elif role == "assistant":
            if cast(dict[str, Any], message).get("function_call"):
                raise UnsupportedParameter(PROVIDER, f"{param}.function_call", "use 'tool_calls'")
            for call in message.get("tool_calls") or []:
                names[call["id"]] = call["function"]["name"]
            yield "model", _model_parts(message, param, model)
        elif role == "tool":
            yield "user", [_tool_response(message, param, names)]
        else:
            raise UnsupportedParameter(PROVIDER, f"{param}.role", f"role {role!r} is the legacy function API")


def build_contents(messages: list[Message], model: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Return Gemini's ``systemInstruction`` (or ``None``) and ``contents``."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for role, parts in _turns(messages, model, system):
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    if not contents:
        raise InvalidRequest(
            "Gemini needs at least one user, assistant or tool message with content.", param="messages"
        )
    instruction = {"parts": system} if system else None
    return instruction, contents
