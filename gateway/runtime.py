"""The compiled runtime: config turned into ready objects, built once and swapped whole."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.base import Adapter
from adapters.registry import get_adapter
from gateway.audit.log import AuditLog
from gateway.config import GatewayConfig
from gateway.exchange import Handler
from gateway.identity.authenticator import Authenticator
from gateway.identity.keystore import FileKeyStore, KeyStore
from gateway.identity.keystore_redis import RedisKeyStore
from gateway.policy.holder import PolicyHolder
from gateway.routing import ModelRoute, build_routes
from gateway.upstream import UpstreamClient, create_client, fetch_bytes

log = logging.getLogger("gateway")


@dataclass(slots=True)
class Runtime:
    config: GatewayConfig
    adapters: Mapping[str, Adapter]
    clients: Mapping[str, UpstreamClient]
    routes: Mapping[str, ModelRoute]
    created: int
    keys: KeyStore | None
    authenticator: Authenticator
    policy: PolicyHolder
    chains: dict[str, Handler] = field(default_factory=dict)
    audit: AuditLog | None = None

    async def start(self) -> None:
        if self.audit is not None:
            self.audit.start()
        if isinstance(self.keys, RedisKeyStore):
            await self.keys.start()
        await self.authenticator.start()
        await self.policy.start()

    async def close(self) -> None:
        await self.policy.close()
        if self.keys is not None:
            await self.keys.close()
        for client in self.clients.values():
            await client.close()
        if self.audit is not None:  # last: records of requests that just finished are flushed
            await self.audit.close()


def _key_store(config: GatewayConfig) -> KeyStore | None:
    if config.state.redis_url:
        return RedisKeyStore.from_url(config.state.redis_url)
    if config.auth.key_file:
        return FileKeyStore(Path(config.auth.key_file))
    return None


def build_runtime(config: GatewayConfig) -> Runtime:
    """Compile ``config``; must run inside the event loop (clients bind to it)."""
    from gateway.pipeline import build_chains

    if config.auth.demo_keys:
        log.warning(
            "demo keys are enabled (%s): for local trial only, remove auth.demo_keys before real use",
            ", ".join(k.subject for k in config.auth.demo_keys),
        )
    if config.auth.anonymous:
        log.warning(
            "anonymous access is enabled: callers without credentials get roles %s", config.auth.anonymous_roles
        )
    keys = _key_store(config)
    audit = AuditLog(config.audit)

    def policy_event(kind: str, **fields: Any) -> asyncio.Future[None]:
        return asyncio.wrap_future(audit.event(kind, **fields))

    adapters = {name: get_adapter(provider.type) for name, provider in config.providers.items()}
    clients = {name: create_client(provider) for name, provider in config.providers.items()}
    runtime = Runtime(
        config=config,
        adapters=adapters,
        clients=clients,
        routes=build_routes(config, adapters, clients),
        created=int(time.time()),
        keys=keys,
        authenticator=Authenticator(config.auth, keys, fetch_bytes),
        policy=PolicyHolder.load(config.policy, on_event=policy_event),
        audit=audit,
    )
    runtime.chains = build_chains(runtime)
    return runtime
