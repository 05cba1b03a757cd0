"""One keep-alive HTTP/1.1 connection to a provider, on the event loop's own thread.

The answer is parsed by httptools (llhttp, the parser under uvicorn and
Node.js) as its bytes arrive in :meth:`Http1Connection.data_received`; nothing
crosses to another thread, and a JSON answer wakes its caller once, when it is
complete. One exchange at a time per connection (no pipelining); the pool in
:mod:`gateway.upstream.pool` hands connections out and takes them back.

Timeouts are one timer per exchange: it fires at the earlier of the total
deadline and the read deadline (the last byte received plus the read timeout)
and, when bytes arrived since it was set, sets itself again instead of failing.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import httptools

#: A stream's body buffered beyond this, unread by the gateway, stops reading from the socket
#: until the gateway catches up (the provider then sees TCP back-pressure).
STREAM_HIGH_WATER = 1 << 20
#: Decompressed output is produced in pieces of at most this size, so that a small compressed
#: chunk cannot allocate a huge buffer before the size cap is checked.
_INFLATE_STEP = 1 << 20
#: Encodings the client offers and decodes; an answer in any other is passed on as it came.
DECODED_ENCODINGS = {"gzip": 47, "x-gzip": 47, "deflate": 47}  # 47: a zlib or gzip header, told apart


class ConnectionClosed(Exception):
    """The connection ended before the answer did."""


class MalformedResponse(Exception):
    """The provider's bytes are not an HTTP/1.1 answer (or not one this client accepts)."""


class BodyTooLarge(Exception):
    """An answer grew past the cap its caller set."""


class Http1Connection(asyncio.Protocol):
    """A connection and the state of the one exchange on it."""

    __slots__ = (
        "_cap",
        "_chunks",
        "_collect",
        "_deadline",
        "_decoder",
        "_interim",
        "_last_read",
        "_loop",
        "_parser",
        "_paused",
        "_read_timeout",
        "_size",
        "_timer",
        "_transport",
        "_until_close",
        "_waiter",
        "closed",
        "complete",
        "error",
        "headers",
        "idle_since",
        "in_exchange",
        "keep_alive",
        "status",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.in_exchange = False
        self.idle_since = 0.0
        self._reset(collect=True, cap=None)

    def _reset(self, *, collect: bool, cap: int | None) -> None:
        self._collect = collect
        self._cap = cap
        self._chunks: list[bytes] = []
        self._size = 0
        self._decoder: Any = None
        self._interim = False
        self._until_close = False
        self._paused = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self.complete = False
        self.keep_alive = False
        self.error: BaseException | None = None

    # -- the caller's side -----------------------------------------------------------------------------------
    def start(self, data: bytes, *, collect: bool, cap: int | None, read_timeout: float, deadline: float) -> None:
        """Send one request (head and body in ``data``) and begin reading its answer.

        ``collect``: the caller waits for the whole answer (:meth:`wait_complete`);
        otherwise it waits for the head (:meth:`wait_head`) and reads the body as it
        arrives (:meth:`next_chunk`).
        """
        assert self._transport is not None
        assert not self.in_exchange
        self._reset(collect=collect, cap=cap)
        self.in_exchange = True
        self._read_timeout = read_timeout
        self._deadline = deadline
        self._last_read = now = self._loop.time()
        self._timer = self._loop.call_at(min(deadline, now + read_timeout), self._on_timer)
        self._transport.write(data)

    async def wait_complete(self) -> None:
        while not self.complete:
            await self._wait()

    async def wait_head(self) -> None:
        while not self.status and not self.complete:
            await self._wait()

    async def next_chunk(self) -> bytes | None:
        """The body bytes received since the last call (all of them, joined), or None at its end."""
        while True:
            chunks = self._chunks
            if chunks:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                self._chunks = []
                self._size = 0
                if self._paused:
                    self._paused = False
                    self._last_read = self._loop.time()
                    if self._transport is not None:
                        self._transport.resume_reading()
                return data
            if self.error is not None:
                raise self.error
            if self.complete:
                return None
            await self._wait()

    def limit(self, cap: int) -> None:
        """Cap the rest of the body at ``cap`` bytes, counting what is buffered and unread."""
        self._cap = cap
        if self._size > cap:
            raise BodyTooLarge

    def body(self) -> bytes:
        chunks = self._chunks
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def finish(self) -> bool:
        """End the exchange; True when the connection can carry another one."""
        self.in_exchange = False
        self._stop_timer()
        self._chunks = []
        return self.complete and self.keep_alive and not self.closed

    def abort(self) -> None:
        self.closed = True
        self._stop_timer()
        if self._transport is not None:
            self._transport.abort()

    async def _wait(self) -> None:
        if self.error is not None:
            raise self.error
        waiter = self._waiter = self._loop.create_future()
        await waiter
        if self.error is not None:
            raise self.error

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self.error is None and not self.complete:
            self.error = error
        self.abort()
        self._wake()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if not self.in_exchange or self.complete:
            return
        due = self._deadline if self._paused else min(self._deadline, self._last_read + self._read_timeout)
        if self._loop.time() >= due:
            self._fail(TimeoutError())
        else:
            self._timer = self._loop.call_at(due, self._on_timer)

    # -- asyncio's side --------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.in_exchange or self.complete:
            # Bytes nobody asked for: the connection's state is unknown, so it is not used again.
            self.abort()
            return
        self._last_read = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(MalformedResponse("the provider switched protocols"))
        except httptools.HttpParserCallbackError as exc:
            # httptools wraps what a callback raised; the callback's own exception is its context.
            cause = exc.__context__
            if isinstance(cause, BodyTooLarge):
                self._fail(cause)
            elif isinstance(cause, zlib.error):
                self._fail(MalformedResponse("the provider's compressed body is corrupt"))
            else:
                self._fail(MalformedResponse(str(cause or exc)))
        except httptools.HttpParserError as exc:
            self._fail(MalformedResponse(str(exc)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._transport = None
        if not self.in_exchange or self.complete or self.error is not None:
            return
        if self.status and self._until_close:
            self._message_done(keep_alive=False)  # a body delimited by the connection's end has ended
        else:
            self._fail(ConnectionClosed())

    # -- httptools' callbacks --------------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.complete:  # a second answer to one request
            self.keep_alive = False

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = self.headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            # An interim answer (100 Continue, 103 Early Hints): its headers are dropped, the real one follows.
            self._interim = True
            self.headers = {}
            return
        headers = self.headers
        self._until_close = "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", "")
        encoding = headers.get("content-encoding", "").strip().lower()
        wbits = DECODED_ENCODINGS.get(encoding)
        if wbits is not None:
            self._decoder = zlib.decompressobj(wbits)
            # The caller sees the decoded body, so the encoding and the encoded length no longer apply.
            del headers["content-encoding"]
            headers.pop("content-length", None)
        self.status = status
        if not self._collect:
            self._wake()

    def on_body(self, body: bytes) -> None:
        if self._decoder is None:
            self._add(body)
            return
        data = body
        while data:
            self._add(self._decoder.decompress(data, _INFLATE_STEP))
            data = self._decoder.unconsumed_tail

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self._decoder is not None:
            self._add(self._decoder.flush())
        self._message_done(keep_alive=self._parser.should_keep_alive())

    def _message_done(self, *, keep_alive: bool) -> None:
        self.complete = True
        self.keep_alive = keep_alive
        self._stop_timer()
        self._wake()

    def _add(self, data: bytes) -> None:
        if not data:
            return
        self._chunks.append(data)
        self._size += len(data)
        if self._cap is not None and self._size > self._cap:
            raise BodyTooLarge
        if not self._collect:
            self._wake()
            if self._size > STREAM_HIGH_WATER and not self._paused and self._transport is not None:
                self._paused = True
                self._transport.pause_reading()
