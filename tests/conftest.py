"""Shared fixtures: fake providers on real sockets, and a gateway configured to use them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway.app import create_app
from gateway.config import GatewayConfig, parse_config
from tests.fakes.openai_upstream import API_KEY, FakeOpenAI
from tests.fakes.server import serve
from tests.redis_server import RedisServer

GatewayFactory = Callable[..., str]


@pytest.fixture
def fake_openai() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with serve(fake.app) as url:
        yield fake, url
    assert not fake.violations, f"the gateway sent requests OpenAI would refuse: {fake.violations}"


def base_document(openai_url: str | None = None) -> dict[str, Any]:
    providers: dict[str, Any] = {"echo": {"type": "echo"}}
    models: dict[str, Any] = {"echo": {"deployments": [{"provider": "echo", "model": "echo-1"}]}}
    if openai_url:
        providers["openai"] = {
            "type": "openai",
            "base_url": f"{openai_url}/v1",
            "api_key": API_KEY,
            "forward_headers": ["x-trace-id"],
            "timeouts": {"connect": 2, "read": 5, "total": 20},
        }
        models["gpt-4o-mini"] = {"deployments": [{"provider": "openai", "model": "gpt-4o-mini-2024-07-18"}]}
        models["text-embedding-3-small"] = {"deployments": [{"provider": "openai", "model": "text-embedding-3-small"}]}
    return {"server": {"access_log": False}, "providers": providers, "models": models}


#: The credential of the default test caller, allowed everything by the default test policy.
CLIENT_KEY = "client-key"
MODEL_CONF = Path(__file__).resolve().parents[1] / "policies" / "model.conf"


def write_policy(directory: Path, rules: str) -> Path:
    """A policy directory with the project's model and the given ``policy.csv`` lines."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.conf").write_text(MODEL_CONF.read_text())
    (directory / "policy.csv").write_text(rules)
    return directory


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], str]]:
    """Start a gateway for a config document; returns its base URL (stopped at teardown).

    Documents without ``auth``/``policy`` get a demo key ``client-key`` for a
    ``tester`` role that the default policy allows everything.
    """
    with ExitStack() as stack:

        def start(document: dict[str, Any]) -> str:
            document.setdefault(
                "auth",
                {
                    "key_file": str(tmp_path / "keys.json"),
                    "demo_keys": [{"key": CLIENT_KEY, "subject": "tester", "team": "qa", "roles": ["tester"]}],
                },
            )
            if "policy" not in document:
                policy_dir = write_policy(tmp_path / "policies", "p, tester, *, *, *, allow\n")
                document["policy"] = {"dir": str(policy_dir), "tests": None}
            # Every gateway writes an audit trail; tests keep theirs in the test's own directory.
            document.setdefault("audit", {"dir": str(tmp_path / "audit")})
            config: GatewayConfig = parse_config(document, env={})
            return stack.enter_context(serve(create_app(config)))

        yield start


@pytest.fixture
def gateway_url(fake_openai: tuple[FakeOpenAI, str], start_gateway: Callable[[dict[str, Any]], str]) -> str:
    return start_gateway(base_document(fake_openai[1]))


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for this test; see tests/redis_server.py."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def sdk() -> Iterator[Callable[..., openai.OpenAI]]:
    """Make official SDK clients for a gateway URL; all are closed at teardown."""
    clients: list[openai.OpenAI] = []

    def make(url: str, api_key: str = "client-key") -> openai.OpenAI:
        made = openai.OpenAI(base_url=f"{url}/v1", api_key=api_key, max_retries=0, timeout=10)
        clients.append(made)
        return made

    yield make
    for made in clients:
        made.close()


@pytest.fixture
def client(gateway_url: str, sdk: Callable[..., openai.OpenAI]) -> openai.OpenAI:
    return sdk(gateway_url)


@pytest.fixture
async def async_client(gateway_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=f"{gateway_url}/v1", api_key="client-key", max_retries=0, timeout=10
    ) as async_openai:
        yield async_openai
