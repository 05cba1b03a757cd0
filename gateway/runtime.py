"""The compiled runtime: config turned into ready objects, built once and swapped whole."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from adapters.base import Adapter
from adapters.registry import get_adapter
from gateway.config import GatewayConfig
from gateway.exchange import Handler
from gateway.routing import ModelRoute, build_routes
from gateway.upstream import UpstreamClient, create_client


@dataclass(slots=True)
class Runtime:
    config: GatewayConfig
    adapters: Mapping[str, Adapter]
    clients: Mapping[str, UpstreamClient]
    routes: Mapping[str, ModelRoute]
    created: int
    chains: dict[str, Handler] = field(default_factory=dict)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()


def build_runtime(config: GatewayConfig) -> Runtime:
    """Compile ``config``; must run inside the event loop (clients bind to it)."""
    from gateway.pipeline import build_chains

    adapters = {name: get_adapter(provider.type) for name, provider in config.providers.items()}
    clients = {name: create_client(provider) for name, provider in config.providers.items()}
    runtime = Runtime(
        config=config,
        adapters=adapters,
        clients=clients,
        routes=build_routes(config, adapters, clients),
        created=int(time.time()),
    )
    runtime.chains = build_chains(runtime)
    return runtime
