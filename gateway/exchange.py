"""The per-request carrier that flows through the pipeline, and what it returns.

Each field of :class:`Exchange` is written by exactly one stage (named in its
comment) and read by any later one; nothing else travels between stages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from adapters.types import ChatCompletionChunk, ChatRequest, EmbeddingsRequest, Usage

if TYPE_CHECKING:
    from gateway.identity.principal import Principal
    from gateway.policy.decision import Decision
    from gateway.routing import ModelRoute


@dataclass(slots=True)
class Attempt:
    """One try of one deployment (several when a deployment fails over)."""

    provider: str
    model: str
    started: float
    status: int | None = None
    error: str | None = None
    latency: float | None = None


@dataclass(frozen=True, slots=True)
class PiiFinding:
    """What inspection found, for the audit trail: an entity type, how many, what was done. Never a value."""

    type: str
    count: int
    action: str


@dataclass(slots=True)
class Exchange:
    # Written by the endpoint that builds the exchange.
    request_id: str
    operation: str
    body: bytes
    headers: Mapping[str, str]
    client: str
    started: float
    #: Path parameter for operations on one model (``models.get``).
    model_param: str | None = None
    #: Path parameter naming a non-model resource (an API key id, a request id).
    resource_id: str | None = None
    query: Mapping[str, str] = field(default_factory=dict)
    # authenticate
    principal: Principal | None = None
    # parse
    chat: ChatRequest | None = None
    embeddings: EmbeddingsRequest | None = None
    model: str | None = None
    # authorize (the decision for the requested model and operation)
    decision: Decision | None = None
    # inspect (PII findings; None until the stage runs, so the audit record can tell "not inspected")
    pii: list[PiiFinding] | None = None
    # route
    route: ModelRoute | None = None
    # dispatch
    attempts: list[Attempt] = field(default_factory=list)
    usage: Usage | None = None
    #: USD, from ``usage`` and the serving deployment's prices; None when it has none.
    cost: float | None = None
    first_token_at: float | None = None
    upstream_latency: float | None = None


@dataclass(slots=True)
class Reply:
    """A canonical answer: a JSON body, or a stream of canonical chunks.

    A stream yields the chunks in batches, one per upstream read, so that the
    edge writes each batch with one socket write instead of one per event.
    """

    body: Any = None
    stream: AsyncIterator[list[ChatCompletionChunk]] | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    #: ``body`` exactly as the provider sent it, when that is what the client gets: sent as it is
    #: instead of serialising ``body`` again. A stage that changes ``body`` must set this to None.
    raw: bytes | None = None


Handler = Callable[[Exchange], Awaitable[Reply]]
