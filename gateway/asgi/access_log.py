"""The access log: one line per request, written in batches.

Going through ``logging`` cost ~25 µs per request (formatting, the handler's
lock, one ``write`` per line: see bench/README.md). A request only leaves its
fields here; every :data:`FLUSH_SECONDS` they are formatted (with a cached
timestamp prefix) and written together, so a busy gateway makes a few writes a
second instead of thousands. The line is ``<UTC time> <method> <path> <status> <ms>ms <request id>``;
the path is escaped when it holds characters that could break a log line.
"""

from __future__ import annotations

import asyncio
import os
import time

FLUSH_SECONDS = 0.05


class AccessLog:
    def __init__(self, fd: int = 2) -> None:
        self._fd = fd
        #: (time, method, path, status, milliseconds, request id) per request, formatted at the flush.
        self._entries: list[tuple[float, str, str, int, float, str]] = []
        self._scheduled = False
        self._second = -1
        self._prefix = ""

    def write(self, method: str, path: str, status: int, milliseconds: float, request_id: str) -> None:
        # Only the fields now: formatting waits for the flush, off the request's path.
        self._entries.append((time.time(), method, path, status, milliseconds, request_id))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)

    def _line(self, now: float, method: str, path: str, status: int, milliseconds: float, request_id: str) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        if not path.isprintable():
            path = path.encode("unicode_escape").decode("ascii")
        stamp = f"{self._prefix}.{int((now - second) * 1000):03d}Z"
        return f"{stamp} {method} {path} {status or '-'} {milliseconds:.1f}ms {request_id}\n"

    def flush(self) -> None:
        self._scheduled = False
        if not self._entries:
            return
        entries, self._entries = self._entries, []
        data = "".join([self._line(*entry) for entry in entries]).encode("utf-8", "backslashreplace")
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except BlockingIOError:
            return  # a stalled log reader must never stall requests: drop the rest of this batch
        except OSError:
            return
