"""What a call cost, from the provider's token usage and the deployment's configured prices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.types import Usage
from gateway.config_fields import ConfigError, mapping, unknown_keys

PER_TOKENS = 1_000_000


@dataclass(frozen=True, slots=True)
class Pricing:
    """Prices in USD per million tokens; ``cached_input`` defaults to ``input``."""

    input: float
    output: float
    cached_input: float | None = None

    def cost(self, usage: Usage) -> float:
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        cached = min(cached, prompt)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        total = (prompt - cached) * self.input + cached * cached_rate + completion * self.output
        return round(total / PER_TOKENS, 10)


def parse_pricing(value: Any, path: str) -> Pricing | None:
    if value is None:
        return None
    data = mapping(value, path)
    unknown_keys(data, {"input", "output", "cached_input"}, path)
    prices: dict[str, float | None] = {}
    for key in ("input", "output", "cached_input"):
        price = data.get(key)
        if price is None and key == "cached_input":
            prices[key] = None
            continue
        if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
            raise ConfigError(f"{path}.{key}: expected a price in USD per million tokens (a number ≥ 0)")
        prices[key] = float(price)
    return Pricing(input=prices["input"] or 0.0, output=prices["output"] or 0.0, cached_input=prices["cached_input"])
