"""The routing table: fixed paths by lookup, everything else through starlette's router, same answers."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Route, Router

from gateway.asgi.routes import Routes
from gateway.asgi.types import Message, Receive, Scope, Send


class Endpoint:
    def __init__(self, name: str, seen: list[tuple[str, dict[str, Any]]]) -> None:
        self.name, self.seen = name, seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append((self.name, dict(scope.get("path_params", {}))))


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})


def _function_endpoint(request: Any) -> None:  # starlette gives a plain function GET/HEAD only
    raise AssertionError("not called in these tests")


@pytest.fixture
def app() -> tuple[Routes, Router, list[tuple[str, dict[str, Any]]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    router = Router(
        routes=[
            Route("/v1/chat/completions", Endpoint("chat", seen)),
            Route("/v1/models/{model:path}", Endpoint("model", seen)),
            Route("/page", _function_endpoint),
        ],
        default=_not_found,
    )
    return Routes(router), router, seen


async def _call(app: Routes, path: str, **extra: Any) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "root_path": "", "headers": [], **extra}
    await app(scope, receive, send)
    return sent


async def test_fixed_paths_are_looked_up_and_the_rest_goes_to_the_router(app: Any) -> None:
    routes, _, seen = app
    await _call(routes, "/v1/chat/completions")
    await _call(routes, "/v1/models/org/model-1")
    assert seen == [("chat", {}), ("model", {"model": "org/model-1"})]
    assert (await _call(routes, "/nowhere"))[0]["status"] == 404


async def test_routes_with_methods_stay_with_the_router(app: Any) -> None:
    routes, _, seen = app
    # A POST to a GET-only route: starlette's 405, not the endpoint.
    assert (await _call(routes, "/page"))[0]["status"] == 405
    assert seen == []


async def test_a_root_path_leaves_matching_to_the_router(app: Any) -> None:
    routes, _, seen = app
    await _call(routes, "/api/v1/chat/completions", root_path="/api")
    assert seen == [("chat", {})]
