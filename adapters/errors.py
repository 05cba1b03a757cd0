"""Errors raised by adapters.

``AdapterError``
 ├── ``InvalidRequest``      the client's request is malformed (HTTP 400)
 │    └── ``UnsupportedParameter``  valid, but the target provider cannot honour it (400)
 ├── ``UpstreamFormatError`` the provider answered something we cannot read (502)
 └── ``StreamError``         the provider's stream ended with an error or cut short

Adapters raise nothing else on purpose; the gateway maps these to its own
error hierarchy in one place.
"""

from __future__ import annotations

from adapters.base import ProviderError


class AdapterError(Exception):
    """Base class of every error an adapter raises on purpose."""


class InvalidRequest(AdapterError):
    """The request is malformed; ``param`` names the offending field."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class UnsupportedParameter(InvalidRequest):
    """A well-formed parameter that the target provider cannot honour."""

    def __init__(self, provider: str, param: str, detail: str = "") -> None:
        message = f"'{param}' is not supported by the {provider} provider"
        if detail:
            message = f"{message}: {detail}"
        super().__init__(message, param=param, code="unsupported_parameter")


class UpstreamFormatError(AdapterError):
    """The provider's answer did not have the shape its API documents."""


class StreamError(AdapterError):
    """A stream ended abnormally; ``error`` says how, in canonical terms."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.message)
        self.error = error
