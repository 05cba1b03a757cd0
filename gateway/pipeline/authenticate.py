"""authenticate: establish who is calling (writes ``principal``); 401 otherwise."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.exchange import Exchange, Handler, Reply
from gateway.identity.authenticator import Authenticator

if TYPE_CHECKING:
    from gateway.runtime import Runtime


class Authenticate:
    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        exchange.principal = await self._authenticator.authenticate(exchange.headers)
        return await call_next(exchange)


def create(runtime: Runtime) -> Authenticate:
    return Authenticate(runtime.authenticator)
