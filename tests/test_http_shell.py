"""The ASGI shell: request ids, body limits and deadlines, bad input, and the error envelope."""

from __future__ import annotations

import gc
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gateway.app import GEN0_THRESHOLD
from tests.conftest import CLIENT_KEY, base_document
from tests.openai_schema import validate

AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}


@pytest.fixture
def echo_gateway(start_gateway: Callable[[dict[str, Any]], str]) -> str:
    document = base_document()
    document["server"].update({"max_body_bytes": 4096, "body_timeout": 0.5})
    return start_gateway(document)


def _assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    validate(response.json(), "ErrorResponse")
    assert "Traceback" not in response.text
    return dict(response.json()["error"])


def test_start_up_freezes_its_heap_and_collects_young_objects_less_often(echo_gateway: str) -> None:
    # The gateway runs in this process (uvicorn in a thread): its start-up set both.
    assert gc.get_freeze_count() > 10_000
    assert gc.get_threshold()[0] == GEN0_THRESHOLD


def test_request_id_is_generated_or_honoured(echo_gateway: str) -> None:
    generated = httpx.get(f"{echo_gateway}/healthz")
    assert generated.headers["x-request-id"].startswith("req_")
    honoured = httpx.get(f"{echo_gateway}/healthz", headers={"x-request-id": "client-abc.123"})
    assert honoured.headers["x-request-id"] == "client-abc.123"
    forged = httpx.get(f"{echo_gateway}/healthz", headers={"x-request-id": "bad id\twith tabs"})
    assert forged.headers["x-request-id"].startswith("req_")


def test_probes(echo_gateway: str) -> None:
    assert httpx.get(f"{echo_gateway}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{echo_gateway}/readyz").json() == {"status": "ready", "models": 1}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b"", None),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model"),
        (b'{"model": "echo", "messages": []}', "messages"),
        (b'{"model": "echo", "messages": "hello"}', "messages"),
        (b'{"model": "echo", "messages": [{"role": "wizard", "content": "x"}]}', "messages[0].role"),
        (b'{"model": "echo", "messages": [{"role": "user", "content": 5}]}', "messages[0].content"),
        (
            b'{"model": "echo", "messages": [{"role": "user", "content": [{"type": "video"}]}]}',
            "messages[0].content[0].type",
        ),
        (b'{"model": "echo", "messages": [{"role": "tool", "content": "x"}]}', "messages[0].tool_call_id"),
        (b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', "temperature"),
        (b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "temperature": 3}', "temperature"),
        (b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "stream"),
        (b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "n": 0}', "n"),
        (b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "max_tokens": true}', "max_tokens"),
        (b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "stop": [1]}', "stop"),
        (b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "x"}]}', "tools[0]"),
        (b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "tool_choice": "maybe"}', "tool_choice"),
        (
            b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}}',
            "response_format",
        ),
        (b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "metadata": {"a": 1}}', "metadata"),
    ],
)
def test_malformed_chat_requests_are_400_naming_the_field(echo_gateway: str, body: bytes, param: str | None) -> None:
    response = httpx.post(headers=AUTH, url=f"{echo_gateway}/v1/chat/completions", content=body)
    error = _assert_error(response, 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "echo", "input": 5}',
        b'{"model": "echo", "input": []}',
        b'{"model": "echo", "input": [[1, "a"]]}',
        b'{"model": "echo", "input": "x", "encoding_format": "hex"}',
        b'{"model": "echo", "input": "x", "dimensions": -1}',
    ],
)
def test_malformed_embeddings_requests_are_400(echo_gateway: str, body: bytes) -> None:
    _assert_error(httpx.post(headers=AUTH, url=f"{echo_gateway}/v1/embeddings", content=body), 400)


def test_oversized_body_is_413_before_it_is_read(echo_gateway: str) -> None:
    big = b'{"model": "echo", "messages": [{"role": "user", "content": "' + b"x" * 10_000 + b'"}]}'
    error = _assert_error(httpx.post(headers=AUTH, url=f"{echo_gateway}/v1/chat/completions", content=big), 413)
    assert error["code"] == "request_too_large"


def test_oversized_chunked_body_is_413(echo_gateway: str) -> None:
    def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 1000

    _assert_error(httpx.post(headers=AUTH, url=f"{echo_gateway}/v1/chat/completions", content=chunks()), 413)


def _read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response: its head and body may arrive in separate segments."""
    answer = b""
    while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _content_length(answer):
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer


def _content_length(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_slow_client_body_is_cut_off_with_408(echo_gateway: str) -> None:
    host, port = echo_gateway.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer client-key\r\n"
            b'Content-Length: 100\r\n\r\n{"model":'
        )
        started = time.monotonic()
        answer = _read_response(sock)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert b"request_timeout" in answer
    assert waited < 3


def test_unknown_path_and_wrong_method(echo_gateway: str) -> None:
    error = _assert_error(httpx.get(headers=AUTH, url=f"{echo_gateway}/v1/nothing-here"), 404)
    assert error["code"] == "unknown_url"
    error = _assert_error(httpx.get(headers=AUTH, url=f"{echo_gateway}/v1/chat/completions"), 405)
    assert error["code"] == "method_not_allowed"


def test_paths_without_the_v1_prefix_work_too(echo_gateway: str) -> None:
    response = httpx.post(
        f"{echo_gateway}/chat/completions",
        headers=AUTH,
        json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "hi"
