"""Gemini error answers (recorded shapes) → canonical provider errors."""

from __future__ import annotations

import orjson
import pytest

from adapters.gemini import GeminiAdapter

ADAPTER = GeminiAdapter()

RATE_LIMITED = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details.\n* Quota exceeded for "
        "metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10, model: "
        "gemini-2.5-flash\nPlease retry in 13.94s.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaValue": "10"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"},
        ],
    }
}
KEY_INVALID = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    }
}


def test_rate_limit_errors_carry_the_retry_delay_from_the_body() -> None:
    error = ADAPTER.parse_error(429, {}, orjson.dumps(RATE_LIMITED))
    assert (error.status, error.type, error.code, error.retry_after) == (
        429,
        "rate_limit_error",
        "resource_exhausted",
        13.0,
    )
    # Quota metrics and limits describe the gateway's account, not the client's request.
    assert error.message == "The upstream provider's rate limit or quota was exceeded."


def test_an_invalid_key_is_an_authentication_error_whatever_the_http_status() -> None:
    error = ADAPTER.parse_error(400, {}, orjson.dumps([KEY_INVALID]))
    assert (error.type, error.code) == ("authentication_error", "api_key_invalid")
    assert "API key" not in error.message


@pytest.mark.parametrize(
    ("status", "grpc", "message", "kind", "passed_on"),
    [
        (
            400,
            "INVALID_ARGUMENT",
            "* GenerateContentRequest.contents: contents is not specified",
            "invalid_request_error",
            True,
        ),
        (400, "FAILED_PRECONDITION", "User location is not supported for the API use.", "permission_error", False),
        (403, "PERMISSION_DENIED", "Permission denied on resource project 123456.", "permission_error", False),
        (401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", "authentication_error", False),
        (404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta", "not_found_error", False),
        (500, "INTERNAL", "An internal error has occurred. Please retry.", "api_error", True),
        (503, "UNAVAILABLE", "The model is overloaded. Please try again later.", "api_error", True),
        (504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.", "api_error", True),
    ],
)
def test_google_statuses_map_to_openai_error_types(
    status: int, grpc: str, message: str, kind: str, passed_on: bool
) -> None:
    body = orjson.dumps({"error": {"code": status, "message": message, "status": grpc}})
    error = ADAPTER.parse_error(status, {}, body)
    assert (error.status, error.type, error.code) == (status, kind, grpc.lower())
    assert (error.message == message) is passed_on
    assert error.retry_after is None


def test_errors_without_a_google_body_fall_back_to_the_http_status_and_headers() -> None:
    error = ADAPTER.parse_error(502, {"retry-after": "3"}, b"<html><body>502 Bad Gateway</body></html>")
    assert (error.type, error.message, error.retry_after) == ("api_error", "upstream returned HTTP 502", 3.0)
    fractional = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "slow down",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.5s"}],
        }
    }
    assert ADAPTER.parse_error(429, {}, orjson.dumps(fractional)).retry_after == 0.5
