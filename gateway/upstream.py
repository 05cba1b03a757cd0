"""The one module that speaks HTTP to providers.

Each provider gets one pooled, keep-alive client for the life of the runtime.
The client is aiohttp's: measured on this project's machines (FINDINGS.md), an
``httpx.AsyncClient`` pool collapses under concurrency (~1,100 RPS at one
connection, ~190 at 64) while aiohttp holds (~2,600 / ~7,300 / ~5,600) at a
third of the CPU per request. Nothing outside this module knows which library
is used: callers see :class:`UpstreamResponse` / :class:`UpstreamStream` and
gateway errors. aiohttp's exceptions are mapped to gateway errors here and only
here.

The built-in ``echo`` provider has an in-process client with the same
interface, so the whole pipeline (translation included) runs for it too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from yarl import URL

from adapters.base import HttpRequest
from adapters.echo import respond as echo_respond
from gateway.config import ProviderConfig
from gateway.errors import GatewayError, UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError

log = logging.getLogger("gateway.upstream")

#: Largest non-streamed upstream body we accept; protects memory from a broken provider.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Parsed upstream URLs kept per provider (a URL embeds the model name for some providers).
MAX_PARSED_URLS = 1024


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


class UpstreamStream(Protocol):
    status: int
    headers: Mapping[str, str]

    def iter_bytes(self) -> AsyncIterator[bytes]: ...

    async def read_all(self) -> bytes: ...

    def close(self) -> None: ...


class UpstreamClient(Protocol):
    async def send(self, request: HttpRequest) -> UpstreamResponse: ...

    async def open_stream(self, request: HttpRequest) -> UpstreamStream: ...

    async def close(self) -> None: ...


def _mapped(exc: BaseException, provider: str) -> GatewayError:
    """Translate an aiohttp/asyncio failure into a gateway error (never leaking URLs or keys)."""
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamTimeoutError(f"The {provider} provider did not answer in time.")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamUnavailableError(f"The {provider} provider cannot be reached.")
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return UpstreamError(
            f"The {provider} provider closed the connection unexpectedly.", code="upstream_disconnected"
        )
    return UpstreamError(f"The request to the {provider} provider failed.", code="upstream_error")


class _AiohttpStream:
    __slots__ = ("_provider", "_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, provider: str) -> None:
        self._response = response
        self._provider = provider
        self.status = response.status
        # Not copied: aiohttp's headers are already a case-insensitive mapping.
        self.headers: Mapping[str, str] = response.headers

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        try:
            async for data in self._response.content.iter_any():
                yield data
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc, self._provider) from None
        finally:
            self._response.release()

    async def read_all(self) -> bytes:
        # To the end of the body: a sized ``content.read(n)`` returns only what has arrived so far.
        content = self._response.content
        try:
            body = await content.readany()
            if not content.at_eof():  # more than one read's worth: collect it, within the cap
                parts, size = [body], len(body)
                while data := await content.readany():
                    size += len(data)
                    if size > MAX_RESPONSE_BYTES:
                        raise UpstreamError(
                            f"The {self._provider} provider's answer is larger than {MAX_RESPONSE_BYTES >> 20} MiB.",
                            code="upstream_response_too_large",
                        )
                    parts.append(data)
                body = b"".join(parts)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc, self._provider) from None
        finally:
            self._response.release()
        return body

    def close(self) -> None:
        # Closing (not releasing) drops the connection, which is how the
        # provider learns that the client went away mid-stream.
        self._response.close()


class AiohttpClient:
    """A pooled HTTP client for one provider."""

    def __init__(self, provider: ProviderConfig) -> None:
        self._provider = provider
        self._name = provider.name
        connector = aiohttp.TCPConnector(
            limit=provider.max_connections,
            limit_per_host=provider.max_connections,
            keepalive_timeout=30,
            ttl_dns_cache=300,
            enable_cleanup_closed=False,
        )
        self._timeout = aiohttp.ClientTimeout(
            total=provider.timeouts.total,
            connect=provider.timeouts.connect,
            sock_read=provider.timeouts.read,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
            raise_for_status=False,
            trust_env=False,
            # A proxy must not keep provider cookies, and skipping the jar saves work per request.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self._urls: dict[str, URL] = {}

    async def _request(self, request: HttpRequest) -> aiohttp.ClientResponse:
        url = self._urls.get(request.url)
        if url is None:
            url = self._parsed(request.url)
        try:
            return await self._session.request(
                request.method, url, data=request.body, headers=request.headers, allow_redirects=False
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc, self._name) from None

    def _parsed(self, url: str) -> URL:
        # A deployment calls a handful of URLs: parse each once, not on every request.
        if len(self._urls) >= MAX_PARSED_URLS:
            self._urls.clear()
        parsed = self._urls[url] = URL(url)
        return parsed

    async def send(self, request: HttpRequest) -> UpstreamResponse:
        response = await self._request(request)
        stream = _AiohttpStream(response, self._name)
        body = await stream.read_all()
        return UpstreamResponse(stream.status, stream.headers, body)

    async def open_stream(self, request: HttpRequest) -> UpstreamStream:
        return _AiohttpStream(await self._request(request), self._name)

    async def close(self) -> None:
        await self._session.close()


class _EchoStream:
    __slots__ = ("_chunks", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], chunks: list[bytes]) -> None:
        self.status = status
        self.headers = headers
        self._chunks = chunks

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk

    async def read_all(self) -> bytes:
        return b"".join(self._chunks)

    def close(self) -> None:
        self._chunks = []


class EchoClient:
    """The offline ``echo`` provider, answered in process."""

    async def send(self, request: HttpRequest) -> UpstreamResponse:
        answer = echo_respond(request)
        return UpstreamResponse(answer.status, answer.headers, b"".join(answer.chunks))

    async def open_stream(self, request: HttpRequest) -> UpstreamStream:
        answer = echo_respond(request)
        return _EchoStream(answer.status, answer.headers, answer.chunks)

    async def close(self) -> None:
        return None


class FetchError(Exception):
    """A small control-plane fetch (e.g. a JWKS document) failed."""


async def fetch_bytes(url: str, deadline: float, max_bytes: int) -> bytes:
    """GET a small document (JWKS and the like) with a deadline and a size cap."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=deadline), trust_env=False) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            if response.status != 200:
                raise FetchError(f"HTTP {response.status}")
            body = await response.content.read(max_bytes + 1)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise FetchError(type(exc).__name__) from None
    if len(body) > max_bytes:
        raise FetchError(f"larger than {max_bytes} bytes")
    return body


def create_client(provider: ProviderConfig) -> UpstreamClient:
    """Build the client for one provider; must run inside the event loop."""
    if provider.type == "echo":
        return EchoClient()
    return AiohttpClient(provider)
