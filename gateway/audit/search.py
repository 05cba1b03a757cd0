"""Search and stats over an audit directory: through the index when possible, else by scanning.

Shared by ``gateway audit`` and the ``/admin/audit`` endpoints (which call
these in a worker thread: they read files).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.audit.files import list_segments
from gateway.audit.index import Index
from gateway.audit.query import Filters, Stats
from gateway.audit.reader import scan

log = logging.getLogger("gateway.audit")


@contextlib.contextmanager
def _index(directory: Path, use_index: bool) -> Iterator[Index | None]:
    if not use_index:
        yield None
        return
    try:
        index = Index(directory)
        index.sync()
    except sqlite3.Error as exc:  # a read-only directory, say: scanning gives the same answers, slower
        log.warning("audit index unavailable (%s); scanning the segments", exc)
        yield None
        return
    try:
        yield index
    finally:
        index.close()


def _scan_all(directory: Path, filters: Filters) -> Iterator[dict[str, Any]]:
    for segments in list_segments(directory).values():
        for segment in segments:
            for _, record in scan(segment.path, filters):
                yield record


def search(
    directory: Path, filters: Filters, *, limit: int | None = None, newest_first: bool = False, use_index: bool = True
) -> list[dict[str, Any]]:
    with _index(directory, use_index) as index:
        if index is not None:
            return list(index.search(filters, limit, newest_first))
    records = sorted(_scan_all(directory, filters), key=lambda r: str(r.get("time", "")), reverse=newest_first)
    return records if limit is None else records[:limit]


def find(directory: Path, request_id: str, *, use_index: bool = True) -> dict[str, Any] | None:
    found = search(directory, Filters(request_id=request_id), limit=1, use_index=use_index)
    return found[0] if found else None


def stats(directory: Path, filters: Filters, *, use_index: bool = True) -> Stats:
    with _index(directory, use_index) as index:
        if index is not None:
            return index.stats(filters)
    result = Stats()
    for record in _scan_all(directory, filters):
        result.add_record(record)
    return result
