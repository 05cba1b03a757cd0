"""The two load generators: ``wrk`` (closed loop) and ``openloop`` (constant rate), both on the load core.

Each returns a :class:`LoadResult` with latencies in milliseconds. ``wrk``
counts a non-2xx answer as an error; ``openloop`` also counts a stream that
ends without ``data: [DONE]``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchlib.procs import pinned

BENCH = Path(__file__).resolve().parent.parent
WRK_SCRIPT = BENCH / "wrk" / "post.lua"


@dataclass
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50: float
    p90: float
    p99: float
    max: float
    errors: dict[str, int] = field(default_factory=dict)
    ttft_p50: float | None = None
    ttft_p90: float | None = None
    ttft_p99: float | None = None
    #: How late the driver sent, at worst (open loop only; a healthy driver stays well under 1 ms).
    send_lag_max: float | None = None

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _header_lines(headers: Mapping[str, str]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in headers.items())


def wrk(
    url: str,
    body_file: Path,
    *,
    connections: int,
    seconds: float,
    headers: Mapping[str, str],
    core: int | None,
) -> LoadResult:
    command = pinned(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(WRK_SCRIPT),
            url,
        ],
        core,
    )
    env = {**os.environ, "WRK_BODY_FILE": str(body_file), "WRK_HEADERS": _header_lines(headers)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    data = json.loads(line.removeprefix("WRKJSON "))
    duration = data["duration_us"] / 1e6
    errors = {k: v for k, v in data["errors"].items() if v}
    ok = data["requests"] - errors.get("status", 0)
    latency = data["latency_us"]
    return LoadResult(
        requests=data["requests"],
        seconds=duration,
        rps=ok / duration if duration else 0.0,
        p50=latency["p50"] / 1000,
        p90=latency["p90"] / 1000,
        p99=latency["p99"] / 1000,
        max=latency["max"] / 1000,
        errors=errors,
    )


def openloop(
    binary: Path,
    url: str,
    body_file: Path,
    *,
    rate: float,
    seconds: float,
    stream: bool,
    headers: Mapping[str, str],
    core: int | None,
    warmup: float = 1.0,
    timeout: float = 10.0,
) -> LoadResult:
    args: list[str] = [
        str(binary),
        "--url",
        url,
        "--body-file",
        str(body_file),
        "--rate",
        str(rate),
        "--duration",
        str(seconds),
        "--warmup",
        str(warmup),
        "--timeout",
        str(timeout),
    ]
    if stream:
        args.append("--stream")
    for name, value in headers.items():
        args += ["--header", f"{name}: {value}"]
    env = {**os.environ, "GOMAXPROCS": "1"}
    done = subprocess.run(
        pinned(args, core),
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + warmup + timeout + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"openloop failed ({done.returncode}): {done.stderr.strip()}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    latency = data.get("latency_ms") or {}
    ttft = data.get("ttft_ms") or {}
    nan = float("nan")
    return LoadResult(
        requests=data["sent"],
        seconds=data["duration_s"],
        rps=data["achieved_rps"],
        p50=latency.get("p50", nan),
        p90=latency.get("p90", nan),
        p99=latency.get("p99", nan),
        max=latency.get("max", nan),
        errors=data.get("errors") or {},
        ttft_p50=ttft.get("p50"),
        ttft_p90=ttft.get("p90"),
        ttft_p99=ttft.get("p99"),
        send_lag_max=(data.get("send_lag_ms") or {}).get("max"),
    )


def check_once(url: str, body: bytes, headers: Mapping[str, str], *, stream: bool) -> str | None:
    """Send one request and check its shape; return a problem, or None when the answer looks right."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read()[:300].decode('utf-8', 'replace')}"
    except (urllib.error.URLError, OSError) as exc:
        return f"request failed: {exc}"
    if status != 200:
        return f"HTTP {status}"
    if stream:
        events = [ln[5:].strip() for ln in text.splitlines() if ln.startswith("data:")]
        if not events or events[-1] != "[DONE]":
            return f"stream did not end with data: [DONE] ({len(events)} events)"
        chunks = [json.loads(e) for e in events[:-1]]
        if not any(c.get("choices") for c in chunks):
            return "stream carried no choices"
        return None
    try:
        answer = json.loads(text)
    except ValueError:
        return f"not JSON: {text[:200]!r}"
    if not answer.get("choices"):
        return f"no choices in answer: {text[:200]!r}"
    return None


def body_files(directory: Path, models: Sequence[str]) -> dict[tuple[str, bool], Path]:
    """Write the request bodies (one per model, streamed or not); return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[tuple[str, bool], Path] = {}
    for model in models:
        for stream in (False, True):
            path = directory / f"body-{model}-{'stream' if stream else 'json'}.json"
            path.write_bytes(chat_body(model, stream))
            files[(model, stream)] = path
    return files


def chat_body(model: str, stream: bool) -> bytes:
    """A realistic ~1 KB chat request: a system prompt, a short conversation, sampling parameters."""
    body: dict[str, object] = {
        "model": model,
        "messages": [
            {
                "role": "system",
                "content": "You are a careful assistant for an insurance company's claims team. Answer in plain "
                "English, cite the policy section you rely on, and never invent policy numbers. If a question "
                "needs data you do not have, say which document would contain it.",
            },
            {
                "role": "user",
                "content": "A customer reports water damage in the kitchen after a pipe burst "
                "overnight. The policy has a 500 EUR deductible. What should the adjuster check first?",
            },
            {
                "role": "assistant",
                "content": "First confirm the cause: a sudden burst is usually covered, gradual "
                "leakage often is not. Then check the date of loss against the policy period.",
            },
            {"role": "user", "content": "The pipe was 30 years old. Does that change anything? Keep it short."},
        ],
        "temperature": 0.2,
        "max_tokens": 256,
        "user": "bench-user-42",
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()
