"""``gateway audit verify|search|export|stats|index|keygen``: review the audit trail from a shell.

Every command reads the audit directory named by ``--dir``, or by the
``audit:`` section of ``--config`` (default ``config.example.yaml`` when it
exists, else ``var/audit``). Nothing here writes to the trail; ``index``
writes only the search index, a cache.

Exit codes: 0 success (verify: no tampering found), 1 verify found tampering
or a truncated trail, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import orjson

from gateway.audit import search
from gateway.audit.chain import Verifiers, generate_ed25519
from gateway.audit.config import AuditConfig
from gateway.audit.files import read_json
from gateway.audit.formats import (
    CSV_COLUMNS,
    STATS_COLUMNS,
    TABLE_COLUMNS,
    csv_row,
    render_table,
    stats_json,
    stats_rows,
    table_row,
)
from gateway.audit.index import Index
from gateway.audit.query import Filters, parse_time
from gateway.audit.verify import verify
from gateway.config import ConfigError, load_config

DEFAULT_CONFIG = "config.example.yaml"
KEY_ENV = "AUDIT_CHECKPOINT_KEY"


class UsageError(Exception):
    """A bad option value; reported with exit code 2."""


@dataclass(frozen=True, slots=True)
class Source:
    directory: Path
    config: AuditConfig


def _source(args: argparse.Namespace) -> Source:
    if args.dir:
        return Source(Path(args.dir), AuditConfig(dir=args.dir))
    path = args.config or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).exists() else None)
    if path is None:
        config = AuditConfig()
    else:
        try:
            config = load_config(path).audit
        except ConfigError as exc:
            raise UsageError(f"configuration error: {exc}") from None
    return Source(Path(config.dir), config)


def _filters(args: argparse.Namespace) -> Filters:
    try:
        since = parse_time(args.since) if args.since else None
        until = parse_time(args.until) if args.until else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return Filters(
        since=since,
        until=until,
        subject=getattr(args, "subject", None),
        team=getattr(args, "team", None),
        model=getattr(args, "model", None),
        provider=getattr(args, "provider", None),
        decision=getattr(args, "decision", None),
        status=getattr(args, "status", None),
        pii_type=getattr(args, "pii_type", None),
        request_id=getattr(args, "request_id", None),
        type=getattr(args, "type", "request"),
    )


def _emit(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


# -- commands -----------------------------------------------------------------


def _verify(args: argparse.Namespace) -> int:
    source = _source(args)
    hmac_key = source.config.checkpoint_key or os.environ.get(args.key_env, "")
    key_file = args.public_key or source.config.checkpoint_signing_key
    try:
        verifiers = Verifiers.load(hmac_key, key_file)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load the verification key: {exc}") from None
    report = verify(source.directory, verifiers)
    if args.format == "json":
        _emit(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode())
        return 0 if report.ok else 1
    for finding in report.findings:
        _emit(str(finding))
    for summary in report.replicas:
        _emit(
            f"{summary.replica}: {summary.segments} segment(s), {summary.records} record(s), "
            f"{summary.events} event(s), "
            f"{summary.checkpoints} checkpoint(s), {summary.signatures_checked} signature(s) verified, "
            f"head seq {summary.last_seq}"
        )
    _emit(f"{source.directory}: " + ("OK: no tampering found" if report.ok else "FAILED: the trail was altered"))
    return 0 if report.ok else 1


def _search(args: argparse.Namespace) -> int:
    source = _source(args)
    records = search.search(
        source.directory, _filters(args), limit=args.limit, newest_first=args.newest, use_index=not args.no_index
    )
    if args.format == "jsonl":
        sys.stdout.buffer.write(b"".join(orjson.dumps(r) + b"\n" for r in records))
    else:
        _emit(render_table(TABLE_COLUMNS, [table_row(r) for r in records]))
        _emit(f"({len(records)} record(s){'; limit reached' if len(records) == args.limit else ''})")
    return 0


def _export(args: argparse.Namespace) -> int:
    source = _source(args)
    records = search.search(source.directory, _filters(args), use_index=not args.no_index)
    with contextlib.ExitStack() as stack:
        output: TextIO = sys.stdout
        if args.output:
            output = stack.enter_context(Path(args.output).open("w", newline="", encoding="utf-8"))
        if args.format == "jsonl":
            output.writelines(orjson.dumps(record).decode() + "\n" for record in records)
        else:
            writer = csv.writer(output)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(csv_row(r) for r in records)
    if args.output:
        print(f"{len(records)} record(s) written to {args.output}", file=sys.stderr)
    return 0


def _sink_counters(directory: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(directory.glob("*.stats.json")):
        data = read_json(path)
        if data is not None:
            found.append(data)
    return found


def _stats(args: argparse.Namespace) -> int:
    source = _source(args)
    result = search.stats(source.directory, _filters(args), use_index=not args.no_index)
    counters = _sink_counters(source.directory)
    if args.format == "json":
        _emit(orjson.dumps({"groups": stats_json(result), "writers": counters}, option=orjson.OPT_INDENT_2).decode())
        return 0
    _emit(render_table(STATS_COLUMNS, stats_rows(result)))
    for data in counters:
        sinks = ", ".join(
            f"{name}: delivered {s.get('delivered')}, spooled {s.get('spooled')}, failed {s.get('failed')}, "
            f"pending {s.get('pending')}, lost {s.get('lost')}"
            for name, s in (data.get("sinks") or {}).items()
        )
        _emit(
            f"replica {data.get('replica')} (as of {data.get('time')}): {data.get('records')} record(s) written"
            + (f"; {sinks}" if sinks else "")
        )
    return 0


def _index(args: argparse.Namespace) -> int:
    source = _source(args)
    index = Index(source.directory)
    try:
        added = index.rebuild() if args.rebuild else index.sync()
    finally:
        index.close()
    _emit(f"{index.path}: {added} record(s) indexed")
    return 0


def _keygen(args: argparse.Namespace) -> int:
    try:
        key_id = generate_ed25519(Path(args.private), Path(args.public))
    except FileExistsError:
        raise UsageError(f"{args.private} exists already; refusing to overwrite a signing key") from None
    _emit(
        f"Ed25519 key {key_id}: private key {args.private} (set audit.checkpoint_signing_key), public key {args.public}"
    )
    return 0


# -- parser -------------------------------------------------------------------


def _run(handler: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except UsageError as exc:
            print(f"gateway audit: {exc}", file=sys.stderr)
            return 2

    return run


def _where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", help=f"gateway configuration whose audit: section names the directory ({DEFAULT_CONFIG})"
    )
    parser.add_argument("--dir", help="the audit directory (overrides --config)")


def _time_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", help="from this time: ISO-8601 (UTC unless given) or an age such as 24h, 7d")
    parser.add_argument("--until", help="before this time (same forms as --since)")
    parser.add_argument("--no-index", action="store_true", help="scan the segments instead of using the index")


def _record_filters(parser: argparse.ArgumentParser) -> None:
    _time_filters(parser)
    parser.add_argument("--subject", help="the caller's subject")
    parser.add_argument("--team")
    parser.add_argument("--model", help="the model name the client asked for")
    parser.add_argument("--provider", help="the provider that served (or last tried) the request")
    parser.add_argument("--decision", choices=["allow", "deny"])
    parser.add_argument("--status", type=int, help="HTTP status")
    parser.add_argument(
        "--pii-type", dest="pii_type", help="a PII entity type found in the request, e.g. EMAIL_ADDRESS"
    )
    parser.add_argument("--request-id", dest="request_id")
    parser.add_argument("--type", choices=["request", "event", "any"], default="request", help="records to include")


def register(commands: Any) -> None:
    """Add ``gateway audit …`` to the top-level sub-command parser."""
    audit = commands.add_parser("audit", help="review and verify the audit trail")
    sub = audit.add_subparsers(dest="audit_command", required=True)

    check = sub.add_parser("verify", help="check the hash chain, segments and signed checkpoints")
    _where(check)
    check.add_argument("--key-env", default=KEY_ENV, help="environment variable holding the HMAC checkpoint key")
    check.add_argument("--public-key", help="Ed25519 public key (PEM) for signed checkpoints")
    check.add_argument("--format", choices=["text", "json"], default="text")
    check.set_defaults(handler=_run(_verify))

    find = sub.add_parser("search", help="find records")
    _where(find)
    _record_filters(find)
    find.add_argument("--limit", type=int, default=100)
    find.add_argument("--newest", action="store_true", help="newest first")
    find.add_argument("--format", choices=["table", "jsonl"], default="table")
    find.set_defaults(handler=_run(_search))

    export = sub.add_parser("export", help="export records as CSV or JSON lines")
    _where(export)
    _record_filters(export)
    export.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    export.set_defaults(handler=_run(_export))

    totals = sub.add_parser("stats", help="calls, denials, errors, PII findings, tokens and cost per team and model")
    _where(totals)
    _time_filters(totals)
    totals.add_argument("--format", choices=["table", "json"], default="table")
    totals.set_defaults(handler=_run(_stats))

    index = sub.add_parser("index", help="bring the search index up to date")
    _where(index)
    index.add_argument("--rebuild", action="store_true", help="drop the index and build it again from the segments")
    index.set_defaults(handler=_run(_index))

    keygen = sub.add_parser("keygen", help="create an Ed25519 key pair for signing checkpoints")
    keygen.add_argument("--private", required=True, help="where to write the private key (must not exist)")
    keygen.add_argument("--public", required=True, help="where to write the public key (give it to auditors)")
    keygen.set_defaults(handler=_run(_keygen))
