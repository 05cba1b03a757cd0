"""catalog: answer ``GET /v1/models`` and ``GET /v1/models/{id}`` from the route table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gateway.errors import NotFoundError
from gateway.exchange import Exchange, Handler, Reply
from gateway.routing import ModelRoute

if TYPE_CHECKING:
    from gateway.runtime import Runtime


def model_object(route: ModelRoute, created: int) -> dict[str, Any]:
    return {"id": route.name, "object": "model", "created": created, "owned_by": "gateway"}


class Catalog:
    def __init__(self, routes: Mapping[str, ModelRoute], created: int) -> None:
        self._routes = routes
        self._created = created

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        if exchange.operation == "models.get":
            route = self._routes.get(exchange.model or "")
            if route is None:
                raise NotFoundError(
                    f"The model '{exchange.model}' does not exist.", param="model", code="model_not_found"
                )
            return Reply(body=model_object(route, self._created))
        data = [model_object(route, self._created) for route in self._routes.values()]
        return Reply(body={"object": "list", "data": data})


def create(runtime: Runtime) -> Catalog:
    return Catalog(runtime.routes, runtime.created)
