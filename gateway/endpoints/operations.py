"""The OpenAI-compatible operations: chat completions, embeddings, and the model catalogue."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

from gateway.asgi.edge import AUDITED, request_id_of
from gateway.asgi.types import Receive, Scope, Send
from gateway.endpoints.respond import send_json, send_stream
from gateway.errors import MethodNotAllowedError, UpstreamUnavailableError
from gateway.exchange import Exchange
from gateway.state import AppState


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


class KeysEndpoint:
    """``/admin/keys``: GET lists, POST creates."""

    def __init__(self, state: AppState) -> None:
        self._list = OperationEndpoint(state, "keys.list", "GET")
        self._create = OperationEndpoint(state, "keys.create", "POST")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "POST":
            await self._create(scope, receive, send)
        else:
            await self._list(scope, receive, send)


class OperationEndpoint:
    """An ASGI endpoint that runs one pipeline chain."""

    def __init__(self, state: AppState, operation: str, method: str) -> None:
        self.state = state
        self.operation = operation
        self.method = method

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != self.method:
            raise MethodNotAllowedError(f"{scope['method']} is not allowed on {scope['path']}; use {self.method}.")
        runtime = self.state.runtime
        if runtime is None:
            raise UpstreamUnavailableError("The gateway is starting up; try again shortly.")
        body = await read_body(receive) if self.method == "POST" else b""
        client = scope.get("client")
        exchange = Exchange(
            request_id=request_id_of(scope),
            operation=self.operation,
            body=body,
            headers=_headers(scope),
            client=client[0] if client else "",
            started=time.perf_counter(),
            model_param=scope.get("path_params", {}).get("model"),
            resource_id=scope.get("path_params", {}).get("id"),
            query=dict(parse_qsl(scope["query_string"].decode("latin-1"))) if scope.get("query_string") else {},
        )
        scope["state"][AUDITED] = True  # from here on the chain's audit stage records the request
        reply = await runtime.chains[self.operation](exchange)
        if reply.stream is not None:
            include_usage = exchange.chat.include_usage if exchange.chat is not None else False
            await send_stream(send, receive, reply, include_usage)
        else:
            await send_json(send, reply)
