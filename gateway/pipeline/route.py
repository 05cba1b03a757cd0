"""route: choose the deployments that may serve the requested model (writes ``route``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.errors import NotFoundError
from gateway.exchange import Exchange, Handler, Reply
from gateway.routing import ModelRoute

if TYPE_CHECKING:
    from gateway.runtime import Runtime


class Route:
    def __init__(self, routes: Mapping[str, ModelRoute]) -> None:
        self._routes = routes

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        model = exchange.model or ""
        route = self._routes.get(model)
        if route is None:
            raise NotFoundError(f"The model '{model}' does not exist.", param="model", code="model_not_found")
        exchange.route = route
        return await call_next(exchange)


def create(runtime: Runtime) -> Route:
    return Route(runtime.routes)
