"""dispatch: translate, credential and send one attempt per deployment (writes ``attempts``, ``usage``).

Translation and credentials are per attempt, so a failover to another
provider is translated for that provider. A deployment is abandoned for the
next one only when the failure says nothing about the request itself
(unreachable, overloaded, rate limited, timed out, server fault) and no byte
of the reply has reached the client yet.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from adapters.base import HttpRequest
from adapters.errors import AdapterError
from adapters.types import ChatCompletionChunk, Usage
from gateway.errors import (
    GatewayError,
    RateLimitError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    from_adapter_error,
    from_provider_error,
)
from gateway.exchange import Attempt, Exchange, Handler, Reply
from gateway.routing import ResolvedDeployment
from gateway.upstream import UpstreamStream

if TYPE_CHECKING:
    from gateway.runtime import Runtime

_RETRYABLE = (RateLimitError, UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError)


def _with_headers(request: HttpRequest, deployment: ResolvedDeployment, exchange: Exchange) -> HttpRequest:
    headers = dict(request.headers)
    for name in deployment.provider.forward_headers:
        value = exchange.headers.get(name)
        if value is not None:
            headers[name] = value
    headers.update(deployment.headers)
    return HttpRequest(request.method, request.url, headers, request.body)


def _account(exchange: Exchange, deployment: ResolvedDeployment, usage: Usage | None) -> None:
    exchange.usage = usage
    if usage is not None and deployment.pricing is not None:
        exchange.cost = deployment.pricing.cost(usage)


async def _raise_for_status(stream: UpstreamStream, deployment: ResolvedDeployment) -> None:
    if stream.status < 400:
        return
    body = await stream.read_all()
    error = deployment.adapter.parse_error(stream.status, stream.headers, body)
    raise from_provider_error(error, deployment.provider.name, deployment.secrets)


class Dispatch:
    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        route = exchange.route
        assert route is not None, "route must run before dispatch"
        last: GatewayError | None = None
        for deployment in route.deployments:
            attempt = Attempt(deployment.provider.name, deployment.target.model, time.perf_counter())
            exchange.attempts.append(attempt)
            try:
                return await self._attempt(exchange, deployment, attempt)
            except GatewayError as exc:
                attempt.status, attempt.error = exc.status, exc.type
                if not isinstance(exc, _RETRYABLE):
                    raise
                last = exc
        assert last is not None
        raise last

    async def _attempt(self, exchange: Exchange, deployment: ResolvedDeployment, attempt: Attempt) -> Reply:
        adapter, target = deployment.adapter, deployment.target
        try:
            if exchange.chat is not None:
                request = adapter.build_chat_request(exchange.chat, target)
            else:
                assert exchange.embeddings is not None
                request = adapter.build_embeddings_request(exchange.embeddings, target)
        except AdapterError as exc:
            raise from_adapter_error(exc, deployment.provider.name, deployment.secrets) from None
        request = _with_headers(request, deployment, exchange)
        if exchange.chat is not None and exchange.chat.stream:
            return await self._stream(exchange, deployment, attempt, request)
        response = await deployment.client.send(request)
        attempt.status = response.status
        attempt.latency = exchange.upstream_latency = time.perf_counter() - attempt.started
        if response.status >= 400:
            error = adapter.parse_error(response.status, response.headers, response.body)
            raise from_provider_error(error, deployment.provider.name, deployment.secrets)
        raw = response.body if adapter.answers_verbatim else None
        try:
            if exchange.chat is not None:
                completion = adapter.parse_chat_response(response.body, exchange.chat, target)
                _account(exchange, deployment, completion.get("usage"))
                return Reply(body=completion, raw=raw)
            assert exchange.embeddings is not None
            embeddings = adapter.parse_embeddings_response(response.body, exchange.embeddings, target)
        except AdapterError as exc:
            raise from_adapter_error(exc, deployment.provider.name, deployment.secrets) from None
        _account(exchange, deployment, embeddings.get("usage"))
        return Reply(body=embeddings, raw=raw)

    async def _stream(
        self, exchange: Exchange, deployment: ResolvedDeployment, attempt: Attempt, request: HttpRequest
    ) -> Reply:
        stream = await deployment.client.open_stream(request)
        attempt.status = stream.status
        try:
            await _raise_for_status(stream, deployment)
        finally:
            if stream.status >= 400:
                await stream.aclose()
        assert exchange.chat is not None
        decoder = deployment.adapter.chat_stream_decoder(exchange.chat, deployment.target)
        provider = deployment.provider.name

        def accounted(batch: list[ChatCompletionChunk]) -> list[ChatCompletionChunk]:
            for chunk in batch:
                if chunk.get("usage"):
                    _account(exchange, deployment, chunk["usage"])
            return batch

        async def chunks() -> AsyncIterator[list[ChatCompletionChunk]]:
            # One batch per upstream read: the edge writes it with one socket write.
            try:
                async for data in stream.iter_bytes():
                    batch = decoder.feed(data)
                    if batch:
                        if exchange.first_token_at is None:
                            exchange.first_token_at = time.perf_counter()
                        yield accounted(batch)
                final = decoder.close()
                if final:
                    yield accounted(final)
            except AdapterError as exc:
                error = from_adapter_error(exc, provider, deployment.secrets)
                attempt.error = error.type
                raise error from None
            finally:
                attempt.latency = exchange.upstream_latency = time.perf_counter() - attempt.started
                await stream.aclose()

        return Reply(stream=chunks())


def create(runtime: Runtime) -> Dispatch:
    return Dispatch()
