"""An OpenAI chat request → the body of Gemini's ``generateContent``.

Parameters that Gemini cannot honour are refused with
:class:`~adapters.errors.UnsupportedParameter` rather than silently dropped;
hints that change nothing a client can observe (``user``, ``metadata``,
``safety_identifier``, prompt-cache hints, ``store: false``) are ignored.
"""

from __future__ import annotations

from typing import Any

from adapters.errors import InvalidRequest, UnsupportedParameter
from adapters.gemini.common import PROVIDER, uses_thinking_budget
from adapters.gemini.contents import build_contents
from adapters.types import ChatRequest

_INT32 = 2**31
# Google's OpenAI layer maps low/medium/high to these budgets for Gemini 2.x.
_BUDGETS = {"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576, "max": 24576}
# Gemini 3 cannot switch thinking off: MINIMAL is the closest it offers to "none".
_LEVELS = {
    "none": "MINIMAL",
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "xhigh": "XHIGH",
    "max": "XHIGH",
}
_SERVICE_TIERS = {"auto": None, "default": None, "flex": "flex", "priority": "priority"}
_TOOL_MODES = {"none": "NONE", "auto": "AUTO", "required": "ANY"}


def _reject_unsupported(body: dict[str, Any]) -> None:
    def reject(param: str, detail: str) -> None:
        raise UnsupportedParameter(PROVIDER, param, detail)

    if body.get("logit_bias"):
        reject("logit_bias", "Gemini has no token biasing")
    if body.get("audio") is not None:
        reject("audio", "this adapter returns text only")
    modalities = body.get("modalities")
    if isinstance(modalities, list) and any(m != "text" for m in modalities):
        reject("modalities", "this adapter returns text only")
    for param in ("prediction", "web_search_options", "moderation", "verbosity"):
        if body.get(param) is not None:
            reject(param, "Gemini has no equivalent")
    if body.get("store"):
        reject("store", "Gemini does not store completions")
    for param in ("functions", "function_call"):
        if body.get(param) is not None:
            reject(param, "use 'tools' and 'tool_choice'")
    if body.get("parallel_tool_calls") is False and body.get("tools"):
        reject("parallel_tool_calls", "Gemini cannot be kept from calling several functions at once")
    seed = body.get("seed")
    if seed is not None and not -_INT32 <= seed < _INT32:
        reject("seed", "Gemini takes a 32-bit seed")
    tier = body.get("service_tier")
    if tier is not None and tier not in _SERVICE_TIERS:
        reject("service_tier", f"Gemini offers {sorted(_SERVICE_TIERS)}")


def _tools(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools = body.get("tools")
    if not tools:
        return None
    declarations = []
    for tool in tools:
        function = tool["function"]
        declaration: dict[str, Any] = {"name": function["name"]}
        if function.get("description"):
            declaration["description"] = function["description"]
        if function.get("parameters"):
            # parametersJsonSchema takes JSON Schema as OpenAI clients write it
            # (additionalProperties, $ref, anyOf …); the older ``parameters``
            # field takes only an OpenAPI subset and rejects unknown keywords.
            declaration["parametersJsonSchema"] = function["parameters"]
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}]


def _tool_config(body: dict[str, Any]) -> dict[str, Any] | None:
    choice = body.get("tool_choice")
    tools = body.get("tools") or []
    if choice is None:
        return None
    if not tools:
        if choice in ("none", "auto"):
            return None
        raise InvalidRequest("'tool_choice' requires 'tools'.", param="tool_choice")
    if isinstance(choice, str):
        return {"functionCallingConfig": {"mode": _TOOL_MODES[choice]}}
    name = choice["function"]["name"]
    if name not in {tool["function"]["name"] for tool in tools}:
        raise InvalidRequest(f"'tool_choice' names {name!r}, which is not in 'tools'.", param="tool_choice")
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}


def _thinking(body: dict[str, Any], model: str) -> dict[str, Any] | None:
    effort = body.get("reasoning_effort")
    if effort is None:
        return None
    if effort not in _LEVELS:
        raise InvalidRequest(f"'reasoning_effort' must be one of {sorted(_LEVELS)}.", param="reasoning_effort")
    config: dict[str, Any] = (
        {"thinkingBudget": _BUDGETS[effort]} if uses_thinking_budget(model) else {"thinkingLevel": _LEVELS[effort]}
    )
    if effort != "none":
        # Asking for effort means the client wants reasoning: return Gemini's thought summaries too.
        config["includeThoughts"] = True
    return config


def _response_format(body: dict[str, Any], config: dict[str, Any]) -> None:
    fmt = body.get("response_format") or {}
    kind = fmt.get("type")
    if kind in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
    if kind == "json_schema":
        schema = fmt["json_schema"].get("schema")
        if schema is not None:
            config["responseJsonSchema"] = schema


def _logprobs(body: dict[str, Any], config: dict[str, Any]) -> None:
    top = body.get("top_logprobs")
    if not body.get("logprobs"):
        if top:
            raise InvalidRequest("'top_logprobs' requires 'logprobs' to be true.", param="top_logprobs")
        return
    config["responseLogprobs"] = True
    if top:
        config["logprobs"] = top


def _generation_config(body: dict[str, Any], model: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for ours, theirs in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("n", "candidateCount"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is not None:
        config["maxOutputTokens"] = limit
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else stop
    _response_format(body, config)
    _logprobs(body, config)
    thinking = _thinking(body, model)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def build_chat_body(request: ChatRequest, model: str) -> dict[str, Any]:
    """The JSON body for ``models/{model}:generateContent`` (and its streaming twin)."""
    body = request.body
    _reject_unsupported(body)
    instruction, contents = build_contents(request.messages, model)
    out: dict[str, Any] = {"contents": contents}
    if instruction is not None:
        out["systemInstruction"] = instruction
    tools = _tools(body)
    if tools is not None:
        out["tools"] = tools
    tool_config = _tool_config(body)
    if tool_config is not None:
        out["toolConfig"] = tool_config
    config = _generation_config(body, model)
    if config:
        out["generationConfig"] = config
    tier = _SERVICE_TIERS.get(body.get("service_tier") or "auto")
    if tier is not None:
        out["serviceTier"] = tier
    return out
