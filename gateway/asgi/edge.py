"""The edge: the one ASGI layer in front of the routes.

For each HTTP request it gives the request an id (a sane client-sent
``x-request-id`` is honoured) and returns it as a header, caps the body in
size (413) and in time (408), turns any exception that escapes the app into an
OpenAI-style JSON error, and writes the access-log line. This is the one place
in the gateway that catches every exception: a gateway error becomes its own
status and body; anything else is logged with its traceback and becomes a bare
500 that names only the request id.

One layer, not a stack of three middlewares, and no timer per request: each
wrapper added a coroutine per ``send`` and ``receive``, and an
``asyncio.timeout`` around each ``receive`` cost more than the rest of the body
handling together (bench/README.md, "Fourth round").
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable

from gateway.asgi.access_log import AccessLog
from gateway.asgi.types import ASGIApp, Message, Receive, Scope, Send
from gateway.errors import GatewayError, InvalidRequestError, PayloadTooLargeError, RequestTimeoutError

log = logging.getLogger("gateway.errors")

_VALID_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
# A random per-process prefix and a counter: unique across replicas and restarts without a
# syscall per request (request ids are identifiers, not secrets).
_PREFIX = "req_" + os.urandom(8).hex()
_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_PREFIX}{next(_COUNTER):08x}"


def request_id_of(scope: Scope) -> str:
    return str(scope["state"]["request_id"])


#: Set in ``scope["state"]`` once a request is in the hands of a pipeline, whose audit stage records it.
AUDITED = "audited"


async def send_error(send: Send, error: GatewayError) -> None:
    body = error.body()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items())
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyDeadlines:
    """Cancels body reads that outlive their deadline, with one periodic timer for the whole process.

    A read registers its task only while it waits for the body; a sweep every
    ``resolution`` seconds (a tenth of the timeout, at most one second) cancels
    the tasks whose time is up, so a slow body is cut off at most one
    resolution late.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.resolution = min(1.0, max(timeout / 10, 0.01))
        self._waiting: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self, task: asyncio.Task[object], deadline: float) -> None:
        self._waiting[task] = deadline
        if self._timer is None or self._loop is not task.get_loop():
            if self._loop is not task.get_loop():
                # An app served again on a new loop: what was left from the old one can never end.
                self._loop = task.get_loop()
                self._waiting = {t: d for t, d in self._waiting.items() if t.get_loop() is self._loop}
                self._expired.clear()
            self._timer = self._loop.call_later(self.resolution, self._sweep)

    def release(self, task: asyncio.Task[object]) -> bool:
        """Stop watching ``task``; True when this sweeper cancelled it because its time was up."""
        self._waiting.pop(task, None)
        if task in self._expired:
            self._expired.discard(task)
            return True
        return False

    def _sweep(self) -> None:
        self._timer = None
        now = time.monotonic()
        for task, deadline in self._waiting.items():
            if deadline <= now and task not in self._expired:
                self._expired.add(task)
                task.cancel()
        if self._waiting and self._loop is not None:
            self._timer = self._loop.call_later(self.resolution, self._sweep)


#: Records a request refused before any stage saw it: ``(scope, error, arrival wall time, arrival perf_counter)``.
Refused = Callable[[Scope, GatewayError, float, float], Awaitable[None]]


class Edge:
    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: AccessLog | None,
        max_body_bytes: int,
        body_timeout: float,
        refused: Refused | None = None,
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.max_body_bytes = max_body_bytes
        self.deadlines = BodyDeadlines(body_timeout)
        self.refused = refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = None
        declared = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if request_id is None and _VALID_ID.match(value):
                    request_id = value.decode("ascii")
            elif name == b"content-length":
                declared = value
        if request_id is None:
            request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        encoded = request_id.encode("ascii")
        status = 0
        max_bytes = self.max_body_bytes
        deadline = time.monotonic() + self.deadlines.timeout
        received = 0
        body_done = False

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", encoded)]
            await send(message)

        async def limited_receive() -> Message:
            nonlocal received, body_done
            if body_done:
                return await receive()
            task: asyncio.Task[object] = asyncio.current_task()  # type: ignore[assignment]
            self.deadlines.watch(task, deadline)
            try:
                message = await receive()
            except asyncio.CancelledError:
                if self.deadlines.release(task) and task.uncancel() == 0:
                    raise RequestTimeoutError(
                        f"The request body was not received within {self.deadlines.timeout:g} seconds."
                    ) from None
                raise
            self.deadlines.release(task)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise self._too_large()
                if not message.get("more_body", False):
                    body_done = True
            return message

        try:
            if declared is not None:
                self._check_declared_length(declared)
            await self.app(scope, limited_receive, send_with_id)
        except GatewayError as exc:
            if status:
                raise
            await self._record_refusal(scope, exc, started)
            await send_error(send_with_id, exc)
        except Exception:
            log.exception("unhandled error in request %s", request_id)
            if status:
                raise
            failure = GatewayError(f"The gateway failed to handle the request (request id {request_id}).")
            await self._record_refusal(scope, failure, started)
            await send_error(send_with_id, failure)
        finally:
            if self.access_log is not None:
                milliseconds = (time.perf_counter() - started) * 1000
                self.access_log.write(scope["method"], scope["path"], status, milliseconds, request_id)

    async def _record_refusal(self, scope: Scope, error: GatewayError, started: float) -> None:
        """Audit an error answered here for a request no stage recorded (the audit stage marks those it owns)."""
        if self.refused is None or scope["state"].get(AUDITED):
            return
        # The arrival's wall time, derived only for the rare refusal rather than read for every request.
        wall = time.time() - (time.perf_counter() - started)
        try:
            await self.refused(scope, error, wall, started)
        except Exception:
            log.exception("could not record the refused request %s", scope["state"].get("request_id"))

    def _check_declared_length(self, value: bytes) -> None:
        """A declared ``content-length`` over the cap is refused before a byte is read."""
        try:
            declared = int(value)
        except ValueError:
            declared = -1
        if declared < 0:
            raise InvalidRequestError("The Content-Length header is not a valid number.")
        if declared > self.max_body_bytes:
            raise self._too_large()

    def _too_large(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(f"The request body exceeds the limit of {self.max_body_bytes} bytes.")
