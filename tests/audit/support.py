"""Helpers for the audit suite: write a trail without a gateway, and tamper with it like an attacker would."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson

from gateway.audit.chain import make_signer
from gateway.audit.config import AuditConfig
from gateway.audit.files import list_segments
from gateway.audit.segments import SegmentWriter

KEY = "test-checkpoint-key"


def request(n: int, **overrides: Any) -> dict[str, Any]:
    """A plausible request record (the writer adds the chain fields)."""
    record: dict[str, Any] = {
        "v": 1,
        "type": "request",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_770_000_000 + n)) + ".000Z",
        "request_id": f"req_{n:06d}",
        "operation": "chat.completions",
        "client": "127.0.0.1",
        "principal": {
            "subject": f"user{n % 7}",
            "roles": ["developer"],
            "team": ("red", "blue", "green")[n % 3],
            "method": "api_key",
            "key_id": f"k{n % 7}",
            "issuer": None,
            "delegation": [],
        },
        "model": ("echo", "gpt-4o-mini")[n % 2],
        "provider": ("echo", "openai")[n % 2],
        "deployment": "echo-1",
        "attempts": [],
        "decision": {
            "allowed": n % 10 != 0,
            "action": "chat",
            "resource": "echo",
            "domain": "red",
            "policy_version": "v1",
            "rule": None,
        },
        "pii": [{"type": "EMAIL_ADDRESS", "count": 2, "action": "mask"}] if n % 5 == 0 else None,
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        "cost": None,
        "latency_ms": {"total": 2.0, "upstream": 1.5, "ttft": None, "overhead": 0.5},
        "status": 403 if n % 10 == 0 else 200,
        "error": {"type": "permission_error", "code": "access_denied"} if n % 10 == 0 else None,
        "outcome": "error" if n % 10 == 0 else "ok",
        "stream": False,
        "content": None,
    }
    record.update(overrides)
    return record


def audit_config(directory: Path, **overrides: Any) -> AuditConfig:
    values: dict[str, Any] = {"dir": str(directory), "replica_id": "r1", "checkpoint_key": KEY, "checkpoint_every": 4}
    values.update(overrides)
    return AuditConfig(**values)


def write_trail(
    config: AuditConfig, count: int, *, start: int = 0, close: bool = True, batch: int = 3
) -> SegmentWriter:
    """Write ``count`` records the way the writer thread does (append, fsync, after_sync)."""
    writer = SegmentWriter(config, make_signer(config.checkpoint_key, config.checkpoint_signing_key))
    writer.open()
    for first in range(start, start + count, batch):
        writer.append([request(n) for n in range(first, min(first + batch, start + count))])
        writer.sync()
        writer.after_sync()
    if close:
        writer.close()
    return writer


def segments(directory: Path, replica: str = "r1") -> list[Path]:
    return [s.path for s in list_segments(directory)[replica]]


def read_lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def line_number(path: Path, record_type: str, nth: int = 0) -> int:
    """The 1-based line number of the nth line of a type in a segment."""
    found = [i for i, line in enumerate(read_lines(path), 1) if orjson.loads(line)["type"] == record_type]
    return found[nth]


def age(path: Path, days: float) -> None:
    then = time.time() - days * 86400
    os.utime(path, (then, then))
