"""A fake Gemini API (``generativelanguage.googleapis.com``), faithful to the published API.

Routes: ``POST /{v1|v1beta}/models/{model}:generateContent``,
``:streamGenerateContent`` (``?alt=sse`` for server-sent events, else a JSON
array as the real API sends) and ``:batchEmbedContents``. The key is read from
``x-goog-api-key`` (or ``?key=``); a wrong one gets the real ``400
INVALID_ARGUMENT`` / ``API_KEY_INVALID`` body, a missing one ``403``.

Bodies are checked as the real API checks them: unknown field names are
refused (proto JSON parsing), ``contents`` must be non-empty, roles are
``user``/``model``, each part holds exactly one kind of data, bytes fields are
base64, function responses answer the preceding function-call turn one for
one and by name, Gemini 3 models require a thought signature on the first
function call of each step of the current turn, and generation settings are
range-checked. Stricter than the API on one point, so that tests notice an
adapter that does not merge turns: consecutive turns of one role are refused.

Default answers are realistic ``GenerateContentResponse``s (``responseId``,
``modelVersion``, ``usageMetadata`` with ``thoughtsTokenCount`` for thinking
models): a thought summary when ``includeThoughts``, a signed function call
when the function-calling mode is ``ANY``, else text. Streams send the same
answer as ``data: {...}\\r\\n\\r\\n`` events, each with the running usage totals
and no terminator. Tests script anything else with :meth:`FakeGemini.push`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.gemini_checks import Invalid, check_embed_request, check_generate_request, normalize
from tests.fakes.scripting import Recorded, Scripted, ScriptedFake

API_KEY = "AIzaSyTestUpstreamSecret0123456789abcdef"
RESPONSE_ID = "x5-2aKbVIrGhz7IPq6vB-Ag"
SIGNATURE = "CiIB0e2Kb6xQm3cTEa6Rd3Fk1s8mZcR2y8o1Qn6d7v0J8Xb1"
REPLY_TEXT = "Hello! How can I help you today?"
THOUGHT_TEXT = "**Answering a greeting**\n\nThe user says hello; a short, friendly answer fits.\n"
_THOUGHT_TOKENS = 57
_MODEL = re.compile(r"^(gemini|gemma|text-embedding|embedding)-[a-z0-9.-]+$")
_EMBED_MODEL = re.compile(r"^(text-embedding|gemini-embedding|embedding)-")


def google_error(status: int, grpc_status: str, message: str, details: list[Any] | None = None) -> JSONResponse:
    error: dict[str, Any] = {"code": status, "message": message, "status": grpc_status}
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status)


def rate_limited(retry_delay: str = "13s", model: str = "gemini-2.5-flash") -> Scripted:
    """The real free-tier 429: quota details and a ``RetryInfo`` in the body, no header."""
    metric = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
    message = (
        "You exceeded your current quota, please check your plan and billing details. For more information on "
        "this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n"
        f"* Quota exceeded for metric: {metric}, limit: 10, model: {model}\nPlease retry in {retry_delay}."
    )
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": metric,
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": "10",
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
    ]
    return Scripted(
        429, {"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED", "details": details}}
    )


def overloaded() -> Scripted:
    body = {
        "error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}
    }
    return Scripted(503, body)


def sse_event(payload: dict[str, Any]) -> bytes:
    """One event framed as Google frames them (CRLF line ends)."""
    return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"


def _key_error(recorded: Recorded, api_key: str) -> Response | None:
    key = recorded.headers.get("x-goog-api-key") or recorded.query.get("key")
    if not key:
        return google_error(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API.",
        )
    if key != api_key:
        message = "API key not valid. Please pass a valid API key."
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message},
        ]
        return google_error(400, "INVALID_ARGUMENT", message, details)
    return None


def _tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4) if text else 0


def _prompt_text(body: dict[str, Any]) -> str:
    pieces = [part.get("text", "") for content in body.get("contents", []) for part in content.get("parts", [])]
    pieces += [part.get("text", "") for part in (body.get("systemInstruction") or {}).get("parts", [])]
    return " ".join(p for p in pieces if isinstance(p, str))


def _is_thinking(model: str) -> bool:
    return model.startswith(("gemini-2.5", "gemini-3"))


def _last_user_text(body: dict[str, Any]) -> str:
    for content in reversed(body["contents"]):
        texts = [p["text"] for p in content["parts"] if isinstance(p.get("text"), str) and not p.get("thought")]
        if content.get("role", "user") == "user" and texts:
            return " ".join(texts)
    return ""


def _forced_call(body: dict[str, Any]) -> dict[str, Any] | None:
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if calling.get("mode") != "ANY":
        return None
    declarations = [d for tool in body.get("tools", []) for d in tool.get("functionDeclarations", [])]
    allowed = calling.get("allowedFunctionNames") or [d["name"] for d in declarations]
    declaration = next(d for d in declarations if d["name"] == allowed[0])
    schema = declaration.get("parametersJsonSchema") or declaration.get("parameters") or {}
    properties = [
        name for name, spec in (schema.get("properties") or {}).items() if spec.get("type") in ("string", "STRING")
    ]
    args = {properties[0]: _last_user_text(body)} if properties else {}
    return {"name": declaration["name"], "args": args}


class FakeGemini(ScriptedFake):
    """The fake server's state: recorded requests, scripted answers, refused requests."""

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        #: Messages of the 400s this fake answered for invalid bodies (the gateway must cause none).
        self.violations: list[str] = []
        self.app = Starlette(routes=[Route("/{version}/models/{target:path}", self._dispatch, methods=["POST"])])

    async def _dispatch(self, request: Request) -> Response:
        recorded = await self.record(request)
        body: Any = recorded.body
        version = request.path_params["version"]
        model, _, method = str(request.path_params["target"]).partition(":")
        if version not in ("v1", "v1beta") or method not in (
            "generateContent",
            "streamGenerateContent",
            "batchEmbedContents",
        ):
            return google_error(404, "NOT_FOUND", f"Method not found: {request.url.path}")
        if (denied := _key_error(recorded, self.api_key)) is not None:
            return denied
        embedding = bool(_EMBED_MODEL.match(model))
        if not _MODEL.match(model) or embedding != (method == "batchEmbedContents"):
            return google_error(
                404,
                "NOT_FOUND",
                f"models/{model} is not found for API version {version}, or is not supported for {method}. "
                "Call ListModels to see the list of available models and their supported methods.",
            )
        try:
            if not isinstance(body, dict):
                raise Invalid("Invalid JSON payload received. Expected an object.")
            body = normalize(body, "batch" if embedding else "request")
            if embedding:
                check_embed_request(body, model)
            else:
                check_generate_request(body, model)
        except Invalid as exc:
            self.violations.append(str(exc))
            return google_error(400, "INVALID_ARGUMENT", str(exc))
        if self.scripts:
            return await self.play(self.scripts.popleft())
        if embedding:
            return JSONResponse(self._embeddings(body))
        events = self._answer(body, model)
        if method == "generateContent":
            return JSONResponse(events[-1] if len(events) == 1 else self._merged(events))
        if recorded.query.get("alt") == "sse":
            return StreamingResponse(iter([sse_event(e) for e in events]), media_type="text/event-stream")
        return Response(b"[" + b",\r\n".join(orjson.dumps(e) for e in events) + b"]", media_type="application/json")

    def _answer(self, body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        """The answer as the stream events the model would produce; one event means nothing to stream."""
        config = body.get("generationConfig") or {}
        thinking = _is_thinking(model) and (config.get("thinkingConfig") or {}).get("thinkingBudget") != 0
        include_thoughts = thinking and (config.get("thinkingConfig") or {}).get("includeThoughts")
        call = _forced_call(body)
        prompt = _tokens(_prompt_text(body))
        thoughts = _THOUGHT_TOKENS if thinking else 0
        steps: list[tuple[list[dict[str, Any]], int]] = []
        if include_thoughts:
            steps.append(([{"text": THOUGHT_TEXT, "thought": True}], 0))
        if call is not None:
            part: dict[str, Any] = {"functionCall": call}
            if thinking:
                part["thoughtSignature"] = SIGNATURE
            steps.append(([part], _tokens(orjson.dumps(call).decode())))
        else:
            words = REPLY_TEXT.split(" ")
            pieces = [" ".join(words[:2]), " " + " ".join(words[2:5]), " " + " ".join(words[5:])]
            steps.extend(([{"text": piece}], _tokens(piece)) for piece in pieces)
            if model.startswith("gemini-3"):
                steps.append(([{"text": "", "thoughtSignature": SIGNATURE}], 0))
        count = int(config.get("candidateCount") or 1)
        events: list[dict[str, Any]] = []
        produced = 0
        for i, (parts, tokens) in enumerate(steps):
            produced += tokens
            last = i == len(steps) - 1
            candidates = []
            for index in range(count):
                candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
                if last:
                    candidate["finishReason"] = "STOP"
                if index:
                    candidate["index"] = index
                candidates.append(candidate)
            usage: dict[str, Any] = {
                "promptTokenCount": prompt,
                "totalTokenCount": prompt + produced * count + thoughts,
            }
            if produced:
                usage["candidatesTokenCount"] = produced * count
            usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
            if thoughts:
                usage["thoughtsTokenCount"] = thoughts
            events.append(
                {"candidates": candidates, "usageMetadata": usage, "modelVersion": model, "responseId": RESPONSE_ID}
            )
        return events

    @staticmethod
    def _merged(events: list[dict[str, Any]]) -> dict[str, Any]:
        """The non-streamed form: all parts in one candidate, text parts joined as Gemini returns them."""
        merged: dict[str, Any] = orjson.loads(orjson.dumps(events[-1]))
        for index, candidate in enumerate(merged["candidates"]):
            parts: list[dict[str, Any]] = []
            for event in events:
                for part in event["candidates"][index]["content"]["parts"]:
                    plain = set(part) == {"text"} and parts and set(parts[-1]) == {"text"}
                    if plain:
                        parts[-1] = {"text": parts[-1]["text"] + part["text"]}
                    elif part.get("text") == "" and "thoughtSignature" in part and parts:
                        parts[-1] = {**parts[-1], "thoughtSignature": part["thoughtSignature"]}
                    else:
                        parts.append(dict(part))
            candidate["content"]["parts"] = parts
            candidate["index"] = index
        return merged

    @staticmethod
    def _embeddings(body: dict[str, Any]) -> dict[str, Any]:
        embeddings = []
        for entry in body["requests"]:
            size = int(entry.get("outputDimensionality") or 768)
            seed = hashlib.sha256(orjson.dumps(entry["content"])).digest()
            values = [round((seed[i % 32] - 127.5) / 127.5 * (1 + i % 7) / 7, 6) for i in range(size)]
            embeddings.append({"values": values})
        return {"embeddings": embeddings}
