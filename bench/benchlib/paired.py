"""CPU per request of several servers, measured in alternating runs.

All servers are up at once, pinned to the server core, idle but the one under
load: the runs alternate between them (a few seconds of wrk each), so a host
whose speed drifts over minutes drifts for every server alike, and the median
of each round's ratio compares them. A full run measures each cell once, minutes
apart: on a shared VM the same server's CPU per request moves by 5-15 % between
such cells, more than the differences the CPU target is about (bench/README.md).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
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

    @property
    def median_cpu_ms(self) -> float:
        return statistics.median(self.cpu_ms)

    @property
    def median_rps(self) -> float:
        return statistics.median(self.rps)


def measure(contender: Contender, body: Path, *, conns: int, seconds: float, core: int | None) -> tuple[float, float]:
    """One run of wrk against ``contender``: its CPU ms per request and its RPS (raises on errors)."""
    before = procs.cpu_seconds([contender.pid])
    result = load.wrk(contender.url, body, connections=conns, seconds=seconds, headers=contender.headers, core=core)
    used = procs.cpu_seconds([contender.pid]) - before
    if result.error_count:
        raise RuntimeError(f"{contender.name}: {result.errors} errors")
    return 1000 * used / max(result.requests, 1), result.rps


def alternate(
    contenders: list[Contender],
    body: Path,
    *,
    rounds: int,
    seconds: float,
    conns: int,
    core: int | None,
    warmup: float = 2.0,
    on_round: Callable[[int, list[Contender]], None] | None = None,
) -> None:
    """Warm each contender up, then ``rounds`` rounds of one run each, in the same order every round."""
    for contender in contenders:
        measure(contender, body, conns=conns, seconds=warmup, core=core)
    for round_ in range(1, rounds + 1):
        for contender in contenders:
            cpu_ms, rps = measure(contender, body, conns=conns, seconds=seconds, core=core)
            contender.cpu_ms.append(cpu_ms)
            contender.rps.append(rps)
        if on_round is not None:
            on_round(round_, contenders)


def median_ratio(numerator: Contender, denominator: Contender) -> float:
    """The median over rounds of one round's CPU per request of ``numerator`` ÷ ``denominator``'s."""
    return statistics.median(a / b for a, b in zip(numerator.cpu_ms, denominator.cpu_ms, strict=True) if b > 0)
