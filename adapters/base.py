"""The adapter interface: what every provider wire format implements.

An adapter is pure translation. It turns a canonical request (OpenAI's chat or
embeddings wire format, already validated by :mod:`adapters.schema`) into an
:class:`HttpRequest` for one provider, and turns what that provider answers
(a JSON body, raw stream bytes, an error body) back into canonical data.

It never performs I/O, reads configuration or sees a credential: the caller
says where the provider lives (:class:`Target`) and applies the credential
itself, in the header the adapter names (:attr:`Adapter.credential_header`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from adapters.options import Option
from adapters.types import ChatCompletion, ChatCompletionChunk, ChatRequest, EmbeddingsRequest, EmbeddingsResponse


@dataclass(frozen=True, slots=True)
class Target:
    """Where one deployment of a model lives, as the adapter needs to know it.

    ``options`` carries provider-specific, non-secret settings from config
    (for example Azure's ``api_version`` and ``deployment``).
    """

    base_url: str
    model: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """An HTTP request to send upstream; ``url`` is absolute."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class ProviderError:
    """A provider's error answer, translated into canonical terms.

    ``message`` is written for the gateway's client: adapters keep it to what
    the provider said about the request, never account or routing details.
    ``retry_after`` is in seconds when the provider gave a hint.
    """

    status: int
    type: str
    message: str
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None


class StreamDecoder(Protocol):
    """Stateful decoder of one upstream stream into canonical chunks.

    ``feed`` takes raw bytes exactly as they arrive (split anywhere) and
    returns the chunks completed by them. ``close`` is called once at the end
    of the upstream body and returns any final chunks; it raises
    :class:`~adapters.errors.StreamError` if the stream ended abnormally
    (an error event, or no terminal event at all).
    """

    def feed(self, data: bytes) -> list[ChatCompletionChunk]: ...

    def close(self) -> list[ChatCompletionChunk]: ...


class Adapter(Protocol):
    """One provider wire format. Implementations are stateless singletons."""

    name: str
    #: True when the provider's JSON answers are already in the OpenAI format, so that
    #: ``parse_chat_response`` and ``parse_embeddings_response`` return them as they were sent:
    #: the provider's bytes may then reach the client as they are, without a second serialisation.
    answers_verbatim: bool
    #: Header that carries the credential, and the prefix before the secret.
    credential_header: str
    credential_prefix: str
    #: The provider-specific settings this wire format reads from ``Target.options``; the
    #: gateway refuses a configuration that sets any other, or one of the wrong kind.
    accepted_options: Mapping[str, Option]

    def build_chat_request(self, request: ChatRequest, target: Target) -> HttpRequest: ...

    def parse_chat_response(self, body: bytes, request: ChatRequest, target: Target) -> ChatCompletion: ...

    def chat_stream_decoder(self, request: ChatRequest, target: Target) -> StreamDecoder: ...

    def build_embeddings_request(self, request: EmbeddingsRequest, target: Target) -> HttpRequest: ...

    def parse_embeddings_response(
        self, body: bytes, request: EmbeddingsRequest, target: Target
    ) -> EmbeddingsResponse: ...

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError: ...
