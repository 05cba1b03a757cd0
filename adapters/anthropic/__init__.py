"""Anthropic's Messages API (``POST {base_url}/v1/messages``).

Target: ``base_url`` like ``https://api.anthropic.com`` (a trailing ``/v1`` is
tolerated); the credential goes in ``x-api-key`` as is. Options:
``anthropic_version`` (header, default ``2023-06-01``), ``beta`` (a list, sent
as ``anthropic-beta``), ``default_max_tokens`` (4096; Anthropic requires a
limit), ``thinking_mode`` (``adaptive``, the default, or ``budget`` for models
that only know ``budget_tokens``), ``drop_sampling_params`` (true for models
that refuse ``temperature``/``top_p``/``top_k``).

Request, OpenAI → Anthropic:

* ``system``/``developer`` messages → top-level ``system`` text blocks, in
  order, wherever they stood (position in the conversation is lost);
  consecutive same-role turns are merged; ``tool`` messages → ``tool_result``
  blocks in a user turn, ahead of any other block of that turn.
* parts: text; ``image_url`` data URLs → base64 image, http(s) URLs → url image
  (``detail`` is dropped); ``file`` with inline PDF or plain-text ``file_data``
  → a ``document`` (``file_id`` is refused); audio is refused. Empty text is
  dropped because Anthropic rejects empty text blocks; an assistant message
  left with nothing is skipped, a user message left with nothing is refused.
  A message's ``name`` has no equivalent and is dropped.
* assistant ``tool_calls`` → ``tool_use`` (arguments must be a JSON object);
  ``thinking_blocks`` → thinking/redacted_thinking blocks first in the turn.
  ``reasoning_content`` alone is not sent: unsigned thinking is refused.
* ``tools`` → ``{name, description, input_schema, strict}``; ``tool_choice``
  none/auto/required/named → none/auto/any/tool; ``parallel_tool_calls:
  false`` → ``tool_choice.disable_parallel_tool_use``.
* ``max_completion_tokens`` (else ``max_tokens``, else the default) →
  ``max_tokens``; ``stop`` → ``stop_sequences``; ``temperature`` above 1 is
  refused rather than clamped; ``top_p``; ``top_k`` (an extension) passes.
* ``safety_identifier`` or ``user`` → ``metadata.user_id``; ``service_tier``
  auto → auto, default → standard_only.
* ``reasoning_effort``: ``none`` → ``thinking: disabled``; otherwise adaptive
  thinking with ``output_config.effort`` (``minimal`` → low), or, in budget
  mode, ``budget_tokens`` from 1024 (minimal) to 32768 (max), added to the
  default output limit or kept below the client's. A ``thinking`` object in
  Anthropic's own shape (an extension) is sent as given and takes precedence.
* ``response_format`` json_schema → ``output_config.format`` (structured
  outputs); json_object is refused (Anthropic has no schema-less JSON mode).
* refused with :class:`UnsupportedParameter`: ``n`` > 1, ``logprobs``,
  ``top_logprobs``, ``logit_bias``, non-zero penalties, ``seed``, ``audio``,
  ``modalities`` other than text, ``prediction``, ``web_search_options``,
  ``verbosity``, flex/scale/priority tiers, legacy ``functions``/``function_call``
  and ``function`` role messages.
* ignored: ``stream_options`` (usage always comes), ``metadata`` and ``store``
  (OpenAI's own logs), ``prompt_cache_key`` and any other unknown field, since
  Anthropic rejects fields it does not know.

Response: see :mod:`.response` and :mod:`.stream`. Anthropic gives no
timestamp, so ``created`` is read from the injected ``clock`` when the answer
is parsed (``time.time`` by default; tests pass a fixed one). Embeddings do
not exist at Anthropic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import orjson

from adapters.anthropic.errors import parse_error
from adapters.anthropic.request import build_body
from adapters.anthropic.response import parse_message
from adapters.anthropic.stream import AnthropicStreamDecoder
from adapters.base import HttpRequest, ProviderError, Target
from adapters.errors import InvalidRequest
from adapters.options import Option
from adapters.types import ChatCompletion, ChatRequest, EmbeddingsRequest, EmbeddingsResponse

DEFAULT_VERSION = "2023-06-01"

__all__ = ["AnthropicAdapter", "AnthropicStreamDecoder"]


def _url(target: Target) -> str:
    base = target.base_url.rstrip("/")
    return f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"


def _headers(target: Target, stream: bool) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
        "anthropic-version": str(target.options.get("anthropic_version") or DEFAULT_VERSION),
    }
    beta = target.options.get("beta")
    if beta:
        headers["anthropic-beta"] = beta if isinstance(beta, str) else ",".join(str(b) for b in beta)
    return headers


class AnthropicAdapter:
    """Anthropic's Messages API."""

    name = "anthropic"
    answers_verbatim = False
    credential_header = "x-api-key"
    credential_prefix = ""
    accepted_options: Mapping[str, Option] = {
        "anthropic_version": Option("string"),
        "beta": Option("strings"),
        "default_max_tokens": Option("integer", minimum=1),
        "drop_sampling_params": Option("boolean"),
        "thinking_mode": Option("string", choices=("adaptive", "budget")),
    }

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def build_chat_request(self, request: ChatRequest, target: Target) -> HttpRequest:
        return HttpRequest(
            method="POST",
            url=_url(target),
            headers=_headers(target, request.stream),
            body=orjson.dumps(build_body(request, target)),
        )

    def parse_chat_response(self, body: bytes, request: ChatRequest, target: Target) -> ChatCompletion:
        return parse_message(body, target.model, int(self._clock()))

    def chat_stream_decoder(self, request: ChatRequest, target: Target) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(target.model, int(self._clock()))

    def build_embeddings_request(self, request: EmbeddingsRequest, target: Target) -> HttpRequest:
        raise InvalidRequest(
            f"The model '{request.model}' is served by Anthropic, which offers no embeddings API.", param="model"
        )

    def parse_embeddings_response(self, body: bytes, request: EmbeddingsRequest, target: Target) -> EmbeddingsResponse:
        raise InvalidRequest(
            f"The model '{request.model}' is served by Anthropic, which offers no embeddings API.", param="model"
        )

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        return parse_error(status, headers, body)
