"""What a request passes before the app reads a byte of its body: the bearer token of the
operations that change state, checked from the headers alone; a slot among the few requests
that may refit a model at once; and a cap on every body's size.

FastAPI reads and parses a route's body before it runs the route's dependencies, so the token
that ``require_token`` checks came after a 100 MB body had been read into memory. This pure ASGI
middleware runs first: an operation whose OpenAPI entry requires the bearer token (those that
declare ``require_token``) is refused from its headers, and no body is read past
``FRAUDCAST_MAX_BODY_BYTES``, whether its Content-Length says so or it streams without one.
(FastAPI's own ``max_body_size`` answers a plain "Content Too Large" that does not name the
limit, and puts that answer over any other, a 401 included, when Content-Length is too big.)

An operation whose OpenAPI entry carries ``REFITS_MODEL`` (a what-if scenario refits the
champion's model for each request: milliseconds of CPU where a forecast takes microseconds)
runs at most ``FRAUDCAST_MAX_CONCURRENT_REFITS`` at a time in one process. More wait for a slot
up to ``FRAUDCAST_REFIT_WAIT_SECONDS``, then get 429 with Retry-After: a burst of scenarios
queues, in the event loop, instead of taking every thread and the CPU from the other requests.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, status
from fastapi.exception_handlers import http_exception_handler
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.deps import bearer_refusal
from serving.settings import ServiceSettings

#: The OpenAPI extension that marks an operation refitting a model per request.
REFITS_MODEL = "x-refits-model"
#: Seconds a request refused for want of a refit slot is told to wait.
REFIT_RETRY_AFTER_S = 1

#: (path regex, methods) of operations.
_Operations = list[tuple[re.Pattern[str], frozenset[str]]]


class BodyTooLarge(HTTPException):
    """A request body over the limit: 413, with the limit and the setting that sets it."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"the request body is over the limit of {limit:,} bytes "
            "(FRAUDCAST_MAX_BODY_BYTES); nothing was read past it",
        )


class BusyRefitting(HTTPException):
    """No refit slot freed in time: 429, with the limit, the setting and when to try again."""

    def __init__(self, limit: int, waited: float) -> None:
        super().__init__(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"{limit} requests that refit a model are running in this process "
            f"(FRAUDCAST_MAX_CONCURRENT_REFITS) and none ended within {waited:g} s; "
            f"send it again in {REFIT_RETRY_AFTER_S} s",
            headers={"Retry-After": str(REFIT_RETRY_AFTER_S)},
        )


def guarded_operations(api: FastAPI) -> _Operations:
    """The operations whose OpenAPI entry requires the bearer token, as path regexes."""
    return _operations(api, lambda operation: bool(operation.get("security")))


def refit_operations(api: FastAPI) -> _Operations:
    """The operations whose OpenAPI entry says they refit a model (``REFITS_MODEL``)."""
    return _operations(api, lambda operation: bool(operation.get(REFITS_MODEL)))


def _operations(api: FastAPI, chosen: Callable[[dict[str, Any]], bool]) -> _Operations:
    found: _Operations = []
    for path, operations in api.openapi()["paths"].items():
        methods = frozenset(
            method.upper() for method, operation in operations.items() if chosen(operation)
        )
        if methods:
            found.append((compile_path(path)[0], methods))
    return found


class RequestGuard:
    """The token before the body where an operation needs it; a slot for each request that
    refits a model; a size limit on every body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._guarded: _Operations | None = None
        self._refitting: _Operations | None = None
        self._refit_slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api: Any = scope.get("app")
        state = getattr(getattr(api, "state", None), "fraudcast", None)
        if scope["type"] != "http" or state is None:  # not started: nothing to guard yet
            await self.app(scope, receive, send)
            return
        if self._guarded is None or self._refitting is None:  # all routes are in by now
            self._guarded, self._refitting = guarded_operations(api), refit_operations(api)
        if _matches(self._guarded, scope):
            refusal = bearer_refusal(Headers(scope=scope).get("authorization"), state.token)
            if refusal is not None:
                await _answer(refusal, scope, receive, send)
                return
        if _matches(self._refitting, scope):
            await self._in_refit_slot(state.service, scope, receive, send)
            return
        await self._capped(state.service.max_body_bytes, scope, receive, send)

    async def _in_refit_slot(
        self, service: ServiceSettings, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Pass the request on once one of ``max_concurrent_refits`` slots is free; 429 when
        none frees within ``refit_wait_seconds``."""
        if self._refit_slots is None:
            self._refit_slots = asyncio.Semaphore(service.max_concurrent_refits)
        slots = self._refit_slots
        if slots.locked():
            try:
                await asyncio.wait_for(slots.acquire(), service.refit_wait_seconds)
            except TimeoutError:
                busy = BusyRefitting(service.max_concurrent_refits, service.refit_wait_seconds)
                await _answer(busy, scope, receive, send)
                return
        else:
            await slots.acquire()
        try:
            await self._capped(service.max_body_bytes, scope, receive, send)
        finally:
            slots.release()

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


def _matches(operations: _Operations, scope: Scope) -> bool:
    path = scope["path"].removeprefix(scope.get("root_path", ""))
    return any(scope["method"] in methods and regex.match(path) for regex, methods in operations)


async def _answer(error: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer exactly as FastAPI answers an HTTPException, without reading the body."""
    response = await http_exception_handler(Request(scope, receive), error)
    await response(scope, receive, send)
