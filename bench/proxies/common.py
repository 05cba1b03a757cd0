"""Shared plumbing of the reference pass-through proxies: arguments, routes, and how they are served.

Each proxy forwards ``POST <prefix>/chat/completions`` to one upstream; the
prefix ``/v1`` goes to ``--upstream`` and ``/llm/v1`` to ``--llm-upstream``
(the fake upstream with model timing), so one process serves both phases of
a benchmark. Nothing is parsed or validated: the body is passed through and
the answer streamed back as received. That is the floor a gateway is
compared with.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

Handler = Callable[[Request, str], Awaitable[Response]]


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL ending in /v1, e.g. http://127.0.0.1:18080/v1")
    parser.add_argument("--llm-upstream", help="base URL for /llm/v1 (default: --upstream)")
    parser.add_argument("--max-connections", type=int, default=512, help="upstream pool size (as the gateway's)")
    return parser.parse_args()


def build_app(args: argparse.Namespace, forward: Handler, lifespan: Callable[..., object]) -> Starlette:
    upstreams = {"/v1": args.upstream.rstrip("/"), "/llm/v1": (args.llm_upstream or args.upstream).rstrip("/")}

    def route(prefix: str) -> Route:
        url = upstreams[prefix] + "/chat/completions"

        async def endpoint(request: Request) -> Response:
            return await forward(request, url)

        return Route(f"{prefix}/chat/completions", endpoint, methods=["POST"])

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[route("/v1"), route("/llm/v1"), Route("/healthz", healthz)],
        lifespan=lifespan,  # type: ignore[arg-type]
    )


def serve(app: Starlette, args: argparse.Namespace) -> None:
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        server_header=False,
    )
