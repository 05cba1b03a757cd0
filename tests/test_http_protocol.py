"""The HTTP protocol ``gateway serve`` gives uvicorn: the writes of one loop step leave as one."""

from __future__ import annotations

import asyncio
import socket
import struct
from pathlib import Path

import orjson
import yaml
from uvicorn.config import Config
from uvicorn.server import ServerState

from gateway.http_protocol import HttpProtocol, StepCoalescingTransport
from tests.conftest import CLIENT_KEY, base_document, write_policy
from tests.process import GatewayProcess


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.events.append("write")

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def abort(self) -> None:
        self.closing = True
        self.events.append("abort")

    def write_eof(self) -> None:
        self.events.append("eof")

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


async def test_writes_of_one_step_are_joined_and_later_ones_are_not_held() -> None:
    real = RecordingTransport()
    transport = StepCoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(memoryview(b"{}"))
    assert real.writes == []
    assert transport.get_write_buffer_size() == 40
    await asyncio.sleep(0)
    assert real.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    transport.write(b"data: 1\n\n")
    await asyncio.sleep(0)
    transport.writelines([b"data: 2\n\n", b"data: [DONE]\n\n"])
    await asyncio.sleep(0)
    assert real.writes[1:] == [b"data: 1\n\n", b"data: 2\n\ndata: [DONE]\n\n"]
    assert transport.get_extra_info("peername") == "info:peername"  # everything else is the real transport's


async def test_close_and_eof_send_what_is_held_first_and_abort_drops_it() -> None:
    real = RecordingTransport()
    transport = StepCoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"last words")
    transport.write_eof()
    transport.write(b"more")
    transport.close()
    assert real.events == ["write", "eof", "write", "close"]
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert real.writes == [b"last words", b"more"]

    real = RecordingTransport()
    transport = StepCoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"never sent")
    transport.abort()
    await asyncio.sleep(0)
    assert real.events == ["abort"]


async def test_a_complete_response_leaves_at_once_not_at_the_end_of_the_step() -> None:
    config = Config(app=_unused_app, http=HttpProtocol, lifespan="off")
    config.load()
    protocol = HttpProtocol(config=config, server_state=ServerState(), app_state={})
    real = RecordingTransport()
    real.get_extra_info = lambda name, default=None: None  # type: ignore[assignment,method-assign]
    protocol.connection_made(real)  # type: ignore[arg-type]
    protocol.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    protocol.transport.write(b"{}")
    assert real.writes == []  # held while the response is being written
    protocol.on_response_complete()  # uvicorn's signal that the response is whole
    assert real.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    await asyncio.sleep(0)  # the step's own flush finds nothing left
    assert len(real.writes) == 1
    protocol.connection_lost(None)


async def _unused_app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("not called")


def _segments_received(sock: socket.socket) -> int:
    """Linux ``tcp_info.tcpi_segs_in``: TCP segments this socket has received (ACKs included)."""
    return int(struct.unpack_from("I", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256), 140)[0])


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_json_answer_leaves_the_real_gateway_in_one_piece(tmp_path: Path) -> None:
    document = base_document()
    document["auth"] = {"demo_keys": [{"key": CLIENT_KEY, "subject": "t", "team": "qa", "roles": ["tester"]}]}
    document["policy"] = {"dir": str(write_policy(tmp_path / "p", "p, tester, *, *, *, allow\n")), "tests": None}
    document["audit"] = {"dir": str(tmp_path / "audit")}
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(document))
    gateway = GatewayProcess(config, tmp_path)
    body = orjson.dumps({"model": "echo", "messages": [{"role": "user", "content": "hello"}]})
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer {CLIENT_KEY}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body
    try:
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(request)
            _read_response(sock)  # the connection is open and warm
            before = _segments_received(sock)
            for _ in range(20):
                sock.sendall(request)
                response = _read_response(sock)
                assert response.startswith(b"HTTP/1.1 200 OK\r\n")
                assert orjson.loads(response.partition(b"\r\n\r\n")[2])["object"] == "chat.completion"
            segments = _segments_received(sock) - before
    finally:
        gateway.stop()
    # Head and body left in one write: one segment per answer (two when uvicorn writes them apart);
    # a few more may be bare ACKs.
    assert segments < 26, f"{segments} TCP segments for 20 answers"
