"""Small facts about Gemini shared by the request, response and stream modules."""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import quote

import orjson

PROVIDER = "gemini"

#: Prefix of the tool call ids this adapter mints (Gemini usually sends none).
#: OpenAI's ids share it, and neither kind means anything to Gemini, so ids with
#: this prefix are never sent back upstream.
MINTED_ID_PREFIX = "call_"

#: The value Google documents for function calls that Gemini did not write
#: (history from another model), which Gemini 3 would otherwise reject.
SKIP_SIGNATURE = "skip_thought_signature_validator"

# Gemini 1.x/2.x control thinking with a token budget; later models with a level.
_BUDGET_MODELS = re.compile(r"^gemini-[12][.-]")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def bare_model(model: str) -> str:
    return model.removeprefix("models/")


def model_path(model: str) -> str:
    """The resource name Gemini expects in URLs and embedding requests: ``models/{model}``."""
    name = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
    return quote(name, safe="/")


def uses_thinking_budget(model: str) -> bool:
    return bool(_BUDGET_MODELS.match(bare_model(model)))


def requires_thought_signatures(model: str) -> bool:
    """Gemini 3 and later refuse function calls in history that lack a thought signature."""
    name = bare_model(model)
    return name.startswith("gemini-") and not _BUDGET_MODELS.match(name)


def google_signature(holder: dict[str, Any]) -> str | None:
    """Read ``extra_content.google.thought_signature``, the field Google's own OpenAI layer uses."""
    extra = holder.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) and signature else None


def signature_extra(signature: str) -> dict[str, Any]:
    return {"google": {"thought_signature": signature}}


def tool_call_id(call: dict[str, Any], response_id: str | None, candidate: int, position: int) -> str:
    """Gemini's own id when it sent one, else a stable id for this call of this response.

    The same response always yields the same ids (a client may be shown the
    reply twice, or a stream and a retry may be compared), and ids stay within
    ``[A-Za-z0-9_-]`` so that other providers accept them in a later turn.
    """
    given = call.get("id")
    if isinstance(given, str) and given:
        return given
    if response_id and _SAFE_ID.match(response_id):
        base = response_id
    else:
        seed = orjson.dumps(
            {"r": response_id, "n": call.get("name"), "a": call.get("args")}, option=orjson.OPT_SORT_KEYS
        )
        base = hashlib.sha256(seed).hexdigest()[:24]
    return f"{MINTED_ID_PREFIX}{base}_{candidate}_{position}"
