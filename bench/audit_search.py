"""Audit trail benchmarks: search and stats over a large synthetic trail, and the stage's hot-path cost.

    python bench/audit_search.py search [--records 1000000] [--dir DIR] [--keep] [--scan]
    python bench/audit_search.py overhead [--requests 20000]

``search`` writes a synthetic trail through the real segment writer (hash
chain, checkpoints, rotation at 64 MiB; fsync off to save time), then times
the first index build, selective searches, a time-range search and stats
queries through the index, and (with ``--scan``) the same searches by scanning
the JSONL files without the index.

``overhead`` runs the audit stage around a stage that answers at once, on a
started AuditLog (fsync on, then off), and compares it with the bare stage: wall time
per request at concurrency 1 and 32, and CPU time per request (event loop and
writer thread together).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.audit import search
from gateway.audit.capture import CapturePolicy
from gateway.audit.chain import make_signer
from gateway.audit.config import AuditConfig
from gateway.audit.index import Index
from gateway.audit.log import AuditLog
from gateway.audit.query import Filters
from gateway.audit.record import utc_iso
from gateway.audit.segments import SegmentWriter
from gateway.exchange import Attempt, Exchange, Reply
from gateway.identity.principal import Principal
from gateway.pipeline.audit import Audit
from gateway.policy.decision import Decision

TEAMS = [f"team-{i:02d}" for i in range(20)]
MODELS = [
    "echo",
    "gpt-4o-mini",
    "gpt-4o",
    "claude-sonnet",
    "gemini-flash",
    "text-embedding-3-small",
    "llama",
    "mistral",
]
PROVIDERS = {"echo": "echo", "llama": "vllm", "mistral": "vllm"}
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SPAN = 30 * 86400


def synthetic(n: int, rng: random.Random) -> dict[str, Any]:
    model = rng.choice(MODELS)
    provider = PROVIDERS.get(model, "openai" if model.startswith(("gpt", "text")) else model.split("-")[0])
    allowed = rng.random() > 0.05
    status = 200 if allowed else 403
    if allowed and rng.random() < 0.02:
        status = rng.choice((429, 502, 504))
    subject = f"user{rng.randrange(1000):04d}"
    prompt, completion = rng.randrange(10, 2000), rng.randrange(1, 800)
    return {
        "v": 1,
        "type": "request",
        "time": utc_iso(START + SPAN * n / 1_000_000 + rng.random()),
        "request_id": f"req_{n:024x}",
        "operation": "chat.completions",
        "client": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
        "principal": {
            "subject": subject,
            "roles": ["developer"],
            "team": rng.choice(TEAMS),
            "method": "api_key",
            "key_id": f"k_{subject}",
            "issuer": None,
            "delegation": [],
        },
        "model": model,
        "provider": provider if allowed else None,
        "deployment": model if allowed else None,
        "attempts": [{"provider": provider, "model": model, "status": status, "error": None, "latency_ms": 412.5}]
        if allowed
        else [],
        "decision": {
            "allowed": allowed,
            "action": "chat",
            "resource": model,
            "domain": "team",
            "policy_version": "3f9a1c2b7d4e5f60",
            "rule": "p, developer, *, gpt-4o-mini*, chat, allow" if allowed else None,
        },
        "pii": [{"type": "EMAIL_ADDRESS", "count": 1, "action": "mask"}] if rng.random() < 0.1 else [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        if status == 200
        else None,
        "cost": None,
        "latency_ms": {"total": 415.2, "upstream": 412.5, "ttft": 120.3, "overhead": 2.7},
        "status": status,
        "error": None if status == 200 else {"type": "permission_error", "code": "access_denied"},
        "outcome": "ok" if status == 200 else "error",
        "stream": rng.random() < 0.5,
        "content": None,
    }


def _timed(label: str, action: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - started
    size = len(result) if isinstance(result, list) else ""
    print(f"  {label:<58} {elapsed:8.3f} s  {size}")
    return result


def bench_search(args: argparse.Namespace) -> None:
    directory = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="audit-bench-"))
    config = AuditConfig(dir=str(directory), replica_id="bench", fsync=False, checkpoint_key="bench-key")
    if not any(directory.glob("*.jsonl")):
        rng = random.Random(7)
        writer = SegmentWriter(config, make_signer(config.checkpoint_key, ""))
        started = time.perf_counter()
        writer.open()
        for first in range(0, args.records, 1000):
            writer.append([synthetic(n, rng) for n in range(first, min(first + 1000, args.records))])
            writer.after_sync()
            writer.drain()
        writer.close()
        elapsed = time.perf_counter() - started
        print(
            f"wrote {args.records:,} records in {elapsed:.1f} s ({args.records / elapsed:,.0f}/s, chained and signed)"
        )
    size = sum(p.stat().st_size for p in directory.glob("*.jsonl"))
    print(f"trail: {directory} — {len(list(directory.glob('*.jsonl')))} segments, {size / 2**20:,.0f} MiB")
    (directory / "index.sqlite").unlink(missing_ok=True)
    index = Index(directory)
    _timed("index build (first query after the segments closed)", index.sync)
    index.close()
    print(f"  index size: {(directory / 'index.sqlite').stat().st_size / 2**20:,.0f} MiB")

    queries = {
        "selective: --subject user0042 --model gpt-4o": Filters(subject="user0042", model="gpt-4o"),
        "selective: --request-id (one record)": Filters(request_id=f"req_{args.records // 2:024x}"),
        "selective: --team team-07 --decision deny --since/--until 1 day": Filters(
            team="team-07", decision="deny", since="2026-01-10T00:00:00.000Z", until="2026-01-11T00:00:00.000Z"
        ),
        "time range: one hour": Filters(since="2026-01-15T10:00:00.000Z", until="2026-01-15T11:00:00.000Z"),
    }
    print("with the index:")
    for label, filters in queries.items():
        _timed(label, lambda f=filters: search.search(directory, f))  # type: ignore[misc]
    stats = _timed("stats: whole trail, per team and model", lambda: search.stats(directory, Filters()))
    print(f"    {stats.total().calls:,} calls, {stats.total().denials:,} denials, {len(stats.groups)} groups")
    _timed(
        "stats: one team, one week",
        lambda: search.stats(directory, Filters(team="team-03", since="2026-01-08", until="2026-01-15")),
    )
    if args.scan:
        print("scanning the JSONL files (no index):")
        for label, filters in list(queries.items())[:2]:
            _timed(label, lambda f=filters: search.search(directory, f, use_index=False))  # type: ignore[misc]
        _timed("stats: whole trail", lambda: search.stats(directory, Filters(), use_index=False))
    if not args.keep and not args.dir:
        shutil.rmtree(directory)


async def _overhead(
    requests: int, concurrency: int, audited: bool, directory: Path, fsync: bool
) -> tuple[float, float]:
    replica = f"o{concurrency}{int(audited)}{int(fsync)}"
    log = AuditLog(
        AuditConfig(dir=str(directory), replica_id=replica, checkpoint_key="k", fsync=fsync), capture=CapturePolicy()
    )
    log.start()
    stage = Audit(log)
    principal = Principal("alice", ("developer",), "research", "api_key", key_id="k_alice")
    decision = Decision(True, "chat", "echo", "research", "3f9a1c2b7d4e5f60", "p, developer, *, echo, *, allow")

    async def answer(exchange: Exchange) -> Reply:
        exchange.attempts.append(Attempt("echo", "echo-1", time.perf_counter(), 200, None, 0.0004))
        exchange.usage = {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}
        return Reply(body={"object": "chat.completion", "choices": []})

    async def one(n: int) -> None:
        exchange = Exchange(
            f"req_{n:024x}",
            "chat.completions",
            b"",
            {},
            "127.0.0.1",
            time.perf_counter(),
            principal=principal,
            decision=decision,
            model="echo",
        )
        if audited:
            await stage(exchange, answer)
        else:
            await answer(exchange)

    async def worker(start: int) -> None:
        for n in range(start, requests, concurrency):
            await one(n)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await log.close()
    return wall / requests * 1e6, cpu / requests * 1e6


def bench_overhead(args: argparse.Namespace) -> None:
    directory = Path(tempfile.mkdtemp(prefix="audit-overhead-"))
    try:
        print(f"{args.requests:,} requests per run; times per request")
        for fsync, concurrency in ((True, 1), (True, 32), (False, 1), (False, 32)):
            bare = asyncio.run(_overhead(args.requests, concurrency, False, directory, fsync))
            audited = asyncio.run(_overhead(args.requests, concurrency, True, directory, fsync))
            print(
                f"  fsync {'on ' if fsync else 'off'} concurrency {concurrency:>2}: "
                f"bare {bare[0]:7.1f} µs wall {bare[1]:6.1f} µs CPU | "
                f"audited {audited[0]:7.1f} µs wall {audited[1]:6.1f} µs CPU | "
                f"added {audited[0] - bare[0]:7.1f} µs wall, {audited[1] - bare[1]:6.1f} µs CPU"
            )
    finally:
        shutil.rmtree(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    find = sub.add_parser("search")
    find.add_argument("--records", type=int, default=1_000_000)
    find.add_argument("--dir", help="reuse (or create) a trail here instead of a temporary directory")
    find.add_argument("--keep", action="store_true", help="keep the temporary trail")
    find.add_argument("--scan", action="store_true", help="also time searches without the index")
    find.set_defaults(run=bench_search)
    cost = sub.add_parser("overhead")
    cost.add_argument("--requests", type=int, default=20_000)
    cost.set_defaults(run=bench_overhead)
    args = parser.parse_args()
    os.nice(5)  # a benchmark should not starve whatever else shares the machine
    args.run(args)


if __name__ == "__main__":
    main()
