"""Sample the gateway with py-spy under load and summarise where its time goes.

py-spy writes collapsed stacks (``--format raw``; speedscope opens them too).
The summary gives the share of samples per thread, per component (the
innermost gateway component on the stack owns the sample, library calls
included) and per function, on the stack (inclusive) and at its top (self);
idle samples are excluded.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from benchlib.load import WRK_SCRIPT
from benchlib.procs import cpu_by_thread_name, pinned, thread_cpu

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


@dataclass
class Hotspot:
    function: str
    share: float


@dataclass
class Profile:
    path: Path
    samples: int
    #: Share of samples per thread kind: the event loop (main thread) and each background thread's entry point.
    threads: list[Hotspot]
    self_top: list[Hotspot]
    inclusive_top: list[Hotspot]
    #: Samples per component (main thread), or per background thread.
    components: list[Hotspot]


def record(py_spy: Path, pid: int, out: Path, seconds: float, core: int | None, rate: int = 250) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    command = pinned(
        [
            str(py_spy),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(round(seconds)),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(out),
        ],
        core,
    )
    subprocess.run(command, check=True, capture_output=True, timeout=seconds + 60)
    return out


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{match.group('func')} ({file})"


#: Components. The innermost frame (leaf first) matching a project component, the access log or uvicorn owns
#: the sample, so a library call made by a gateway component counts for it (httptools under gateway/upstream/
#: is the upstream client; orjson under adapters/ is adapters). Only stacks with none of those fall back to
#: the library markers of LIBRARIES (callbacks the event loop runs by itself).
COMPONENTS: list[tuple[str, str]] = [
    ("logging/", "access log (logging)"),
    ("uvicorn/", "uvicorn + httptools (HTTP server, socket writes)"),
    ("starlette/", "starlette routing"),
    ("gateway/pipeline/__init__.py", "pipeline chaining (_link)"),
    ("gateway/audit/", "audit (record building, writer)"),
    ("gateway/identity/", "stage: authenticate"),
    ("gateway/policy/", "stage: authorize (casbin)"),
    ("casbin/", "stage: authorize (casbin)"),
    ("gateway/pipeline/", "stage: {name}"),
    ("adapters/", "adapters (validate, translate, SSE)"),
    ("gateway/upstream/", "upstream client (gateway/upstream/: HTTP/1.1 on the event loop, httptools)"),
    ("gateway/endpoints/respond.py", "response writing (JSON, SSE)"),
    ("gateway/endpoints/", "endpoint (read body, build exchange)"),
    ("gateway/asgi/", "middleware: {name}"),
    ("_proxy.py", "pass-through proxy code (with its client library calls)"),
]
LIBRARIES: list[tuple[str, str]] = [
    ("aiohttp/", "aiohttp I/O callbacks (upstream responses)"),
    ("asyncio/", "event loop (uvloop, C; asyncio)"),
]


def component(frames: list[str]) -> str:
    for table in (COMPONENTS, LIBRARIES):
        for frame in reversed(frames):
            for marker, label in table:
                if marker in frame:
                    name = frame.split(marker, 1)[1].split(".py", 1)[0].split("/")[-1] if "{name}" in label else ""
                    return label.format(name=name)
    return "other"


def _thread_kind(frames: list[str]) -> str:
    """Background threads start in ``Thread._bootstrap``; name them by their first frame past threading.py."""
    if not frames[0].startswith("Thread._bootstrap"):
        return "main thread (event loop)"
    entry = next((f for f in frames if "threading.py" not in f), frames[-1])
    return "thread: " + _short(entry)


def summarise(path: Path, top: int = 20) -> Profile:
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    components: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        kind = _thread_kind(frames)
        threads[kind] += count
        self_counts[_short(frames[-1])] += count
        for name in {_short(f) for f in frames}:
            inclusive[name] += count
        components[component(frames) if kind.startswith("main") else kind] += count

    def ranked(counter: Counter[str], n: int) -> list[Hotspot]:
        return [Hotspot(name, 100 * c / total) for name, c in counter.most_common(n)] if total else []

    return Profile(
        path, total, ranked(threads, 10), ranked(self_counts, top), ranked(inclusive, top), ranked(components, 40)
    )


def markdown(profile: Profile, title: str, cpu_lines: list[str] | None = None, main_ms: float | None = None) -> str:
    """``main_ms``: the main thread's CPU per request, to turn its components' shares into milliseconds."""
    lines = [f"### {title}", "", f"{profile.samples} samples (active only), `{profile.path.name}`", ""]
    lines += cpu_lines or []
    lines += ["| samples % | thread |", "|---:|---|"]
    lines += [f"| {h.share:.1f} | {h.function} |" for h in profile.threads]
    lines += ["", "| self % | function (leaf) |", "|---:|---|"]
    lines += [f"| {h.share:.1f} | `{h.function}` |" for h in profile.self_top]
    lines += ["", "| inclusive % | function (on the stack) |", "|---:|---|"]
    lines += [f"| {h.share:.1f} | `{h.function}` |" for h in profile.inclusive_top]
    main_share = sum(h.share for h in profile.threads if h.function.startswith("main"))
    lines += [
        "",
        "| samples % | ≈ ms/request | component (innermost gateway component on the stack) |",
        "|---:|---:|---|",
    ]
    for h in profile.components:
        ms = (
            f"{main_ms * h.share / main_share:.3f}"
            if main_ms and main_share and not h.function.startswith("thread")
            else ""
        )
        lines.append(f"| {h.share:.1f} | {ms} | {h.function} |")
    return "\n".join(lines) + "\n"


def _by_name(pid: int, before: dict[int, float], after: dict[int, float], requests: float) -> str:
    """The other threads' CPU per request, grouped by thread name (the audit sync thread; reqwest's in 0.5.x)."""
    grouped = cpu_by_thread_name(pid, before, after)
    grouped.pop("main", None)
    return ", ".join(f"{name} {1000 * s / requests:.3f} ms" for name, s in sorted(grouped.items(), key=lambda i: -i[1]))


def under_load(
    py_spy: Path,
    pid: int,
    url: str,
    body: Path,
    headers: Mapping[str, str],
    *,
    out: Path,
    seconds: float,
    core: int | None,
    title: str,
) -> str:
    """Profile ``pid`` while wrk sends to ``url`` at 16 connections; return the markdown summary.

    The CPU per request of the main thread and of the other threads comes from
    ``/proc/<pid>/task`` over the same window (py-spy samples a thread as active
    while it waits in a system call such as fsync, so samples are not CPU).
    """
    wrk = subprocess.Popen(
        pinned(["wrk", "-t1", "-c16", f"-d{round(seconds) + 3}s", "-s", str(WRK_SCRIPT), url], core),
        env={
            **os.environ,
            "WRK_BODY_FILE": str(body),
            "WRK_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items()),
        },
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    before, began = thread_cpu(pid), time.perf_counter()
    record(py_spy, pid, out, seconds, core)
    after, wall = thread_cpu(pid), time.perf_counter() - began
    output, _ = wrk.communicate()
    rps = next((float(ln.split()[1]) for ln in output.splitlines() if ln.startswith("Requests/sec")), 0.0)
    main_s = after.get(pid, 0.0) - before.get(pid, 0.0)
    other_s = sum(v - before.get(t, 0.0) for t, v in after.items() if t != pid)
    requests = max(rps * wall, 1)
    cpu_lines = [
        f"Under the profile: {rps:,.0f} RPS; CPU per request {1000 * main_s / requests:.3f} ms in the main thread "
        f"(event loop) + {1000 * other_s / requests:.3f} ms in {len(after) - 1} other threads (/proc/<pid>/task"
        f"; {_by_name(pid, before, after, requests)}). "
        "py-spy counts a thread waiting in a system call (fsync) as active, so thread samples are not CPU; "
        "the ms column spreads the main thread's CPU over its components by their samples.",
        "",
    ]
    return markdown(summarise(out), title, cpu_lines, main_ms=1000 * main_s / requests)
