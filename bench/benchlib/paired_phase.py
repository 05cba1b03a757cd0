"""The last phase of a full run: the gateway and the aiohttp pass-through in paired rounds.

The CPU target is judged on the closed-loop rounds at the lowest connection
count (median of the rounds' gateway ÷ pass-through ratios); the latency
targets on open-loop rounds in which the direct call, the gateway and the
pass-through (and the compiled Go pass-through, when it is among the targets)
take turns at the same offered rate (median of each round's difference from
the direct call). See benchlib/paired.py for why.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchlib import paired, procs, report
from benchlib.procs import Server
from benchlib.targets import FAST_MODEL, LLM_MODEL, Context, Target

#: The servers compared, in this order; the first is the one judged.
PAIRED = ("gateway", "aiohttp-proxy")
#: Paced with them in the open-loop rounds when it is among the targets: what a compiled
#: pass-through adds on this machine, the floor that the latency figures are read against.
FLOOR = "go-proxy"
#: The open-loop cells the targets name: JSON at 20 RPS (added p50), streams at 50 RPS (time to first
#: token), both at 200 RPS (added p99).
LATENCY_CELLS = (("json", 20), ("stream", 50), ("json", 200), ("stream", 200))


@dataclass
class Settings:
    conns: int
    cpu_rounds: int
    cpu_seconds: float
    latency_rounds: int
    latency_seconds: float
    rates: list[int]
    modes: list[str]
    warmup: float
    load_core: int | None
    max_foreign: float
    quiet_wait: float
    openloop: Path
    bodies: dict[tuple[str, bool], Path]


def run(targets: list[Target], context: Context, settings: Settings) -> report.Paired | None:
    pair = [t for name in PAIRED for t in targets if t.name == name]
    if len(pair) < len(PAIRED) or "json" not in settings.modes or settings.cpu_rounds <= 0:
        return None
    print(
        f"\n== paired: {' and '.join(PAIRED)} up at once; {settings.cpu_rounds} closed-loop rounds of "
        f"{settings.cpu_seconds:g} s at {settings.conns} connection(s), then open-loop rounds",
        flush=True,
    )
    servers: list[Server] = []
    try:
        # Where each server is reached at a constant rate: (name, chat completions URL, headers).
        contenders: list[paired.Contender] = []
        paced: list[tuple[str, str, dict[str, str]]] = [("direct", context.llm_upstream_url + "/chat/completions", {})]
        for target in pair + [t for t in targets if t.name == FLOOR]:
            port = procs.free_port()
            server = target.launch(context, port)
            assert server is not None
            servers.append(server)
            urls, headers = target.urls(context, port), target.headers(context)
            if target in pair:
                contenders.append(
                    paired.Contender(target.name, urls["fast"] + "/chat/completions", server.pid, headers)
                )
            paced.append((target.name, urls["llm"] + "/chat/completions", headers))
        procs.wait_quiet(
            [s.pid for s in servers] + list(context.upstream_pids.values()), settings.max_foreign, settings.quiet_wait
        )
        result = _cpu(contenders, settings)
        for mode, rate in LATENCY_CELLS:
            if mode in settings.modes and rate in settings.rates and settings.latency_rounds > 0:
                pacers = [paired.Pacer(name, url, headers) for name, url, headers in paced]
                cell = latency_rounds(
                    pacers,
                    settings.openloop,
                    settings.bodies[(LLM_MODEL, mode == "stream")],
                    mode=mode,
                    rate=rate,
                    rounds=settings.latency_rounds,
                    seconds=settings.latency_seconds,
                    core=settings.load_core,
                    warmup=settings.warmup / 2,
                )
                result.latency.append(cell)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"   FAILED: {exc}", flush=True)
        return None
    finally:
        for server in servers:
            procs.stop(server)
    return result


def _cpu(contenders: list[paired.Contender], settings: Settings) -> report.Paired:
    def show(round_: int, done: list[paired.Contender]) -> None:
        cells = "  ".join(f"{c.name} {c.cpu_ms[-1]:.3f} ms" for c in done)
        print(f"   round {round_:2d}: {cells}", flush=True)

    paired.alternate(
        contenders,
        settings.bodies[(FAST_MODEL, False)],
        rounds=settings.cpu_rounds,
        seconds=settings.cpu_seconds,
        conns=settings.conns,
        core=settings.load_core,
        warmup=settings.warmup,
        on_round=show,
    )
    gateway, reference = contenders
    result = report.Paired(
        conns=settings.conns,
        rounds=settings.cpu_rounds,
        seconds=settings.cpu_seconds,
        cpu_ms={c.name: c.cpu_ms for c in contenders},
        rps={c.name: c.rps for c in contenders},
        ratio=paired.median_ratio(gateway, reference),
        threads={c.name: {n: c.median_thread_ms(n) for n in paired.main_first(c.threads)} for c in contenders},
    )
    print(
        f"   CPU: median of the rounds' ratios {result.ratio:.3f} (medians {gateway.median_cpu_ms:.3f} vs "
        f"{reference.median_cpu_ms:.3f} ms)",
        flush=True,
    )
    return result


def latency_rounds(
    pacers: list[paired.Pacer],
    openloop: Path,
    body: Path,
    *,
    mode: str,
    rate: int,
    rounds: int,
    seconds: float,
    core: int | None,
    warmup: float,
) -> report.PairedLatency:
    """Rounds of ``pacers`` (the direct call first) at ``rate``; each one's added latency over the direct call's."""
    stream = mode == "stream"

    def show(round_: int, done: list[paired.Pacer]) -> None:
        cells = "  ".join(f"{p.name} {p.p50[-1]:.2f}" + (f" ({p.ttft_p50[-1]:.2f})" if stream else "") for p in done)
        print(f"   {mode} {rate} RPS, round {round_}: p50 ms {cells}", flush=True)

    paired.alternate_open(
        pacers,
        openloop,
        body,
        rate=rate,
        stream=stream,
        rounds=rounds,
        seconds=seconds,
        core=core,
        warmup=warmup,
        on_round=show,
    )
    direct = pacers[0]
    cell = report.PairedLatency(
        mode=mode,
        rate=rate,
        rounds=rounds,
        seconds=seconds,
        p50={p.name: p.p50 for p in pacers},
        p99={p.name: p.p99 for p in pacers},
        ttft_p50={p.name: p.ttft_p50 for p in pacers},
        added_p50={p.name: paired.median_added(p.p50, direct.p50) for p in pacers[1:]},
        added_p99={p.name: paired.median_added(p.p99, direct.p99) for p in pacers[1:]},
        added_ttft_p50={p.name: paired.median_added(p.ttft_p50, direct.ttft_p50) for p in pacers[1:]} if stream else {},
    )
    for label, figures in (("p50", cell.added_p50), ("p99", cell.added_p99)):
        added = "  ".join(f"{name} {value:+.2f}" for name, value in figures.items() if value is not None)
        print(f"   {mode} {rate} RPS: median added {label} {added}", flush=True)
    return cell
