"""Anthropic error bodies, as an HTTP answer or as an ``event: error`` inside a stream.

Anthropic answers ``{"type": "error", "error": {"type": ..., "message": ...},
"request_id": ...}``. Its error types already match OpenAI's names for the
common cases; the rest are renamed to the nearest OpenAI type, with the
Anthropic type kept as ``code`` so nothing is lost. The status is the one
Anthropic sent (529 for ``overloaded_error`` stays 529: the gateway's retry
policy wants to tell "overloaded" apart from a plain 5xx). The ``request_id``
is left out: it identifies our account's request, not the client's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from adapters.base import ProviderError
from adapters.openai import retry_after_seconds

#: Anthropic error type → (OpenAI-ish type, whether to keep the Anthropic type as ``code``).
_TYPES: Mapping[str, tuple[str, bool]] = {
    "invalid_request_error": ("invalid_request_error", False),
    "authentication_error": ("authentication_error", False),
    "permission_error": ("permission_error", False),
    "not_found_error": ("not_found_error", False),
    "rate_limit_error": ("rate_limit_error", False),
    "api_error": ("api_error", False),
    "overloaded_error": ("overloaded_error", False),
    "timeout_error": ("timeout_error", False),
    "conflict_error": ("conflict_error", False),
    "request_too_large": ("invalid_request_error", True),
    "billing_error": ("insufficient_quota", True),
}

#: The status Anthropic documents for each type; used for errors that arrive
#: inside a 200 stream, where the HTTP status says nothing.
STATUS_OF_TYPE: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

_TYPE_OF_STATUS: Mapping[int, str] = {status: kind for kind, status in STATUS_OF_TYPE.items()}


def _error_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else None


def provider_error(
    status: int | None, error: Mapping[str, Any] | None, headers: Mapping[str, str] | None = None
) -> ProviderError:
    """Translate one Anthropic error object; ``status`` ``None`` means "take it from the type"."""
    raw_type = str(error.get("type") or "") if error else ""
    if status is None:
        status = STATUS_OF_TYPE.get(raw_type, 500)
    if not raw_type:
        raw_type = _TYPE_OF_STATUS.get(status, "api_error" if status >= 500 else "invalid_request_error")
    kind, keep_code = _TYPES.get(raw_type, (raw_type, False))
    message = str(error.get("message") or "") if error else ""
    return ProviderError(
        status=status,
        type=kind,
        message=message or f"upstream returned HTTP {status}",
        code=raw_type if keep_code else None,
        retry_after=retry_after_seconds(headers) if headers else None,
    )


def parse_error(status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """Read an Anthropic error answer; tolerate proxies in front of it that send HTML or nothing."""
    return provider_error(status, _error_object(body), headers)
