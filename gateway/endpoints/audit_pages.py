"""The auditors' page (``/audit``) and its JSON API (``/admin/audit/…``).

The page is static HTML, JS and CSS from ``gateway/static/``, served with a
strict Content-Security-Policy (same-origin scripts, styles and fetches only;
no inline code, no framing). It carries no data: the script calls the JSON
endpoints, which are ordinary pipeline operations (``audit.search``,
``audit.record``, ``audit.verify``) behind ``authenticate`` and ``authorize``.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Route

from gateway.asgi.types import Receive, Scope, Send
from gateway.endpoints.operations import OperationEndpoint
from gateway.errors import MethodNotAllowedError
from gateway.state import AppState

STATIC = Path(__file__).resolve().parents[1] / "static"

_TYPES = {".html": b"text/html; charset=utf-8", ".js": b"text/javascript; charset=utf-8", ".css": b"text/css"}
_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        b"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-cache"),
]


class StaticFile:
    """One file, read once at start-up (the page has three; no directory is ever exposed)."""

    def __init__(self, name: str) -> None:
        path = STATIC / name
        self._body = path.read_bytes()
        self._headers = [
            (b"content-type", _TYPES[path.suffix]),
            (b"content-length", str(len(self._body)).encode()),
            *_SECURITY_HEADERS,
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            raise MethodNotAllowedError(f"{scope['method']} is not allowed on {scope['path']}; use GET.")
        await send({"type": "http.response.start", "status": 200, "headers": self._headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else self._body})


def audit_routes(state: AppState) -> list[Route]:
    return [
        Route("/audit", StaticFile("audit.html")),
        Route("/audit/audit.js", StaticFile("audit.js")),
        Route("/audit/audit.css", StaticFile("audit.css")),
        Route("/admin/audit/records", OperationEndpoint(state, "audit.search", "GET")),
        # OperationEndpoint hands the {id} path parameter to the chain as exchange.resource_id.
        Route("/admin/audit/records/{id}", OperationEndpoint(state, "audit.record", "GET")),
        Route("/admin/audit/verify", OperationEndpoint(state, "audit.verify", "GET")),
    ]
