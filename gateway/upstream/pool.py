"""A pool of keep-alive HTTP/1.1 connections, and the requests sent over them.

Connections are kept per origin (scheme, host, port), reused last-in first-out
so that the warmest one carries the next request, and closed after
``idle_seconds`` unused. At most ``max_connections`` exchanges run at once; a
request beyond that waits for one to end (within its total timeout).

TLS is the standard library's, verified against the system's trust store
(``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` honoured), offering only HTTP/1.1 by
ALPN. Proxy variables are not read and redirects are not followed: the caller
gets the 3xx as it came, so a provider's key never goes where a redirect points.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from gateway.upstream.http1 import Http1Connection

#: Headers the client writes itself; a caller's own values for them are dropped.
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
#: HEAD is not among them: its answer has a length but no body, which the parser is not told about.
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Characters left as they are when a URL's path or query is put on the request line.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"
#: Parsed URLs remembered per client (a provider's few endpoints, model names in some paths).
_URL_CACHE_SIZE = 512


class ConnectFailed(Exception):
    """No connection could be opened (name resolution, refusal, TLS verification)."""


class InvalidRequest(Exception):
    """The request cannot be written as HTTP/1.1 (a header with a line break, an unsupported URL)."""


@dataclass(frozen=True, slots=True)
class Origin:
    tls: bool
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class _Target:
    origin: Origin
    host_header: str
    path: str


@dataclass(frozen=True, slots=True)
class Limits:
    connect: float
    read: float
    total: float
    max_connections: int
    idle_seconds: float


class HttpClient:
    """Sends requests over pooled connections; must be created inside the event loop."""

    def __init__(self, limits: Limits, default_headers: dict[str, str]) -> None:
        self._loop = asyncio.get_running_loop()
        self._limits = limits
        self._slots = asyncio.Semaphore(limits.max_connections)
        self._idle: dict[Origin, list[Http1Connection]] = {}
        self._targets: dict[str, _Target] = {}
        self._defaults = {name.lower(): value for name, value in default_headers.items()}
        self._tls: ssl.SSLContext | None = None
        self._closed = False

    async def start(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, collect: bool, cap: int | None
    ) -> tuple[Http1Connection, Origin]:
        """Send a request; return its connection (answer being read) and origin, to :meth:`release` later."""
        target = self._targets.get(url) or self._parse(url)
        data = self._encode(method, target, headers, body)
        limits = self._limits
        deadline = self._loop.time() + limits.total
        if self._slots.locked():
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        else:
            await self._slots.acquire()
        try:
            connection = self._reuse(target.origin) or await self._connect(target, deadline)
            connection.start(data, collect=collect, cap=cap, read_timeout=limits.read, deadline=deadline)
        except BaseException:
            self._slots.release()
            raise
        return connection, target.origin

    def release(self, connection: Http1Connection, origin: Origin) -> None:
        """Give a connection back after its exchange, kept for the next one if it can carry it."""
        self._slots.release()
        if not connection.finish() or self._closed:
            connection.abort()
            return
        now = connection.idle_since = self._loop.time()
        idle = self._idle.setdefault(origin, [])
        idle.append(connection)
        expired = now - self._limits.idle_seconds
        while idle[0].idle_since < expired:
            idle.pop(0).abort()

    async def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.abort()
        self._idle.clear()

    def _reuse(self, origin: Origin) -> Http1Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        expired = self._loop.time() - self._limits.idle_seconds
        while idle:
            connection = idle.pop()
            if not connection.closed and connection.idle_since >= expired:
                return connection
            connection.abort()
        return None

    async def _connect(self, target: _Target, deadline: float) -> Http1Connection:
        origin = target.origin
        tls = self._tls_context() if origin.tls else None
        timeout = min(self._limits.connect, deadline - self._loop.time())
        try:
            async with asyncio.timeout(timeout):
                _, connection = await self._loop.create_connection(
                    lambda: Http1Connection(self._loop),
                    origin.host,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.host if tls is not None else None,
                )
        except (OSError, ValueError) as exc:
            # Refused, unresolvable, TLS verification failed (ssl.SSLError is an OSError), or a host
            # name that cannot be encoded (UnicodeError is a ValueError).
            raise ConnectFailed(type(exc).__name__) from None
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            self._tls = context
        return self._tls

    def _parse(self, url: str) -> _Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRequest("only http and https URLs with a host are supported")
        tls = parts.scheme == "https"
        try:
            port = parts.port or (443 if tls else 80)
        except ValueError:
            raise InvalidRequest("the URL's port is not a number") from None
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        host_header = shown if port == (443 if tls else 80) else f"{shown}:{port}"
        path = quote(parts.path or "/", safe=_PATH_SAFE)
        if parts.query:
            path = f"{path}?{quote(parts.query, safe=_QUERY_SAFE)}"
        target = _Target(Origin(tls, host, port), host_header, path)
        if len(self._targets) >= _URL_CACHE_SIZE:
            self._targets.clear()
        self._targets[url] = target
        return target

    def _encode(self, method: str, target: _Target, headers: Mapping[str, str], body: bytes) -> bytes:
        if method not in _METHODS:
            raise InvalidRequest(f"unsupported method {method!r}")
        fields = dict(self._defaults)
        for name, value in headers.items():
            key = name.lower()
            if key not in _OWN_HEADERS:
                fields[key] = value
        lines = [f"{method} {target.path} HTTP/1.1", f"host: {target.host_header}"]
        lines.extend(f"{name}: {value}" for name, value in fields.items())
        if body:  # none for an empty body: HTTP/1.1 reads a request without a length as empty
            lines.append(f"content-length: {len(body)}")
        head = "\r\n".join(lines)
        # A line break or NUL inside a method, header name or value would smuggle in lines of its own.
        breaks = len(lines) - 1
        if head.count("\n") != breaks or head.count("\r") != breaks or "\0" in head:
            raise InvalidRequest("a header name or value contains a line break")
        try:
            encoded = f"{head}\r\n\r\n".encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidRequest("a header holds characters that HTTP/1.1 cannot carry") from None
        return encoded + body if body else encoded
