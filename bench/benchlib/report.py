"""Rows, the side-by-side table, the targets check, and the files in ``bench/results``."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchlib.paired import SHOWN_THREAD_MS


@dataclass
class Row:
    target: str
    phase: str  # "closed" (wrk, N connections) or "open" (constant rate)
    mode: str  # "json" or "stream"
    load: int  # connections (closed) or offered requests per second (open)
    rps: float = math.nan
    p50: float = math.nan
    p90: float = math.nan
    p99: float = math.nan
    ttft_p50: float | None = None
    ttft_p90: float | None = None
    ttft_p99: float | None = None
    errors: int = 0
    requests: int = 0
    cpu_ms: float = math.nan
    peak_rss_mb: float = math.nan
    added_p50: float | None = None
    added_p99: float | None = None
    added_ttft_p50: float | None = None
    #: Busy share of the load core and of the server core during the measurement (%).
    load_core_busy: float = math.nan
    server_core_busy: float = math.nan
    #: CPU used by processes outside the benchmark during the cell, in % of one core.
    foreign_pct: float = math.nan
    #: Open loop: the most the driver sent a request after its scheduled time (ms).
    send_lag_max: float | None = None
    note: str = ""

    @property
    def load_label(self) -> str:
        return f"{self.load} conn" if self.phase == "closed" else f"{self.load} rps"


@dataclass
class ServerInfo:
    target: str
    description: str
    ready_s: float | None = None
    rss_after_warmup_mb: float | None = None
    peak_rss_mb: float | None = None
    idle_cpu_pct: float | None = None
    version: str = ""
    error: str = ""
    #: Why a first attempt failed, when the server was started again and the second one is what is shown.
    first_failure: str = ""


@dataclass
class Check:
    name: str
    value: str
    limit: str
    holds: bool | None  # None: could not be evaluated in this run


@dataclass
class PairedLatency:
    """Direct, gateway and pass-through at one offered rate, alternating: per-round percentiles and their medians."""

    mode: str
    rate: int
    rounds: int
    seconds: float
    p50: dict[str, list[float]]
    p99: dict[str, list[float]]
    ttft_p50: dict[str, list[float]]
    #: The median over rounds of each server's p50 (p99, time to first token) minus the direct call's that round.
    added_p50: dict[str, float | None]
    added_p99: dict[str, float | None]
    added_ttft_p50: dict[str, float | None]


@dataclass
class Paired:
    """Gateway and aiohttp pass-through measured in alternating runs (benchlib/paired.py)."""

    conns: int
    rounds: int
    seconds: float
    cpu_ms: dict[str, list[float]]
    rps: dict[str, list[float]]
    #: The median over rounds of the gateway's CPU per request ÷ the pass-through's in the same round.
    ratio: float
    latency: list[PairedLatency] = field(default_factory=list)
    #: Per server, the median CPU ms per request of each thread by name (``main`` is the event loop).
    threads: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Report:
    started: str
    machine: dict[str, Any]
    settings: dict[str, Any]
    servers: list[ServerInfo] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    paired: Paired | None = None


def add_deltas(rows: list[Row]) -> None:
    """Fill the ``added_*`` columns: each row against the direct row of the same phase, mode and load."""
    direct = {(r.phase, r.mode, r.load): r for r in rows if r.target == "direct"}
    for row in rows:
        base = direct.get((row.phase, row.mode, row.load))
        if row.target.startswith("direct") or base is None or math.isnan(row.p50) or math.isnan(base.p50):
            continue
        row.added_p50 = row.p50 - base.p50
        row.added_p99 = row.p99 - base.p99
        if row.ttft_p50 is not None and base.ttft_p50 is not None:
            row.added_ttft_p50 = row.ttft_p50 - base.ttft_p50


def find(rows: Iterable[Row], target: str, phase: str, mode: str, load: int) -> Row | None:
    for row in rows:
        if (row.target, row.phase, row.mode, row.load) == (target, phase, mode, load) and not math.isnan(row.rps):
            return row
    return None


def figure(value: float | None, digits: int = 2, signed: bool = False) -> str:
    """A table cell: ``-`` for a missing or NaN value, else the number (with its sign if ``signed``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _rps(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.0f}"


def _late_clause(settings: dict[str, Any]) -> str:
    lag = settings.get("max_send_lag_ms")
    return "" if lag is None else f", or an open-loop cell whose driver sent a request more than {lag:g} ms late,"


def table(rows: list[Row]) -> str:
    head = (
        "| scenario | mode | load | RPS | p50 ms | p90 ms | p99 ms | added p50 | added p99 | TTFT p50 | added TTFT p50 "
        "| errors | CPU ms/req | peak RSS MB | busy % load/server core | other procs % |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.note:
            lines.append(f"| {r.target} | {r.mode} | {r.load_label} | {r.note} | | | | | | | | | | | | |")
            continue
        lines.append(
            f"| {r.target} | {r.mode} | {r.load_label} | {_rps(r.rps)} | {figure(r.p50)} | {figure(r.p90)} "
            f"| {figure(r.p99)} "
            f"| {figure(r.added_p50, signed=True)} | {figure(r.added_p99, signed=True)} | {figure(r.ttft_p50)} "
            f"| {figure(r.added_ttft_p50, signed=True)} | {r.errors} | {figure(r.cpu_ms, 3)} "
            f"| {figure(r.peak_rss_mb, 0)} | {figure(r.load_core_busy, 0)} / {figure(r.server_core_busy, 0)} "
            f"| {figure(r.foreign_pct, 0)} |"
        )
    return "\n".join(lines)


def servers_table(servers: list[ServerInfo]) -> str:
    lines = [
        "| scenario | what | version | start-up to ready s | RSS after warm-up MB | peak RSS MB | idle CPU % |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for s in servers:
        what = s.description + (f" — **failed: {s.error}**" if s.error else "")
        if s.first_failure == s.error and s.error:
            what += " (twice)"
        elif s.first_failure:
            what += f" (started a second time; the first attempt failed: {s.first_failure})"
        lines.append(
            f"| {s.target} | {what} | {s.version} | {figure(s.ready_s)} | {figure(s.rss_after_warmup_mb, 0)} "
            f"| {figure(s.peak_rss_mb, 0)} | {figure(s.idle_cpu_pct, 1)} |"
        )
    return "\n".join(lines)


def checks_table(checks: list[Check]) -> str:
    lines = ["| target | measured | required | holds |", "|---|---:|---:|:---:|"]
    for c in checks:
        verdict = "n/a" if c.holds is None else ("yes" if c.holds else "**no**")
        lines.append(f"| {c.name} | {c.value} | {c.limit} | {verdict} |")
    return "\n".join(lines)


def paired_table(paired: Paired) -> str:
    lines = [
        f"{paired.rounds} rounds of {paired.seconds:g} s at {paired.conns} connection(s), json, both servers up at "
        "once and loaded in turn; per round, CPU ms per request:",
        "",
        "| server | " + " | ".join(str(i + 1) for i in range(paired.rounds)) + " | median | median RPS |",
        "|---|" + "---:|" * (paired.rounds + 2),
    ]
    for name, values in paired.cpu_ms.items():
        cells = " | ".join(f"{v:.3f}" for v in values)
        rps = statistics.median(paired.rps[name])
        lines.append(f"| {name} | {cells} | {statistics.median(values):.3f} | {rps:,.0f} |")
    lines += ["", f"Median of the rounds' ratios (gateway ÷ pass-through): **{paired.ratio:.3f}**."]
    if paired.threads:
        split = "; ".join(
            f"{server}: " + ", ".join(f"{name} {ms:.3f}" for name, ms in threads.items() if ms >= SHOWN_THREAD_MS)
            for server, threads in paired.threads.items()
        )
        lines += ["", f"By thread (medians, ms per request; `main` is the event loop): {split}."]
    for cell in paired.latency:
        lines += [
            "",
            f"Open loop, {cell.mode} at {cell.rate} RPS: {cell.rounds} rounds of {cell.seconds:g} s, the "
            "direct call first in each; per round, p50 ms (and time to first token):",
            "",
            "| server | " + " | ".join(str(i + 1) for i in range(cell.rounds)) + " | median added p50 "
            "| median added p99 | median added TTFT p50 |",
            "|---|" + "---:|" * (cell.rounds + 3),
        ]
        for name, values in cell.p50.items():
            ttfts = cell.ttft_p50.get(name) or []
            cells = " | ".join(
                f"{v:.2f}" + (f" ({ttfts[i]:.2f})" if i < len(ttfts) else "") for i, v in enumerate(values)
            )
            added = (cell.added_p50.get(name), cell.added_p99.get(name), cell.added_ttft_p50.get(name))
            lines.append(f"| {name} | {cells} | " + " | ".join(figure(a, signed=True) for a in added) + " |")
    return "\n".join(lines)


def markdown(report: Report) -> str:
    m, s = report.machine, report.settings
    parts = [
        f"# Benchmark {report.started}",
        "",
        f"Machine: {m['cpu']} x {m['cores']} cores, {m['memory_gb']} GB, {m['os']}, kernel {m['kernel']}, "
        f"Python {m['python']}; gateway commit `{m['commit']}`.",
        f"Pinning: {s['pinning']}",
        f"Fake upstreams: `fast` answers at once (closed loop, model `bench`); `llm` waits {s['latency_ms']} ms "
        f"before the first byte and {s['chunk_interval_ms']} ms between stream events (open loop, model "
        f"`bench-llm`). Streams: {s['stream_events']} SSE events with include_usage.",
        f"Closed loop: wrk, 1 thread, {s['seconds']} s per cell after a {s['warmup_s']} s warm-up at the same "
        f"concurrency. Open loop: constant rate for {s['seconds']} s after {s['warmup_s']} s at the same rate, "
        "latency from each request's scheduled send time.",
        "Added latency = this scenario's percentile minus the direct scenario's at the same load. "
        "CPU ms/req = server CPU (utime+stime, /proc, whole process tree) ÷ requests answered. "
        "Busy % = share of each core busy during the cell (/proc/stat); other procs % = CPU used by processes "
        "outside the benchmark (the machine is shared), in % of one core; a cell above "
        f"{s['max_foreign']:g}%{_late_clause(s)} is repeated up to {s['retries']} times and the least "
        "disturbed attempt kept.",
        "",
        "## Results",
        "",
        table(report.rows),
        "",
        "## Servers",
        "",
        servers_table(report.servers),
        "",
        "## Targets (same run)",
        "",
        checks_table(report.checks),
        "",
    ]
    if report.paired is not None:
        heading = "## Paired rounds (the figures the CPU and latency targets are judged on)"
        parts[-4:-4] = [heading, "", paired_table(report.paired), ""]
    if report.profiles:
        parts += ["## Profiles (py-spy, separate load after the measurements)", "", *report.profiles]
    return "\n".join(parts)


def write(report: Report, directory: Path, stamp: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    md_path = directory / f"{stamp}.md"
    json_path = directory / f"{stamp}.json"
    md_path.write_text(markdown(report))
    data = _without_nan(asdict(report))
    json_path.write_text(json.dumps(data, indent=2, default=str, allow_nan=False) + "\n")
    return md_path, json_path


def _without_nan(value: Any) -> Any:
    """JSON has no NaN: unknown numbers become null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _without_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nan(v) for v in value]
    return value
