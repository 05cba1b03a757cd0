"""The route table: a public model name → the deployments that can serve it.

Each :class:`ResolvedDeployment` holds everything an attempt needs (adapter,
pooled client, target, credential header), resolved once at start-up so that
the hot path is a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from adapters.base import Adapter, Target
from gateway.config import GatewayConfig, ProviderConfig
from gateway.pricing import Pricing
from gateway.upstream import UpstreamClient


@dataclass(frozen=True, slots=True)
class ResolvedDeployment:
    provider: ProviderConfig
    adapter: Adapter
    client: UpstreamClient
    target: Target
    #: Static upstream headers: the provider's configured headers plus its credential.
    headers: Mapping[str, str] = field(repr=False)
    pricing: Pricing | None = None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in anything a client sees."""
        return (self.provider.api_key,) if self.provider.api_key else ()


@dataclass(frozen=True, slots=True)
class ModelRoute:
    name: str
    deployments: tuple[ResolvedDeployment, ...]
    description: str = ""


def build_routes(
    config: GatewayConfig, adapters: Mapping[str, Adapter], clients: Mapping[str, UpstreamClient]
) -> dict[str, ModelRoute]:
    routes: dict[str, ModelRoute] = {}
    for model in config.models.values():
        resolved = []
        for deployment in model.deployments:
            provider = config.providers[deployment.provider]
            adapter = adapters[provider.name]
            headers = dict(provider.headers)
            if provider.api_key:
                headers[adapter.credential_header] = adapter.credential_prefix + provider.api_key
            resolved.append(
                ResolvedDeployment(
                    provider=provider,
                    adapter=adapter,
                    client=clients[provider.name],
                    target=Target(base_url=provider.base_url, model=deployment.model, options=provider.options),
                    headers=headers,
                    pricing=deployment.pricing,
                )
            )
        routes[model.name] = ModelRoute(model.name, tuple(resolved), model.description)
    return routes
