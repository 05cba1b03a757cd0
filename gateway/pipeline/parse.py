"""parse: validate the request body into canonical types (writes ``chat``/``embeddings``/``model``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.errors import InvalidRequest
from adapters.schema import parse_chat_request, parse_embeddings_request
from gateway.errors import InvalidRequestError
from gateway.exchange import Exchange, Handler, Reply

if TYPE_CHECKING:
    from gateway.runtime import Runtime


class Parse:
    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        try:
            if exchange.operation == "chat.completions":
                exchange.chat = parse_chat_request(exchange.body)
                exchange.model = exchange.chat.model
            elif exchange.operation == "embeddings":
                exchange.embeddings = parse_embeddings_request(exchange.body)
                exchange.model = exchange.embeddings.model
            else:
                exchange.model = exchange.model_param
        except InvalidRequest as exc:
            raise InvalidRequestError(exc.message, param=exc.param, code=exc.code) from None
        return await call_next(exchange)


def create(runtime: Runtime) -> Parse:
    return Parse()
