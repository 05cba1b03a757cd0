"""The provider client on the wire: keep-alive, framing, compression, limits and failures.

Each test scripts a raw TCP server in the test's own event loop, so that it
controls every byte the client gets (and sees every byte it sends).
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from adapters.base import HttpRequest
from gateway.config import ProviderConfig, Timeouts
from gateway.errors import GatewayError, UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError
from gateway.upstream import USER_AGENT, Http1Client, UpstreamStream
from gateway.upstream import http1 as http1_module

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]
JSON = b'{"ok":true}'


def _answer(body: bytes = JSON, *extra: str, status: str = "200 OK") -> bytes:
    head = [f"HTTP/1.1 {status}", "content-type: application/json", f"content-length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class RawServer:
    """Runs ``script(reader, writer, connection_index)`` for each connection; records requests."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.url = ""

    async def read_request(self, reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
        self.requests.append((head, body))
        return head, body

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self.connections
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await self.script(reader, writer, index)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client hung up, or the test ended with the script still running
        finally:
            self.open -= 1
            writer.close()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()


def _replying(data: bytes) -> RawServer:
    """A server that answers the first request on each connection with ``data``, then hangs up."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await server.read_request(reader)
        writer.write(data)
        await writer.drain()

    server = RawServer(script)
    return server


@asynccontextmanager
async def _client(server: RawServer, **overrides: object) -> AsyncIterator[Http1Client]:
    options: dict[str, object] = {"name": "p", "type": "openai", "base_url": server.url, **overrides}
    client = Http1Client(ProviderConfig(**options))  # type: ignore[arg-type]
    try:
        yield client
    finally:
        await client.close()


async def _failure(server: RawServer) -> GatewayError:
    """What one request to ``server`` fails with."""
    async with server, _client(server) as client:
        with pytest.raises(GatewayError) as info:
            await client.send(_post(server))
    return info.value


def _post(server: RawServer, path: str = "/v1/chat/completions", **headers: str) -> HttpRequest:
    return HttpRequest("POST", server.url + path, {"content-type": "application/json", **headers}, b'{"q":1}')


async def _serve_forever(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        await server.read_request(reader)
        writer.write(_answer())
        await writer.drain()


@pytest.fixture
async def keep_alive() -> AsyncIterator[RawServer]:
    server = RawServer(lambda r, w, i: _serve_forever(server, r, w))
    async with server:
        yield server


async def test_requests_reuse_one_kept_alive_connection(keep_alive: RawServer) -> None:
    async with _client(keep_alive) as client:
        for _ in range(3):
            answer = await client.send(_post(keep_alive))
            assert (answer.status, answer.body) == (200, JSON)
            assert answer.headers["content-type"] == "application/json"
    assert keep_alive.connections == 1
    assert len(keep_alive.requests) == 3


async def test_what_the_client_writes(keep_alive: RawServer) -> None:
    request = HttpRequest(
        "POST",
        keep_alive.url + "/v1/models/a b:generate?alt=sse",
        # A caller's own framing headers are dropped: the client frames the request itself.
        {"Authorization": "Bearer sk-test", "Host": "elsewhere", "Content-Length": "999", "X-Trace": "1"},
        b"body",
    )
    async with _client(keep_alive) as client:
        await client.send(request)
    head, body = keep_alive.requests[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/models/a%20b:generate?alt=sse HTTP/1.1"
    fields = [line.split(": ", 1) for line in lines[1:] if line]
    names = [name for name, _ in fields]
    assert len(names) == len(set(names)), "a header was sent twice"
    sent = dict(fields)
    assert sent["host"] == keep_alive.url.removeprefix("http://")
    assert sent["content-length"] == "4"
    assert sent["authorization"] == "Bearer sk-test"
    assert sent["x-trace"] == "1"
    assert sent["user-agent"] == USER_AGENT
    assert sent["accept-encoding"] == "gzip, deflate"
    assert body == b"body"


@pytest.mark.parametrize("value", ["a\r\nx-injected: 1", "a\nb", "a\rb", "a\0b"])
async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(keep_alive: RawServer, value: str) -> None:
    async with _client(keep_alive) as client:
        with pytest.raises(UpstreamError):
            await client.send(_post(keep_alive, **{"x-note": value}))
        assert (await client.send(_post(keep_alive))).status == 200  # the pool is unharmed
    assert len(keep_alive.requests) == 1


async def test_an_answer_with_connection_close_is_not_reused() -> None:
    server = _replying(_answer(JSON, "connection: close"))
    async with server, _client(server) as client:
        for _ in range(2):
            assert (await client.send(_post(server))).body == JSON
    assert server.connections == 2


async def test_a_pooled_connection_the_provider_closed_is_not_used() -> None:
    server = _replying(_answer())  # then closes without saying so, as a server's idle timeout does
    async with server, _client(server) as client:
        await client.send(_post(server))
        await asyncio.sleep(0.05)  # the close reaches the client
        assert (await client.send(_post(server))).body == JSON
    assert server.connections == 2


async def test_interim_answers_are_skipped() -> None:
    server = _replying(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n" + _answer())
    async with server, _client(server) as client:
        answer = await client.send(_post(server))
    assert (answer.status, answer.body) == (200, JSON)
    assert "link" not in answer.headers


async def test_a_body_delimited_by_the_end_of_the_connection() -> None:
    server = _replying(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n" + JSON)
    async with server, _client(server) as client:
        answer = await client.send(_post(server))
        assert (answer.status, answer.body) == (200, JSON)
        assert (await client.send(_post(server))).body == JSON  # on a new connection
    assert server.connections == 2


async def test_a_chunked_answer_is_reassembled() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await server.read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{"ok\r\n')
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b'7\r\n":true}\r\n0\r\n\r\n')
        await writer.drain()

    server = RawServer(script)
    async with server, _client(server) as client:
        assert (await client.send(_post(server))).body == JSON


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
async def test_a_compressed_answer_is_decoded(encoding: str, compress: Callable[[bytes], bytes]) -> None:
    body = b'{"data":[' + b",".join(b"0.125" for _ in range(5000)) + b"]}"

    server = _replying(_answer(compress(body), f"content-encoding: {encoding}"))
    async with server, _client(server) as client:
        answer = await client.send(_post(server))
    assert answer.body == body
    assert "content-encoding" not in answer.headers
    assert "content-length" not in answer.headers  # the encoded length no longer describes the body


async def test_a_compressed_stream_is_decoded_as_it_arrives() -> None:
    events = [f'data: {{"n":{n}}}\n\n'.encode() for n in range(3)]
    arrived = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n")
        writer.write(b"transfer-encoding: chunked\r\n\r\n")
        packer = zlib.compressobj(wbits=31)
        for event in events:
            piece = packer.compress(event) + packer.flush(zlib.Z_SYNC_FLUSH)
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
            await arrived.wait()  # the next event only once the client has this one
            arrived.clear()
        tail = packer.flush()
        writer.write(f"{len(tail):x}\r\n".encode() + tail + b"\r\n0\r\n\r\n")
        await writer.drain()

    server = RawServer(script)
    async with server, _client(server) as client:
        stream = await client.open_stream(_post(server))
        received = []
        async for data in stream.iter_bytes():
            received.append(data)
            arrived.set()
    assert b"".join(received) == b"".join(events)
    assert received[: len(events)] == events  # each event on its own, not held until the end


async def test_a_compressed_answer_past_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.upstream.MAX_RESPONSE_BYTES", 100_000)
    bomb = gzip.compress(b" " * 5_000_000)  # ~5 KB on the wire

    error = await _failure(_replying(_answer(bomb, "content-encoding: gzip")))
    assert isinstance(error, UpstreamError)
    assert error.code == "upstream_response_too_large"


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n", "upstream_error"),  # not HTTP at all
        (b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + JSON, "upstream_disconnected"),  # cut short
        (b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 5\r\n\r\nnope!", "upstream_error"),
        (b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n", "upstream_error"),
        (b"", "upstream_disconnected"),  # closed without a word
    ],
    ids=["not-http", "cut-short", "corrupt-gzip", "upgrade", "silent-close"],
)
async def test_broken_answers_are_upstream_errors(reply: bytes, code: str) -> None:
    server = _replying(reply)
    error = await _failure(server)
    assert isinstance(error, UpstreamError)
    assert error.code == code
    assert server.url.removeprefix("http://") not in error.message


async def _never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(10)


async def test_the_read_timeout_bounds_the_wait_for_the_first_byte() -> None:
    server = RawServer(_never_answer)
    started = asyncio.get_running_loop().time()
    async with server, _client(server, timeouts=Timeouts(connect=1, read=0.2, total=5)) as client:
        with pytest.raises(UpstreamTimeoutError):
            await client.send(_post(server))
    assert asyncio.get_running_loop().time() - started < 1


async def test_a_stream_that_keeps_sending_outlives_its_read_timeout_but_not_its_total() -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(100):
            writer.write(b"7\r\ndata:\n\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)

    received: list[bytes] = []

    async def read(stream: UpstreamStream) -> None:
        async for data in stream.iter_bytes():
            received.append(data)

    server = RawServer(trickle)
    async with server, _client(server, timeouts=Timeouts(connect=1, read=0.2, total=0.8)) as client:
        stream = await client.open_stream(_post(server))
        with pytest.raises(UpstreamTimeoutError):
            await read(stream)
    # Events came every 50 ms for longer than the read timeout, then the total ended the stream.
    assert len(b"".join(received)) >= 7 * 8


async def test_an_unreachable_provider_is_unavailable() -> None:
    server = RawServer(_never_answer)
    async with server:
        pass  # its port is closed again: nothing listens there now
    async with _client(server) as client:
        with pytest.raises(UpstreamUnavailableError):
            await client.send(_post(server))


async def test_no_more_connections_than_the_limit_and_every_request_answered() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        while True:
            await server.read_request(reader)
            await asyncio.sleep(0.05)
            writer.write(_answer())
            await writer.drain()

    server = RawServer(slow)
    async with server, _client(server, max_connections=2) as client:
        answers = await asyncio.gather(*(client.send(_post(server)) for _ in range(6)))
    assert [a.status for a in answers] == [200] * 6
    assert server.most_open == 2


async def test_a_request_cancelled_mid_answer_drops_its_connection() -> None:
    closed = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await server.read_request(reader)
        if index == 0:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{")
            await writer.drain()
            assert await reader.read() == b""  # the client hung up
            closed.set()
            return
        writer.write(_answer())
        await writer.drain()

    server = RawServer(script)
    async with server, _client(server) as client:
        task = asyncio.ensure_future(client.send(_post(server)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(closed.wait(), 2)
        assert (await client.send(_post(server))).body == JSON
    assert server.connections == 2


async def test_an_unread_stream_stops_reading_from_the_socket_and_resumes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1_module, "STREAM_HIGH_WATER", 10_000)
    piece = b"x" * 4096
    total = 64

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        await server.read_request(reader)
        writer.write(f"HTTP/1.1 200 OK\r\ncontent-length: {len(piece) * total}\r\n\r\n".encode())
        for _ in range(total):
            writer.write(piece)
            await writer.drain()

    server = RawServer(script)
    async with server, _client(server) as client:
        stream = await client.open_stream(_post(server))
        await asyncio.sleep(0.2)  # the client reads nothing meanwhile
        assert stream.headers["content-length"] == str(len(piece) * total)
        size = 0
        async for data in stream.iter_bytes():
            assert len(data) < 10_000 + 2 * 65536, "the client buffered far past its high-water mark"
            size += len(data)
    assert size == len(piece) * total


async def test_a_stream_closed_early_hangs_up_and_its_error_body_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.upstream.MAX_RESPONSE_BYTES", 1000)

    server = _replying(_answer(b"e" * 5000, status="500 Internal Server Error"))
    async with server, _client(server) as client:
        stream = await client.open_stream(_post(server))
        assert stream.status == 500
        with pytest.raises(GatewayError) as info:
            await stream.read_all()
    assert info.value.code == "upstream_response_too_large"
