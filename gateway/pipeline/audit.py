"""audit: record every request, whatever happens to it (outermost stage; writes nothing on the exchange).

A JSON reply is returned only once its record is durable. A stream is wrapped
so that its record is written when it ends: before ``[DONE]`` reaches the
client when it ends normally, and also when it fails or the client goes away.
A denial or failure raised by an inner stage is recorded, then re-raised. If
the record cannot be made durable the client gets a 503 instead of an
unaudited answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from adapters.types import ChatCompletionChunk
from gateway.audit.log import AuditLog
from gateway.audit.record import completion_texts, request_record
from gateway.audit.writer import AuditWriteError
from gateway.errors import GatewayError, UpstreamUnavailableError
from gateway.exchange import Exchange, Handler, Reply

if TYPE_CHECKING:
    from gateway.runtime import Runtime


def _unavailable(exc: AuditWriteError) -> UpstreamUnavailableError:
    return UpstreamUnavailableError(
        "The audit trail is unavailable; the request was not served.", code="audit_unavailable"
    )


class AuditedStream:
    """Passes chunks through and writes the request's record exactly once, when the stream ends."""

    def __init__(self, log: AuditLog, exchange: Exchange, wall: float, reply: Reply) -> None:
        assert reply.stream is not None
        self._log = log
        self._exchange = exchange
        self._wall = wall
        self._status = reply.status
        self._inner = reply.stream
        self._content = log.content_for(exchange.principal)
        self._texts: dict[int, list[str]] = {}
        self._pending: asyncio.Future[None] | None = None

    def __aiter__(self) -> AuditedStream:
        return self

    async def __anext__(self) -> list[ChatCompletionChunk]:
        try:
            batch = await self._inner.__anext__()
        except StopAsyncIteration:
            await self._finish("ok", None)
            raise
        except GatewayError as exc:
            await self._finish("error", (exc.type, exc.code))
            raise
        except asyncio.CancelledError:
            self._record("cancelled", None)  # queued now; aclose() waits for it
            raise
        except Exception:
            self._record("error", ("api_error", None))  # a bug below: the record says so, then it propagates
            raise
        if self._content is not None:
            for chunk in batch:
                for choice in chunk["choices"]:
                    text = choice["delta"].get("content")
                    if text:
                        self._texts.setdefault(choice["index"], []).append(text)
        return batch

    async def aclose(self) -> None:
        """The edge is done with the stream: close upstream, and record it as cancelled if it had not ended."""
        aclose = getattr(self._inner, "aclose", None)
        if aclose is not None:
            await aclose()
        self._record("cancelled", None)
        assert self._pending is not None
        with contextlib.suppress(AuditWriteError):  # nobody is left to tell; the writer has logged it
            await asyncio.shield(self._pending)

    def __del__(self) -> None:
        # Last resort for a stream the edge dropped without closing it (the client vanished
        # before the first byte): queueing is synchronous, so the record is still written.
        if getattr(self, "_pending", True) is None:
            self._record("abandoned", None)

    def _record(self, outcome: str, error: tuple[str, str | None] | None) -> None:
        if self._pending is not None:
            return
        answer = ["".join(parts) for _, parts in sorted(self._texts.items())]
        record = request_record(
            self._exchange,
            wall=self._wall,
            ended=time.perf_counter(),
            status=self._status,
            error=error,
            outcome=outcome,
            stream=True,
            content=self._content,
            answer=answer,
        )
        self._pending = self._log.submit(record)

    async def _finish(self, outcome: str, error: tuple[str, str | None] | None) -> None:
        self._record(outcome, error)
        assert self._pending is not None
        try:
            await asyncio.shield(self._pending)
        except AuditWriteError as exc:
            raise _unavailable(exc) from None


class Audit:
    def __init__(self, log: AuditLog) -> None:
        self._log = log

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        wall = time.time()
        try:
            reply = await call_next(exchange)
        except GatewayError as exc:
            await self._write(self._build(exchange, wall, exc.status, (exc.type, exc.code), "error"))
            raise
        except asyncio.CancelledError:
            self._log.submit(self._build(exchange, wall, None, None, "cancelled"))
            raise
        except Exception:
            # A bug in an inner stage: the envelope answers 500, and the trail says so too.
            self._log.submit(self._build(exchange, wall, 500, ("api_error", None), "error"))
            raise
        if reply.stream is not None:
            reply.stream = AuditedStream(self._log, exchange, wall, reply)
            return reply
        await self._write(self._build(exchange, wall, reply.status, None, "ok", reply.body))
        return reply

    def _build(
        self,
        exchange: Exchange,
        wall: float,
        status: int | None,
        error: tuple[str, str | None] | None,
        outcome: str,
        body: Any = None,
    ) -> dict[str, Any]:
        content = self._log.content_for(exchange.principal)
        return request_record(
            exchange,
            wall=wall,
            ended=time.perf_counter(),
            status=status,
            error=error,
            outcome=outcome,
            stream=exchange.chat.stream if exchange.chat is not None else False,
            content=content,
            # The answer's texts are looked for only when the caller's team captures content.
            answer=completion_texts(body) if content is not None and body is not None else (),
        )

    async def _write(self, record: dict[str, Any]) -> None:
        try:
            await _acknowledged(self._log, record)
        except AuditWriteError as exc:
            raise _unavailable(exc) from None


async def _acknowledged(log: AuditLog, record: dict[str, Any]) -> None:
    """Write ``record`` and wait until ``audit.ack`` lets its reply go (raises ``AuditWriteError``)."""
    pending = log.write(record)
    if pending is not None:
        # Shielded: if the request is cancelled meanwhile, the record is still written.
        await asyncio.shield(pending)


#: The ``operation`` of a request refused before it reached one (unknown path, wrong method,
#: a body too large or too slow): its record carries ``http`` (method and path) instead.
REFUSED = "refused"


async def record_refusal(
    log: AuditLog,
    *,
    request_id: str,
    client: str,
    method: str,
    path: str,
    wall: float,
    started: float,
    status: int,
    error: tuple[str, str | None],
) -> None:
    """Record a request the edge refused before any stage saw it, before the refusal is sent."""
    exchange = Exchange(request_id=request_id, operation=REFUSED, body=b"", headers={}, client=client, started=started)
    record = request_record(
        exchange, wall=wall, ended=time.perf_counter(), status=status, error=error, outcome="error", stream=False
    )
    record["http"] = {"method": method, "path": path}
    try:
        await _acknowledged(log, record)
    except AuditWriteError:
        # The refusal is sent all the same: no model was called, and the writer has logged the failure.
        return


def create(runtime: Runtime) -> Audit:
    assert runtime.audit is not None, "build_runtime must create the audit log"
    return Audit(runtime.audit)
