"""The ASGI application: routes, the transport middleware stack, and the runtime's lifespan."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.routing import Route, Router

from gateway.asgi.access_log import AccessLog
from gateway.asgi.edge import Edge, request_id_of
from gateway.asgi.routes import Routes
from gateway.asgi.types import ASGIApp, Receive, Scope, Send
from gateway.config import GatewayConfig, load_config
from gateway.endpoints.audit_pages import audit_routes
from gateway.endpoints.health import Healthz, Readyz
from gateway.endpoints.operations import KeysEndpoint, OperationEndpoint
from gateway.errors import GatewayError, NotFoundError
from gateway.logs import setup_logging
from gateway.pipeline import audit as audit_stage
from gateway.runtime import build_runtime
from gateway.state import AppState

log = logging.getLogger("gateway")

CONFIG_ENV = "GATEWAY_CONFIG"
#: Allocations (minus deallocations) between two young-generation collections; CPython's default is 700.
GEN0_THRESHOLD = 20_000
#: The longest request path an audit record of a refused request keeps.
MAX_RECORDED_PATH = 1024


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    raise NotFoundError(f"No endpoint at {scope.get('path', '')}.", code="unknown_url")


def _routes(state: AppState) -> list[Route]:
    routes = []
    for prefix in ("/v1", ""):
        routes += [
            Route(f"{prefix}/chat/completions", OperationEndpoint(state, "chat.completions", "POST")),
            Route(f"{prefix}/embeddings", OperationEndpoint(state, "embeddings", "POST")),
            Route(f"{prefix}/models", OperationEndpoint(state, "models.list", "GET")),
            Route(f"{prefix}/models/{{model:path}}", OperationEndpoint(state, "models.get", "GET")),
        ]
    routes += [
        Route("/admin/keys", KeysEndpoint(state)),
        Route("/admin/keys/{id}", OperationEndpoint(state, "keys.revoke", "DELETE")),
        Route("/healthz", Healthz()),
        Route("/readyz", Readyz(state)),
    ]
    routes += audit_routes(state)
    return routes


def create_app(config: GatewayConfig) -> ASGIApp:
    """Build the ASGI app for ``config``; the runtime is compiled at lifespan start-up."""
    state = AppState(config=config)
    access_log = AccessLog() if config.server.access_log else None

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        runtime = build_runtime(config)
        await runtime.start()
        state.runtime = runtime
        if config.inactive_providers:
            log.info("providers without credentials left inactive: %s", ", ".join(config.inactive_providers))
        log.info("gateway ready: %d models from %s", len(state.runtime.routes), config.source)
        # Everything built so far lives as long as the process: move it out of the cyclic
        # collector's reach, or every full collection walks it again (30-48 ms pauses under
        # load before this; see bench/README.md).
        gc.collect()
        gc.freeze()
        # A request allocates more than 700 container objects, so the default threshold ran a
        # young collection on nearly every request; almost all of them are freed by reference
        # counting before the next one anyway. Measured: -5 to -10 % CPU per JSON request,
        # p99 at 16 connections 5.5-6.6 -> 4.3-4.6 ms (bench/README.md).
        gc.set_threshold(GEN0_THRESHOLD, 10, 10)
        try:
            yield
        finally:
            runtime, state.runtime = state.runtime, None
            await runtime.close()
            if access_log is not None:
                access_log.flush()

    async def record_refusal(scope: Scope, error: GatewayError, wall: float, started: float) -> None:
        runtime = state.runtime
        if runtime is None or runtime.audit is None:
            return
        client = scope.get("client")
        await audit_stage.record_refusal(
            runtime.audit,
            request_id=request_id_of(scope),
            client=client[0] if client else "",
            method=scope["method"],
            path=scope["path"][:MAX_RECORDED_PATH],
            wall=wall,
            started=started,
            status=error.status,
            error=(error.type, error.code),
        )

    server = config.server
    router = Router(routes=_routes(state), default=_not_found, lifespan=lifespan)
    return Edge(
        Routes(router),
        access_log=access_log,
        max_body_bytes=server.max_body_bytes,
        body_timeout=server.body_timeout,
        refused=record_refusal,
    )


def app_from_env() -> ASGIApp:
    """Factory for ``uvicorn --factory`` and multi-worker serving: config path from ``GATEWAY_CONFIG``."""
    setup_logging()
    return create_app(load_config(os.environ.get(CONFIG_ENV, "config.example.yaml")))
