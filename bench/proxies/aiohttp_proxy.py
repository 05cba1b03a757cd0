"""Reference pass-through: starlette on uvicorn with an aiohttp ``ClientSession`` upstream.

The CPU-per-request baseline the gateway is held to (target: at most 1.3 times this).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from common import build_app, parse_args, serve
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

args = parse_args(__doc__ or "")
session: aiohttp.ClientSession | None = None


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global session
    connector = aiohttp.TCPConnector(limit=args.max_connections, limit_per_host=args.max_connections)
    session = aiohttp.ClientSession(connector=connector, skip_auto_headers=("User-Agent",))
    yield
    await session.close()


async def forward(request: Request, url: str) -> Response:
    assert session is not None
    body = await request.body()
    upstream = await session.post(
        url, data=body, headers={"content-type": "application/json", "authorization": "Bearer sk-bench"}
    )
    content_type = upstream.headers.get("content-type", "application/json")
    if content_type.startswith("text/event-stream"):
        return StreamingResponse(
            upstream.content.iter_any(),
            status_code=upstream.status,
            media_type=content_type,
            background=BackgroundTask(upstream.release),
        )
    data = await upstream.read()
    upstream.release()
    return Response(data, status_code=upstream.status, media_type=content_type)


if __name__ == "__main__":
    serve(build_app(args, forward, lifespan), args)
