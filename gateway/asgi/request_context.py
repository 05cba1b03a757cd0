"""Give every request an id (honouring a sane client-sent ``x-request-id``) and log one line per request."""

from __future__ import annotations

import itertools
import os
import re
import time

from gateway.asgi.access_log import AccessLog
from gateway.asgi.types import ASGIApp, Message, Receive, Scope, Send

_VALID_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
# A random per-process prefix and a counter: unique across replicas and restarts without a
# syscall per request (request ids are identifiers, not secrets).
_PREFIX = "req_" + os.urandom(8).hex()
_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_PREFIX}{next(_COUNTER):08x}"


def request_id_of(scope: Scope) -> str:
    return str(scope["state"]["request_id"])


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, access_log: AccessLog | None) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if _VALID_ID.match(value):
                    request_id = value.decode("ascii")
                break
        if request_id is None:
            request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        encoded = request_id.encode("ascii")
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", encoded)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log is not None:
                milliseconds = (time.perf_counter() - started) * 1000
                self.access_log.write(scope["method"], scope["path"], status, milliseconds, request_id)
