"""An OpenAI chat request → the body of Anthropic's ``POST /v1/messages``.

Only fields Anthropic knows are sent (it rejects unknown ones with "Extra
inputs are not permitted"); what each OpenAI field becomes is listed in the
package docstring.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.anthropic.messages import PROVIDER, translate_messages
from adapters.base import Target
from adapters.errors import InvalidRequest, UnsupportedParameter
from adapters.types import ChatRequest

DEFAULT_MAX_TOKENS = 4096
MIN_THINKING_BUDGET = 1024

#: Anthropic's ``output_config.effort`` has no "minimal"; "low" is the nearest.
_EFFORT = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max"}

#: ``budget_tokens`` per effort, for models that only know manual thinking
#: (``options.thinking_mode: budget``). Anthropic's minimum is 1024.
_BUDGET = {"minimal": 1024, "low": 2048, "medium": 4096, "high": 8192, "xhigh": 16384, "max": 32768}

#: OpenAI's "default" tier is Anthropic's standard capacity; flex/scale/priority have no equivalent.
_SERVICE_TIER = {"auto": "auto", "default": "standard_only"}

#: Parameters Anthropic has no equivalent for, with the value that means "not used".
_NEUTRAL: Mapping[str, tuple[object, ...]] = {
    "logprobs": (None, False),
    "top_logprobs": (None, 0),
    "logit_bias": (None,),
    "presence_penalty": (None, 0, 0.0),
    "frequency_penalty": (None, 0, 0.0),
    "seed": (None,),
    "audio": (None,),
    "prediction": (None,),
    "web_search_options": (None,),
    "verbosity": (None,),
    "functions": (None,),
    "function_call": (None,),
}


def _reject_unsupported(body: Mapping[str, Any]) -> None:
    for key, neutral in _NEUTRAL.items():
        value = body.get(key)
        if value in neutral or (key == "logit_bias" and value == {}):
            continue
        detail = "use 'tools' and 'tool_choice'" if key in ("functions", "function_call") else ""
        raise UnsupportedParameter(PROVIDER, key, detail)
    n = body.get("n")
    if n is not None and n != 1:
        raise UnsupportedParameter(PROVIDER, "n", "only one choice can be generated")
    modalities = body.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise UnsupportedParameter(PROVIDER, "modalities", "only text output is available")
    tier = body.get("service_tier")
    if tier is not None and tier not in _SERVICE_TIER:
        raise UnsupportedParameter(PROVIDER, "service_tier", "only 'auto' and 'default' have an equivalent")


def _max_tokens(body: Mapping[str, Any], target: Target) -> tuple[int, bool]:
    """The output limit, and whether the client chose it."""
    for key in ("max_completion_tokens", "max_tokens"):
        if body.get(key) is not None:
            return int(body[key]), True
    return int(target.options.get("default_max_tokens", DEFAULT_MAX_TOKENS)), False


def _sampling(body: Mapping[str, Any], out: dict[str, Any], target: Target) -> None:
    if target.options.get("drop_sampling_params"):
        # Recent Claude models refuse temperature/top_p/top_k outright.
        return
    temperature = body.get("temperature")
    if temperature is not None:
        if temperature > 1:
            raise UnsupportedParameter(PROVIDER, "temperature", "Anthropic accepts values from 0 to 1")
        out["temperature"] = temperature
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    top_k = body.get("top_k")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
            raise InvalidRequest("'top_k' must be a non-negative integer.", param="top_k")
        out["top_k"] = top_k


def _tools(body: Mapping[str, Any], out: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools:
        translated = []
        for tool in tools:
            function = tool["function"]
            entry: dict[str, Any] = {
                "name": function["name"],
                "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
            }
            if function.get("description"):
                entry["description"] = function["description"]
            if function.get("strict") is True:
                entry["strict"] = True
            translated.append(entry)
        out["tools"] = translated
    choice = body.get("tool_choice")
    anthropic_choice: dict[str, Any] | None
    if choice is None:
        anthropic_choice = None
    elif choice == "none":
        anthropic_choice = {"type": "none"}
    elif choice == "auto":
        anthropic_choice = {"type": "auto"}
    elif choice == "required":
        anthropic_choice = {"type": "any"}
    else:
        anthropic_choice = {"type": "tool", "name": choice["function"]["name"]}
    if body.get("parallel_tool_calls") is False and tools and (anthropic_choice or {}).get("type") != "none":
        anthropic_choice = {**(anthropic_choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if anthropic_choice is not None:
        out["tool_choice"] = anthropic_choice


def _thinking_config(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") not in ("enabled", "disabled", "adaptive"):
        raise InvalidRequest("'thinking.type' must be 'enabled', 'disabled' or 'adaptive'.", param="thinking")
    if value["type"] == "enabled":
        budget = value.get("budget_tokens")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < MIN_THINKING_BUDGET:
            raise InvalidRequest(
                f"'thinking.budget_tokens' must be an integer of at least {MIN_THINKING_BUDGET}.",
                param="thinking.budget_tokens",
            )
    return dict(value)


def _reasoning(body: Mapping[str, Any], out: dict[str, Any], target: Target, chosen_limit: bool) -> None:
    """``reasoning_effort`` and an explicit Anthropic ``thinking`` object → ``thinking`` (+ ``effort``)."""
    explicit = body.get("thinking")
    if explicit is not None:
        out["thinking"] = _thinking_config(explicit)
    effort = body.get("reasoning_effort")
    if effort is None:
        return
    if effort not in _EFFORT and effort != "none":
        raise InvalidRequest(f"'reasoning_effort' must be one of {['none', *_EFFORT]}.", param="reasoning_effort")
    if effort == "none":
        out.setdefault("thinking", {"type": "disabled"})
        return
    if target.options.get("thinking_mode") != "budget":
        out.setdefault("thinking", {"type": "adaptive"})
        out.setdefault("output_config", {})["effort"] = _EFFORT[effort]
        return
    if "thinking" in out:
        return
    # Manual thinking counts toward max_tokens, as reasoning does toward OpenAI's limit.
    budget = _BUDGET[effort]
    if not chosen_limit:
        out["max_tokens"] += budget
    elif budget >= out["max_tokens"]:
        budget = out["max_tokens"] - 1
        if budget < MIN_THINKING_BUDGET:
            raise UnsupportedParameter(
                PROVIDER,
                "reasoning_effort",
                f"thinking needs a budget of at least {MIN_THINKING_BUDGET} tokens below max_tokens",
            )
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}


def _response_format(body: Mapping[str, Any], out: dict[str, Any]) -> None:
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind in (None, "text"):
        return
    if kind == "json_object":
        raise UnsupportedParameter(
            PROVIDER, "response_format", "Anthropic has no free-form JSON mode; use type 'json_schema' with a schema"
        )
    schema = fmt["json_schema"].get("schema") if isinstance(fmt, dict) else None
    if not isinstance(schema, dict):
        raise InvalidRequest(
            "'response_format.json_schema.schema' must be a JSON schema object.",
            param="response_format.json_schema.schema",
        )
    out.setdefault("output_config", {})["format"] = {"type": "json_schema", "schema": schema}


def build_body(request: ChatRequest, target: Target) -> dict[str, Any]:
    body = request.body
    _reject_unsupported(body)
    system, messages = translate_messages(request.messages)
    max_tokens, chosen_limit = _max_tokens(body, target)
    out: dict[str, Any] = {"model": target.model, "max_tokens": max_tokens, "messages": messages}
    if system:
        out["system"] = system
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    _sampling(body, out, target)
    _tools(body, out)
    _reasoning(body, out, target, chosen_limit)
    _response_format(body, out)
    user = body.get("safety_identifier") or body.get("user")
    if user:
        out["metadata"] = {"user_id": user}
    if body.get("service_tier") is not None:
        out["service_tier"] = _SERVICE_TIER[body["service_tier"]]
    if request.stream:
        out["stream"] = True
    return out
