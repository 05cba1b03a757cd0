"""Reference pass-through: starlette on uvicorn with an ``httpx.AsyncClient`` upstream.

Shows how httpx's connection pool behaves as concurrency grows (FINDINGS.md:
it collapses), with the same pool size as the gateway's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from common import build_app, parse_args, serve
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

args = parse_args(__doc__ or "")
client: httpx.AsyncClient | None = None


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global client
    limits = httpx.Limits(max_connections=args.max_connections, max_keepalive_connections=args.max_connections)
    client = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0), trust_env=False)
    yield
    await client.aclose()


async def forward(request: Request, url: str) -> Response:
    assert client is not None
    body = await request.body()
    outgoing = client.build_request(
        "POST", url, content=body, headers={"content-type": "application/json", "authorization": "Bearer sk-bench"}
    )
    upstream = await client.send(outgoing, stream=True)
    content_type = upstream.headers.get("content-type", "application/json")
    if content_type.startswith("text/event-stream"):
        return StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            media_type=content_type,
            background=BackgroundTask(upstream.aclose),
        )
    data = await upstream.aread()
    await upstream.aclose()
    return Response(data, status_code=upstream.status_code, media_type=content_type)


if __name__ == "__main__":
    serve(build_app(args, forward, lifespan), args)
