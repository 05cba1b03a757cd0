"""Cap request bodies in size and in time, so that no client can hold a worker or its memory."""

from __future__ import annotations

import asyncio
import time

from gateway.asgi.types import ASGIApp, Message, Receive, Scope, Send
from gateway.errors import InvalidRequestError, PayloadTooLargeError, RequestTimeoutError


class BodyLimitMiddleware:
    """Reject bodies over ``max_bytes`` (413) or slower than ``timeout`` seconds in total (408).

    A declared ``content-length`` over the cap is refused before a byte is read;
    a chunked body is counted as it arrives.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    def _too_large(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(f"The request body exceeds the limit of {self.max_bytes} bytes.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0:
                    raise InvalidRequestError("The Content-Length header is not a valid number.")
                if declared > self.max_bytes:
                    raise self._too_large()
                break
        deadline = time.monotonic() + self.timeout
        received = 0
        body_done = False

        async def limited_receive() -> Message:
            nonlocal received, body_done
            if body_done:
                return await receive()
            remaining = deadline - time.monotonic()
            try:
                async with asyncio.timeout(max(remaining, 0)):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeoutError(
                    f"The request body was not received within {self.timeout:g} seconds."
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
                if not message.get("more_body", False):
                    body_done = True
            return message

        await self.app(scope, limited_receive, send)
