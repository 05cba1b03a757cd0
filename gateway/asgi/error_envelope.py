"""Turn any exception that escapes the app into an OpenAI-style JSON error.

This is the one place in the gateway that catches every exception: a gateway
error becomes its own status and body; anything else is logged with its
traceback and becomes a bare 500 that names only the request id.
"""

from __future__ import annotations

import logging

from gateway.asgi.types import ASGIApp, Message, Receive, Scope, Send
from gateway.errors import GatewayError

log = logging.getLogger("gateway.errors")


async def send_error(send: Send, error: GatewayError) -> None:
    body = error.body()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items())
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ErrorEnvelopeMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except GatewayError as exc:
            if started:
                raise
            await send_error(send, exc)
        except Exception:
            request_id = scope.get("state", {}).get("request_id", "-")
            log.exception("unhandled error in request %s", request_id)
            if started:
                raise
            await send_error(send, GatewayError(f"The gateway failed to handle the request (request id {request_id})."))
