"""Key and policy changes leave their own events in the trail, next to the requests that made them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.audit.conftest import trail_lines
from tests.conftest import CLIENT_KEY, base_document, write_policy

ADMIN = {"authorization": f"Bearer {CLIENT_KEY}"}


def _events(trail: Path, kind: str) -> list[dict[str, Any]]:
    return [line for line in trail_lines(trail) if line["type"] == "event" and line.get("kind") == kind]


def test_key_creation_and_revocation_are_events(start_gateway: Callable[[dict[str, Any]], str], tmp_path: Path) -> None:
    trail = tmp_path / "trail"
    document = base_document()
    document["audit"] = {"dir": str(trail)}
    url = start_gateway(document)
    created = httpx.post(
        f"{url}/admin/keys", json={"subject": "bot-7", "team": "ops", "roles": ["developer"]}, headers=ADMIN
    )
    assert created.status_code == 201
    key_id = created.json()["key_id"]
    assert httpx.delete(f"{url}/admin/keys/{key_id}", headers=ADMIN).status_code == 200

    (made,) = _events(trail, "key.created")
    (revoked,) = _events(trail, "key.revoked")
    for event in (made, revoked):
        assert event["key_id"] == key_id
        assert event["subject"] == "bot-7"
        assert event["by"] == "tester"
    for segment in trail.rglob("*.jsonl"):
        assert created.json()["key"].split("_", 1)[1] not in segment.read_text(), "a key's secret reached the trail"


def test_policy_reloads_and_rejections_are_events(
    start_gateway: Callable[[dict[str, Any]], str], tmp_path: Path
) -> None:
    trail = tmp_path / "trail"
    policies = write_policy(tmp_path / "live-policy", "p, tester, *, *, *, allow\n")
    document = base_document()
    document["audit"] = {"dir": str(trail)}
    document["policy"] = {"dir": str(policies), "tests": None, "reload_interval": 0.1}
    start_gateway(document)

    (policies / "policy.csv").write_text("# emptied by mistake\n")
    deadline = time.monotonic() + 5
    while not _events(trail, "policy.rejected") and time.monotonic() < deadline:
        time.sleep(0.05)
    (rejected,) = _events(trail, "policy.rejected")
    assert "empty policy" in rejected["reason"]

    (policies / "policy.csv").write_text("p, tester, *, echo, *, allow\n")
    while not _events(trail, "policy.reloaded") and time.monotonic() < deadline:
        time.sleep(0.05)
    (reloaded,) = _events(trail, "policy.reloaded")
    assert reloaded["version"] != reloaded["previous"]
    assert reloaded["previous"] == rejected["version"]


def test_each_call_records_its_cost_from_the_deployment_pricing(
    start_gateway: Callable[[dict[str, Any]], str], tmp_path: Path
) -> None:
    trail = tmp_path / "trail"
    document = base_document()
    document["audit"] = {"dir": str(trail)}
    document["models"]["echo"]["deployments"][0]["pricing"] = {"input": 2.0, "output": 10.0}
    document["models"]["free-echo"] = {"deployments": [{"provider": "echo", "model": "echo-1"}]}
    url = start_gateway(document)
    for model in ("echo", "free-echo"):
        body = {"model": model, "messages": [{"role": "user", "content": "sixteen characters"}]}
        assert httpx.post(f"{url}/v1/chat/completions", json=body, headers=ADMIN).status_code == 200
    stream = {"model": "echo", "stream": True, "messages": [{"role": "user", "content": "sixteen characters"}]}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=stream, headers=ADMIN) as response:
        response.read()
    records = [line for line in trail_lines(trail) if line["type"] == "request"]
    priced, free, streamed = records[-3:]
    usage = priced["usage"]
    expected = (usage["prompt_tokens"] * 2.0 + usage["completion_tokens"] * 10.0) / 1_000_000
    assert priced["cost"] == pytest.approx(expected)
    assert priced["cost"] > 0
    assert free["cost"] is None, "no pricing means not priced, never zero"
    assert streamed["cost"] == pytest.approx(expected)
