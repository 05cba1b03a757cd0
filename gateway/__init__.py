"""The AI governance gateway: an OpenAI-compatible proxy with governance stages."""

__version__ = "0.6.0"
