"""This replica's append-only segment files: open, append, checkpoint, rotate, retain.

Not thread-safe: ``gateway.audit.writer`` serialises every call with its lock.
Appends run on the caller's thread (a ``write`` to the page cache); fsyncs,
rotation and the head file run on the writer's sync thread.

A segment starts with a header line naming its predecessor and ends, when
closed cleanly, with a ``final`` checkpoint. A process that died without
closing its segment leaves it as it was, torn last line included; the next
start opens a new segment whose header links to the last *complete* line, so
``verify`` can tell an interrupted write from a removed record.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path
from typing import Any

from gateway.audit.chain import GENESIS, Chain, Signer
from gateway.audit.config import AuditConfig
from gateway.audit.files import SegmentFile, list_segments, read_tail, segment_name, write_atomic
from gateway.audit.record import VERSION, event_record, utc_iso

_MAX_REPLICA_SLOTS = 64


def claim_replica(directory: Path, base: str) -> tuple[str, int]:
    """Lock a replica name in ``directory``: ``base``, else ``base.1``, ``base.2``, … (one per live process).

    Worker processes of one host share a directory but must not share a chain;
    the lock makes each take its own name, and the same names again after a restart.
    """
    for slot in range(_MAX_REPLICA_SLOTS):
        name = base if slot == 0 else f"{base}.{slot}"
        fd = os.open(directory / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return name, fd
    raise RuntimeError(f"more than {_MAX_REPLICA_SLOTS} processes write audit chains named {base!r} in {directory}")


def default_replica() -> str:
    host = "".join(c if c.isalnum() or c in ".-" else "-" for c in socket.gethostname()).strip(".-")
    return (host or "gateway")[:48]


class SegmentWriter:
    def __init__(self, config: AuditConfig, signer: Signer) -> None:
        self.config = config
        self.signer = signer
        self.directory = Path(config.dir)
        self.replica = ""
        self.chain = Chain()
        self.segment: SegmentFile | None = None
        self.records_in_segment = 0
        self.since_checkpoint = 0
        self.checkpoints = 0
        self.last_checkpoint = time.monotonic()
        self._fd = -1
        self._lock_fd = -1
        self._size = 0
        self._opened = 0.0
        # Lines written since the last drain(), for the other sinks; and a checkpoint awaiting fsync.
        self._outbox: list[bytes] = []
        self._unpublished: bytes | None = None

    # -- start and stop -------------------------------------------------

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.replica, self._lock_fd = claim_replica(self.directory, self.config.replica_id or default_replica())
        previous = list_segments(self.directory).get(self.replica, [])
        prev_segment, torn = None, 0
        if previous:
            last = previous[-1]
            line, torn = read_tail(last.path)
            prev_segment = last.name
            if line is not None:
                self.chain = Chain(str(line.get("hash", GENESIS)), int(line.get("seq", 0)))
        index = previous[-1].index + 1 if previous else 1
        self._start_segment(index, prev_segment, torn)
        self.apply_retention()
        # Seal the start at once: the head file then exists from the first moment, so a
        # trail cut back to before this start is detected too.
        self._write([self._checkpoint(final=False)])
        self.sync()
        self.after_sync(rotate=False)

    def close(self) -> None:
        if self._fd < 0:
            return
        self._write([self._checkpoint(final=True)])
        self.sync()
        self.after_sync(rotate=False)
        os.close(self._fd)
        self._fd = -1
        os.close(self._lock_fd)
        self._lock_fd = -1

    def drain(self) -> list[bytes]:
        """The lines written since the last call (for the stdout and Redis sinks)."""
        lines, self._outbox = self._outbox, []
        return lines

    # -- writing --------------------------------------------------------

    def append(self, records: list[dict[str, Any]]) -> list[int]:
        """Seal and write ``records`` (not yet fsynced), and a checkpoint if one is due by count.

        Returns the positions of records that could not be serialised; they are
        left out of the chain (sealing fails before the chain advances).
        """
        lines, failed = [], []
        for i, record in enumerate(records):
            record["replica"] = self.replica
            try:
                lines.append(self.chain.seal(record))
            except TypeError:  # orjson.JSONEncodeError: a value that is not JSON
                failed.append(i)
        written = len(lines)
        self.records_in_segment += written
        self.since_checkpoint += written
        if written and self.since_checkpoint >= self.config.checkpoint_every:
            lines.append(self._checkpoint(final=False))
        self._write(lines)
        return failed

    def checkpoint_if_due(self) -> bool:
        """Write a timed checkpoint when records arrived since the last one (not fsynced)."""
        if self.since_checkpoint and time.monotonic() - self.last_checkpoint >= self.config.checkpoint_seconds:
            self._write([self._checkpoint(final=False)])
            return True
        return False

    def sync(self) -> None:
        if self.config.fsync:
            # fdatasync: the data and the size that makes it readable; mtime need not be durable.
            os.fdatasync(self._fd)

    @property
    def fd(self) -> int:
        return self._fd

    def take_unpublished(self) -> bytes | None:
        """The newest checkpoint written so far, to publish once an fsync that covers it returns."""
        head, self._unpublished = self._unpublished, None
        return head

    def publish(self, head: bytes | None) -> None:
        """Make ``head`` (a durable checkpoint) the head file that ``verify`` checks the log against."""
        if head is not None:
            write_atomic(self.directory / f"{self.replica}.head.json", head, fsync=self.config.fsync)

    def rotation_due(self) -> bool:
        full = self._size >= self.config.segment_max_bytes
        return full or time.time() - self._opened >= self.config.segment_max_age

    def after_sync(self, *, rotate: bool = True) -> None:
        """Publish the checkpoint that is now durable; rotate if the segment is full or old."""
        self.publish(self.take_unpublished())
        if rotate and self.rotation_due():
            self.rotate()

    def rotate(self) -> None:
        """Close the segment with a final checkpoint (fsynced, published) and start the next one."""
        self._write([self._checkpoint(final=True)])
        self.sync()
        self.after_sync(rotate=False)
        os.close(self._fd)
        assert self.segment is not None
        self._start_segment(self.segment.index + 1, self.segment.name, 0)
        self.apply_retention()
        self.sync()

    def _write(self, lines: list[bytes]) -> None:
        data = lines[0] if len(lines) == 1 else b"".join(lines)
        size = len(data)
        written = os.write(self._fd, data)
        if written < size:  # rare: a short write to a regular file (a full disk reports ENOSPC next)
            view = memoryview(data)
            while written < size:
                written += os.write(self._fd, view[written:])
        self._size += size
        self._outbox.extend(lines)

    def _start_segment(self, index: int, prev_segment: str | None, torn: int) -> None:
        name = segment_name(self.replica, index)
        path = self.directory / name
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o640)
        self.segment = SegmentFile(path, self.replica, index)
        self._size = 0
        self._opened = time.time()
        self.records_in_segment = 0
        header: dict[str, Any] = {
            "v": VERSION,
            "type": "segment",
            "time": utc_iso(self._opened),
            "replica": self.replica,
            "segment": name,
            "index": index,
            "prev_segment": prev_segment,
        }
        if torn:
            header["torn_bytes_in_prev"] = torn
        self._write([self.chain.seal(header)])

    def _checkpoint(self, *, final: bool) -> bytes:
        assert self.segment is not None
        line = {
            "v": VERSION,
            "type": "checkpoint",
            "time": utc_iso(time.time()),
            "replica": self.replica,
            "segment": self.segment.name,
            "records": self.records_in_segment,
            "final": final,
        }
        self.since_checkpoint = 0
        self.checkpoints += 1
        self.last_checkpoint = time.monotonic()
        self._unpublished = self.chain.seal(line, self.signer)
        return self._unpublished

    # -- retention ------------------------------------------------------

    def apply_retention(self) -> None:
        """Delete or archive this replica's closed segments older than the retention period.

        Only a prefix of the chain goes, never the current segment; an
        ``audit.retention`` event in the chain names each removed segment and
        its last hash, so ``verify`` can tell retention from deletion.
        """
        days = self.config.retention_days
        if not days or self.segment is None:
            return
        cutoff = time.time() - days * 86400
        removed: list[dict[str, Any]] = []
        for segment in list_segments(self.directory).get(self.replica, []):
            if segment.index >= self.segment.index or segment.path.stat().st_mtime >= cutoff:
                break
            line, _ = read_tail(segment.path)
            removed.append(
                {"segment": segment.name, "last_seq": (line or {}).get("seq"), "last_hash": (line or {}).get("hash")}
            )
            if self.config.retention_action == "archive":
                archive = self.directory / "archive"
                archive.mkdir(exist_ok=True)
                segment.path.replace(archive / segment.name)
            else:
                segment.path.unlink()
        if removed:
            event = event_record(
                "audit.retention", time.time(), {"action": self.config.retention_action, "removed": removed}
            )
            event["replica"] = self.replica
            self._write([self.chain.seal(event)])
