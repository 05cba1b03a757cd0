"""Reading segments back: every line with its offset, or only lines that contain given bytes.

Lines are split on ``\\n`` bytes only: ``str.splitlines`` would also split on
U+2028 and friends, which JSON strings may legitimately contain.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from gateway.audit.query import Filters

_CHUNK = 1 << 22


def iter_lines(path: Path, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """``(offset, line)`` for every complete line (a torn last line, without ``\\n``, is left out)."""
    with path.open("rb") as file:
        file.seek(start)
        offset = start
        rest = b""
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            data = rest + chunk
            begin = 0
            while True:
                end = data.find(b"\n", begin)
                if end < 0:
                    break
                yield offset + begin, data[begin:end]
                begin = end + 1
            offset += begin
            rest = data[begin:]


def _candidates(data: bytes, needle: bytes) -> Iterator[tuple[int, bytes]]:
    """Lines of ``data`` containing ``needle``, found with ``bytes.find`` rather than line by line."""
    position = data.find(needle)
    while position >= 0:
        begin = data.rfind(b"\n", 0, position) + 1
        end = data.find(b"\n", position)
        if end < 0:
            return  # the needle is in a torn last line
        yield begin, data[begin:end]
        position = data.find(needle, end)


def scan(path: Path, filters: Filters, start: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(offset, record)`` for the records of one segment file that match ``filters``."""
    needles = filters.needles()
    if not needles:
        for offset, line in iter_lines(path, start):
            if filters.type == "request" and b'"type":"request"' not in line:
                continue
            record = _parse(line)
            if record is not None and filters.matches(record):
                yield offset, record
        return
    # Selective search: read the file once and jump between occurrences of the rarest needle.
    with path.open("rb") as file:
        file.seek(start)
        data = file.read()
    first, others = needles[0], needles[1:]
    for begin, line in _candidates(data, first):
        if all(n in line for n in others):
            record = _parse(line)
            if record is not None and filters.matches(record):
                yield start + begin, record


def read_at(path: Path, offset: int, length: int) -> dict[str, Any] | None:
    fd = os.open(path, os.O_RDONLY)
    try:
        return _parse(os.pread(fd, length, offset))
    finally:
        os.close(fd)


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
