"""``gateway audit verify``: check every replica's chain in an audit directory.

What is detected, and how:

* an edited line: its ``hash`` no longer matches its canonical serialisation;
* a deleted, inserted or reordered line: a line's ``prev`` is not the hash of
  the line before it (``seq`` says how many are missing or misplaced);
* a removed, renamed or replaced segment: a segment's header does not name and
  link to the segment before it; a missing *first* segment is accepted only
  when an ``audit.retention`` event in the chain recorded its removal;
* a truncated tail: ``<replica>.head.json`` holds the latest signed checkpoint,
  written after the log was fsynced; a log that ends before that checkpoint
  lost its tail;
* a recomputed chain (every hash redone after an edit): checkpoint signatures
  no longer verify (needs the HMAC key or the Ed25519 public key).

Decided on purpose: a *torn* last line (bytes without a final newline) is what
``kill -9`` or a power cut leaves in the middle of a write. Its record was
never acknowledged (a response waits for the fsync), so it is reported as a
warning, not as tampering, and the chain is checked up to the last complete
line. A later segment's header names that line as its predecessor, so cutting
more than the torn bytes is still detected. Records written after the last
checkpoint are reported as not yet sealed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gateway.audit.chain import GENESIS, Verifiers, canonical, digest
from gateway.audit.files import SegmentFile, list_segments, read_json


@dataclass(frozen=True, slots=True)
class Finding:
    level: str  # "error" | "warning" | "info"
    replica: str
    segment: str | None
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.replica
        if self.segment is not None:
            where = self.segment + (f" line {self.line}" if self.line is not None else "")
        return f"{self.level.upper()}: {where}: {self.message}"


@dataclass(slots=True)
class ReplicaSummary:
    replica: str
    segments: int = 0
    records: int = 0
    events: int = 0
    checkpoints: int = 0
    signatures_checked: int = 0
    unsealed: int = 0
    last_seq: int = 0
    head: str = GENESIS


@dataclass(slots=True)
class Report:
    findings: list[Finding] = field(default_factory=list)
    replicas: list[ReplicaSummary] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.level == "error" for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "findings": [
                {"level": f.level, "replica": f.replica, "segment": f.segment, "line": f.line, "message": f.message}
                for f in self.findings
            ],
            "replicas": [vars_of(s) for s in self.replicas],
        }


def vars_of(summary: ReplicaSummary) -> dict[str, Any]:
    return {name: getattr(summary, name) for name in summary.__slots__}


class _ChainCheck:
    """One replica's pass over its segments, in order."""

    def __init__(self, replica: str, verifiers: Verifiers, report: Report) -> None:
        self.replica = replica
        self.verifiers = verifiers
        self.report = report
        self.summary = ReplicaSummary(replica)
        self.prev: str | None = None  # None: unknown after a damaged line
        self.seq = 0
        self.checkpoint_hashes: dict[int, str] = {}
        self.retained: dict[str, Any] = {}
        self.first_link: tuple[str, int, Any, Any] | None = None
        self.unsigned = 0
        self.unchecked = 0

    def add(self, level: str, segment: str | None, line: int | None, message: str) -> None:
        self.report.findings.append(Finding(level, self.replica, segment, line, message))

    def segment(self, segment: SegmentFile, position: int, is_last: bool, previous: SegmentFile | None) -> None:
        self.summary.segments += 1
        data = segment.path.read_bytes()
        lines = data.split(b"\n")
        torn = lines.pop()
        if not lines:
            self.add("error", segment.name, 1, "the segment has no complete line (its header is missing)")
        last: dict[str, Any] | None = None
        for number, raw in enumerate(lines, 1):
            last = self._line(segment, number, raw, previous if number == 1 else None, position == 0)
        if torn:
            self.add(
                "warning",
                segment.name,
                len(lines) + 1,
                f"torn last line ({len(torn)} bytes without a newline): a write interrupted by a crash; "
                "it held no acknowledged record",
            )
        closed = last is not None and last.get("type") == "checkpoint" and last.get("final") is True
        if not closed and not is_last:
            self.add("warning", segment.name, None, "ended without a closing checkpoint (the process stopped abruptly)")

    def _line(
        self, segment: SegmentFile, number: int, raw: bytes, previous: SegmentFile | None, first_segment: bool
    ) -> dict[str, Any] | None:
        try:
            line = orjson.loads(raw)
            if not isinstance(line, dict):
                raise TypeError
        except (orjson.JSONDecodeError, TypeError):
            self.add("error", segment.name, number, "not a JSON object: the line was damaged or edited")
            self.prev = None
            return None
        stored = line.get("hash")
        computed = digest(canonical(line))
        if stored != computed:
            self.add("error", segment.name, number, f"hash mismatch: the record (seq {line.get('seq')}) was edited")
        if number == 1:
            self._header(segment, line, previous, first_segment)
        elif self.prev is not None and line.get("prev") != self.prev:
            self.add(
                "error",
                segment.name,
                number,
                f"does not follow the line before it (seq {line.get('seq')} after {self.seq}): "
                "a record was deleted, inserted or reordered here",
            )
        self.prev = stored if isinstance(stored, str) else None
        self.seq = int(line.get("seq") or 0)
        self.summary.last_seq, self.summary.head = self.seq, str(stored)
        self._count(segment, number, line)
        return line

    def _header(self, segment: SegmentFile, line: dict[str, Any], previous: SegmentFile | None, first: bool) -> None:
        if line.get("type") != "segment" or line.get("segment") != segment.name or line.get("replica") != self.replica:
            self.add("error", segment.name, 1, "the first line is not this segment's header (renamed or replaced)")
            return
        named = line.get("prev_segment")
        if first:
            if named is None and line.get("prev") == GENESIS:
                return
            self.first_link = (segment.name, int(line.get("index") or 0), named, line.get("prev"))
            return
        assert previous is not None
        if named != previous.name:
            self.add(
                "error", segment.name, 1, f"follows {named!r}, but the previous segment present is {previous.name}"
            )
        elif self.prev is not None and line.get("prev") != self.prev:
            self.add(
                "error",
                segment.name,
                1,
                f"does not link to the last complete line of {previous.name}: its tail was cut or edited",
            )

    def _count(self, segment: SegmentFile, number: int, line: dict[str, Any]) -> None:
        kind = line.get("type")
        if kind == "request":
            self.summary.records += 1
            self.summary.unsealed += 1
        elif kind == "event":
            self.summary.events += 1
            self.summary.unsealed += 1
            if line.get("kind") == "audit.retention":
                for removed in line.get("removed") or ():
                    self.retained[str(removed.get("segment"))] = removed.get("last_hash")
        elif kind == "checkpoint":
            self.summary.checkpoints += 1
            self.summary.unsealed = 0
            self.checkpoint_hashes[self.seq] = str(line.get("hash"))
            self._signature(segment.name, number, line)

    def _signature(self, segment: str | None, number: int | None, line: dict[str, Any]) -> None:
        if line.get("alg") == "none":
            self.unsigned += 1
            return
        verdict = self.verifiers.check(line)
        if verdict is None:
            self.unchecked += 1
        elif verdict:
            self.summary.signatures_checked += 1
        else:
            self.add(
                "error",
                segment,
                number,
                "checkpoint signature does not verify: the chain was recomputed or the key differs",
            )

    def finish(self, head: dict[str, Any] | None) -> None:
        if self.first_link is not None:
            name, index, named, prev = self.first_link
            if named is not None and self.retained.get(named) == prev:
                self.add("info", name, None, f"the chain starts after {index - 1} segment(s) removed by retention")
            else:
                self.add("error", name, 1, f"its predecessor {named!r} is missing and was not removed by retention")
        if head is None:
            self.add("warning", None, None, "no head checkpoint file: a truncated tail cannot be detected")
        else:
            self._head(head)
        if self.unsigned:
            self.add("warning", None, None, f"{self.unsigned} checkpoint(s) are unsigned: set audit.checkpoint_key")
        if self.unchecked:
            self.add(
                "warning", None, None, f"{self.unchecked} checkpoint signature(s) not checked: no matching key given"
            )
        if self.summary.unsealed:
            self.add(
                "info", None, None, f"{self.summary.unsealed} line(s) after the last checkpoint are not yet sealed"
            )

    def _head(self, head: dict[str, Any]) -> None:
        seq = int(head.get("seq") or 0)
        segment = str(head.get("segment"))
        if seq > self.seq:
            self.add(
                "error",
                segment,
                None,
                f"truncated: the log ends at seq {self.seq}, but the last checkpoint (seq {seq}) is missing",
            )
        elif self.checkpoint_hashes.get(seq) != head.get("hash"):
            self.add("error", segment, None, f"the head checkpoint (seq {seq}) does not match the log")
        if head.get("hash") != digest(canonical(head)):
            self.add("error", None, None, "the head checkpoint file was edited")
        self._signature(f"{self.replica}.head.json", None, head)


def verify(directory: Path, verifiers: Verifiers | None = None) -> Report:
    verifiers = verifiers or Verifiers()
    report = Report()
    # Head files first: each is replaced only after the log holds its checkpoint, so reading
    # them before the segments means a live gateway's progress is never taken for a cut tail.
    heads = {path.name.removesuffix(".head.json"): read_json(path) for path in directory.glob("*.head.json")}
    replicas = list_segments(directory)
    if not replicas:
        # An empty directory is a wrong path or a deleted trail; neither is "verified".
        report.findings.append(Finding("error", "-", None, None, f"no audit segments in {directory}"))
    for replica in sorted(set(heads) - set(replicas)):
        report.findings.append(Finding("error", replica, None, None, "every segment of this chain is missing"))
    for replica, segments in replicas.items():
        check = _ChainCheck(replica, verifiers, report)
        for position, segment in enumerate(segments):
            previous = segments[position - 1] if position else None
            check.segment(segment, position, position == len(segments) - 1, previous)
        check.finish(heads.get(replica))
        report.replicas.append(check.summary)
    return report
