"""The ``audit:`` configuration section.

Every key is optional, so a configuration without an ``audit:`` section gets a
file trail under ``var/audit/`` (relative paths are relative to the working
directory of the gateway process). The file sink is always on: it is the
source of truth that ``gateway audit verify`` checks; ``stdout`` and ``redis``
are copies for log shippers and for replicas sharing one stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gateway.config_fields import ConfigError, boolean, choice, integer, mapping, number, string, unknown_keys

SINK_NAMES = ("file", "stdout", "redis")
RETENTION_ACTIONS = ("delete", "archive")
_REPLICA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$")


@dataclass(frozen=True, slots=True)
class AuditConfig:
    #: Directory of the segment files (and of the index, head and stats files).
    dir: str = "var/audit"
    #: Name of this replica's chain; empty means the host name (see ``gateway.audit.segments``).
    replica_id: str = ""
    segment_max_bytes: int = 64 * 1024 * 1024
    #: Seconds after which the current segment is closed and a new one started.
    segment_max_age: float = 24 * 3600.0
    #: Closed segments older than this many days are deleted or archived; 0 keeps them forever.
    retention_days: int = 90
    retention_action: str = "delete"
    fsync: bool = True
    #: When a request may be answered: once its record is written to the operating system
    #: (``write``, the default: it survives a crash of the gateway; the fsync follows within
    #: ``sync_interval_ms``), or once it is fsynced (``fsync``: it survives a power cut too).
    ack: str = "write"
    #: With ``ack: write``: how long a written record waits, at most, for the start of the fsync
    #: that covers it (fsyncs start one interval apart, each covering everything written since the
    #: last; a saturated event loop can add a few milliseconds, see ``gateway.audit.writer``).
    sync_interval_ms: float = 10.0
    #: With ``ack: fsync`` under load: how long the sync thread lets records join one fsync.
    group_commit_ms: float = 2.0
    checkpoint_every: int = 1000
    checkpoint_seconds: float = 60.0
    #: HMAC-SHA256 key for checkpoints (``${AUDIT_CHECKPOINT_KEY}``); never logged.
    checkpoint_key: str = field(default="", repr=False)
    #: PEM file of an Ed25519 private key; when set, checkpoints are Ed25519 signatures instead.
    checkpoint_signing_key: str = ""
    sinks: tuple[str, ...] = ("file",)
    redis_url: str = field(default="", repr=False)
    redis_stream: str = "gateway:audit"
    redis_maxlen: int = 1_000_000
    #: Where records wait while a sink is down; empty means ``<dir>/spool``.
    spool_dir: str = ""
    #: The compliance-owned content capture policy.
    capture_policy: str = "policies/audit.yaml"


_KEYS = set(AuditConfig.__slots__)


def _sinks(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}.sinks: expected a list of sink names ({', '.join(SINK_NAMES)})")
    for name in value:
        if name not in SINK_NAMES:
            raise ConfigError(f"{path}.sinks: unknown sink {name!r} (known: {', '.join(SINK_NAMES)})")
    # The file sink is the source of truth and cannot be left out.
    return ("file", *sorted(set(value) - {"file"}, key=SINK_NAMES.index))


def _optional_string(data: dict[str, Any], key: str, path: str, default: str) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{path}.{key}: expected a string")
    return value


def parse_audit_config(data: Any, path: str = "audit", *, shared_redis_url: str | None = None) -> AuditConfig:
    """Validate the ``audit:`` mapping (``None`` gives the defaults).

    ``shared_redis_url`` is the top-level ``state.redis_url``; the redis sink
    uses it unless ``audit.redis_url`` names another server.
    """
    data = mapping(data, path)
    unknown_keys(data, _KEYS, path)
    defaults = AuditConfig()
    replica_id = _optional_string(data, "replica_id", path, defaults.replica_id)
    if replica_id and not _REPLICA.match(replica_id):
        raise ConfigError(f"{path}.replica_id: use letters, digits, '.' and '-' (at most 63), got {replica_id!r}")
    retention_days = data.get("retention_days", defaults.retention_days)
    if isinstance(retention_days, bool) or not isinstance(retention_days, int) or retention_days < 0:
        raise ConfigError(f"{path}.retention_days: expected a whole number of days (0 keeps everything)")
    action = choice(data, "retention_action", path, defaults.retention_action, RETENTION_ACTIONS)
    sinks = _sinks(data.get("sinks", list(defaults.sinks)), path)
    redis_url = _optional_string(data, "redis_url", path, defaults.redis_url) or shared_redis_url or ""
    if "redis" in sinks and not redis_url:
        raise ConfigError(f"{path}.redis_url: required when the redis sink is enabled (or set state.redis_url)")
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{path}.redis_url: expected a redis://, rediss:// or unix:// URL")
    return AuditConfig(
        dir=string(data, "dir", path, defaults.dir),
        replica_id=replica_id,
        segment_max_bytes=integer(data, "segment_max_bytes", path, defaults.segment_max_bytes, minimum=4096),
        segment_max_age=number(data, "segment_max_age", path, defaults.segment_max_age),
        retention_days=retention_days,
        retention_action=action,
        fsync=boolean(data, "fsync", path, defaults.fsync),
        ack=choice(data, "ack", path, defaults.ack, ("fsync", "write")),
        sync_interval_ms=number(data, "sync_interval_ms", path, defaults.sync_interval_ms),
        group_commit_ms=number(data, "group_commit_ms", path, defaults.group_commit_ms),
        checkpoint_every=integer(data, "checkpoint_every", path, defaults.checkpoint_every),
        checkpoint_seconds=number(data, "checkpoint_seconds", path, defaults.checkpoint_seconds),
        checkpoint_key=_optional_string(data, "checkpoint_key", path, defaults.checkpoint_key),
        checkpoint_signing_key=_optional_string(data, "checkpoint_signing_key", path, defaults.checkpoint_signing_key),
        sinks=sinks,
        redis_url=redis_url,
        redis_stream=string(data, "redis_stream", path, defaults.redis_stream),
        redis_maxlen=integer(data, "redis_maxlen", path, defaults.redis_maxlen),
        spool_dir=_optional_string(data, "spool_dir", path, defaults.spool_dir),
        capture_policy=string(data, "capture_policy", path, defaults.capture_policy),
    )
