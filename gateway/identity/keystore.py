"""Where key records live: a local file (embedded default) or Redis (shared by replicas).

The file store keeps every record in memory and notices edits made by other
processes (``gateway keys`` on the command line, other workers) within
:data:`RECHECK_SECONDS`; writes are atomic (temp file + rename) under an
exclusive lock, and the file is readable by its owner only.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import orjson

from gateway.identity.keys import KeyRecord

RECHECK_SECONDS = 1.0


class KeyStore(Protocol):
    async def get(self, key_id: str) -> KeyRecord | None: ...

    async def put(self, record: KeyRecord) -> None: ...

    async def list(self) -> list[KeyRecord]: ...

    async def revoke(self, key_id: str) -> KeyRecord | None: ...

    async def close(self) -> None: ...


class FileKeyStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._records: dict[str, KeyRecord] = {}
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._load()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def _load(self) -> None:
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return
        records: dict[str, KeyRecord] = {}
        if stamp is not None:
            data = orjson.loads(self.path.read_bytes() or b"{}")
            for item in data.get("keys", []):
                record = KeyRecord.from_dict(item)
                records[record.key_id] = record
        self._records, self._stamp = records, stamp

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked >= RECHECK_SECONDS:
            self._checked = now
            self._load()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(self.path.suffix + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._stamp = None
                self._load()
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self) -> None:
        payload = {"version": 1, "keys": [r.to_dict() for r in self._records.values()]}
        temp = self.path.with_suffix(self.path.suffix + f".{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.path)
        self._stamp = self._file_stamp()

    def get_now(self, key_id: str) -> KeyRecord | None:
        self._refresh()
        return self._records.get(key_id)

    async def get(self, key_id: str) -> KeyRecord | None:
        return self.get_now(key_id)

    def put_now(self, record: KeyRecord) -> None:
        with self._locked():
            self._records[record.key_id] = record
            self._write()

    async def put(self, record: KeyRecord) -> None:
        await asyncio.to_thread(self.put_now, record)

    def list_now(self) -> list[KeyRecord]:
        self._stamp = None
        self._load()
        return sorted(self._records.values(), key=lambda r: r.created_at)

    async def list(self) -> list[KeyRecord]:
        return await asyncio.to_thread(self.list_now)

    def revoke_now(self, key_id: str) -> KeyRecord | None:
        with self._locked():
            record = self._records.get(key_id)
            if record is None:
                return None
            if record.revoked_at is None:
                record = record.revoked()
                self._records[key_id] = record
                self._write()
            return record

    async def revoke(self, key_id: str) -> KeyRecord | None:
        return await asyncio.to_thread(self.revoke_now, key_id)

    async def close(self) -> None:
        return None
