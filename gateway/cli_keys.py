"""``gateway keys create|list|revoke``: manage gateway API keys from the command line.

The commands work on the store the configuration names: the local key file, or
Redis when ``state.redis_url`` is set (so a revocation reaches every replica).

``create`` and ``revoke`` are audited like the admin API's: a ``key.created`` or
``key.revoked`` event (``by`` the operating-system user, ``via: "cli"``) in the
trail the configuration names, in a chain of its own (replica ``<name>-cli``, so
it never contends with a running gateway for its chain). The trail is opened
before the key changes: if it cannot be written, nothing changes.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.audit.capture import CapturePolicy
from gateway.audit.log import AuditLog
from gateway.audit.segments import default_replica
from gateway.audit.writer import AuditWriteError
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.identity.keys import KeyRecord, new_key
from gateway.identity.keystore import FileKeyStore, KeyStore
from gateway.identity.keystore_redis import RedisKeyStore


def _store(config: GatewayConfig) -> KeyStore:
    if config.state.redis_url:
        return RedisKeyStore.from_url(config.state.redis_url)
    if config.auth.key_file:
        return FileKeyStore(config.auth.key_file)
    raise ConfigError("auth.key_file is null and no state.redis_url is set: gateway keys are disabled")


class KeyTrail:
    """Where the command records the key changes it makes: this host's ``-cli`` chain of the audit trail."""

    def __init__(self, config: GatewayConfig) -> None:
        self._audit = config.audit
        self._log: AuditLog | None = None

    def open(self) -> None:
        """Open the chain (raises ``OSError``, ``RuntimeError`` or ``ConfigError`` when it cannot be written)."""
        # Derived here, not in __init__: ``gateway keys list`` never opens the trail.
        config = dataclasses.replace(
            self._audit,
            replica_id=f"{self._audit.replica_id or default_replica()}-cli",
            # The command's own output is the key: trail lines must not be mixed into it.
            sinks=tuple(sink for sink in self._audit.sinks if sink != "stdout"),
        )
        log = AuditLog(config, capture=CapturePolicy())
        log.start()
        self._log = log

    async def record(self, kind: str, record: KeyRecord) -> None:
        assert self._log is not None, "open() first"
        try:
            by = getpass.getuser()
        except (KeyError, OSError):  # no login name for this uid (a container, say)
            by = f"uid {os.getuid()}"
        fields = {"key_id": record.key_id, "subject": record.subject, "team": record.team, "by": by, "via": "cli"}
        await asyncio.wrap_future(self._log.event(kind, **fields, roles=list(record.roles)))

    async def close(self) -> None:
        if self._log is not None:
            await self._log.close()


def _run(
    args: argparse.Namespace, action: Callable[[KeyStore, KeyTrail], Awaitable[int]], *, audited: bool = False
) -> int:
    try:
        config = load_config(args.config)
        store = _store(config)
    except ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    trail = KeyTrail(config)

    async def main() -> int:
        try:
            if audited:
                try:
                    trail.open()
                except (OSError, RuntimeError, ConfigError) as exc:
                    print(
                        f"gateway: the audit trail in {config.audit.dir} cannot be written, "
                        f"so no key was changed: {exc}",
                        file=sys.stderr,
                    )
                    return 1
            try:
                return await action(store, trail)
            except AuditWriteError as exc:
                print(
                    f"gateway: the audit event could not be written ({exc}); a key being created was revoked "
                    "again, a revocation stands",
                    file=sys.stderr,
                )
                return 1
        finally:
            await store.close()
            await trail.close()

    return asyncio.run(main())


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M")


def _create(args: argparse.Namespace) -> int:
    expires_at = time.time() + args.expires_in_days * 86400 if args.expires_in_days else None

    async def create(store: KeyStore, trail: KeyTrail) -> int:
        key, record = new_key(
            args.subject, args.team, tuple(args.role), description=args.description or "", expires_at=expires_at
        )
        await store.put(record)
        try:
            await trail.record("key.created", record)
        except AuditWriteError:
            await store.revoke(record.key_id)  # no unaudited key in use: this one is never shown
            raise
        print(f"key id:  {record.key_id}")
        print(f"key:     {key}")
        print("Store the key now: it is shown only once.", file=sys.stderr)
        return 0

    return _run(args, create, audited=True)


def _list(args: argparse.Namespace) -> int:
    async def show(store: KeyStore, trail: KeyTrail) -> int:
        records = await store.list()
        if args.format == "json":
            for record in records:
                sys.stdout.write(orjson.dumps(record.public()).decode() + "\n")
            return 0
        rows: list[tuple[Any, ...]] = [("ID", "SUBJECT", "TEAM", "ROLES", "CREATED", "EXPIRES", "STATUS")]
        now = time.time()
        for r in records:
            status = "revoked" if r.revoked_at else "expired" if r.expires_at and r.expires_at <= now else "active"
            rows.append(
                (r.key_id, r.subject, r.team, ",".join(r.roles), _when(r.created_at), _when(r.expires_at), status)
            )
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        return 0

    return _run(args, show)


def _revoke(args: argparse.Namespace) -> int:
    async def revoke(store: KeyStore, trail: KeyTrail) -> int:
        record = await store.revoke(args.key_id)
        if record is None:
            print(f"gateway: no key with id {args.key_id!r}", file=sys.stderr)
            return 1
        await trail.record("key.revoked", record)
        print(f"revoked {record.key_id} ({record.subject}, team {record.team}) at {_when(record.revoked_at)}")
        return 0

    return _run(args, revoke, audited=True)


def register(commands: Any, default_config: str) -> None:
    keys = commands.add_parser("keys", help="manage gateway API keys")
    sub = keys.add_subparsers(dest="keys_command", required=True)

    create = sub.add_parser("create", help="create a key (shown once)")
    create.add_argument("--subject", required=True, help="who the key belongs to (person or agent)")
    create.add_argument("--team", required=True, help="the owner's team (the policy domain)")
    create.add_argument("--role", action="append", required=True, help="a role; repeat for several")
    create.add_argument("--description", help="what the key is for")
    create.add_argument("--expires-in-days", type=float, help="expiry, in days from now")
    create.set_defaults(handler=_create)

    listing = sub.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--format", choices=["table", "json"], default="table")
    listing.set_defaults(handler=_list)

    revoke = sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=_revoke)

    for parser in (create, listing, revoke):
        parser.add_argument("--config", default=default_config, help="configuration file naming the key store")
