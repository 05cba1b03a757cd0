"""Names and small file operations shared by the writer and the readers of an audit directory.

Layout of ``<dir>``::

    <replica>_<index:08d>.jsonl   segment files; each replica has its own chain
    <replica>.head.json           the replica's latest signed checkpoint (atomic replace)
    <replica>.stats.json          the replica's writer and sink counters
    <replica>.lock                held (flock) by the process writing that chain
    archive/                      segments moved out by retention_action: archive
    index.sqlite                  the search index (a cache; the JSONL files are the truth)
    spool/                        records waiting for a sink that is down
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SEGMENT = re.compile(r"^(?P<replica>[A-Za-z0-9][A-Za-z0-9.-]*)_(?P<index>\d{8})\.jsonl$")


@dataclass(frozen=True, slots=True)
class SegmentFile:
    path: Path
    replica: str
    index: int

    @property
    def name(self) -> str:
        return self.path.name


def segment_name(replica: str, index: int) -> str:
    return f"{replica}_{index:08d}.jsonl"


def list_segments(directory: Path) -> dict[str, list[SegmentFile]]:
    """Every replica's segments in chain order."""
    found: dict[str, list[SegmentFile]] = {}
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            match = SEGMENT.match(entry.name)
            if match and entry.is_file():
                segment = SegmentFile(Path(entry.path), match["replica"], int(match["index"]))
                found.setdefault(segment.replica, []).append(segment)
    for segments in found.values():
        segments.sort(key=lambda s: s.index)
    return dict(sorted(found.items()))


def read_tail(path: Path, window: int = 1 << 16) -> tuple[dict[str, Any] | None, int]:
    """The last complete line of a segment (parsed), and how many bytes follow it (a torn write)."""
    with path.open("rb") as file:
        size = file.seek(0, os.SEEK_END)
        start = size
        while True:
            start = max(0, start - window)
            file.seek(start)
            data = file.read(size - start)
            end = data.rfind(b"\n")
            torn = len(data) - end - 1 if end >= 0 else len(data)
            begin = data.rfind(b"\n", 0, end) + 1 if end >= 0 else 0
            if end >= 0 and (begin > 0 or start == 0):
                try:
                    return orjson.loads(data[begin:end]), torn
                except orjson.JSONDecodeError:
                    return None, torn
            if start == 0:
                return None, torn
            window *= 4


def write_atomic(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as file:
        file.write(data)
        if fsync:
            file.flush()
            os.fsync(file.fileno())
    tmp.replace(path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None
