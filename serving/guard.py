"""What a request passes before the app reads a byte of its body: the bearer token of the
operations that change state, checked from the headers alone; a slot among the few requests of a
costly kind that may run at once (drawing an outlook PDF, refitting a model for a what-if
scenario); and a cap on every body's size.

FastAPI reads and parses a route's body before it runs the route's dependencies, so the token
that ``require_token`` checks came after a 100 MB body had been read into memory. This pure ASGI
middleware runs first: an operation whose OpenAPI entry requires the bearer token (those that
declare ``require_token``) is refused from its headers, and no body is read past
``FRAUDCAST_MAX_BODY_BYTES``, whether its Content-Length says so or it streams without one.
(FastAPI's own ``max_body_size`` answers a plain "Content Too Large" that does not name the
limit, and puts that answer over any other, a 401 included, when Content-Length is too big.)

An operation whose OpenAPI entry names a pool of slots (``SLOT_POOL``; drawing the outlook PDF
takes seconds of CPU where a forecast takes microseconds) runs only while it holds one of the
pool's slots, at most ``limit`` at a time in one process. More wait for a slot up to ``wait``
seconds, in the event loop, then get 429 with Retry-After: a burst of such requests queues
instead of taking every worker thread and the CPU from the other requests.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, status
from fastapi.exception_handlers import http_exception_handler
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.deps import bearer_refusal
from serving.metrics import ROUTE_TEMPLATE
from serving.settings import ServiceSettings

#: The OpenAPI extension naming the pool of slots an operation holds one of while it runs.
SLOT_POOL = "x-slot-pool"

#: (path regex, methods) of the operations that need the bearer token.
_Guarded = list[tuple[re.Pattern[str], frozenset[str]]]
#: (path regex, method, pool name) of the operations that run in a slot.
_Pooled = list[tuple[re.Pattern[str], str, str]]


@dataclass(frozen=True)
class SlotPool:
    """How many requests of one costly kind run at once, and how long another waits."""

    what: str  # "outlook PDFs drawn"
    one: str  # "outlook PDF drawn": ``what`` for a limit of one
    setting: str  # the variable that sets ``limit``
    limit: int
    wait: float
    retry_after: int


def slot_pools(service: ServiceSettings) -> dict[str, SlotPool]:
    """The pools operations may name in ``SLOT_POOL``, sized by the settings."""
    return {
        "refit": SlotPool(
            "requests that refit a model (what-if scenarios) running",
            "request that refits a model (a what-if scenario) running",
            "FRAUDCAST_MAX_CONCURRENT_REFITS",
            service.max_concurrent_refits,
            service.refit_wait_seconds,
            retry_after=1,
        ),
        "report": SlotPool(
            "outlook PDFs drawn",
            "outlook PDF drawn",
            "FRAUDCAST_MAX_CONCURRENT_REPORTS",
            service.max_concurrent_reports,
            service.report_wait_seconds,
            retry_after=5,
        ),
    }


class BodyTooLarge(HTTPException):
    """A request body over the limit: 413, with the limit and the setting that sets it."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"the request body is over the limit of {limit:,} bytes "
            "(FRAUDCAST_MAX_BODY_BYTES); nothing was read past it",
        )


class NoSlotFree(HTTPException):
    """No slot of the pool freed in time: 429, with the limit, its setting and when to retry."""

    def __init__(self, pool: SlotPool) -> None:
        super().__init__(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"at most {pool.limit} {pool.one if pool.limit == 1 else pool.what} at a "
            f"time in this process ({pool.setting}), and no place came free within "
            f"{pool.wait:g} s; send it again in {pool.retry_after} s",
            headers={"Retry-After": str(pool.retry_after)},
        )


def pooled_operations(api: FastAPI) -> _Pooled:
    """The operations whose OpenAPI entry names a pool of slots, as path regexes."""
    return [
        (compile_path(path)[0], method.upper(), operation[SLOT_POOL])
        for path, operations in api.openapi()["paths"].items()
        for method, operation in operations.items()
        if operation.get(SLOT_POOL)
    ]


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
        self._pooled: _Pooled | None = None
        self._slots: dict[str, asyncio.Semaphore] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api: Any = scope.get("app")
        state = getattr(getattr(api, "state", None), "fraudcast", None)
        if scope["type"] != "http" or state is None:  # not started: nothing to guard yet
            await self.app(scope, receive, send)
            return
        if self._needs_token(api, scope):
            refusal = bearer_refusal(Headers(scope=scope).get("authorization"), state.token)
            if refusal is not None:
                _note_route(api, scope)
                await _answer(refusal, scope, receive, send)
                return
        pool = self._pool_of(api, scope)
        if pool is not None:
            await self._in_slot(pool, state.service, scope, receive, send)
            return
        await self._capped(state.service.max_body_bytes, scope, receive, send)

    def _pool_of(self, api: FastAPI, scope: Scope) -> str | None:
        if self._pooled is None:  # the routes are all in place by the first request
            self._pooled = pooled_operations(api)
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        for regex, method, pool in self._pooled:
            if scope["method"] == method and regex.match(path):
                return pool
        return None

    async def _in_slot(
        self, name: str, service: ServiceSettings, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Pass the request on once it holds a slot of the pool; 429 when none frees within
        the pool's wait."""
        pool = slot_pools(service)[name]
        slots = self._slots.setdefault(name, asyncio.Semaphore(pool.limit))
        if slots.locked():  # wait_for would refuse at once with no wait, even as a slot frees
            try:
                await asyncio.wait_for(slots.acquire(), pool.wait)
            except TimeoutError:
                _note_route(scope["app"], scope)
                await _answer(NoSlotFree(pool), scope, receive, send)
                return
        else:
            await slots.acquire()
        try:
            await self._capped(service.max_body_bytes, scope, receive, send)
        finally:
            slots.release()

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


def _note_route(api: FastAPI, scope: Scope) -> None:
    """Name, for the metrics, the route a request answered here was for (``ROUTE_TEMPLATE``)."""
    path = scope["path"].removeprefix(scope.get("root_path", ""))
    for template in api.openapi()["paths"]:
        if compile_path(template)[0].match(path):
            scope[ROUTE_TEMPLATE] = template
            return


async def _answer(error: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer exactly as FastAPI answers an HTTPException, without reading the body."""
    response = await http_exception_handler(Request(scope, receive), error)
    await response(scope, receive, send)
