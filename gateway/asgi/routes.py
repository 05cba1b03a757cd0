"""Routing: an exact-path table for the fixed paths, starlette's router for the rest.

Nearly every request goes to a fixed path (``/v1/chat/completions``); a dict
lookup finds its endpoint without starlette's per-route regex match, child
scope and two extra coroutine frames. Paths with parameters, the lifespan, a
method that is not allowed and unknown paths go to starlette's ``Router``
unchanged, as does everything when the app is served under a root path.
"""

from __future__ import annotations

from starlette.routing import Route, Router

from gateway.asgi.types import ASGIApp, Receive, Scope, Send


class Routes:
    def __init__(self, router: Router) -> None:
        self._router = router
        # Only routes without parameters or a method list: starlette answers 405 for the others.
        self._fixed: dict[str, ASGIApp] = {
            route.path: route.app
            for route in router.routes
            if isinstance(route, Route) and not route.param_convertors and route.methods is None
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            app = self._fixed.get(scope["path"])
            if app is not None:
                await app(scope, receive, send)
                return
        await self._router(scope, receive, send)
