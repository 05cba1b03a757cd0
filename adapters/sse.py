"""Server-sent events: an incremental decoder, and the encoder for our own replies.

The decoder follows the WHATWG event-stream rules that matter to providers:
lines end in LF, CRLF or CR; ``data`` lines of one event are joined with LF;
lines starting with ``:`` are comments (keep-alives); a blank line dispatches.
Bytes may be split anywhere, including inside a UTF-8 sequence or a CRLF.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    event: str
    data: str


class SSEDecoder:
    """Feed raw bytes, get complete events."""

    __slots__ = ("_buffer", "_data", "_event", "_has_data")

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self._has_data = False

    def feed(self, chunk: bytes) -> list[Event]:
        buffer = self._buffer + chunk
        events: list[Event] = []
        start = 0
        length = len(buffer)
        while start < length:
            lf = buffer.find(b"\n", start)
            cr = buffer.find(b"\r", start)
            if cr != -1 and (lf == -1 or cr < lf):
                # A CR at the very end may be the first half of a CRLF: wait for more.
                if cr + 1 == length:
                    break
                end, nxt = cr, cr + 2 if buffer[cr + 1 : cr + 2] == b"\n" else cr + 1
            elif lf != -1:
                end, nxt = lf, lf + 1
            else:
                break
            self._line(buffer[start:end].decode("utf-8", "replace"), events)
            start = nxt
        self._buffer = buffer[start:]
        return events

    def close(self) -> list[Event]:
        """Flush a final event that was not followed by a blank line."""
        events: list[Event] = []
        if self._buffer:
            self._line(self._buffer.decode("utf-8", "replace"), events)
            self._buffer = b""
        self._line("", events)
        return events

    def _line(self, line: str, events: list[Event]) -> None:
        if not line:
            if self._has_data:
                events.append(Event(self._event or "message", "\n".join(self._data)))
            self._event, self._data, self._has_data = "", [], False
            return
        if line[0] == ":":
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "event":
            self._event = value


def encode_data(payload: bytes) -> bytes:
    """Frame one JSON payload as an SSE ``data`` event."""
    return b"data: " + payload + b"\n\n"


DONE = b"data: [DONE]\n\n"
