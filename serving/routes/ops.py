"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.champions import ChampionBoard
from serving.deps import State
from serving.errors import UNLOADABLE_HINT
from serving.schemas import Alive, Health
from training.outcome import Outcome

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Alive)
def healthz() -> Alive:
    """The process is alive (it says nothing of champions: ``/readyz`` does)."""
    return Alive()


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(state: State) -> JSONResponse:
    """Ready once champions are loaded; details say what is loaded and any reload error."""
    board = state.board
    ready = board.loaded and bool(board.snapshot)
    health = Health(
        status="ready" if ready else "not ready",
        champions=len(board.snapshot),
        series=len(state.store.list_series()),
        details={
            "champions": sorted(board.snapshot),
            "last_retrain": {
                series_id: status.decision for series_id, status in sorted(board.statuses.items())
            },
            "reload_error": board.last_error,
            "load_errors": dict(board.load_errors),
            "hint": _readiness_hint(board) if not ready else None,
        },
    )
    code = status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE
    return JSONResponse(health.model_dump(), status_code=code)


def _readiness_hint(board: ChampionBoard) -> str:
    if board.load_errors:  # registered but unloadable: training anew changes nothing
        return "champions are registered but could not be loaded (load_errors): " + (
            UNLOADABLE_HINT.format(series_id="<series>")
        )
    return (
        "no champions loaded yet: train them with POST /v1/retrain and the token (on the "
        "server, `fraudcast train`)"
    )


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus exposition format."""
    service_metrics = request.app.state.metrics
    state = request.app.state.fraudcast
    service_metrics.champions.set(len(state.board.snapshot))
    ended = Counter(str(status.decision) for status in state.board.statuses.values())
    for outcome in Outcome:
        service_metrics.last_retrain.labels(outcome.value).set(ended.get(outcome.value, 0))
    service_metrics.jobs_unfinished.set(state.jobs.unfinished)
    return Response(generate_latest(service_metrics.registry), media_type=CONTENT_TYPE_LATEST)
