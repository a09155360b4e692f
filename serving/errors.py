"""Domain errors mapped to HTTP statuses, in one place."""

from __future__ import annotations

import html
import logging
from collections import Counter

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from data.errors import (
    PROBLEMS_PER_KIND,
    InvalidFigures,
    InvalidSeries,
    InvalidWithdrawal,
    StoreBusy,
    UnknownRevision,
    UnknownSeries,
    driver_words,
    plain_reason,
)
from serving.champions import NoChampion
from serving.jobs import UnknownJob
from serving.requests import InvalidRequest
from serving.schemas import Problem

log = logging.getLogger(__name__)


def _answer(code: int, problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem.model_dump(exclude_none=True), status_code=code, headers=headers)


async def _unknown(request: Request, error: Exception) -> JSONResponse:
    return _answer(status.HTTP_404_NOT_FOUND, Problem(detail=str(error)))


async def _no_champion(request: Request, error: Exception) -> JSONResponse:
    """409 for a series with no champion yet, a lasting state of the series until it is
    trained (not a fault to retry: a 503 had set off 5xx alerts and retry loops); 503 for a
    registered champion the service cannot load, a fault of the service."""
    assert isinstance(error, NoChampion)
    if error.unloadable is not None:
        hint = UNLOADABLE_HINT.format(series_id=error.series_id)
        return _answer(status.HTTP_503_SERVICE_UNAVAILABLE, Problem(detail=str(error), hint=hint))
    hint = TRAIN_HINT.format(series_id=error.series_id)
    if error.without_figures:
        hint = NO_FIGURES_HINT
    return _answer(status.HTTP_409_CONFLICT, Problem(detail=str(error), hint=hint))


# An API client may have no shell on the server: each hint names the API's way first, and the
# command only as the alternative for whoever runs the service.

#: What to do about a series with figures and no champion yet.
TRAIN_HINT = (
    'train it first: POST /v1/retrain with the token and {{"series": ["{series_id}"]}} (on the '
    "server, `fraudcast train -s {series_id}`)"
)

#: What to do about a registered series without figures: training it would do nothing.
NO_FIGURES_HINT = (
    "add its figures first: POST /v1/figures with the token (on the server, `fraudcast figures "
    "add` or the drop folder); a running service trains it when they arrive"
)

#: What to do about a registered champion the service cannot load.
UNLOADABLE_HINT = (
    "its model's files in MLflow's artifact store are missing or unreadable: restore them "
    "where MLflow recorded them (the service loads it within seconds), or register a new one: "
    'POST /v1/retrain with the token and {{"series": ["{series_id}"], "force": true}} (on the '
    "server, `fraudcast train --force -s {series_id}`)"
)


async def _store_busy(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StoreBusy)
    return _answer(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        Problem(detail=str(error), hint=f"send the same request again in {error.retry_after} s"),
        headers={"Retry-After": str(error.retry_after)},
    )


#: Seconds a client is asked to wait after the store could not be used (a full disk, a store
#: made read-only, a database server gone): an outage someone must see to, not a lock.
STORE_DOWN_RETRY_AFTER_S = 60


#: Methods that only read: their answer speaks of reading, not of a write undone (a GET
#: /readyz during an outage had said "nothing was written" and "disk may be full").
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _store_failed(request: Request, error: Exception) -> JSONResponse:
    """503 for a store that cannot be read or written (a full disk, a read-only file, a lost
    database server): a bare 500 and a traceback had answered. A write's transaction was
    rolled back, so nothing was written; a read says only that it could not read."""
    assert isinstance(error, SQLAlchemyError)
    said = driver_words(error)
    log.error("figure store error on %s %s: %s", request.method, request.url.path, said)
    if request.method in READ_METHODS:
        problem = Problem(
            detail=f"the figure store could not be read: {said}",
            hint="its database server may be unreachable or its file unreadable: the "
            "service's log says more; send the request again once it is fixed",
        )
    else:
        problem = Problem(
            detail=f"the figure store could not be used: {said}; nothing was written",
            hint="the store's disk may be full or read-only, or its database server "
            "unreachable: the service's log says more; send the request again once it is "
            "fixed",
        )
    return _answer(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        problem,
        headers={"Retry-After": str(STORE_DOWN_RETRY_AFTER_S)},
    )


async def _invalid_request(request: Request, error: Exception) -> JSONResponse:
    return _answer(status.HTTP_422_UNPROCESSABLE_CONTENT, Problem(detail=str(error)))


async def _invalid_figures(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, InvalidFigures)
    problems = [
        {
            "item": _item(problem.line),
            "column": problem.column,
            "value": problem.value,
            "reason": problem.said_as(lambda line: f"as item {_item(line)}"),
        }
        for problem in error.problems
    ]
    count = error.total  # every problem found; ``problems`` lists the first of each kind
    detail = f"figures rejected, nothing was written: {count:,} {_plural(count, 'problem')}"
    unlisted = [
        f"{more:,} more {_plural(more, 'item')}: {kind}" for kind, more in error.omitted().items()
    ]
    if unlisted:
        detail += f" (the first {PROBLEMS_PER_KIND} of each kind listed; {'; '.join(unlisted)})"
    return _answer(status.HTTP_422_UNPROCESSABLE_CONTENT, Problem(detail=detail, problems=problems))


def _item(line: int) -> int:
    """A figure's item in a request body (0-based): its line in the CSV the body is checked
    as, less the header's."""
    return line - 2


async def _invalid_input(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    unreadable = [item for item in error.errors() if item.get("type") == "json_invalid"]
    if unreadable:  # not a request to validate at all: 400, as the OpenAPI schema says
        where = unreadable[0].get("ctx", {}).get("error", "")
        return _answer(
            status.HTTP_400_BAD_REQUEST,
            Problem(
                detail=f"the body is not JSON ({where or 'cannot be parsed'})",
                hint=JSON_BODY_HINT,
            ),
        )
    # listed as the figures' own problems are: the first of each kind, the rest counted (a
    # body of 10,000 figures with a word for a value had answered 2 MB of the same reason)
    problems: list[dict[str, str]] = []
    seen: Counter[str] = Counter()
    for item in error.errors():
        loc = item.get("loc", ())
        reason = plain_reason(str(item.get("msg", "")))
        kind = ".".join(str(part) for part in loc if not isinstance(part, int)) + f": {reason}"
        seen[kind] += 1
        if seen[kind] <= PROBLEMS_PER_KIND:
            problems.append({"where": ".".join(str(part) for part in loc), "reason": reason})
    detail = "; ".join(f"{p['where']}: {p['reason']}" for p in problems) or "invalid request"
    unlisted = [
        f"{count - PROBLEMS_PER_KIND:,} more: {kind}"
        for kind, count in seen.items()
        if count > PROBLEMS_PER_KIND
    ]
    if unlisted:
        total = sum(seen.values())
        detail = (
            f"{total:,} {_plural(total, 'problem')} (the first {PROBLEMS_PER_KIND} of each kind "
            f"listed; {'; '.join(unlisted)}): {detail}"
        )
    not_an_object = any(p["where"] == "body" for p in problems)
    return _answer(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        Problem(detail=detail, problems=problems, hint=JSON_BODY_HINT if not_an_object else None),
    )


#: What a body must be, for a request that sent something else (CSV text, a form).
JSON_BODY_HINT = (
    "send a JSON object with Content-Type: application/json, as the endpoint's schema at /docs "
    "shows (POST /v1/figures takes each figure as an object with a figures CSV's columns); on "
    "the server, a CSV file goes through `fraudcast figures add` or the drop folder"
)


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else f"{noun}s"


async def _not_found(request: Request, error: Exception) -> Response:
    """An address that is no page, said in a page to a person's browser (it had answered
    ``{"detail":"Not Found"}``); the API's and every other client's answer stays as FastAPI
    gives it."""
    assert isinstance(error, StarletteHTTPException)
    wanted = request.headers.get("accept", "")
    api = request.url.path.startswith(("/v1/", "/docs", "/openapi", "/metrics", "/static/"))
    if error.status_code != status.HTTP_404_NOT_FOUND or api or "text/html" not in wanted:
        return await http_exception_handler(request, error)
    path = html.escape(request.url.path[:200])
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not found · '
        "fraudcast</title></head><body><h1>Not found</h1><p>fraudcast has no page at "
        f'<code>{path}</code>.</p><p>The projections are on the <a href="/">planner page'
        '</a>; the outlook brief is <a href="/v1/report.pdf">/v1/report.pdf</a>, and the API '
        'is described at <a href="/docs">/docs</a>.</p></body></html>'
    )
    return HTMLResponse(body, status_code=status.HTTP_404_NOT_FOUND)


async def _fault(request: Request, error: Exception) -> Response:
    """500 for a fault no handler above names, as a Problem under /v1 like every other error
    there (Starlette had answered the text "Internal Server Error"); Starlette logs the
    traceback once this has answered."""
    if not request.url.path.startswith("/v1/"):
        return PlainTextResponse("Internal Server Error", status.HTTP_500_INTERNAL_SERVER_ERROR)
    problem = Problem(
        detail="the service failed to answer this request: a fault of the service, not of "
        "the request",
        hint="the service's log has the traceback; the same request may work once it is fixed",
    )
    return _answer(status.HTTP_500_INTERNAL_SERVER_ERROR, problem)


def install_error_handlers(app: FastAPI) -> None:
    """Map every typed domain error to its status code."""
    app.add_exception_handler(StarletteHTTPException, _not_found)
    app.add_exception_handler(RequestValidationError, _invalid_input)
    app.add_exception_handler(UnknownSeries, _unknown)
    app.add_exception_handler(UnknownJob, _unknown)
    app.add_exception_handler(UnknownRevision, _unknown)
    app.add_exception_handler(NoChampion, _no_champion)
    app.add_exception_handler(StoreBusy, _store_busy)
    app.add_exception_handler(SQLAlchemyError, _store_failed)
    app.add_exception_handler(InvalidRequest, _invalid_request)
    app.add_exception_handler(InvalidSeries, _invalid_request)
    app.add_exception_handler(InvalidWithdrawal, _invalid_request)
    app.add_exception_handler(InvalidFigures, _invalid_figures)
    app.add_exception_handler(Exception, _fault)  # run by Starlette's outermost middleware
