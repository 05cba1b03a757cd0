"""uvicorn's httptools protocol, with the writes of one event-loop step sent as one.

uvicorn writes a response's head when the app sends ``http.response.start``
and its body when the app sends ``http.response.body``: two ``send`` calls on
the socket, two TCP segments, and on loopback or a virtual NIC often two
wake-ups of the client for one small JSON answer. Here the transport holds
what is written during one step of the event loop and writes it with a
single call at the end of that step (``call_soon``), so a head and the body
sent right after it leave together; a stream's later events, sent in later
steps, are not delayed by more than the rest of the step that sent them. A
response that is complete is written at once, without waiting for the step to end.

Used by ``gateway serve`` as uvicorn's ``http`` protocol class
(``gateway.http_protocol:HttpProtocol``), uvicorn's documented extension
point; everything else is uvicorn's own.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class StepCoalescingTransport:
    """Forwards everything to the real transport, but joins the writes of one loop step."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._held))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._coalescing = StepCoalescingTransport(transport, self.loop)
        # uvloop's TCPTransport is not an asyncio.Transport subclass, only its duck.
        super().connection_made(self._coalescing)  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        # A whole response (a JSON answer's head and body, a stream's last event) need not wait
        # for the end of the loop step: it leaves now, before the access log and the rest.
        self._coalescing.flush()
        super().on_response_complete()
