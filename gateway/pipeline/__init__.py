"""The governance pipeline. Its order is declared here, once, as data.

A stage is ``async (exchange, call_next) -> Reply``: it may act before and
after the rest of the chain, or answer early without calling it. Each stage
module has a ``create(runtime)`` factory; adding a stage is one module and one
entry in the tuples below.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from gateway.errors import GatewayError
from gateway.exchange import Exchange, Handler, Reply
from gateway.pipeline import audit, audit_review, authenticate, authorize, catalog, dispatch, key_admin, parse, route

if TYPE_CHECKING:
    from gateway.runtime import Runtime


class Stage(Protocol):
    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply: ...


#: Calls that reach a model: every governance stage, then one upstream attempt per deployment.
MODEL_CALL: tuple[ModuleType, ...] = (audit, authenticate, parse, authorize, route, dispatch)
#: Questions about the catalogue of models, answered by the gateway itself.
CATALOG: tuple[ModuleType, ...] = (audit, authenticate, parse, authorize, catalog)
#: Administration of gateway API keys.
KEY_ADMIN: tuple[ModuleType, ...] = (audit, authenticate, authorize, key_admin)
#: The auditors' read-only API over the trail.
AUDIT_REVIEW: tuple[ModuleType, ...] = (audit, authenticate, authorize, audit_review)

CHAINS: dict[str, tuple[ModuleType, ...]] = {
    "chat.completions": MODEL_CALL,
    "embeddings": MODEL_CALL,
    "models.list": CATALOG,
    "models.get": CATALOG,
    "keys.create": KEY_ADMIN,
    "keys.list": KEY_ADMIN,
    "keys.revoke": KEY_ADMIN,
    "audit.search": AUDIT_REVIEW,
    "audit.record": AUDIT_REVIEW,
    "audit.verify": AUDIT_REVIEW,
}


async def _end_of_chain(exchange: Exchange) -> Reply:
    raise GatewayError("The request reached the end of the pipeline without an answer.")


def _link(stage: Stage, call_next: Handler) -> Handler:
    # A partial, not a wrapping coroutine: calling it creates the stage's own coroutine directly.
    return functools.partial(stage, call_next=call_next)


def chain(stages: Sequence[Stage], terminal: Handler = _end_of_chain) -> Handler:
    """Fold stages into one handler, first stage outermost."""
    handler = terminal
    for stage in reversed(stages):
        handler = _link(stage, handler)
    return handler


def build_chains(runtime: Runtime) -> dict[str, Handler]:
    """One chain per operation; a stage used by several chains is created once."""
    stages: dict[ModuleType, Stage] = {}
    chains: dict[str, Handler] = {}
    for operation, modules in CHAINS.items():
        for module in modules:
            if module not in stages:
                factory: Callable[[Runtime], Stage] = module.create
                stages[module] = factory(runtime)
        chains[operation] = chain([stages[m] for m in modules])
    return chains
