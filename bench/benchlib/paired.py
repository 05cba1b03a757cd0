"""Servers measured in alternating runs: CPU per request (closed loop) and added latency (open loop).

All servers are up at once, pinned to the server core, idle but the one under
load: the runs alternate between them (a few seconds each), so a host whose
speed drifts over minutes drifts for every server alike, and the median of each
round's ratio (CPU) or difference from the direct call (latency) compares them.
A full run measures each cell once, minutes apart: on a shared VM the same
server's CPU per request moves by 5-15 % between such cells, and its added p50
at a low rate by half a millisecond, as much as the targets are about
(bench/README.md, "Seventh round").
"""

from __future__ import annotations

import concurrent.futures
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import load, procs


@dataclass
class Contender:
    name: str
    url: str  # the chat completions URL
    pid: int
    headers: dict[str, str] = field(default_factory=dict)
    cpu_ms: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    #: CPU ms per request of each named thread (``main`` is the event loop's), one value per round.
    threads: dict[str, list[float]] = field(default_factory=dict)

    @property
    def median_cpu_ms(self) -> float:
        return statistics.median(self.cpu_ms)

    @property
    def median_rps(self) -> float:
        return statistics.median(self.rps)

    def median_thread_ms(self, name: str) -> float:
        """The median over rounds of the thread's CPU ms per request (0 in rounds where it did not exist)."""
        values = self.threads.get(name, [])
        return statistics.median(values + [0.0] * (len(self.cpu_ms) - len(values))) if self.cpu_ms else 0.0


#: Threads whose CPU per request (ms) is below this print as 0.000: reports leave them out.
SHOWN_THREAD_MS = 0.0005


def main_first(names: Iterable[str]) -> list[str]:
    """Thread names in report order: the event loop (``main``) first, then the others by name."""
    return sorted(names, key=lambda n: (n != "main", n))


def measure(
    contender: Contender, body: Path, *, conns: int, seconds: float, core: int | None
) -> tuple[float, float, dict[str, float]]:
    """One run of wrk against ``contender``: CPU ms per request, RPS, and CPU ms per request by thread name."""
    before, threads_before = procs.cpu_seconds([contender.pid]), procs.thread_cpu(contender.pid)
    result = load.wrk(contender.url, body, connections=conns, seconds=seconds, headers=contender.headers, core=core)
    used, threads_after = procs.cpu_seconds([contender.pid]) - before, procs.thread_cpu(contender.pid)
    if result.error_count:
        raise RuntimeError(f"{contender.name}: {result.errors} errors")
    requests = max(result.requests, 1)
    by_thread = procs.cpu_by_thread_name(contender.pid, threads_before, threads_after)
    return 1000 * used / requests, result.rps, {name: 1000 * s / requests for name, s in by_thread.items()}


def alternate(
    contenders: list[Contender],
    body: Path,
    *,
    rounds: int,
    seconds: float,
    conns: int,
    core: int | None,
    warmup: float = 2.0,
    simultaneous: bool = False,
    on_round: Callable[[int, list[Contender]], None] | None = None,
) -> None:
    """Warm each contender up, then ``rounds`` rounds of one run each, in the same order every round.

    ``simultaneous`` loads every contender at the same time in each round instead. The servers
    then share the server core (and evict each other's caches), a busier regime than one server
    alone; but whatever the host does during a round it does to all of them alike, so two variants
    of the same server are compared more tightly than in runs taken in turn.
    """
    # In turn: one run after another. Simultaneously: a thread per contender measures its own
    # server around its own wrk, and the runs overlap in time.
    workers = concurrent.futures.ThreadPoolExecutor(len(contenders)) if simultaneous else None
    run_each = workers.map if workers is not None else map
    try:
        list(run_each(lambda c: measure(c, body, conns=conns, seconds=warmup, core=core), contenders))
        for round_ in range(1, rounds + 1):
            results = list(run_each(lambda c: measure(c, body, conns=conns, seconds=seconds, core=core), contenders))
            for contender, (cpu_ms, rps, threads) in zip(contenders, results, strict=True):
                contender.cpu_ms.append(cpu_ms)
                contender.rps.append(rps)
                for name, ms in threads.items():
                    contender.threads.setdefault(name, []).append(ms)
            if on_round is not None:
                on_round(round_, contenders)
    finally:
        if workers is not None:
            workers.shutdown()


def median_ratio(numerator: Contender, denominator: Contender) -> float:
    """The median over rounds of one round's CPU per request of ``numerator`` ÷ ``denominator``'s."""
    return statistics.median(a / b for a, b in zip(numerator.cpu_ms, denominator.cpu_ms, strict=True) if b > 0)


@dataclass
class Pacer:
    """A server measured at a constant offered rate; ``direct`` is the upstream itself (the baseline)."""

    name: str
    url: str  # the chat completions URL served by the llm fake upstream behind it
    headers: dict[str, str] = field(default_factory=dict)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    ttft_p50: list[float] = field(default_factory=list)


def alternate_open(
    pacers: list[Pacer],
    openloop: Path,
    body: Path,
    *,
    rate: int,
    stream: bool,
    rounds: int,
    seconds: float,
    core: int | None,
    warmup: float = 1.0,
    on_round: Callable[[int, list[Pacer]], None] | None = None,
) -> None:
    """``rounds`` rounds of one open-loop run per pacer at ``rate``, in the same order every round."""
    for round_ in range(1, rounds + 1):
        for pacer in pacers:
            result = load.openloop(
                openloop,
                pacer.url,
                body,
                rate=rate,
                seconds=seconds,
                stream=stream,
                headers=pacer.headers,
                core=core,
                warmup=warmup,
            )
            if result.error_count:
                raise RuntimeError(f"{pacer.name}: {result.errors} errors at {rate} RPS")
            pacer.p50.append(result.p50)
            pacer.p99.append(result.p99)
            if result.ttft_p50 is not None:
                pacer.ttft_p50.append(result.ttft_p50)
        if on_round is not None:
            on_round(round_, pacers)


def median_added(values: list[float], baseline: list[float]) -> float | None:
    """The median over rounds of ``values[i] - baseline[i]`` (what a server adds to the direct call)."""
    if not values or len(values) != len(baseline):
        return None
    return statistics.median(v - b for v, b in zip(values, baseline, strict=True))
