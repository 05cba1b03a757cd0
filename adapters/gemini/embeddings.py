"""OpenAI embeddings ↔ Gemini ``batchEmbedContents``.

Gemini embeds text only, so token-id inputs are refused; it takes at most 100
inputs per request, and one client request is one upstream request, so more
are refused. ``dimensions`` becomes ``outputDimensionality``. Gemini returns floats; when the client asked
for ``encoding_format: base64`` (the ``openai`` SDK's default) the vectors are
encoded as OpenAI does: little-endian float32, base64. Newer Gemini versions
report ``usageMetadata.promptTokenCount``; older ones report no token counts
at all, and then usage says 0 tokens rather than a guess.
"""

from __future__ import annotations

from typing import Any

from adapters.errors import InvalidRequest, UnsupportedParameter, UpstreamFormatError
from adapters.gemini.common import PROVIDER, model_path
from adapters.types import Embedding, EmbeddingsRequest, EmbeddingsResponse, Usage
from adapters.vectors import encode_base64

#: batchEmbedContents refuses more ("at most 100 requests can be in one batch").
MAX_INPUTS = 100


def build_embeddings_body(request: EmbeddingsRequest, model: str) -> dict[str, Any]:
    if len(request.inputs) > MAX_INPUTS:
        raise UnsupportedParameter(PROVIDER, "input", f"Gemini embeds at most {MAX_INPUTS} inputs per request")
    name = model_path(model)
    requests: list[dict[str, Any]] = []
    for item in request.inputs:
        if not isinstance(item, str):
            raise InvalidRequest("Gemini embeds text only; send 'input' as strings, not token ids.", param="input")
        entry: dict[str, Any] = {"model": name, "content": {"parts": [{"text": item}]}}
        if request.dimensions is not None:
            entry["outputDimensionality"] = request.dimensions
        requests.append(entry)
    return {"requests": requests}


def _usage(data: dict[str, Any]) -> Usage:
    meta = data.get("usageMetadata")
    tokens = meta.get("promptTokenCount", 0) if isinstance(meta, dict) else 0
    if isinstance(tokens, bool) or not isinstance(tokens, int):
        raise UpstreamFormatError("usageMetadata.promptTokenCount is not an integer")
    return {"prompt_tokens": tokens, "total_tokens": tokens}


def parse_embeddings(data: dict[str, Any], request: EmbeddingsRequest, model: str) -> EmbeddingsResponse:
    embeddings = data.get("embeddings")
    if not isinstance(embeddings, list) or len(embeddings) != len(request.inputs):
        raise UpstreamFormatError("the embeddings response does not hold one embedding per input")
    items: list[Embedding] = []
    for index, embedding in enumerate(embeddings):
        values = embedding.get("values") if isinstance(embedding, dict) else None
        if not isinstance(values, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            raise UpstreamFormatError("an embedding has no list of numbers as 'values'")
        vector = [float(v) for v in values]
        encoded: list[float] | str = encode_base64(vector) if request.encoding_format == "base64" else vector
        items.append({"object": "embedding", "index": index, "embedding": encoded})
    return {"object": "list", "data": items, "model": model, "usage": _usage(data)}
