"""Run the gateway with a garbage-collector trace: every collection slower than ``--min-ms`` is logged.

    .venv/bin/python bench/tools/gctrace.py --min-ms 2 -- serve --config bench/gateway.yaml --port 8080

Everything after ``--`` is passed to the ``gateway`` command. Each slow collection prints one line
to stderr (generation, wall and CPU milliseconds, objects collected), the first slow full
collection also what the heap holds, and at exit a summary per generation. A diagnostic for
latency tails: a full (generation 2) collection stops the event loop. ``--freeze`` calls
``gc.freeze()`` after the imports, to measure what freezing the start-up heap would change.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import sys
import time
from collections import Counter, defaultdict, deque
from typing import Any

from gateway.cli import main


def _sample(container: Any) -> str:
    item = next(iter(container.items() if isinstance(container, dict) else container), None)
    return repr(item)[:80]


def install(min_ms: float) -> None:
    began = [0.0, 0.0]
    totals: dict[int, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0], began[1] = time.perf_counter(), time.thread_time()
            return
        ms = (time.perf_counter() - began[0]) * 1000
        cpu_ms = (time.thread_time() - began[1]) * 1000
        generation = info["generation"]
        total = totals[generation]
        total[0] += 1
        total[1] += ms
        total[2] = max(total[2], ms)
        if ms >= min_ms:
            print(
                f"gctrace: gen{generation} {ms:.1f} ms ({cpu_ms:.1f} ms CPU), collected {info['collected']}",
                file=sys.stderr,
                flush=True,
            )
            if generation == 2 and not censused:
                censused.append(True)
                census()

    censused: list[bool] = []

    def census() -> None:
        """Once, at the first slow full collection: what the collector has to walk."""
        objects = gc.get_objects()
        kinds = Counter(f"{type(o).__module__!s}.{type(o).__qualname__}" for o in objects)
        top = ", ".join(f"{name} {count}" for name, count in kinds.most_common(12))
        print(f"gctrace: {len(objects)} tracked objects; most common: {top}", file=sys.stderr, flush=True)
        # One large container costs a full collection as much as its items: name the largest.
        sized = sorted(
            (
                (len(o), type(o).__qualname__, _sample(o))
                for o in objects
                if isinstance(o, dict | list | set | tuple | deque)
            ),
            reverse=True,
        )[:5]
        for size, kind, sample in sized:
            print(f"gctrace: large {kind} of {size} items, e.g. {sample}", file=sys.stderr, flush=True)

    def summary() -> None:
        for generation, (count, ms, worst) in sorted(totals.items()):
            print(
                f"gctrace: gen{generation}: {count:.0f} collections, {ms:.0f} ms in all, longest {worst:.1f} ms",
                file=sys.stderr,
                flush=True,
            )

    gc.callbacks.append(callback)
    atexit.register(summary)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-ms", type=float, default=2.0)
    parser.add_argument(
        "--freeze",
        action="store_true",
        help="gc.freeze() once everything is imported: the experiment for the long full collections",
    )
    parser.add_argument("gateway_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    install(args.min_ms)
    if args.freeze:
        import gateway.app  # noqa: F401  (the server's imports, before the heap is frozen)

        gc.freeze()
    rest = args.gateway_args[1:] if args.gateway_args[:1] == ["--"] else args.gateway_args
    raise SystemExit(main(rest))
