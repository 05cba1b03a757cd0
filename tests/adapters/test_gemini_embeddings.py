"""OpenAI embeddings requests ↔ Gemini ``batchEmbedContents``."""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson
import pytest

from adapters.base import Target
from adapters.errors import InvalidRequest, UnsupportedParameter, UpstreamFormatError
from adapters.gemini import GeminiAdapter
from adapters.schema import parse_embeddings_request
from tests.fakes.gemini_checks import check_embed_request, normalize
from tests.openai_schema import validate

ADAPTER = GeminiAdapter()
TARGET = Target("https://generativelanguage.googleapis.com/v1", "gemini-embedding-001")


def test_embeddings_request_batches_texts_for_the_model() -> None:
    request = parse_embeddings_request(
        orjson.dumps(
            {"model": "embed", "input": ["first text", "second"], "dimensions": 256, "encoding_format": "base64"}
        )
    )
    target = Target("https://generativelanguage.googleapis.com/v1beta", "gemini-embedding-001")
    http = ADAPTER.build_embeddings_request(request, target)
    assert http.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:batchEmbedContents"
    sent = orjson.loads(http.body)
    check_embed_request(normalize(sent, "batch"), "gemini-embedding-001")
    assert sent == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "first text"}]},
                "outputDimensionality": 256,
            },
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": "second"}]},
                "outputDimensionality": 256,
            },
        ]
    }


def test_embeddings_of_token_ids_or_too_many_inputs_are_refused() -> None:
    tokens = parse_embeddings_request(orjson.dumps({"model": "embed", "input": [[1, 2, 3]]}))
    with pytest.raises(InvalidRequest) as caught:
        ADAPTER.build_embeddings_request(tokens, TARGET)
    assert caught.value.param == "input"
    many = parse_embeddings_request(orjson.dumps({"model": "embed", "input": ["x"] * 101}))
    with pytest.raises(UnsupportedParameter, match="at most 100"):
        ADAPTER.build_embeddings_request(many, TARGET)


EMBEDDINGS = {"embeddings": [{"values": [0.0123, -0.5, 0.25, 1]}, {"values": [0.5, 0.25, -0.125, 0.0625]}]}


def embed_request(**extra: Any) -> Any:
    return parse_embeddings_request(orjson.dumps({"model": "embed", "input": ["first", "second"], **extra}))


def test_embeddings_as_floats() -> None:
    response = ADAPTER.parse_embeddings_response(orjson.dumps(EMBEDDINGS), embed_request(), TARGET)
    validate(response, "CreateEmbeddingResponse")
    assert response["model"] == "gemini-embedding-001"
    assert [e["index"] for e in response["data"]] == [0, 1]
    assert response["data"][0]["embedding"] == [0.0123, -0.5, 0.25, 1.0]
    # Gemini reported no token counts: usage says so rather than guessing.
    assert response["usage"] == {"prompt_tokens": 0, "total_tokens": 0}


def test_embeddings_as_base64_little_endian_float32_like_openai() -> None:
    body = {**EMBEDDINGS, "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}}
    response = ADAPTER.parse_embeddings_response(orjson.dumps(body), embed_request(encoding_format="base64"), TARGET)
    # OpenAI's published schema only describes float vectors, so there is nothing to validate against here.
    encoded = response["data"][1]["embedding"]
    assert isinstance(encoded, str)
    assert list(struct.unpack("<4f", base64.b64decode(encoded))) == [0.5, 0.25, -0.125, 0.0625]
    first = struct.unpack("<4f", base64.b64decode(str(response["data"][0]["embedding"])))
    assert first[0] == pytest.approx(0.0123, rel=1e-6)
    assert response["usage"] == {"prompt_tokens": 7, "total_tokens": 7}


@pytest.mark.parametrize(
    "body",
    [{"embeddings": [{"values": [0.1]}]}, {"embeddings": [{"values": [0.1]}, {"values": ["x"]}]}, {"embedding": {}}],
)
def test_unreadable_embeddings_are_upstream_format_errors(body: dict[str, Any]) -> None:
    with pytest.raises(UpstreamFormatError):
        ADAPTER.parse_embeddings_response(orjson.dumps(body), embed_request(), TARGET)
