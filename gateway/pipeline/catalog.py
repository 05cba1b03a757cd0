"""catalog: answer ``GET /v1/models`` and ``GET /v1/models/{id}`` from the route table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gateway.errors import NotFoundError
from gateway.exchange import Exchange, Handler, Reply
from gateway.identity.principal import Principal
from gateway.policy.holder import PolicyHolder
from gateway.routing import ModelRoute

if TYPE_CHECKING:
    from gateway.runtime import Runtime


def model_object(route: ModelRoute, created: int) -> dict[str, Any]:
    return {"id": route.name, "object": "model", "created": created, "owned_by": "gateway"}


#: A model is listed to a caller allowed any of these actions on it.
USE_ACTIONS = ("chat", "embeddings")


class Catalog:
    """Lists only the models the caller may use; to anyone else a model does not exist."""

    def __init__(self, routes: Mapping[str, ModelRoute], created: int, policy: PolicyHolder) -> None:
        self._routes = routes
        self._created = created
        self._policy = policy

    def _usable(self, principal: Principal, model: str) -> bool:
        engine = self._policy.engine
        return any(engine.decide(principal, model, action).allowed for action in USE_ACTIONS)

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        principal = exchange.principal
        assert principal is not None, "authenticate must run before catalog"
        if exchange.operation == "models.get":
            name = exchange.model or ""
            route = self._routes.get(name)
            if route is None or not self._usable(principal, name):
                raise NotFoundError(f"The model '{name}' does not exist.", param="model", code="model_not_found")
            return Reply(body=model_object(route, self._created))
        data = [
            model_object(route, self._created) for name, route in self._routes.items() if self._usable(principal, name)
        ]
        return Reply(body={"object": "list", "data": data})


def create(runtime: Runtime) -> Catalog:
    return Catalog(runtime.routes, runtime.created, runtime.policy)
