"""The targets the gateway is judged on, evaluated on one run's rows (ratios within the same run)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from benchlib.report import Check, Paired, PairedLatency, Row, ServerInfo, find

STARTUP_LIMIT_S = 2.0
RSS_LIMIT_MB = 150.0


def _per_core(row: Row | None) -> float | None:
    """Requests per CPU-second of the server: the RPS one fully used core would give."""
    if row is None or math.isnan(row.cpu_ms) or row.cpu_ms <= 0:
        return None
    return 1000.0 / row.cpu_ms


def _check(
    name: str, value: float | None, limit: str, fmt: Callable[[float], str], ok: Callable[[float], bool]
) -> Check:
    if value is None or math.isnan(value):
        return Check(name, "-", limit, None)
    return Check(name, fmt(value), limit, ok(value))


def _ms_with_note(value: float, note: str) -> str:
    return f"{value:.2f} ms{note}"


def evaluate(
    rows: list[Row],
    servers: list[ServerInfo],
    conns: list[int],
    rates: list[int],
    upstream_alone: str,
    paired: Paired | None = None,
) -> list[Check]:
    checks: list[Check] = []
    low, high = min(conns), max(conns)

    for mode in ("json", "stream"):
        one, many = find(rows, "gateway", "closed", mode, low), find(rows, "gateway", "closed", mode, high)
        ratio = many.rps / one.rps if one and many and one.rps else None
        checks.append(
            _check(
                f"gateway RPS at {high} conn ÷ RPS at {low} conn ({mode})",
                ratio,
                "≥ 0.90",
                lambda v: f"{v:.2f}",
                lambda v: v >= 0.90,
            )
        )

    gw, ref = find(rows, "gateway", "closed", "json", low), find(rows, "aiohttp-proxy", "closed", "json", low)
    single = gw.cpu_ms / ref.cpu_ms if gw and ref and ref.cpu_ms > 0 else None
    cells = f"{single:.2f}x ({gw.cpu_ms:.3f} vs {ref.cpu_ms:.3f} ms)" if single and gw and ref else ""
    name = f"gateway CPU/request ÷ aiohttp pass-through's at {low} conn (json)"
    if paired is not None:
        # The paired figure decides: the two single cells ran minutes apart, and the host drifts.
        rounds = paired.rounds
        checks.append(
            _check(
                name,
                paired.ratio,
                "≤ 1.3x",
                lambda v: f"{v:.2f}x, median of {rounds} paired rounds (single cells: {cells or '-'})",
                lambda v: v <= 1.3,
            )
        )
    else:
        checks.append(
            _check(name, single, "≤ 1.3x", lambda v: f"{cells} (single cells, not paired)", lambda v: v <= 1.3)
        )

    if 50 in rates:
        row = find(rows, "gateway", "open", "stream", 50)
        single = row.added_ttft_p50 if row else None
        cell = _paired_cell(paired, "stream", 50)
        ttft = cell.added_ttft_p50.get("gateway") if cell else None
        if cell is not None and ttft is not None:
            checks.append(
                Check(
                    "streaming TTFT overhead p50 at 50 RPS",
                    f"{ttft:.2f} ms, {_paired_how(cell, single, cell.added_ttft_p50)}",
                    "≤ 1 ms",
                    ttft <= 1.0,
                )
            )
        else:
            checks.append(
                _check(
                    "streaming TTFT overhead p50 at 50 RPS",
                    single,
                    "≤ 1 ms",
                    lambda v: f"{v:.2f} ms (single cell)",
                    lambda v: v <= 1.0,
                )
            )

    for mode in ("json", "stream"):
        gw_core = _per_core(find(rows, "gateway", "closed", mode, high))
        lite_core = _per_core(find(rows, "litellm", "closed", mode, high))
        ratio = gw_core / lite_core if gw_core and lite_core else None
        value = f" ({gw_core:,.0f} vs {lite_core:,.0f} req/CPU-s)" if gw_core and lite_core else ""

        def per_core(v: float, value: str = value) -> str:
            return f"{v:.1f}x{value}"

        checks.append(
            _check(
                f"gateway RPS per core ÷ LiteLLM's ({high} conn, {mode})", ratio, "≥ 15x", per_core, lambda v: v >= 15
            )
        )

    if 20 in rates:
        name = "gateway added p50 at 20 RPS vs LiteLLM's ÷ 10 (json)"
        gw_row, lite_row = find(rows, "gateway", "open", "json", 20), find(rows, "litellm", "open", "json", 20)
        cell = _paired_cell(paired, "json", 20)
        paired_value = cell.added_p50.get("gateway") if cell else None
        single = gw_row.added_p50 if gw_row else None
        added = paired_value if paired_value is not None else single
        if added is not None and lite_row and lite_row.added_p50 is not None:
            limit_ms = lite_row.added_p50 / 10
            how = _paired_how(cell, single, cell.added_p50) if cell and paired_value is not None else "single cell"
            checks.append(
                Check(
                    name,
                    f"{added:.2f} ms, {how}; LiteLLM {lite_row.added_p50:.2f} ms",
                    f"≤ {limit_ms:.2f} ms",
                    added <= limit_ms,
                )
            )
        else:
            checks.append(Check(name, "-", "≤ LiteLLM ÷ 10", None))

    if 200 in rates:
        for mode in ("json", "stream"):
            name = f"gateway added p99 at 200 RPS ({mode})"
            row = find(rows, "gateway", "open", mode, 200)
            single = row.added_p99 if row else None
            cell = _paired_cell(paired, mode, 200)
            tail = cell.added_p99.get("gateway") if cell else None
            if cell is not None and tail is not None:
                checks.append(
                    Check(
                        name,
                        f"{tail:.2f} ms, {_paired_how(cell, single, cell.added_p99)}",
                        "≤ 3 ms",
                        tail <= 3.0,
                    )
                )
                continue
            # A single cell: say so when its driver was late, which puts the stall in the p99 too.
            lag = row.send_lag_max if row is not None and row.send_lag_max is not None else 0.0
            late = f" (the driver sent up to {lag:.1f} ms late)" if lag > 5 else ""
            checks.append(
                _check(name, single, "≤ 3 ms", functools.partial(_ms_with_note, note=late), lambda v: v <= 3.0)
            )

    gateway = next((s for s in servers if s.target == "gateway"), None)
    checks.append(
        _check(
            "gateway start-up to ready",
            gateway.ready_s if gateway else None,
            f"≤ {STARTUP_LIMIT_S:g} s",
            lambda v: f"{v:.2f} s",
            lambda v: v <= STARTUP_LIMIT_S,
        )
    )
    checks.append(
        _check(
            "gateway RSS after warm-up",
            gateway.rss_after_warmup_mb if gateway else None,
            f"≤ {RSS_LIMIT_MB:g} MB",
            lambda v: f"{v:.0f} MB",
            lambda v: v <= RSS_LIMIT_MB,
        )
    )
    checks.append(
        _check(
            "gateway peak RSS (whole run)",
            gateway.peak_rss_mb if gateway else None,
            f"≤ {RSS_LIMIT_MB:g} MB",
            lambda v: f"{v:.0f} MB",
            lambda v: v <= RSS_LIMIT_MB,
        )
    )

    # The upstream's capacity is its RPS with a core to itself; sharing the load core with wrk it
    # gets what wrk leaves, shown for reference (it bounds the direct scenario, not the gateway's).
    for mode in ("json", "stream"):
        gateway_best = _best(rows, "gateway", mode)
        for target, where in ((upstream_alone, "alone on the server core"), ("direct", "sharing the load core")):
            best = _best(rows, target, mode)
            ratio = best / gateway_best if best and gateway_best else None
            name = f"fake upstream RPS ({where}) ÷ gateway RPS, best closed-loop ({mode})"
            if target == "direct":
                checks.append(Check(name, f"{ratio:.1f}x" if ratio else "-", "(reference)", None))
            else:
                checks.append(_check(name, ratio, "≥ 10x", lambda v: f"{v:.1f}x", lambda v: v >= 10))
    return checks


def _paired_cell(paired: Paired | None, mode: str, rate: int) -> PairedLatency | None:
    return next((c for c in paired.latency if c.mode == mode and c.rate == rate), None) if paired else None


def _paired_how(cell: PairedLatency, single: float | None, added: dict[str, float | None]) -> str:
    """How a latency figure was measured: paired rounds, the single cell beside it, the pass-throughs' figures."""
    return f"median of {cell.rounds} paired rounds (single cell: {_ms(single)})" + _alongside(added)


def _alongside(added: dict[str, float | None]) -> str:
    """The bare pass-throughs' figures from the same rounds, which the gateway's is read against."""
    others = [f"{name} {value:+.2f}" for name, value in added.items() if name != "gateway" and value is not None]
    return f"; in the same rounds {', '.join(others)}" if others else ""


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def _best(rows: list[Row], target: str, mode: str) -> float | None:
    return max(
        (
            r.rps
            for r in rows
            if r.target == target and r.phase == "closed" and r.mode == mode and not math.isnan(r.rps)
        ),
        default=None,
    )
