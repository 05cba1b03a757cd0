"""Give every request an id (honouring a sane client-sent ``x-request-id``) and log one line per request."""

from __future__ import annotations

import logging
import os
import re
import time

from gateway.asgi.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("gateway.access")

_VALID_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()


def request_id_of(scope: Scope) -> str:
    return str(scope["state"]["request_id"])


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests

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
            if self.log_requests:
                access_log.info(
                    "%s %s %s %.1fms %s",
                    scope["method"],
                    scope["path"],
                    status or "-",
                    (time.perf_counter() - started) * 1000,
                    request_id,
                )
