"""The one module that speaks HTTP to providers.

Each provider gets one pooled, keep-alive client for the life of the runtime:
reqwest (Rust; hyper underneath, rustls for TLS against the system's trust
store) through the ``pyreqwest`` binding. Measured on this project's machines
(bench/README.md, "Ninth round"): httpx's pool collapses under concurrency
(FINDINGS.md); aiohttp holds, but its client costs ~145 µs of CPU per call at
one connection and ~68 µs at 64; reqwest ~100 and ~33, the connection's I/O
and HTTP parsing running on its own thread. The price is one hand-over between
that thread and the event loop per piece of a body read as it arrives: a
stream whose events arrive all at once costs more than with aiohttp; events
spaced out in time, as a model sends them, cost the same.

Nothing outside this module knows which library is used: callers see
:class:`UpstreamResponse` / :class:`UpstreamStream` and gateway errors. The
library's exceptions are mapped to gateway errors here and only here.

The built-in ``echo`` provider has an in-process client with the same
interface, so the whole pipeline (translation included) runs for it too.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from pyreqwest.client import ClientBuilder
from pyreqwest.exceptions import BodyDecodeError, ConnectError, PyreqwestError, ReadError, WriteError
from pyreqwest.request import RequestBuilder, StreamRequest
from pyreqwest.response import Response, ResponseBodyReader

from adapters.base import HttpRequest
from adapters.echo import respond as echo_respond
from gateway import __version__
from gateway.config import ProviderConfig
from gateway.errors import GatewayError, UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError

log = logging.getLogger("gateway.upstream")

#: Largest non-streamed upstream body we accept; protects memory from a broken provider.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: How much of a non-streamed body reqwest collects before handing the response over: a JSON
#: answer of up to this size crosses from reqwest's thread to the event loop once, not per piece.
#: Streams are handed over at their head (0), or their first events would wait for this much.
PREFETCH_BYTES = 256 * 1024
#: Seconds an idle pooled connection is kept open.
POOL_IDLE_SECONDS = 30
#: Names the gateway to providers (reqwest would otherwise name the binding).
USER_AGENT = f"ai-governance-gateway/{__version__}"


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

    async def aclose(self) -> None: ...


class UpstreamClient(Protocol):
    async def send(self, request: HttpRequest) -> UpstreamResponse: ...

    async def open_stream(self, request: HttpRequest) -> UpstreamStream: ...

    async def close(self) -> None: ...


def _mapped(exc: BaseException, provider: str) -> GatewayError:
    """Translate a client failure into a gateway error (never leaking URLs or keys)."""
    if isinstance(exc, TimeoutError):  # connect, read, pool and total timeouts alike
        return UpstreamTimeoutError(f"The {provider} provider did not answer in time.")
    if isinstance(exc, ConnectError):
        return UpstreamUnavailableError(f"The {provider} provider cannot be reached.")
    if isinstance(exc, ReadError | WriteError | BodyDecodeError):
        return UpstreamError(
            f"The {provider} provider closed the connection unexpectedly.", code="upstream_disconnected"
        )
    return UpstreamError(f"The request to the {provider} provider failed.", code="upstream_error")


class _TooLarge(Exception):
    """A body grew past the cap its reader set."""


async def _read_capped(body: ResponseBodyReader, cap: int) -> bytes:
    """The rest of ``body``, as it arrives (raises :class:`_TooLarge` past ``cap`` bytes)."""
    parts: list[bytes] = []
    size = 0
    while (data := await body.read_chunk()) is not None:
        size += len(data)
        if size > cap:
            raise _TooLarge
        parts.append(bytes(data))
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _with_body(builder: RequestBuilder, body: bytes) -> RequestBuilder:
    """Attach ``body`` so that the client's runtime thread owns a copy of it.

    ``body_bytes`` keeps a view of the Python object, and releasing that view
    makes the runtime thread take the interpreter lock once more per request,
    often while the event loop holds it (bench/README.md, "Tenth round").
    Provider bodies are JSON (UTF-8), which ``body_text`` copies into Rust;
    anything else goes as bytes. The bytes on the wire are the same either way.
    """
    try:
        return builder.body_text(body.decode())
    except UnicodeDecodeError:
        return builder.body_bytes(body)


class _ReqwestStream:
    """A response whose body is read as it arrives; holds its connection until closed."""

    __slots__ = ("_body", "_closed", "_provider", "_request", "headers", "status")

    def __init__(self, request: StreamRequest, response: Response, provider: str) -> None:
        self._request = request
        self._body = response.body_reader
        self._provider = provider
        self._closed = False
        self.status = response.status
        # Not copied: reqwest's header map is already case-insensitive.
        self.headers: Mapping[str, str] = response.headers

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        try:
            while (data := await self._body.read_chunk()) is not None:
                yield bytes(data)
        except PyreqwestError as exc:
            raise _mapped(exc, self._provider) from None
        finally:
            await self.aclose()

    async def read_all(self) -> bytes:
        try:
            return await _read_capped(self._body, MAX_RESPONSE_BYTES)
        except _TooLarge:
            raise UpstreamError(
                f"The {self._provider} provider's answer is larger than {MAX_RESPONSE_BYTES >> 20} MiB.",
                code="upstream_response_too_large",
            ) from None
        except PyreqwestError as exc:
            raise _mapped(exc, self._provider) from None
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        # Closed before the end of the body, the connection is dropped rather than pooled,
        # which is how the provider learns that the client went away mid-stream.
        if not self._closed:
            self._closed = True
            await self._request.__aexit__(None, None, None)


class ReqwestClient:
    """A pooled HTTP client for one provider (reqwest, through pyreqwest)."""

    def __init__(self, provider: ProviderConfig) -> None:
        self._name = provider.name
        timeouts = provider.timeouts
        builder = (
            ClientBuilder()
            .max_connections(provider.max_connections)
            .connect_timeout(timedelta(seconds=timeouts.connect))
            .read_timeout(timedelta(seconds=timeouts.read))
            .timeout(timedelta(seconds=timeouts.total))
            .pool_idle_timeout(timedelta(seconds=POOL_IDLE_SECONDS))
            .follow_redirects(False)
            .user_agent(USER_AGENT)
            # A gateway talks to its providers directly: proxy variables in its environment
            # must not redirect provider traffic (and its keys) elsewhere.
            .no_proxy()
            .default_cookie_store(False)
        )
        self._client = builder.build()

    async def _send(self, request: HttpRequest, prefetch: int) -> tuple[StreamRequest, Response]:
        builder = self._client.request(request.method, request.url).headers(request.headers)
        streamed = _with_body(builder, request.body).streamed_read_buffer_limit(prefetch).build_streamed()
        try:
            return streamed, await streamed.__aenter__()
        except PyreqwestError as exc:
            raise _mapped(exc, self._name) from None

    async def send(self, request: HttpRequest) -> UpstreamResponse:
        streamed, response = await self._send(request, PREFETCH_BYTES)
        body = await _ReqwestStream(streamed, response, self._name).read_all()
        return UpstreamResponse(response.status, response.headers, body)

    async def open_stream(self, request: HttpRequest) -> UpstreamStream:
        streamed, response = await self._send(request, 0)
        return _ReqwestStream(streamed, response, self._name)

    async def close(self) -> None:
        await self._client.close()


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

    async def aclose(self) -> None:
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
    client = (
        ClientBuilder()
        .timeout(timedelta(seconds=deadline))
        .follow_redirects(False)
        .user_agent(USER_AGENT)
        .no_proxy()
        .build()
    )
    try:
        async with client.get(url).build_streamed() as response:
            if response.status != 200:
                raise FetchError(f"HTTP {response.status}")
            return await _read_capped(response.body_reader, max_bytes)
    except _TooLarge:
        raise FetchError(f"larger than {max_bytes} bytes") from None
    except PyreqwestError as exc:
        raise FetchError(type(exc).__name__) from None
    finally:
        await client.close()


def create_client(provider: ProviderConfig) -> UpstreamClient:
    """Build the client for one provider; must run inside the event loop."""
    if provider.type == "echo":
        return EchoClient()
    return ReqwestClient(provider)
