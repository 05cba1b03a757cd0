"""The application's mutable state: which runtime is current (swapped whole on reload)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import GatewayConfig
from gateway.runtime import Runtime


@dataclass(slots=True)
class AppState:
    config: GatewayConfig
    runtime: Runtime | None = None
