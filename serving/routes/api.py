"""The versioned JSON API under /v1."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from models.base import MAX_HORIZON
from serving import changes, report, requests, scenarios, schemas, services
from serving.deps import State, Store, known_query_only, require_token
from serving.guard import SLOT_POOL
from serving.revalidation import RevalidatedRoute
from serving.state import ServiceState

router = APIRouter(
    prefix="/v1",
    tags=["v1"],
    dependencies=[Depends(known_query_only)],
    route_class=RevalidatedRoute,  # ETag, Cache-Control and 304 on every GET
    # every 422 has the one Problem shape (serving/errors.py), not FastAPI's default, and so
    # has a fault of the service (errors._fault), on any operation
    responses={
        422: {"model": schemas.Problem, "description": "Invalid request"},
        500: {
            "model": schemas.Problem,
            "description": "A fault of the service, not of the request: the service's log "
            "has the traceback",
        },
    },
)

Responses = dict[int | str, dict[str, Any]]
_NOT_FOUND: Responses = {404: {"model": schemas.Problem, "description": "Unknown series"}}
_FORECAST_ERRORS: Responses = {
    **_NOT_FOUND,
    422: {"model": schemas.Problem, "description": "Horizon or levels outside what is allowed"},
    409: {"model": schemas.Problem, "description": "The series has no champion yet"},
    503: {"model": schemas.Problem, "description": "The series' champion cannot be loaded"},
}
_BAD_BODY: Responses = {
    400: {"model": schemas.Problem, "description": "Body is not JSON"},
    413: {"model": schemas.Problem, "description": "Body over FRAUDCAST_MAX_BODY_BYTES"},
}
_WRITE_ERRORS: Responses = {
    **_BAD_BODY,
    401: {"model": schemas.Problem, "description": "No bearer token"},
    403: {"model": schemas.Problem, "description": "Wrong bearer token"},
}
#: A write that found the store as asked already.
_NO_OP = "Nothing to do: the store holds the figures as asked already; no revision was created"
#: A figures write the store was too busy for.
_STORE_BUSY: Responses = {
    503: {
        "model": schemas.Problem,
        "description": "The store is busy with another write: nothing was written, send it "
        "again after Retry-After seconds",
    },
}
# Bounds are checked by the service (for a message that says what is allowed) and shown here.
Horizon = Annotated[
    int,
    Query(
        description=f"Years ahead, 1–{MAX_HORIZON}.",
        json_schema_extra={"minimum": 1, "maximum": MAX_HORIZON},
    ),
]
Levels = Annotated[
    list[str],
    Query(
        description=(
            f"Interval levels, comma-separated: {schemas.LEVEL_RULE}; at most "
            f"{schemas.MAX_LEVELS} in all. The parameter may repeat: levels=80&levels=95 is "
            "levels=80,95."
        ),
        json_schema_extra={"items": {"type": "string", "pattern": schemas.LEVELS_PATTERN}},
    ),
]
DEFAULT_HORIZON = 5
DEFAULT_LEVELS = ["80,95"]
EVERY_SERIES: list[str] = []


def _horizon_levels(
    state: ServiceState, horizon: int, levels: list[str]
) -> tuple[int, tuple[float, ...]]:
    return (
        requests.check_horizon(horizon, state.service.max_horizon),
        requests.parse_levels(",".join(levels)),
    )


def _file(body: str | bytes, media_type: str, filename: str, *, disposition: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
    )


@router.get("/series", response_model=list[schemas.SeriesSummary])
def list_series(state: State) -> list[schemas.SeriesSummary]:
    """Every series: latest figure with its source, the champion serving it, and whether a
    retrain of it is pending."""
    return services.list_series(state.store, state.board, state.jobs)


@router.get(
    "/series/{series_id}/figures", response_model=list[schemas.Figure], responses=_NOT_FOUND
)
def series_figures(series_id: str, store: Store) -> list[schemas.Figure]:
    """The figures of one series with provenance."""
    return services.series_figures(store, series_id)


@router.get(
    "/series/{series_id}/forecast",
    response_model=schemas.ForecastResponse,
    responses=_FORECAST_ERRORS,
)
async def forecast(
    series_id: str,
    state: State,
    horizon: Horizon = DEFAULT_HORIZON,
    levels: Levels = DEFAULT_LEVELS,
) -> Response:
    """Mean and intervals per forecast year from the series' champion."""
    steps, wanted = _horizon_levels(state, horizon, levels)
    body = services.forecast_json(state.store, state.board, series_id, steps, wanted, state.jobs)
    return Response(body, media_type="application/json")


@router.get(
    "/series/{series_id}/forecast.csv",
    responses={**_FORECAST_ERRORS, 200: {"content": {"text/csv": {}}}},
    response_class=Response,
)
def forecast_csv(
    series_id: str,
    state: State,
    horizon: Horizon = DEFAULT_HORIZON,
    levels: Levels = DEFAULT_LEVELS,
) -> Response:
    """The forecast as a CSV download, named with the day it was made
    (``{id}-forecast-2026-12-04.csv``). Its numbers are rounded as a planner reads them:
    counts to 1 decimal, yen to the yen, other units to 2 decimals; the JSON forecast has them
    in full precision."""
    steps, wanted = _horizon_levels(state, horizon, levels)
    body = services.forecast_csv(state.store, state.board, series_id, steps, wanted)
    name = f"{series_id}-forecast-{datetime.now(UTC):%Y-%m-%d}.csv"
    return _file(body, "text/csv", name, disposition="attachment")


@router.get(
    "/series/{series_id}/forecast.png",
    responses={**_FORECAST_ERRORS, 200: {"content": {"image/png": {}}}},
    response_class=Response,
)
def forecast_png(
    series_id: str,
    state: State,
    horizon: Horizon = DEFAULT_HORIZON,
    levels: Levels = DEFAULT_LEVELS,
) -> Response:
    """A fan chart: history, mean, shaded bands, definition breaks marked."""
    steps, wanted = _horizon_levels(state, horizon, levels)
    body = services.forecast_png(state.store, state.board, series_id, steps, wanted)
    return _file(body, "image/png", f"{series_id}-forecast.png", disposition="inline")


@router.post(
    "/forecasts",
    response_model=schemas.BatchForecastResponse,
    responses={**_FORECAST_ERRORS, **_BAD_BODY},
)
def batch_forecasts(
    request: schemas.BatchForecastRequest, state: State
) -> schemas.BatchForecastResponse:
    """Forecasts for many series in one request."""
    answers = []
    for item in request.requests:
        steps = requests.check_horizon(item.horizon, state.service.max_horizon)
        levels = requests.parse_levels(item.levels)
        answers.append(
            services.forecast_response(
                state.store, state.board, item.series_id, steps, levels, state.jobs
            )
        )
    return schemas.BatchForecastResponse(forecasts=answers)


@router.get(
    "/report.pdf",
    responses={
        **_FORECAST_ERRORS,
        200: {"content": {"application/pdf": {}}},
        422: {"model": schemas.Problem, "description": "Bad horizon, levels or series count"},
        429: {"model": schemas.Problem, "description": "Other briefs are being drawn: Retry-After"},
        409: {"model": schemas.Problem, "description": "A named series has no champion yet"},
    },
    response_class=Response,
    openapi_extra={SLOT_POOL: "report"},
)
def outlook_report(
    state: State,
    series: Annotated[
        list[str],
        Query(
            description="Series to include (repeat, or separate by commas); every series when "
            f"absent. At most {report.MAX_SERIES} series.",
        ),
    ] = EVERY_SERIES,
    horizon: Horizon = DEFAULT_HORIZON,
    levels: Levels = DEFAULT_LEVELS,
) -> Response:
    """The outlook brief as PDF: a cover, then a page per series with the fan chart, the outlook
    in words, the latest figures with their sources, the model and its track record."""
    steps, wanted = _horizon_levels(state, horizon, levels)
    ids = [part.strip() for item in series for part in item.split(",") if part.strip()]
    body = report.outlook_pdf(
        state.store, state.board, ids, steps, wanted, max_series=report.MAX_SERIES
    )
    return _file(body, "application/pdf", "fraudcast-outlook.pdf", disposition="attachment")


@router.post(
    "/series/{series_id}/scenario",
    response_model=schemas.ScenarioResponse,
    responses={
        **_FORECAST_ERRORS,
        **_BAD_BODY,
        422: {
            "model": schemas.Problem,
            "description": "A hypothetical figure, the horizon or the levels outside what is "
            "allowed (the detail names the rule)",
        },
        429: {
            "model": schemas.Problem,
            "description": "Too many scenarios being refitted at once: send it again after "
            "Retry-After seconds",
        },
    },
    openapi_extra={SLOT_POOL: "refit"},
)
def scenario(
    series_id: str, request: schemas.ScenarioRequest, state: State
) -> schemas.ScenarioResponse:
    """What if: the projection had hypothetical figures been published for the years after the
    last one. The champion's model is refitted in memory on the published figures plus these,
    keeping the champion's calibration; the answer has a forecast's shape, is marked
    hypothetical and names its assumptions. Nothing is stored; no token needed."""
    return scenarios.scenario_response(
        state.store, state.board, series_id, request, state.service.max_horizon
    )


@router.get("/models/{series_id}", response_model=schemas.ModelCard, responses=_FORECAST_ERRORS)
def model_card(series_id: str, state: State) -> schemas.ModelCard:
    """The candidates compared on backtests, and why the champion was chosen."""
    return services.model_card(state.store, state.board, series_id, state.service.mlflow_ui_url)


@router.get(
    "/series/{series_id}/changes", response_model=schemas.ChangesResponse, responses=_NOT_FOUND
)
def series_changes(series_id: str, state: State) -> schemas.ChangesResponse:
    """How the projection moved at each retrain that changed it, newest first: the figures
    that arrived or were revised, the old and new projection, the change in plain words."""
    return changes.series_changes(state.store, state.training, series_id)


@router.post(
    "/figures",
    response_model=schemas.AddFiguresResponse,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_token)],
    responses={
        **_WRITE_ERRORS,
        **_STORE_BUSY,
        200: {"model": schemas.AddFiguresResponse, "description": _NO_OP},
        422: {"model": schemas.Problem, "description": "Invalid figures"},
    },
)
def add_figures(
    request: schemas.AddFiguresRequest, state: State, response: Response
) -> schemas.AddFiguresResponse:
    """Add figures, all or nothing; a retrain of the affected series is scheduled. 201 with
    the new revision; 200 when every figure was stored as given already (nothing created)."""
    answer = services.add_figures(state.store, state.board, state.jobs, request, source="API")
    if answer.no_op:
        response.status_code = status.HTTP_200_OK
    return answer


@router.post(
    "/figures/withdrawals",
    response_model=schemas.AddFiguresResponse,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_token)],
    responses={
        **_WRITE_ERRORS,
        **_STORE_BUSY,
        **_NOT_FOUND,
        200: {"model": schemas.AddFiguresResponse, "description": _NO_OP},
        422: {
            "model": schemas.Problem,
            "description": "Nothing to withdraw (a year without a figure, every figure of the "
            "series, no message); nothing was withdrawn",
        },
    },
)
def withdraw_figures(
    request: schemas.WithdrawFiguresRequest, state: State, response: Response
) -> schemas.AddFiguresResponse:
    """Withdraw figures stored by mistake (a wrong year, the wrong series): the series reads as
    if they had never been given, their history keeps them, and its retrain is scheduled. To
    correct a value, add the right one instead. 201 with the new revision; 200 when every year
    named was withdrawn already (the same request sent again)."""
    answer = services.withdraw_figures(state.store, state.board, state.jobs, request, source="API")
    if answer.no_op:
        response.status_code = status.HTTP_200_OK
    return answer


@router.post(
    "/retrain",
    response_model=schemas.Job,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Depends(require_token)],
    responses={**_WRITE_ERRORS, **_NOT_FOUND},
)
def start_retrain(state: State, request: schemas.RetrainRequest | None = None) -> schemas.Job:
    """Retrain all or the named series in the background (all without a body); poll the job
    for its outcome."""
    request = request or schemas.RetrainRequest()
    for series_id in request.series or ():
        state.store.get_series(series_id)
    return state.jobs.submit(
        request.series, force=request.force, reason="requested through the API"
    )


@router.get("/jobs/{job_id}", response_model=schemas.Job, responses=_NOT_FOUND)
def get_job(job_id: str, state: State) -> schemas.Job:
    """Progress and outcome of a retrain job."""
    return state.jobs.get(job_id)
