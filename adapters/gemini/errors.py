"""Gemini error bodies → :class:`~adapters.base.ProviderError`.

Google APIs answer ``{"error": {"code", "message", "status", "details"}}``
(the streaming endpoint may wrap it in a one-element list). The canonical
status (``RESOURCE_EXHAUSTED`` …) decides the type; an invalid API key comes
as ``400 INVALID_ARGUMENT`` with ``ErrorInfo.reason = API_KEY_INVALID`` and is
an authentication error; ``FAILED_PRECONDITION`` (unsupported region, billing)
is a permission error of the gateway's account. The retry hint is a ``RetryInfo`` detail in the
body, not a header.

Messages about the request itself are passed on; messages about the
gateway's account (credentials, permissions, quotas, region) are replaced by a
neutral sentence, since they name projects, quota metrics and limits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from adapters.base import ProviderError
from adapters.openai import retry_after_seconds

_BY_STATUS = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "FAILED_PRECONDITION": "permission_error",
    "UNAUTHENTICATED": "authentication_error",
    "PERMISSION_DENIED": "permission_error",
    "NOT_FOUND": "not_found_error",
    "ALREADY_EXISTS": "conflict_error",
    "ABORTED": "conflict_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
}
_BY_HTTP = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    429: "rate_limit_error",
}
_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
_NEUTRAL = {
    "authentication_error": "The upstream provider did not accept the gateway's credential.",
    "permission_error": "The gateway's upstream account may not use this model or feature.",
    "rate_limit_error": "The upstream provider's rate limit or quota was exceeded.",
    "not_found_error": "The upstream provider does not know the requested model.",
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _load(body: bytes) -> dict[str, Any] | None:
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else None


def _details(error: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    details = error.get("details")
    if not isinstance(details, list):
        return []
    suffix = f"google.rpc.{kind}"
    return [d for d in details if isinstance(d, dict) and str(d.get("@type", "")).endswith(suffix)]


def _retry_delay(error: dict[str, Any]) -> float | None:
    for info in _details(error, "RetryInfo"):
        match = _DURATION.match(str(info.get("retryDelay", "")))
        if match:
            return float(match.group(1))
    return None


def error_from_body(status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """Translate one Gemini error answer (or an error event inside a stream)."""
    kind = _BY_HTTP.get(status, "api_error" if status >= 500 else "invalid_request_error")
    error = _load(body)
    if error is None:
        message = f"upstream returned HTTP {status}"
        return ProviderError(status=status, type=kind, message=message, retry_after=retry_after_seconds(headers))
    grpc_status = str(error.get("status") or "")
    kind = _BY_STATUS.get(grpc_status, kind if grpc_status == "" else "api_error")
    reasons = [str(info.get("reason")) for info in _details(error, "ErrorInfo") if info.get("reason")]
    if any(reason in _AUTH_REASONS for reason in reasons):
        kind = "authentication_error"
    message = _NEUTRAL.get(kind) or str(error.get("message") or "") or f"upstream returned HTTP {status}"
    code = (reasons[0] if reasons else grpc_status).lower() or None
    retry_after = _retry_delay(error)
    return ProviderError(
        status=status,
        type=kind,
        message=message,
        code=code,
        retry_after=retry_after if retry_after is not None else retry_after_seconds(headers),
    )
