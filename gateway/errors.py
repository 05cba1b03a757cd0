"""The gateway's error hierarchy, and the one place errors become HTTP answers.

Every error a client can see is one of these, rendered in OpenAI's shape
``{"error": {"message", "type", "param", "code"}}`` with the status below::

    GatewayError                      500 api_error
     ├── InvalidRequestError          400 invalid_request_error
     │    └── PayloadTooLargeError    413 invalid_request_error / request_too_large
     ├── AuthenticationError          401 authentication_error (+ WWW-Authenticate)
     ├── PermissionDeniedError        403 permission_error
     ├── NotFoundError                404 not_found_error
     ├── MethodNotAllowedError        405 invalid_request_error / method_not_allowed
     ├── RequestTimeoutError          408 invalid_request_error / request_timeout
     ├── RateLimitError               429 rate_limit_error (+ Retry-After)
     ├── UpstreamError                502 upstream_error
     ├── UpstreamUnavailableError     503 service_unavailable
     └── UpstreamTimeoutError         504 timeout

Adapter errors and provider error bodies are translated here too, so that what a
provider said about its own accounts or keys never reaches a client.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import orjson

from adapters.base import ProviderError
from adapters.errors import AdapterError, InvalidRequest, StreamError, UpstreamFormatError


class GatewayError(Exception):
    status = 500
    type = "api_error"
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code or self.default_code
        self.headers = headers or {}

    def payload(self) -> dict[str, dict[str, str | None]]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def body(self) -> bytes:
        return orjson.dumps(self.payload())


class InvalidRequestError(GatewayError):
    status = 400
    type = "invalid_request_error"


class PayloadTooLargeError(InvalidRequestError):
    status = 413
    default_code = "request_too_large"


class AuthenticationError(GatewayError):
    status = 401
    type = "authentication_error"

    def __init__(self, message: str, *, code: str | None = None, credentials_sent: bool = True) -> None:
        # RFC 6750: a request that sent no credentials gets a bare challenge, without an error code.
        header = 'Bearer realm="ai-gateway"'
        if credentials_sent:
            header += f', error="invalid_token", error_description="{message}"'
        super().__init__(message, code=code, headers={"www-authenticate": header})


class PermissionDeniedError(GatewayError):
    status = 403
    type = "permission_error"


class NotFoundError(GatewayError):
    status = 404
    type = "not_found_error"


class MethodNotAllowedError(GatewayError):
    status = 405
    type = "invalid_request_error"
    default_code = "method_not_allowed"


class RequestTimeoutError(GatewayError):
    status = 408
    type = "invalid_request_error"
    default_code = "request_timeout"


class RateLimitError(GatewayError):
    status = 429
    type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        headers = {"retry-after": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None
        super().__init__(message, code=code, headers=headers)
        self.retry_after = retry_after


class UpstreamError(GatewayError):
    status = 502
    type = "upstream_error"


class UpstreamUnavailableError(GatewayError):
    status = 503
    type = "service_unavailable"


class UpstreamTimeoutError(GatewayError):
    status = 504
    type = "timeout"


_SECRET_PATTERNS = re.compile(
    r"(sk-[A-Za-z0-9_\-*]{6,}|AIza[0-9A-Za-z_\-]{10,}|Bearer\s+\S+|api[_-]?key[=:]\s*\S+|gw-[A-Za-z0-9_\-]{8,})",
    re.IGNORECASE,
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove credentials (known values and anything shaped like a key) from a message."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _SECRET_PATTERNS.sub("[redacted]", text)


def from_adapter_error(error: AdapterError, provider: str, secrets: Iterable[str] = ()) -> GatewayError:
    if isinstance(error, InvalidRequest):
        return InvalidRequestError(error.message, param=error.param, code=error.code)
    if isinstance(error, StreamError):
        return from_provider_error(error.error, provider, secrets)
    if isinstance(error, UpstreamFormatError):
        return UpstreamError(f"The {provider} provider sent a response the gateway could not read: {error}.")
    return UpstreamError(f"The {provider} provider's response could not be translated.")


def from_provider_error(error: ProviderError, provider: str, secrets: Iterable[str] = ()) -> GatewayError:
    """Translate a provider's error answer into what the client may see.

    Client mistakes (400-class about the request itself) keep the provider's
    explanation, scrubbed of anything key-shaped. Problems with the gateway's own
    account (401/403), unknown upstream models (404) and server faults become
    generic upstream errors: they are the operator's business, not the client's.
    """
    status = error.status
    if status in (400, 413, 422):
        message = scrub(error.message, secrets) or "The provider rejected the request."
        return InvalidRequestError(f"The {provider} provider rejected the request: {message}", param=error.param)
    if status in (401, 403):
        return UpstreamError(f"The {provider} provider refused the gateway's credentials.", code="upstream_auth_failed")
    if status == 404:
        return UpstreamError(f"The {provider} provider does not know the configured model.", code="upstream_not_found")
    if status == 429:
        return RateLimitError(f"The {provider} provider is rate limiting requests.", retry_after=error.retry_after)
    if status in (408, 504):
        return UpstreamTimeoutError(f"The {provider} provider timed out.")
    if status in (503, 529):
        return UpstreamUnavailableError(f"The {provider} provider is overloaded or unavailable.")
    return UpstreamError(f"The {provider} provider failed (HTTP {status}).", code="upstream_error")
