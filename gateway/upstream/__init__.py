"""The one package that speaks HTTP to providers.

Each provider gets one pooled, keep-alive HTTP/1.1 client for the life of the
runtime (:mod:`gateway.upstream.pool`), whose connections run on the event
loop's own thread and whose answers are parsed by httptools
(:mod:`gateway.upstream.http1`). Measured on this project's machines
(bench/README.md, "Ninth round" and "Sixteenth round"): httpx's pool collapses
under concurrency (FINDINGS.md); aiohttp's client costs ~145-200 µs of CPU per
call at one connection; reqwest (through pyreqwest, this gateway's client in
0.5.x) ~100-140, its I/O on a thread of its own that hands each answer to the
event loop; this client ~70-85, and ~21 at 16 calls in flight (reqwest ~34).

Nothing outside this package knows how requests are sent: callers see
:class:`UpstreamResponse` / :class:`UpstreamStream` and gateway errors. The
client's exceptions are mapped to gateway errors here and only here.

The built-in ``echo`` provider has an in-process client with the same
interface, so the whole pipeline (translation included) runs for it too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from adapters.base import HttpRequest
from adapters.echo import respond as echo_respond
from gateway import __version__
from gateway.config import ProviderConfig
from gateway.errors import GatewayError, UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError
from gateway.upstream.http1 import BodyTooLarge, ConnectionClosed, Http1Connection, MalformedResponse
from gateway.upstream.pool import ConnectFailed, HttpClient, InvalidRequest, Limits, Origin

#: Largest non-streamed upstream body we accept; protects memory from a broken provider.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Seconds an idle pooled connection is kept open.
POOL_IDLE_SECONDS = 30
#: Names the gateway to providers.
USER_AGENT = f"ai-governance-gateway/{__version__}"
#: Sent with every request: who is asking, and the compressions the client decodes.
DEFAULT_HEADERS = {"user-agent": USER_AGENT, "accept-encoding": "gzip, deflate"}


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
    if isinstance(exc, ConnectFailed):
        return UpstreamUnavailableError(f"The {provider} provider cannot be reached.")
    if isinstance(exc, ConnectionClosed):
        return UpstreamError(
            f"The {provider} provider closed the connection unexpectedly.", code="upstream_disconnected"
        )
    if isinstance(exc, BodyTooLarge):
        return UpstreamError(
            f"The {provider} provider's answer is larger than {MAX_RESPONSE_BYTES >> 20} MiB.",
            code="upstream_response_too_large",
        )
    return UpstreamError(f"The request to the {provider} provider failed.", code="upstream_error")


#: What the client raises, each mapped by :func:`_mapped`; anything else is a bug and propagates.
_CLIENT_ERRORS = (TimeoutError, ConnectFailed, ConnectionClosed, MalformedResponse, BodyTooLarge, InvalidRequest)


class _Http1Stream:
    """An answer whose body is read as it arrives; holds its connection until closed."""

    __slots__ = ("_client", "_connection", "_origin", "_provider", "headers", "status")

    def __init__(self, client: HttpClient, connection: Http1Connection, origin: Origin, provider: str) -> None:
        self._client = client
        self._connection: Http1Connection | None = connection
        self._origin = origin
        self._provider = provider
        self.status = connection.status
        self.headers: Mapping[str, str] = connection.headers

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        connection = self._connection
        try:
            if connection is None:
                return
            while (data := await connection.next_chunk()) is not None:
                yield data
        except _CLIENT_ERRORS as exc:
            raise _mapped(exc, self._provider) from None
        finally:
            await self.aclose()

    async def read_all(self) -> bytes:
        connection = self._connection
        if connection is None:
            return b""
        try:
            connection.limit(MAX_RESPONSE_BYTES)
            await connection.wait_complete()
            return connection.body()
        except _CLIENT_ERRORS as exc:
            raise _mapped(exc, self._provider) from None
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        # Closed before the end of the body, the connection is dropped rather than pooled,
        # which is how the provider learns that the client went away mid-stream.
        connection, self._connection = self._connection, None
        if connection is not None:
            self._client.release(connection, self._origin)


class Http1Client:
    """A pooled HTTP/1.1 client for one provider."""

    def __init__(self, provider: ProviderConfig) -> None:
        self._name = provider.name
        timeouts = provider.timeouts
        limits = Limits(
            connect=timeouts.connect,
            read=timeouts.read,
            total=timeouts.total,
            max_connections=provider.max_connections,
            idle_seconds=POOL_IDLE_SECONDS,
        )
        self._client = HttpClient(limits, DEFAULT_HEADERS)

    async def _start(self, request: HttpRequest, *, collect: bool, cap: int | None) -> tuple[Http1Connection, Origin]:
        try:
            return await self._client.start(
                request.method, request.url, request.headers, request.body, collect=collect, cap=cap
            )
        except _CLIENT_ERRORS as exc:
            raise _mapped(exc, self._name) from None

    async def send(self, request: HttpRequest) -> UpstreamResponse:
        connection, origin = await self._start(request, collect=True, cap=MAX_RESPONSE_BYTES)
        try:
            await connection.wait_complete()
            return UpstreamResponse(connection.status, connection.headers, connection.body())
        except _CLIENT_ERRORS as exc:
            raise _mapped(exc, self._name) from None
        finally:
            self._client.release(connection, origin)

    async def open_stream(self, request: HttpRequest) -> UpstreamStream:
        client = self._client
        connection, origin = await self._start(request, collect=False, cap=None)
        try:
            await connection.wait_head()
        except BaseException as exc:
            client.release(connection, origin)
            if isinstance(exc, _CLIENT_ERRORS):
                raise _mapped(exc, self._name) from None
            raise
        return _Http1Stream(client, connection, origin, self._name)

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
    limits = Limits(connect=deadline, read=deadline, total=deadline, max_connections=1, idle_seconds=0)
    client = HttpClient(limits, DEFAULT_HEADERS)
    try:
        connection, origin = await client.start("GET", url, {}, b"", collect=True, cap=max_bytes)
        try:
            await connection.wait_complete()
            status, body = connection.status, connection.body()
        finally:
            client.release(connection, origin)
        if status != 200:
            raise FetchError(f"HTTP {status}")
        return body
    except BodyTooLarge:
        raise FetchError(f"larger than {max_bytes} bytes") from None
    except _CLIENT_ERRORS as exc:
        raise FetchError(type(exc).__name__) from None
    finally:
        await client.close()


def create_client(provider: ProviderConfig) -> UpstreamClient:
    """Build the client for one provider; must run inside the event loop."""
    if provider.type == "echo":
        return EchoClient()
    return Http1Client(provider)
