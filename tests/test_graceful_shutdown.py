"""SIGTERM lets in-flight streams finish before the gateway exits."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import yaml

from tests.conftest import CLIENT_KEY, base_document, write_policy
from tests.fakes.openai_upstream import FakeOpenAI, stream_chunks
from tests.fakes.scripting import Scripted
from tests.process import GatewayProcess


def test_sigterm_finishes_in_flight_streams(fake_openai: tuple[FakeOpenAI, str], tmp_path: Path) -> None:
    fake, url = fake_openai
    document = base_document(url)
    document["auth"] = {"demo_keys": [{"key": CLIENT_KEY, "subject": "t", "team": "qa", "roles": ["tester"]}]}
    document["policy"] = {"dir": str(write_policy(tmp_path / "p", "p, tester, *, *, *, allow\n")), "tests": None}
    document["server"]["graceful_shutdown"] = 10
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(document))
    gateway = GatewayProcess(config, tmp_path)
    fake.push(
        Scripted(
            chunks=stream_chunks("m", ["one", "two", "three", "four", "five"], include_usage=False), chunk_delay=0.3
        )
    )
    lines: list[str] = []
    started = threading.Event()

    def consume() -> None:
        body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "x"}]}
        headers = {"authorization": f"Bearer {CLIENT_KEY}"}
        with httpx.stream(
            "POST", f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=20
        ) as response:
            for line in response.iter_lines():
                if line:
                    lines.append(line)
                    started.set()

    reader = threading.Thread(target=consume)
    reader.start()
    try:
        assert started.wait(10)
        gateway.process.terminate()
        reader.join(timeout=20)
        # uvicorn re-raises the signal once shut down, so the status reports SIGTERM.
        assert gateway.process.wait(timeout=20) in (0, -15)
    finally:
        gateway.stop()
    assert "Waiting for connections to close" in gateway.log.read_text()
    assert lines[-1] == "data: [DONE]", lines
    assert sum('"content":"' in line for line in lines) >= 5
