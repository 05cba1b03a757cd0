"""authorize: ask the policy whether this caller may do this (writes ``decision``); 403 otherwise.

Denials name what was denied (action and model), never the policy's internals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.errors import PermissionDeniedError
from gateway.exchange import Exchange, Handler, Reply
from gateway.policy.holder import PolicyHolder

if TYPE_CHECKING:
    from gateway.runtime import Runtime

#: Operations whose policy action has another name, and operations that concern a model.
_ACTIONS = {"chat.completions": "chat", "models.get": "models.list"}
_ON_MODEL = frozenset({"chat.completions", "embeddings"})


def action_of(operation: str) -> str:
    return _ACTIONS.get(operation, operation)


class Authorize:
    def __init__(self, policy: PolicyHolder) -> None:
        self._policy = policy

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        principal = exchange.principal
        assert principal is not None, "authenticate must run before authorize"
        action = action_of(exchange.operation)
        on_model = exchange.operation in _ON_MODEL
        resource = (exchange.model or "") if on_model else "*"
        decision = self._policy.engine.decide(principal, resource, action)
        exchange.decision = decision
        if not decision.allowed:
            if on_model:
                message = f"You are not allowed to use '{action}' with the model '{resource}'."
            else:
                message = f"You are not allowed to perform '{action}'."
            raise PermissionDeniedError(message, code="access_denied")
        return await call_next(exchange)


def create(runtime: Runtime) -> Authorize:
    return Authorize(runtime.policy)
