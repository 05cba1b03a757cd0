"""What every provider's stream decoder shares: SSE framing in, chunks out, no silent truncation."""

from __future__ import annotations

from adapters.base import ProviderError
from adapters.errors import StreamError
from adapters.sse import Event, SSEDecoder
from adapters.types import ChatCompletionChunk


class EventStreamDecoder:
    """Base of the SSE stream decoders.

    Subclasses turn events into chunks (:meth:`_chunks`), say whether the stream
    reached its documented end (:meth:`_complete`) and may add chunks that only
    the end makes known (:meth:`_final_chunks`, e.g. usage). A stream that stops
    before its end raises :class:`StreamError`, so a cut connection is never
    mistaken for a finished answer.
    """

    __slots__ = ("_done", "_sse")

    #: How the documented end of the stream is named in the error for a cut stream.
    end_marker = "its end"

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        #: Set by subclasses when the stream's documented end event arrives.
        self._done = False

    def feed(self, data: bytes) -> list[ChatCompletionChunk]:
        return self._chunks(self._sse.feed(data))

    def close(self) -> list[ChatCompletionChunk]:
        chunks = self._chunks(self._sse.close())
        if not self._complete():
            message = f"the upstream stream ended before {self.end_marker}"
            raise StreamError(ProviderError(status=502, type="upstream_error", message=message))
        return chunks + self._final_chunks()

    def _chunks(self, events: list[Event]) -> list[ChatCompletionChunk]:
        raise NotImplementedError

    def _complete(self) -> bool:
        return self._done

    def _final_chunks(self) -> list[ChatCompletionChunk]:
        return []
