"""HEAD for every GET route: the GET answer's status and headers, without its body.

Uptime probes ask with HEAD; FastAPI's routes answer only the methods they declare, so
/healthz, /readyz and the forecasts had refused HEAD with 405 while / allowed it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """Pure ASGI middleware: a HEAD request is routed as a GET, and its body is not sent
    (Content-Length stays the GET body's, as HTTP says a HEAD answer's should)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # a copy: the server and the outer middleware still see (and log) a HEAD, and what
        # routing added (the route the metrics count it under) is handed back to them
        routed = {**scope, "method": "GET"}
        try:
            await self.app(routed, receive, headers_only)
        finally:
            scope.update({key: value for key, value in routed.items() if key != "method"})
