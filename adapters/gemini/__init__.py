"""Google's Gemini API (AI Studio, ``generativelanguage.googleapis.com``).

``target.base_url`` includes the API version (``…/v1`` as current SDKs use, or
``…/v1beta``); the adapter appends ``/models/{model}:generateContent``,
``:streamGenerateContent?alt=sse`` or ``:batchEmbedContents``. The credential
goes in ``x-goog-api-key``.

Requests (:mod:`.contents`, :mod:`.request`)
    * system and developer messages → ``systemInstruction``, concatenated in
      order; Gemini has one instruction, so one given mid-conversation loses
      its position.
    * user → ``user``, assistant → ``model``, tool → ``functionResponse`` in a
      ``user`` turn (the name looked up from the earlier call's id; a JSON
      object result is sent as is, anything else as ``{"result": text}``);
      consecutive turns of one role are merged. Empty text is dropped.
      ``name`` on messages and ``image_url.detail`` have no equivalent and
      are ignored; ``reasoning_content`` sent back is not replayed (Gemini
      keeps its reasoning state in thought signatures, not in summaries).
    * images: data URLs → ``inlineData``; http(s) URLs → ``fileData`` with the
      type taken from the extension (a URL without a known image extension is
      refused). ``input_audio`` and ``file`` (``file_data``) → ``inlineData``;
      OpenAI ``file_id``s → UnsupportedParameter.
    * tool calls → ``functionCall`` parts (arguments must be a JSON object).
      Thought signatures round-trip as Google's OpenAI layer carries them:
      ``extra_content.google.thought_signature`` on the tool call (and on the
      message for a signature on a text part). When an assistant message's
      calls carry none (history from another provider) and the target is
      Gemini 3 or later, Google's documented ``skip_thought_signature_validator``
      is put on the first call, since Gemini 3 rejects unsigned calls.
    * tools → ``functionDeclarations`` with ``parametersJsonSchema`` (full JSON
      Schema, so nothing is stripped or converted); ``strict`` is ignored.
      ``tool_choice`` none/auto/required/named → mode NONE/AUTO/ANY/ANY with
      ``allowedFunctionNames``.
    * ``generationConfig``: temperature, topP, maxOutputTokens (from
      ``max_completion_tokens`` or ``max_tokens``), stopSequences,
      candidateCount (``n``), seed (32-bit only), presence/frequency penalty,
      ``responseMimeType``/``responseJsonSchema`` for ``response_format``,
      ``responseLogprobs``/``logprobs`` for ``logprobs``/``top_logprobs``.
      ``reasoning_effort`` → ``thinkingConfig``: a ``thinkingBudget`` for
      Gemini 1.x/2.x (none 0, minimal/low 1024, medium 8192, high and above
      24576, as Google's OpenAI layer does), a ``thinkingLevel`` for later
      models (none → MINIMAL, since Gemini 3 cannot stop thinking); both with
      ``includeThoughts`` unless ``none``. ``service_tier`` flex/priority →
      ``serviceTier``.
    * refused (UnsupportedParameter): ``logit_bias``, ``audio`` and non-text
      ``modalities``, ``prediction``, ``web_search_options``, ``moderation``,
      ``verbosity``, ``store: true``, the legacy ``functions``/
      ``function_call``, ``parallel_tool_calls: false`` with tools, a seed
      beyond 32 bits, ``service_tier: scale``. Hints with no observable effect
      (``user``, ``metadata``, ``safety_identifier``, prompt-cache hints,
      ``store: false``) and fields OpenAI does not define are ignored.

Responses (:mod:`.response`, :mod:`.stream`)
    * candidates → choices; text → ``content``; ``thought`` parts →
      ``reasoning_content``; ``functionCall`` → ``tool_calls`` with Gemini's
      id when it sends one, else ``call_{responseId}_{candidate}_{n}`` (stable
      for a given response). Parts OpenAI cannot express are dropped. A
      signature on a text part is put on the message (or stream delta) as
      ``extra_content.google.thought_signature``, as Google's OpenAI layer
      does, though the canonical ``Message``/``Delta`` types do not declare it.
    * ``logprobsResult`` → ``logprobs.content`` (chosen token, top alternatives).
    * ``finishReason``: STOP → ``stop``, or ``tool_calls`` when the candidate
      called a function; MAX_TOKENS/CONTINUATION → ``length``; SAFETY,
      RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, LANGUAGE, IMAGE_*,
      MODEL_ARMOR, ESCALATION, PUP_LIMITED_DISABLED → ``content_filter``;
      anything else (OTHER, MALFORMED_FUNCTION_CALL, …) → ``stop``.
    * a prompt blocked by ``promptFeedback.blockReason`` (no candidates) → ``n``
      choices with empty content and ``content_filter``.
    * usage: prompt = promptTokenCount (+ toolUsePromptTokenCount), cached =
      cachedContentTokenCount, completion = candidatesTokenCount +
      thoughtsTokenCount, reasoning = thoughtsTokenCount.
    * ``id`` = ``chatcmpl-{responseId}``; ``model`` = ``modelVersion`` or the
      target's model; ``created`` comes from the adapter's clock, as Gemini
      sends no timestamp.

Embeddings: see :mod:`.embeddings`. Errors: see :mod:`.errors`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import orjson

from adapters.base import HttpRequest, ProviderError, Target
from adapters.gemini.common import model_path
from adapters.gemini.embeddings import build_embeddings_body, parse_embeddings
from adapters.gemini.errors import error_from_body
from adapters.gemini.request import build_chat_body
from adapters.gemini.response import parse_completion
from adapters.gemini.stream import GeminiStreamDecoder
from adapters.openai import JSON_HEADERS, SSE_HEADERS, load_object
from adapters.options import Option
from adapters.types import ChatCompletion, ChatRequest, EmbeddingsRequest, EmbeddingsResponse

__all__ = ["GeminiAdapter", "GeminiStreamDecoder"]


class GeminiAdapter:
    """Google Gemini API; ``clock`` (seconds since the epoch) is injectable for tests."""

    name = "gemini"
    answers_verbatim = False
    credential_header = "x-goog-api-key"
    credential_prefix = ""
    accepted_options: Mapping[str, Option] = {}

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def _url(self, target: Target, method: str) -> str:
        return f"{target.base_url.rstrip('/')}/{model_path(target.model)}:{method}"

    def build_chat_request(self, request: ChatRequest, target: Target) -> HttpRequest:
        body = orjson.dumps(build_chat_body(request, target.model))
        if request.stream:
            return HttpRequest("POST", self._url(target, "streamGenerateContent?alt=sse"), SSE_HEADERS, body)
        return HttpRequest("POST", self._url(target, "generateContent"), JSON_HEADERS, body)

    def parse_chat_response(self, body: bytes, request: ChatRequest, target: Target) -> ChatCompletion:
        data = load_object(body, "the Gemini response")
        n = int(request.body.get("n") or 1)
        return parse_completion(body, data, n, target.model, int(self._clock()))

    def chat_stream_decoder(self, request: ChatRequest, target: Target) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(target.model, int(request.body.get("n") or 1), int(self._clock()))

    def build_embeddings_request(self, request: EmbeddingsRequest, target: Target) -> HttpRequest:
        body = orjson.dumps(build_embeddings_body(request, target.model))
        return HttpRequest("POST", self._url(target, "batchEmbedContents"), JSON_HEADERS, body)

    def parse_embeddings_response(self, body: bytes, request: EmbeddingsRequest, target: Target) -> EmbeddingsResponse:
        data = load_object(body, "the Gemini embeddings response")
        return parse_embeddings(data, request, target.model)

    def parse_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        return error_from_body(status, headers, body)
