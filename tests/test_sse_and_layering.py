"""The SSE decoder under arbitrary splits, and the rule that adapters never import the gateway."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from adapters.sse import Event, SSEDecoder

ROOT = Path(__file__).resolve().parents[1]

STREAM = (
    b": keep-alive comment\r\n"
    b'event: message_start\r\ndata: {"a": 1}\r\n\r\n'
    b"data: line one\ndata: line two\n\n"
    b"data: caf\xc3\xa9\r\r"
    b"event: ping\ndata:{}\n\n"
)
EXPECTED = [
    Event("message_start", '{"a": 1}'),
    Event("message", "line one\nline two"),
    Event("message", "café"),
    Event("ping", "{}"),
]


def test_whole_stream() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(STREAM) + decoder.close() == EXPECTED


@pytest.mark.parametrize("split", range(1, len(STREAM)))
def test_every_split_point(split: int) -> None:
    decoder = SSEDecoder()
    events = decoder.feed(STREAM[:split]) + decoder.feed(STREAM[split:]) + decoder.close()
    assert events == EXPECTED


def test_byte_by_byte() -> None:
    decoder = SSEDecoder()
    events = [event for i in range(len(STREAM)) for event in decoder.feed(STREAM[i : i + 1])]
    assert events + decoder.close() == EXPECTED


def test_unterminated_last_event_is_flushed_on_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: tail") == []
    assert decoder.close() == [Event("message", "tail")]


def test_adapters_never_import_the_gateway() -> None:
    offenders = []
    for path in (ROOT / "adapters").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "gateway"]
    assert not offenders


HTTP_CLIENTS = ("aiohttp", "httpx", "httptools", "pyreqwest")


def test_only_the_upstream_package_imports_http_clients() -> None:
    offenders = []
    upstream = ROOT / "gateway" / "upstream"
    for path in (ROOT / "gateway").rglob("*.py"):
        if path.is_relative_to(upstream):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                offenders += [f"{path.name}: {m}" for m in modules if m.split(".")[0] in HTTP_CLIENTS]
    assert not offenders
