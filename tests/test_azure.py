"""Azure OpenAI: the deployment in the URL, api-version in the query, the key in an api-key header."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.fakes.openai_upstream import API_KEY, FakeOpenAI
from tests.fakes.server import serve


@pytest.fixture
def azure() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI(azure=True)
    with serve(fake.app) as url:
        yield fake, url
    assert not fake.violations


@pytest.fixture
def client(
    azure: tuple[FakeOpenAI, str], start_gateway: Callable[[dict[str, Any]], str], sdk: Callable[..., openai.OpenAI]
) -> openai.OpenAI:
    document = {
        "server": {"access_log": False},
        "providers": {
            "azure": {
                "type": "azure",
                "base_url": azure[1],
                "api_key": API_KEY,
                "options": {"api_version": "2024-10-21"},
            }
        },
        "models": {
            "gpt-4o": {"deployments": [{"provider": "azure", "model": "prod-gpt4o"}]},
            "embed": {"deployments": [{"provider": "azure", "model": "prod-embed"}]},
        },
    }
    return sdk(start_gateway(document))


def test_chat_goes_to_the_deployment_url_with_api_key(client: openai.OpenAI, azure: tuple[FakeOpenAI, str]) -> None:
    fake, _ = azure
    completion = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "Hello from the fake."
    sent = fake.requests[-1]
    assert sent.path == "/openai/deployments/prod-gpt4o/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == API_KEY
    assert "authorization" not in sent.headers


def test_streams_and_embeddings_reach_azure_too(client: openai.OpenAI, azure: tuple[FakeOpenAI, str]) -> None:
    fake, _ = azure
    chunks = list(
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the fake."
    vectors = client.embeddings.create(model="embed", input=["a", "b"], dimensions=3)
    assert len(vectors.data) == 2
    assert fake.requests[-1].path == "/openai/deployments/prod-embed/embeddings"
    assert fake.requests[-1].query["api-version"] == "2024-10-21"
