"""What a request passes before the app reads a byte of its body: the bearer token of the
operations that change state, checked from the headers alone, and a cap on every body's size.

FastAPI reads and parses a route's body before it runs the route's dependencies, so the token
that ``require_token`` checks came after a 100 MB body had been read into memory. This pure ASGI
middleware runs first: an operation whose OpenAPI entry requires the bearer token (those that
declare ``require_token``) is refused from its headers, and no body is read past
``FRAUDCAST_MAX_BODY_BYTES``, whether its Content-Length says so or it streams without one.
(FastAPI's own ``max_body_size`` answers a plain "Content Too Large" that does not name the
limit, and puts that answer over any other, a 401 included, when Content-Length is too big.)
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, HTTPException, status
from fastapi.exception_handlers import http_exception_handler
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.deps import bearer_refusal

#: (path regex, methods) of the operations that need the bearer token.
_Guarded = list[tuple[re.Pattern[str], frozenset[str]]]


class BodyTooLarge(HTTPException):
    """A request body over the limit: 413, with the limit and the setting that sets it."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"the request body is over the limit of {limit:,} bytes "
            "(FRAUDCAST_MAX_BODY_BYTES); nothing was read past it",
        )


def guarded_operations(api: FastAPI) -> _Guarded:
    """The operations whose OpenAPI entry requires the bearer token, as path regexes."""
    guarded: _Guarded = []
    for path, operations in api.openapi()["paths"].items():
        methods = frozenset(
            method.upper() for method, operation in operations.items() if operation.get("security")
        )
        if methods:
            guarded.append((compile_path(path)[0], methods))
    return guarded


class RequestGuard:
    """The token before the body where an operation needs it; a size limit on every body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._guarded: _Guarded | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api: Any = scope.get("app")
        state = getattr(getattr(api, "state", None), "fraudcast", None)
        if scope["type"] != "http" or state is None:  # not started: nothing to guard yet
            await self.app(scope, receive, send)
            return
        if self._needs_token(api, scope):
            refusal = bearer_refusal(Headers(scope=scope).get("authorization"), state.token)
            if refusal is not None:
                await _answer(refusal, scope, receive, send)
                return
        await self._capped(state.service.max_body_bytes, scope, receive, send)

    def _needs_token(self, api: FastAPI, scope: Scope) -> bool:
        if self._guarded is None:  # the routes are all in place by the first request
            self._guarded = guarded_operations(api)
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        return any(
            scope["method"] in methods and regex.match(path) for regex, methods in self._guarded
        )

    async def _capped(self, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; reading its body raises ``BodyTooLarge`` (FastAPI answers 413)
        at once when its Content-Length is over ``limit``, else at the first byte past it."""
        declared = Headers(scope=scope).get("content-length", "")
        declared_too_big = declared.isdigit() and int(declared) > limit
        received = 0
        started = False

        async def capped_receive() -> Message:
            nonlocal received
            if declared_too_big:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped_receive, watched_send)
        except BodyTooLarge as error:  # FastAPI's routes answer it; anything else reading raw
            if started:
                raise
            await _answer(error, scope, receive, send)


async def _answer(error: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer exactly as FastAPI answers an HTTPException, without reading the body."""
    response = await http_exception_handler(Request(scope, receive), error)
    await response(scope, receive, send)
