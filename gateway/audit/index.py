"""A SQLite index over closed segments, so search and stats stay fast on a large trail.

The JSONL segments remain the source of truth: the index stores, per record,
the columns filters use and where the line is (segment, offset, length).
Search reads each hit back from its segment and applies the filters again,
so a stale or edited index can hide records but never invent or alter one
(``gateway audit verify`` checks the segments themselves; ``--no-index``
scans them). A segment is indexed once it is closed (it ends with a final
checkpoint, or a later segment of its replica exists); the open one is
scanned at query time. The index catches up on every query and is rebuilt
from scratch by deleting ``index.sqlite`` or with ``gateway audit index --rebuild``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from gateway.audit.files import SegmentFile, list_segments, read_tail
from gateway.audit.query import Filters, Stats, Totals
from gateway.audit.reader import iter_lines, read_at, scan

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    first_time TEXT, last_time TEXT
);
CREATE TABLE IF NOT EXISTS records (
    seg INTEGER NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL, type TEXT NOT NULL, time TEXT NOT NULL,
    request_id TEXT, subject TEXT, team TEXT, model TEXT, provider TEXT, allowed INTEGER, status INTEGER,
    error INTEGER NOT NULL, pii TEXT, pii_count INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL, total_tokens INTEGER NOT NULL, cost REAL
);
CREATE INDEX IF NOT EXISTS records_time ON records (time);
CREATE INDEX IF NOT EXISTS records_request ON records (request_id);
CREATE INDEX IF NOT EXISTS records_subject ON records (subject, time);
CREATE INDEX IF NOT EXISTS records_team ON records (team, time);
CREATE INDEX IF NOT EXISTS records_model ON records (model, time);
CREATE INDEX IF NOT EXISTS records_seg ON records (seg);
"""


_STATS = (
    "SELECT coalesce(r.team, '-'), coalesce(r.model, '-'), count(*), sum(r.allowed = 0), sum(r.error),"
    " sum(r.pii_count), sum(r.prompt_tokens), sum(r.completion_tokens), sum(r.total_tokens), sum(r.cost)"
)
_INSERT = "INSERT INTO records VALUES (" + ", ".join("?" * 19) + ")"  # noqa: S608 (placeholders only)


def _row(seg: int, offset: int, line: bytes) -> tuple[Any, ...] | None:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    kind = record.get("type") if isinstance(record, dict) else None
    if kind not in ("request", "event"):
        return None
    principal = record.get("principal") or {}
    decision = record.get("decision")
    usage = record.get("usage") or {}
    pii = record.get("pii") or []
    status = record.get("status")
    cost = record.get("cost")
    return (
        seg,
        offset,
        len(line),
        kind,
        str(record.get("time", "")),
        record.get("request_id"),
        principal.get("subject"),
        principal.get("team"),
        record.get("model"),
        record.get("provider"),
        None if decision is None else int(bool(decision.get("allowed"))),
        status if isinstance(status, int) else None,
        int(record.get("error") is not None or (isinstance(status, int) and status >= 400)),
        "," + ",".join(str(f.get("type")) for f in pii) + "," if pii else None,
        sum(int(f.get("count") or 0) for f in pii),
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
        int(usage.get("total_tokens") or 0),
        float(cost) if isinstance(cost, int | float) else None,
    )


def closed_segments(directory: Path) -> tuple[list[SegmentFile], list[SegmentFile]]:
    """(closed, open) segments: the last of a replica is open unless it ends with a final checkpoint."""
    closed: list[SegmentFile] = []
    still_open: list[SegmentFile] = []
    for segments in list_segments(directory).values():
        closed.extend(segments[:-1])
        last = segments[-1]
        tail, torn = read_tail(last.path)
        if tail is not None and not torn and tail.get("type") == "checkpoint" and tail.get("final"):
            closed.append(last)
        else:
            still_open.append(last)
    return closed, still_open


class Index:
    def __init__(self, directory: Path, path: Path | None = None) -> None:
        self.directory = directory
        self.path = path or directory / "index.sqlite"
        self._db = sqlite3.connect(self.path, timeout=30)
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            self._db.executescript("DROP TABLE IF EXISTS records; DROP TABLE IF EXISTS segments;")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._open: list[SegmentFile] = []

    def close(self) -> None:
        self._db.close()

    def rebuild(self) -> int:
        with self._db:
            self._db.execute("DELETE FROM records")
            self._db.execute("DELETE FROM segments")
        return self.sync()

    def sync(self) -> int:
        """Index closed segments that are new or changed, forget removed ones; returns records added."""
        closed, self._open = closed_segments(self.directory)
        known = {
            name: (sid, size, mtime)
            for sid, name, size, mtime in self._db.execute("SELECT id, name, size, mtime_ns FROM segments")
        }
        present = {s.name for s in closed}
        added = 0
        with self._db:
            for name, (sid, _, _) in known.items():
                if name not in present:
                    self._db.execute("DELETE FROM records WHERE seg = ?", (sid,))
                    self._db.execute("DELETE FROM segments WHERE id = ?", (sid,))
        for segment in closed:
            stat = segment.path.stat()
            entry = known.get(segment.name)
            if entry is not None and entry[1:] == (stat.st_size, stat.st_mtime_ns):
                continue
            added += self._index(segment, stat.st_size, stat.st_mtime_ns)
        return added

    def _index(self, segment: SegmentFile, size: int, mtime_ns: int) -> int:
        with self._db:
            # By name, inside the transaction: another process (the CLI, another worker) may
            # have indexed this segment since we looked; its rows are replaced, not doubled.
            self._db.execute(
                "DELETE FROM records WHERE seg IN (SELECT id FROM segments WHERE name = ?)", (segment.name,)
            )
            self._db.execute("DELETE FROM segments WHERE name = ?", (segment.name,))
            cursor = self._db.execute(
                "INSERT INTO segments (name, size, mtime_ns) VALUES (?, ?, ?)", (segment.name, size, mtime_ns)
            )
            sid = cursor.lastrowid
            assert sid is not None
            rows = (row for offset, line in iter_lines(segment.path) if (row := _row(sid, offset, line)) is not None)
            count = 0
            for batch in _batches(rows, 10_000):
                self._db.executemany(_INSERT, batch)
                count += len(batch)
            self._db.execute(
                "UPDATE segments SET first_time = (SELECT min(time) FROM records WHERE seg = ?), "
                "last_time = (SELECT max(time) FROM records WHERE seg = ?) WHERE id = ?",
                (sid, sid, sid),
            )
        return count

    # -- queries --------------------------------------------------------

    def _where(self, filters: Filters) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if filters.type != "any":
            clauses.append("r.type = ?")
            params.append(filters.type)
        for column, value in (
            ("r.time >= ?", filters.since),
            ("r.time < ?", filters.until),
            ("r.request_id = ?", filters.request_id),
            ("r.subject = ?", filters.subject),
            ("r.team = ?", filters.team),
            ("r.model = ?", filters.model),
            ("r.provider = ?", filters.provider),
            ("r.status = ?", filters.status),
        ):
            if value is not None:
                clauses.append(column)
                params.append(value)
        if filters.decision is not None:
            clauses.append("r.allowed = ?")
            params.append(int(filters.decision == "allow"))
        if filters.pii_type is not None:
            clauses.append("instr(r.pii, ?) > 0")
            params.append(f",{filters.pii_type},")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def search(
        self, filters: Filters, limit: int | None = None, newest_first: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Matching records, read back from the segments; the open segments are scanned after the index."""
        where, params = self._where(filters)
        order = "DESC" if newest_first else "ASC"
        # Only fixed column names are interpolated; every value is a bound parameter.
        sql = f"SELECT s.name, r.offset, r.length FROM records r JOIN segments s ON s.id = r.seg{where}"  # noqa: S608
        sql += f" ORDER BY r.time {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        found = 0
        scanned = [record for segment in self._open for _, record in scan(segment.path, filters)]
        scanned.sort(key=lambda r: str(r.get("time", "")), reverse=newest_first)
        if newest_first:
            for record in scanned:
                if limit is not None and found >= limit:
                    return
                found += 1
                yield record
        for name, offset, length in self._db.execute(sql, params).fetchall():
            if limit is not None and found >= limit:
                return
            hit = read_at(self.directory / name, offset, length)
            if hit is not None and filters.matches(hit):  # the segment, not the index, has the last word
                found += 1
                yield hit
        if not newest_first:
            for record in scanned:
                if limit is not None and found >= limit:
                    return
                found += 1
                yield record

    def stats(self, filters: Filters) -> Stats:
        where, params = self._where(filters)
        # Only fixed column names are interpolated; every value is a bound parameter.
        sql = f"{_STATS} FROM records r{where} GROUP BY 1, 2"
        stats = Stats()
        for team, model, calls, denials, errors, pii, prompt, completion, total, cost in self._db.execute(sql, params):
            stats.group(team, model).add(
                Totals(calls, denials or 0, errors or 0, pii or 0, prompt or 0, completion or 0, total or 0, cost)
            )
        for segment in self._open:
            for _, record in scan(segment.path, filters):
                stats.add_record(record)
        return stats


def _batches(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
