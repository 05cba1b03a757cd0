"""The audit stage end to end: every request leaves one durable record, whatever happens to it."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.audit.chain import Verifiers
from gateway.audit.verify import verify
from tests.audit.conftest import DEVELOPER_KEY, LEGAL_KEY, trail_lines, trail_records
from tests.audit.support import KEY
from tests.conftest import CLIENT_KEY
from tests.fakes.openai_upstream import FakeOpenAI, stream_chunks
from tests.fakes.scripting import Scripted

AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}
CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hello audit"}]}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

Start = Callable[..., str]


def test_a_json_reply_is_on_disk_before_the_client_has_it(audited_gateway: Start, trail: Path) -> None:
    url = audited_gateway()
    response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == 200
    record = trail_records(trail)[response.headers["x-request-id"]]  # read the moment the response arrived
    assert record["v"] == 1
    assert TIME.match(record["time"])
    assert (record["operation"], record["model"], record["provider"], record["deployment"]) == (
        "chat.completions",
        "echo",
        "echo",
        "echo-1",
    )
    assert record["principal"] == {
        "subject": "tester",
        "roles": ["tester"],
        "team": "qa",
        "method": "demo_key",
        "key_id": "demo",
        "issuer": None,
        "delegation": [],
    }
    assert record["client"] == "127.0.0.1"
    decision = record["decision"]
    assert decision["allowed"] is True
    assert decision["action"] == "chat"
    assert decision["rule"] == "p, tester, *, *, *, allow"
    assert decision["policy_version"]
    assert [(a["provider"], a["model"], a["status"], a["error"]) for a in record["attempts"]] == [
        ("echo", "echo-1", 200, None)
    ]
    assert record["usage"] == response.json()["usage"] | {"total_tokens": response.json()["usage"]["total_tokens"]}
    latency = record["latency_ms"]
    assert latency["total"] >= latency["upstream"] > 0
    assert latency["overhead"] == pytest.approx(latency["total"] - latency["upstream"], abs=0.002)
    assert latency["ttft"] is None
    assert (record["status"], record["error"], record["outcome"], record["stream"]) == (200, None, "ok", False)
    assert (record["cost"], record["pii"], record["content"]) == (None, None, None)


def test_a_stream_is_recorded_before_done_reaches_the_client(audited_gateway: Start, trail: Path) -> None:
    url = audited_gateway()
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    seen_at_done = None
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, headers=AUTH) as response:
        request_id = response.headers["x-request-id"]
        for line in response.iter_lines():
            if line == "data: [DONE]":
                seen_at_done = trail_records(trail).get(request_id)
    assert seen_at_done is not None, "the record was not on disk when [DONE] arrived"
    assert (seen_at_done["stream"], seen_at_done["outcome"], seen_at_done["status"]) == (True, "ok", 200)
    assert seen_at_done["usage"]["total_tokens"] > 0
    assert 0 < seen_at_done["latency_ms"]["ttft"] <= seen_at_done["latency_ms"]["total"]


def test_denials_and_failures_are_recorded_then_answered(audited_gateway: Start, trail: Path) -> None:
    url = audited_gateway()
    anonymous = httpx.post(f"{url}/v1/chat/completions", json=CHAT)
    denied = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {DEVELOPER_KEY}"})
    unknown = httpx.post(f"{url}/v1/chat/completions", json={**CHAT, "model": "nope"}, headers=AUTH)
    invalid = httpx.post(f"{url}/v1/chat/completions", content=b"{not json", headers=AUTH)
    assert [r.status_code for r in (anonymous, denied, unknown, invalid)] == [401, 403, 404, 400]
    records = trail_records(trail)
    first = records[anonymous.headers["x-request-id"]]
    assert first["principal"] is None
    assert first["error"] == {"type": "authentication_error", "code": first["error"]["code"]}
    second = records[denied.headers["x-request-id"]]
    assert second["principal"]["subject"] == "dev"
    assert second["decision"]["allowed"] is False
    assert (second["status"], second["error"]["type"], second["attempts"]) == (403, "permission_error", [])
    assert records[unknown.headers["x-request-id"]]["error"]["type"] == "not_found_error"
    assert records[invalid.headers["x-request-id"]]["status"] == 400


def test_requests_refused_before_any_stage_are_recorded_then_answered(
    audited_document: dict[str, Any], start_gateway: Callable[[dict[str, Any]], str], trail: Path
) -> None:
    document = {key: value for key, value in audited_document.items() if key != "_capture_file"}
    document["server"] = {**document.get("server", {}), "max_body_bytes": 4096, "body_timeout": 0.5}
    url = start_gateway(document)
    unknown_path = httpx.get(f"{url}/v1/nothing-here%0Aforged", headers=AUTH)
    wrong_method = httpx.get(f"{url}/v1/chat/completions", headers=AUTH)
    too_large = httpx.post(f"{url}/v1/chat/completions", content=b"x" * 5000, headers=AUTH)
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        late = sock.recv(65536)
    late_id = re.search(rb"x-request-id: (\S+)", late)
    assert late_id is not None
    assert [r.status_code for r in (unknown_path, wrong_method, too_large)] == [404, 405, 413]
    records = trail_records(trail)
    refused = {
        name: records[request_id]
        for name, request_id in (
            ("404", unknown_path.headers["x-request-id"]),
            ("405", wrong_method.headers["x-request-id"]),
            ("413", too_large.headers["x-request-id"]),
            ("408", late_id.group(1).decode()),
        )
    }
    for name, record in refused.items():
        assert record["operation"] == "refused", name
        assert record["status"] == int(name)
        assert record["outcome"] == "error"
        assert (record["principal"], record["decision"], record["attempts"]) == (None, None, [])
    assert refused["404"]["http"] == {"method": "GET", "path": "/v1/nothing-here\nforged"}
    assert refused["404"]["error"] == {"type": "not_found_error", "code": "unknown_url"}
    assert refused["413"]["error"]["code"] == "request_too_large"
    assert refused["408"]["error"]["code"] == "request_timeout"
    assert refused["405"]["http"] == {"method": "GET", "path": "/v1/chat/completions"}
    # A request that reached the pipeline is recorded once, by its audit stage, not again here.
    denied = httpx.post(f"{url}/v1/chat/completions", json=CHAT)
    assert denied.status_code == 401
    lines = [line for line in trail_lines(trail) if line.get("request_id") == denied.headers["x-request-id"]]
    assert [line["operation"] for line in lines] == ["chat.completions"]


def test_a_client_that_leaves_mid_stream_is_recorded_as_cancelled(
    audited_gateway: Start, trail: Path, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, _ = fake_openai
    fake.push(Scripted(chunks=stream_chunks("m", ["w"] * 50, include_usage=True), chunk_delay=0.2))
    url = audited_gateway()
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    with (
        httpx.Client(timeout=5, headers=AUTH) as http,
        http.stream("POST", f"{url}/v1/chat/completions", json=body) as response,
    ):
        request_id = response.headers["x-request-id"]
        for line in response.iter_lines():
            if line.startswith("data:"):
                break
    deadline = time.monotonic() + 5
    while request_id not in trail_records(trail) and time.monotonic() < deadline:
        time.sleep(0.05)
    record = trail_records(trail)[request_id]
    assert (record["outcome"], record["stream"], record["provider"]) == ("cancelled", True, "openai")
    assert record["latency_ms"]["total"] < 5000


def test_an_upstream_failure_mid_stream_is_recorded_as_an_error(
    audited_gateway: Start, trail: Path, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, _ = fake_openai
    fake.push(Scripted(chunks=stream_chunks("m", ["a", "b", "c"], include_usage=False), cut_after=2))
    url = audited_gateway()
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, headers=AUTH) as response:
        text = response.read().decode()
        request_id = response.headers["x-request-id"]
    assert '"error"' in text
    record = trail_records(trail)[request_id]
    assert (record["status"], record["outcome"], record["error"]["type"]) == (200, "error", "upstream_error")


def test_client_input_cannot_forge_or_break_a_record(audited_gateway: Start, trail: Path) -> None:
    url = audited_gateway()
    forged = '{"v":1,"type":"request","request_id":"forged"}'
    nasty_model = f'echo"}}\n{forged}\u2028\u2029\r\x00\x1b[31m'
    response = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": nasty_model, "messages": [{"role": "user", "content": "x\n" + forged}]},
        headers={**AUTH, "x-request-id": 'abc"},{"v":1'},
    )
    assert response.status_code == 404
    request_id = response.headers["x-request-id"]
    assert request_id.startswith("req_"), "an unsafe client request id must be replaced"
    lines = trail_lines(trail)  # every line parses as one JSON object
    records = trail_records(trail)
    assert "forged" not in records
    assert records[request_id]["model"] == nasty_model
    raw = b"".join(path.read_bytes() for path in sorted(trail.glob("*.jsonl")))
    assert raw.count(b"\n") == len(lines)
    assert verify(trail, Verifiers.load(KEY)).ok


def test_safe_client_request_ids_are_kept(audited_gateway: Start, trail: Path) -> None:
    url = audited_gateway()
    response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers={**AUTH, "x-request-id": "client-id.42"})
    assert response.headers["x-request-id"] == "client-id.42"
    assert "client-id.42" in trail_records(trail)


def test_content_capture_follows_the_team_policy(audited_gateway: Start, trail: Path) -> None:
    url = audited_gateway(capture=True)
    secret = "write to jane@example.com, key sk-abcdefghijklmnop1234"
    message = {"model": "echo", "messages": [{"role": "user", "content": secret}]}
    redacted = httpx.post(f"{url}/v1/chat/completions", json=message, headers=AUTH)
    full = httpx.post(
        f"{url}/v1/chat/completions",
        json={**message, "stream": True},
        headers={"authorization": f"Bearer {LEGAL_KEY}"},
    )
    records = trail_records(trail)
    kept = records[redacted.headers["x-request-id"]]["content"]
    assert kept["mode"] == "redacted"
    assert "jane@example.com" not in orjson.dumps(kept).decode()
    assert "sk-abcdefghijklmnop1234" not in orjson.dumps(kept).decode()
    assert kept["request"] == [{"role": "user", "content": "write to [email], key [redacted]"}]
    assert kept["response"] == ["write to [email], key [redacted]"]
    everything = records[full.headers["x-request-id"]]["content"]
    assert everything == {"mode": "full", "request": [{"role": "user", "content": secret}], "response": [secret]}


def test_model_catalogue_and_key_admin_calls_are_audited_too(audited_gateway: Start, trail: Path) -> None:
    url = audited_gateway()
    listed = httpx.get(f"{url}/v1/models", headers=AUTH)
    keys = httpx.get(f"{url}/admin/keys", headers=AUTH)
    records = trail_records(trail)
    assert records[listed.headers["x-request-id"]]["operation"] == "models.list"
    assert records[keys.headers["x-request-id"]]["operation"] == "keys.list"
