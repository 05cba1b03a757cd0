"""What a client sees when a provider fails: translated errors, no provider details, no hangs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import CLIENT_KEY, base_document
from tests.fakes.openai_upstream import API_KEY, FakeOpenAI, sse, stream_chunks
from tests.fakes.scripting import Scripted
from tests.fakes.server import free_port, serve
from tests.openai_schema import validate


def _error_json(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    validate(body, "ErrorResponse")
    return dict(body["error"])


def test_upstream_rejecting_the_gateway_key_is_502_and_never_leaks_it(
    fake_openai: tuple[FakeOpenAI, str],
    start_gateway: Callable[[dict[str, Any]], str],
    sdk: Callable[..., openai.OpenAI],
) -> None:
    _, url = fake_openai
    document = base_document(url)
    document["providers"]["openai"]["api_key"] = "sk-wrong-but-secret-key-987654321"
    gateway = start_gateway(document)
    client = sdk(gateway)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    error = _error_json(info.value)
    assert error["code"] == "upstream_auth_failed"
    text = info.value.response.text
    for leaked in ("sk-wrong", "4321", "platform.openai.com"):
        assert leaked not in text


@pytest.mark.parametrize(
    ("status", "body", "headers", "exc_type", "expected_status"),
    [
        (
            429,
            {
                "error": {
                    "message": "Rate limit reached for gpt-4o-mini in organization org-SECRET on tokens",
                    "type": "tokens",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
            {"retry-after": "7"},
            openai.RateLimitError,
            429,
        ),
        (
            500,
            {"error": {"message": "The server had an error", "type": "server_error", "param": None, "code": None}},
            {},
            openai.InternalServerError,
            502,
        ),
        (
            503,
            {"error": {"message": "overloaded", "type": "server_error", "param": None, "code": None}},
            {},
            openai.InternalServerError,
            503,
        ),
        (
            404,
            {
                "error": {
                    "message": "The model `gpt-4o-mini-2024-07-18` does not exist or you do not have access",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "model_not_found",
                }
            },
            {},
            openai.InternalServerError,
            502,
        ),
    ],
)
def test_upstream_errors_are_translated(
    client: openai.OpenAI,
    fake_openai: tuple[FakeOpenAI, str],
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    exc_type: type[openai.APIStatusError],
    expected_status: int,
) -> None:
    fake, _ = fake_openai
    fake.push(Scripted(status=status, body=body, headers=headers))
    with pytest.raises(exc_type) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == expected_status
    error = _error_json(info.value)
    assert "org-SECRET" not in json.dumps(error)
    assert "gpt-4o-mini-2024-07-18" not in json.dumps(error), "upstream model names are the operator's business"
    if status == 429:
        assert info.value.response.headers["retry-after"] == "7"


def test_upstream_bad_request_keeps_the_explanation_but_not_keys(
    client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, _ = fake_openai
    fake.push(
        Scripted(
            status=400,
            body={
                "error": {
                    "message": f"Invalid 'messages[0].content': string too long (key {API_KEY}).",
                    "type": "invalid_request_error",
                    "param": "messages[0].content",
                    "code": "string_above_max_length",
                }
            },
        )
    )
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    error = _error_json(info.value)
    assert "string too long" in error["message"]
    assert API_KEY not in info.value.response.text
    assert error["param"] == "messages[0].content"


def test_unreachable_provider_is_503(
    start_gateway: Callable[[dict[str, Any]], str],
    sdk: Callable[..., openai.OpenAI],
) -> None:
    gateway = start_gateway(base_document(f"http://127.0.0.1:{free_port()}"))
    client = sdk(gateway)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 503
    assert "127.0.0.1" not in info.value.response.text


def test_slow_provider_is_504(
    fake_openai: tuple[FakeOpenAI, str],
    start_gateway: Callable[[dict[str, Any]], str],
    sdk: Callable[..., openai.OpenAI],
) -> None:
    fake, url = fake_openai
    document = base_document(url)
    document["providers"]["openai"]["timeouts"] = {"connect": 1, "read": 0.3, "total": 5}
    gateway = start_gateway(document)
    fake.push(Scripted(body={}, delay=1.0))
    client = sdk(gateway)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 504


def test_garbage_from_provider_is_502(client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str]) -> None:
    fake, _ = fake_openai
    fake.push(Scripted(body=b"<html>proxy error</html>"))
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    assert "<html>" not in info.value.response.text


def _large_embeddings(count: int, dims: int) -> bytes:
    data = [{"object": "embedding", "index": i, "embedding": [0.25 + i] * dims} for i in range(count)]
    usage = {"prompt_tokens": count, "total_tokens": count}
    return json.dumps({"object": "list", "data": data, "model": "text-embedding-3-small", "usage": usage}).encode()


def test_a_large_answer_arriving_in_pieces_is_read_to_its_end(
    client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    # Real providers send big bodies (embeddings of many inputs) in several reads, chunked.
    fake, _ = fake_openai
    body = _large_embeddings(64, 1536)
    pieces = [body[i : i + 50_000] for i in range(0, len(body), 50_000)]
    fake.push(Scripted(chunks=pieces, chunk_delay=0.02, headers={"content-type": "application/json"}))
    result = client.embeddings.create(
        model="text-embedding-3-small", input=[f"text {i}" for i in range(64)], encoding_format="float"
    )
    assert len(pieces) > 10
    assert len(result.data) == 64
    assert result.data[63].embedding == [63.25] * 1536


def test_an_answer_over_the_size_cap_is_502(
    client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.upstream.MAX_RESPONSE_BYTES", 20_000)
    fake, _ = fake_openai
    body = _large_embeddings(8, 1536)
    assert len(body) > 40_000
    fake.push(Scripted(chunks=[body[:15_000], body[15_000:30_000], body[30_000:]], chunk_delay=0.02))
    with pytest.raises(openai.InternalServerError) as info:
        client.embeddings.create(model="text-embedding-3-small", input="x", encoding_format="float")
    assert info.value.status_code == 502
    assert _error_json(info.value)["code"] == "upstream_response_too_large"


@pytest.fixture
def two_deployments(
    fake_openai: tuple[FakeOpenAI, str],
    start_gateway: Callable[[dict[str, Any]], str],
    sdk: Callable[..., openai.OpenAI],
) -> Callable[[str], openai.OpenAI]:
    """A gateway whose gpt-4o-mini has two deployments: the fake's ``primary``, then ``second``."""

    def start(second_provider: str = "openai") -> openai.OpenAI:
        document = base_document(fake_openai[1])
        second = "echo-1" if second_provider == "echo" else "secondary"
        document["models"]["gpt-4o-mini"]["deployments"] = [
            {"provider": "openai", "model": "primary"},
            {"provider": second_provider, "model": second},
        ]
        return sdk(start_gateway(document))

    return start


def test_failover_to_the_next_deployment(
    fake_openai: tuple[FakeOpenAI, str], two_deployments: Callable[[str], openai.OpenAI]
) -> None:
    fake, _ = fake_openai
    client = two_deployments("openai")
    fake.push(Scripted(status=503, body={"error": {"message": "busy", "type": "server_error"}}))
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert completion.choices[0].message.content == "Hello from the fake."
    assert [r.body["model"] for r in fake.requests] == ["primary", "secondary"]


def test_client_errors_do_not_fail_over(
    fake_openai: tuple[FakeOpenAI, str], two_deployments: Callable[[str], openai.OpenAI]
) -> None:
    fake, _ = fake_openai
    client = two_deployments("openai")
    fake.push(Scripted(status=400, body={"error": {"message": "bad", "type": "invalid_request_error"}}))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert len(fake.requests) == 1


def test_stream_reaches_the_client_before_the_upstream_finishes(
    client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, _ = fake_openai
    chunks = stream_chunks("m", ["a", "b", "c", "d"], include_usage=True)
    fake.push(Scripted(chunks=chunks, chunk_delay=0.4))
    started = time.monotonic()
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
    )
    first = next(iter(stream))
    first_at = time.monotonic() - started
    rest = list(stream)
    total = time.monotonic() - started
    assert first.choices[0].delta.role == "assistant"
    assert first_at < 0.35, f"first chunk took {first_at:.2f}s: the stream is being buffered"
    assert total > 1.5
    assert "".join(c.choices[0].delta.content or "" for c in rest if c.choices) == "abcd"


def _cancelled_within(fake: FakeOpenAI, seconds: float) -> bool:
    """Whether the gateway dropped the fake's scripted stream within ``seconds`` (it serves on another thread)."""
    deadline = time.monotonic() + seconds
    while not fake.cancelled.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    return fake.cancelled.is_set()


def test_client_disconnect_cancels_the_upstream(gateway_url: str, fake_openai: tuple[FakeOpenAI, str]) -> None:
    fake, _ = fake_openai
    chunks = stream_chunks("m", ["w"] * 50, include_usage=True)
    fake.push(Scripted(chunks=chunks, chunk_delay=0.2))
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    headers = {"authorization": f"Bearer {CLIENT_KEY}"}
    with (
        httpx.Client(timeout=5, headers=headers) as http,
        http.stream("POST", f"{gateway_url}/v1/chat/completions", json=body) as r,
    ):
        for line in r.iter_lines():
            if line.startswith("data:"):
                break
    # The client is gone; the gateway must drop the upstream connection well before the 10 s stream ends.
    assert _cancelled_within(fake, 3)


def test_client_leaving_before_the_first_event_cancels_the_upstream(
    gateway_url: str, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    # A client that gives up while the model is still thinking must release the provider too,
    # not leave it generating for nobody.
    fake, _ = fake_openai
    fake.push(Scripted(chunks=stream_chunks("m", ["w"], include_usage=True), first_chunk_delay=10))
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    headers = {"authorization": f"Bearer {CLIENT_KEY}"}
    with httpx.Client(timeout=0.5, headers=headers) as http, pytest.raises(httpx.ReadTimeout):
        http.post(f"{gateway_url}/v1/chat/completions", json=body)  # reads the whole body: times out
    assert _cancelled_within(fake, 3)


def test_upstream_dying_mid_stream_ends_the_client_stream_with_an_error(
    client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, _ = fake_openai
    fake.push(Scripted(chunks=stream_chunks("m", ["a", "b", "c"], include_usage=True), cut_after=2))
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
    )
    received = []
    with pytest.raises(openai.APIError) as info:
        received.extend(stream)
    assert received, "chunks sent before the failure are delivered"
    assert "closed the connection" in info.value.message or "ended before" in info.value.message


def test_upstream_dying_before_the_first_event_ends_the_client_stream_with_an_error(
    client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    # With no event at all, the client still gets a stream that ends with the error, not a hang or
    # an empty success.
    fake, _ = fake_openai
    fake.push(Scripted(chunks=stream_chunks("m", ["a", "b"], include_usage=True), cut_after=0))
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
    )
    received = []
    with pytest.raises(openai.APIError) as info:
        received.extend(stream)
    assert received == []
    assert "closed the connection" in info.value.message or "ended before" in info.value.message


def test_error_event_inside_an_openai_stream(client: openai.OpenAI, fake_openai: tuple[FakeOpenAI, str]) -> None:
    fake, _ = fake_openai
    chunks = stream_chunks("m", ["a"], include_usage=False)[:2]
    chunks.append(
        sse(
            {
                "error": {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
        )
    )
    fake.push(Scripted(chunks=chunks))
    with pytest.raises(openai.APIError):
        list(
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
            )
        )


def test_failover_before_the_first_byte_of_a_stream(
    fake_openai: tuple[FakeOpenAI, str], two_deployments: Callable[[str], openai.OpenAI]
) -> None:
    fake, _ = fake_openai
    client = two_deployments("echo")
    fake.push(Scripted(status=429, body={"error": {"message": "slow down", "type": "requests"}}))
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "fall back"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "fall back"


def test_the_fake_refuses_what_the_real_api_refuses() -> None:
    fake = FakeOpenAI()
    with serve(fake.app) as url:
        response = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "m", "messages": "hi"},
            headers={"authorization": f"Bearer {API_KEY}"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fake.violations
