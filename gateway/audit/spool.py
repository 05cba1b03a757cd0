"""A local file where lines wait while their sink is down (blocking I/O: call it from a thread).

``<spool_dir>/<replica>.<sink>.spool`` holds the lines in order; the companion
``.offset`` file says how many bytes of it were delivered. Delivery is
at-least-once: a crash between delivering and saving the offset sends those
lines again (consumers deduplicate on ``replica`` + ``seq``).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from gateway.audit.files import write_atomic


class Spool:
    def __init__(self, directory: Path, name: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{name}.spool"
        self._offset_path = directory / f"{name}.offset"
        self._lock = threading.Lock()
        self._offset = self._read_offset()
        #: Lines not yet delivered (what a restart finds is counted once, at start).
        self.pending = self._count_pending()

    def _read_offset(self) -> int:
        try:
            offset = int(self._offset_path.read_text() or 0)
            return min(offset, self.path.stat().st_size)
        except (FileNotFoundError, ValueError):
            return 0

    def _count_pending(self) -> int:
        try:
            with self.path.open("rb") as file:
                file.seek(self._offset)
                return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))
        except FileNotFoundError:
            return 0

    def append(self, lines: list[bytes]) -> None:
        with self._lock, self.path.open("ab") as file:
            file.write(b"".join(lines))
            file.flush()
            os.fsync(file.fileno())
            self.pending += len(lines)

    def peek(self, limit: int) -> tuple[list[bytes], int]:
        """Up to ``limit`` undelivered lines, and the offset just past them."""
        with self._lock:
            try:
                with self.path.open("rb") as file:
                    file.seek(self._offset)
                    lines = []
                    for line in file:
                        if not line.endswith(b"\n"):
                            break  # a torn append from a crash: it was never acknowledged
                        lines.append(line)
                        if len(lines) >= limit:
                            break
            except FileNotFoundError:
                return [], self._offset
            return lines, self._offset + sum(len(line) for line in lines)

    def advance(self, offset: int, count: int) -> None:
        """Mark lines up to ``offset`` delivered; an emptied spool is truncated."""
        with self._lock:
            self.pending = max(0, self.pending - count)
            if offset >= self.path.stat().st_size:
                # Offset first: a crash in between re-sends lines (allowed), never skips any.
                write_atomic(self._offset_path, b"0")
                self.path.write_bytes(b"")
                self._offset = 0
            else:
                self._offset = offset
                write_atomic(self._offset_path, str(offset).encode())
