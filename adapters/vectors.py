"""Embedding vectors on the wire."""

from __future__ import annotations

import base64
import struct


def encode_base64(vector: list[float]) -> str:
    """OpenAI's base64 embedding encoding: the vector as little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
