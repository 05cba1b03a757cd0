"""Pure, sans-IO translation between OpenAI's wire format and each provider's.

Nothing in this package performs I/O, reads configuration, sees a credential
or imports the ``gateway`` server package.
"""

from adapters.base import Adapter, HttpRequest, ProviderError, StreamDecoder, Target
from adapters.registry import adapter_names, get_adapter, register

__all__ = [
    "Adapter",
    "HttpRequest",
    "ProviderError",
    "StreamDecoder",
    "Target",
    "adapter_names",
    "get_adapter",
    "register",
]
