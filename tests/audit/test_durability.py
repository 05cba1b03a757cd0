"""The real ``gateway serve`` process under load: kill -9 loses no acknowledged record; a full disk fails closed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.audit.conftest import trail_records
from tests.audit.support import KEY
from tests.conftest import CLIENT_KEY, write_policy
from tests.fakes.server import free_port

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}


def _config(workdir: Path, **audit: object) -> Path:
    policy = write_policy(workdir / "policies", "p, tester, *, *, *, allow\n")
    document = {
        "server": {"access_log": False},
        "providers": {"echo": {"type": "echo"}},
        "models": {"echo": {"deployments": [{"provider": "echo", "model": "echo-1"}]}},
        "auth": {
            "key_file": None,
            "demo_keys": [{"key": CLIENT_KEY, "subject": "tester", "team": "qa", "roles": ["tester"]}],
        },
        "policy": {"dir": str(policy), "tests": None},
        "audit": {"dir": "var/audit", "checkpoint_key": KEY, "checkpoint_every": 50, **audit},
    }
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _serve(workdir: Path, config: Path, *, shell_prefix: str = "") -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = f"exec {sys.executable} -m gateway serve --config {config} --port {port}"
    process = subprocess.Popen(
        ["bash", "-c", shell_prefix + command],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "the gateway exited during start-up"
        try:
            if httpx.get(f"{url}/readyz", timeout=0.5).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("the gateway did not become ready")


def _load(url: str, acknowledged: list[str], stop: threading.Event, stream: bool) -> None:
    body = {"model": "echo", "stream": stream, "messages": [{"role": "user", "content": "durable?"}]}
    with httpx.Client(timeout=5, headers=AUTH) as http:
        while not stop.is_set():
            try:
                if stream:
                    with http.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
                        lines = list(response.iter_lines())
                        if response.status_code == 200 and lines and lines[-2:] == ["data: [DONE]", ""]:
                            acknowledged.append(response.headers["x-request-id"])
                else:
                    response = http.post(f"{url}/v1/chat/completions", json=body)
                    if response.status_code == 200 and response.json()["choices"]:
                        acknowledged.append(response.headers["x-request-id"])
            except (httpx.HTTPError, ValueError):
                return  # the gateway is gone


@pytest.mark.parametrize("ack", ["fsync", "write"])
def test_kill_9_under_load_loses_no_acknowledged_record(tmp_path: Path, ack: str) -> None:
    # Either way a record is with the operating system before its answer leaves, which is
    # what a crash of the gateway process (not of the machine) needs.
    process, url = _serve(tmp_path, _config(tmp_path, ack=ack))
    acknowledged: list[str] = []
    stop = threading.Event()
    workers = [threading.Thread(target=_load, args=(url, acknowledged, stop, i % 4 == 0)) for i in range(12)]
    try:
        for worker in workers:
            worker.start()
        time.sleep(2.0)
        before = len(acknowledged)
        process.kill()  # SIGKILL, mid-load: no shutdown, no final checkpoint
        process.wait(timeout=10)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=10)
        if process.poll() is None:
            process.kill()
    assert before > 50, f"only {before} requests completed: the load did not run"
    records = trail_records(tmp_path / "var" / "audit")
    missing = [request_id for request_id in acknowledged if request_id not in records]
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged requests have no record"
    verified = subprocess.run(
        [sys.executable, "-m", "gateway", "audit", "verify", "--dir", str(tmp_path / "var" / "audit")],
        capture_output=True,
        text=True,
        env={**os.environ, "AUDIT_CHECKPOINT_KEY": KEY},
        timeout=60,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK: no tampering found" in verified.stdout


def test_a_trail_that_cannot_be_written_fails_closed(tmp_path: Path) -> None:
    # The shell caps file size (ulimit -f, in KiB) and ignores SIGXFSZ, so a write past the cap
    # fails with EFBIG, as a write to a full disk fails with ENOSPC.
    process, url = _serve(
        tmp_path, _config(tmp_path, checkpoint_every=1000), shell_prefix="ulimit -f 48; trap '' XFSZ; "
    )
    try:
        statuses: list[int] = []
        served: list[str] = []
        with httpx.Client(timeout=5, headers=AUTH) as http:
            for _ in range(200):
                body = {"model": "echo", "messages": [{"role": "user", "content": "x" * 200}]}
                response = http.post(f"{url}/v1/chat/completions", json=body)
                statuses.append(response.status_code)
                if response.status_code == 200:
                    served.append(response.headers["x-request-id"])
                else:
                    assert response.status_code == 503
                    assert response.json()["error"]["code"] == "audit_unavailable"
        assert httpx.get(f"{url}/healthz").status_code == 200
    finally:
        process.kill()
        process.wait(timeout=10)
    first_failure = statuses.index(503)
    assert first_failure > 10
    assert set(statuses[first_failure:]) == {503}, "after a failed write every request must be refused"
    records = trail_records(tmp_path / "var" / "audit")
    assert all(request_id in records for request_id in served), "a request was answered without its record"
