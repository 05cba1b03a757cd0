"""Provider type name → adapter. Adding a wire format is one module and one line here."""

from __future__ import annotations

from collections.abc import Callable

from adapters.anthropic import AnthropicAdapter
from adapters.base import Adapter
from adapters.echo import EchoAdapter
from adapters.gemini import GeminiAdapter
from adapters.openai import AzureOpenAIAdapter, OpenAIAdapter

_FACTORIES: dict[str, Callable[[], Adapter]] = {
    "openai": OpenAIAdapter,
    "azure": AzureOpenAIAdapter,
    "echo": EchoAdapter,
    "anthropic": AnthropicAdapter,
    "gemini": GeminiAdapter,
}


def adapter_names() -> list[str]:
    return sorted(_FACTORIES)


def get_adapter(name: str) -> Adapter:
    """Return the adapter registered under ``name``; ``KeyError`` if there is none."""
    return _FACTORIES[name]()


def register(name: str, factory: Callable[[], Adapter]) -> None:
    """Register a wire format from outside this package (plugins, tests)."""
    _FACTORIES[name] = factory
