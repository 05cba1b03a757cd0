"""Liveness and readiness probes (unauthenticated, answer no questions about configuration)."""

from __future__ import annotations

from gateway.asgi.types import Receive, Scope, Send
from gateway.endpoints.respond import send_json
from gateway.exchange import Reply
from gateway.state import AppState


class Healthz:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, Reply(body={"status": "ok"}))


class Readyz:
    def __init__(self, state: AppState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self.state.runtime
        if runtime is None:
            await send_json(send, Reply(body={"status": "starting"}, status=503))
            return
        await send_json(send, Reply(body={"status": "ready", "models": len(runtime.routes)}))
