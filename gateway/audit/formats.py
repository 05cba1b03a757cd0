"""Records as text for people and spreadsheets: a terminal table, CSV rows, stats tables.

Field values come from clients (a model name, a subject from a token), so
the table escapes control characters (no terminal escape sequence can run),
and CSV cells that a spreadsheet would take for a formula are quoted with a
leading apostrophe.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.audit.query import Stats, Totals

TABLE_COLUMNS = (
    "time",
    "request_id",
    "subject",
    "team",
    "operation",
    "model",
    "provider",
    "decision",
    "status",
    "tokens",
)

CSV_COLUMNS = (
    "time",
    "request_id",
    "type",
    "kind",
    "operation",
    "subject",
    "team",
    "roles",
    "method",
    "key_id",
    "issuer",
    "delegation",
    "client",
    "model",
    "provider",
    "deployment",
    "attempts",
    "decision",
    "policy_version",
    "rule",
    "pii",
    "status",
    "error_type",
    "error_code",
    "outcome",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "latency_total_ms",
    "latency_upstream_ms",
    "ttft_ms",
    "overhead_ms",
    "replica",
    "seq",
    "hash",
)


def printable(value: Any) -> str:
    """Text safe for a terminal: control characters shown as escapes."""
    if value is None:
        return "-"
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def decision_of(record: dict[str, Any]) -> str:
    decision = record.get("decision")
    if decision is None:
        return ""
    return "allow" if decision.get("allowed") else "deny"


def _pii(record: dict[str, Any]) -> str:
    return ";".join(f"{f.get('type')}:{f.get('count')}:{f.get('action')}" for f in record.get("pii") or ())


def table_row(record: dict[str, Any]) -> list[str]:
    principal = record.get("principal") or {}
    usage = record.get("usage") or {}
    return [
        printable(record.get("time")),
        printable(record.get("request_id") or record.get("kind")),
        printable(principal.get("subject")),
        printable(principal.get("team")),
        printable(record.get("operation") or record.get("type")),
        printable(record.get("model")),
        printable(record.get("provider")),
        decision_of(record) or "-",
        printable(record.get("status")),
        printable(usage.get("total_tokens")),
    ]


def render_table(header: Iterable[str], rows: list[list[str]], widest: int = 40) -> str:
    header = list(header)
    cells = [[c if len(c) <= widest else c[: widest - 1] + "…" for c in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(header)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell starting like a formula would run in a spreadsheet (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_row(record: dict[str, Any]) -> list[str]:
    principal = record.get("principal") or {}
    usage = record.get("usage") or {}
    latency = record.get("latency_ms") or {}
    decision = record.get("decision") or {}
    error = record.get("error") or {}
    values = [
        record.get("time"),
        record.get("request_id"),
        record.get("type"),
        record.get("kind"),
        record.get("operation"),
        principal.get("subject"),
        principal.get("team"),
        " ".join(principal.get("roles") or ()),
        principal.get("method"),
        principal.get("key_id"),
        principal.get("issuer"),
        " > ".join(principal.get("delegation") or ()),
        record.get("client"),
        record.get("model"),
        record.get("provider"),
        record.get("deployment"),
        len(record.get("attempts") or ()),
        decision_of(record),
        decision.get("policy_version"),
        decision.get("rule"),
        _pii(record),
        record.get("status"),
        error.get("type"),
        error.get("code"),
        record.get("outcome"),
        record.get("stream"),
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        usage.get("total_tokens"),
        record.get("cost"),
        latency.get("total"),
        latency.get("upstream"),
        latency.get("ttft"),
        latency.get("overhead"),
        record.get("replica"),
        record.get("seq"),
        record.get("hash"),
    ]
    return [_cell(v) for v in values]


STATS_COLUMNS = ("team", "model", "calls", "denials", "errors", "pii", "prompt", "completion", "tokens", "cost")


def _totals_row(team: str, model: str, totals: Totals) -> list[str]:
    cost = "-" if totals.cost is None else f"{totals.cost:.4f}"
    numbers = (totals.calls, totals.denials, totals.errors, totals.pii_findings)
    tokens = (totals.prompt_tokens, totals.completion_tokens, totals.total_tokens)
    return [printable(team), printable(model), *map(str, numbers), *map(str, tokens), cost]


def stats_rows(stats: Stats) -> list[list[str]]:
    rows = [_totals_row(team, model, totals) for (team, model), totals in sorted(stats.groups.items())]
    rows.append(_totals_row("(all)", "(all)", stats.total()))
    return rows


def stats_json(stats: Stats) -> list[dict[str, Any]]:
    result = []
    for (team, model), totals in sorted(stats.groups.items()):
        result.append({"team": team, "model": model, **{k: getattr(totals, k) for k in Totals.__slots__}})
    return result
