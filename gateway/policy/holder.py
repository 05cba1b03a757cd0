"""The policy in force, and its hot reload.

Every ``reload_interval`` seconds the files are checked; an edited policy is
loaded, validated and run against the compliance assertions off the event
loop, and replaces the running one only if all of that succeeds. Otherwise the
last good policy stays in force (never failing open, never silently falling to
deny-all), the rejection is logged and reported to ``on_event`` (the audit
trail). Each replica watches its own copy of the files (a mounted ConfigMap on
Kubernetes), so an edit reaches every replica within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.policy.assertions import load_cases, run_cases
from gateway.policy.config import PolicyConfig
from gateway.policy.engine import PolicyEngine, PolicyError, PolicySource

log = logging.getLogger("gateway.policy")

EventSink = Callable[..., Any]


def load_engine(config: PolicyConfig) -> PolicyEngine:
    """Load and validate the policy files; raises :class:`PolicyError` on any problem."""
    engine = PolicyEngine(PolicySource.from_dir(config.dir))
    if config.tests:
        failures = [o for o in run_cases(engine, load_cases(config.tests)) if not o.passed]
        if failures:
            names = "; ".join(f"{o.case.name} (got {'allow' if o.decision.allowed else 'deny'})" for o in failures)
            raise PolicyError(f"{len(failures)} policy assertion(s) failed: {names}")
    return engine


def _stamp(config: PolicyConfig) -> tuple[tuple[int, int], ...]:
    files = [Path(config.dir) / "model.conf", Path(config.dir) / "policy.csv"]
    if config.tests:
        files.append(Path(config.tests))
    stamps = []
    for file in files:
        try:
            stat = file.stat()
            stamps.append((stat.st_mtime_ns, stat.st_size))
        except FileNotFoundError:
            stamps.append((0, -1))
    return tuple(stamps)


class PolicyHolder:
    def __init__(self, config: PolicyConfig, engine: PolicyEngine, on_event: EventSink | None = None) -> None:
        self.config = config
        self.engine = engine
        self.on_event = on_event
        self.rejected: str | None = None
        self._stamp = _stamp(config)
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def load(cls, config: PolicyConfig, on_event: EventSink | None = None) -> PolicyHolder:
        return cls(config, load_engine(config), on_event)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.config.reload_interval)
            try:
                await self.check()
            except Exception:  # the watcher must outlive any one failed check (an audit sink down, say)
                log.exception("policy reload check failed; keeping version %s", self.engine.version)

    async def check(self) -> bool:
        """Reload if the files changed; returns True when a new policy took effect."""
        stamp = await asyncio.to_thread(_stamp, self.config)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        previous = self.engine.version
        try:
            engine = await asyncio.to_thread(load_engine, self.config)
        except PolicyError as exc:
            self.rejected = str(exc)
            log.error("policy change rejected, keeping version %s in force: %s", previous, exc)
            await self._event("policy.rejected", version=previous, reason=str(exc))
            return False
        if engine.version == previous:
            return False
        self.engine, self.rejected = engine, None
        log.info("policy version %s now in force (was %s)", engine.version, previous)
        await self._event("policy.reloaded", version=engine.version, previous=previous)
        return True

    async def _event(self, kind: str, **fields: Any) -> None:
        if self.on_event is None:
            return
        result = self.on_event(kind, **fields)
        if inspect.isawaitable(result):
            await result
