"""What the routes call: one function per use, no HTTP in here beyond the schemas."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Collection, Sequence
from dataclasses import asdict

import pandas as pd

from data.store import AddResult, FigureStore, SeriesInfo
from models.base import bound_columns, level_label
from serving import schemas
from serving.champions import Champion, ChampionBoard, NoChampion
from serving.jobs import JobQueue
from training import track_record
from training.backtest import calibrated_coverage
from training.plots import chart_title, fan_chart, to_png

log = logging.getLogger(__name__)

#: Openings that mark a figure preliminary: Japanese statistics say 暫定値 or 速報値 (a flash
#: figure), English sources preliminary, prelim. or provisional.
_PRELIMINARY = re.compile(r"^\W*(preliminary|prelim\b|provisional|暫定|速報)", re.IGNORECASE)


def is_preliminary(note: str | None) -> bool:
    """True when a figure's note marks it preliminary (暫定値, 速報値, provisional) rather
    than final."""
    return bool(note) and bool(_PRELIMINARY.match(str(note)))


#: A note that opens by calling the figure final, as one opening "preliminary" marks it so; a
#: "final" further in may be about another figure ("Lead 871.1億 (final) not seen", 未確定).
_FINAL = re.compile(r"^\W*(final\b|確定)", re.IGNORECASE)


def figure_status(note: str | None) -> str:
    """``preliminary`` or ``final`` as a figure's note opens by saying, else ``not stated``:
    a figure whose source said neither had been shown as final."""
    if is_preliminary(note):
        return "preliminary"
    return "final" if note and _FINAL.match(note) else "not stated"


def _figure(row: pd.Series) -> schemas.Figure:
    def text(name: str) -> str | None:
        value = row.get(name)
        return None if value is None or pd.isna(value) or value == "" else str(value)

    return schemas.Figure(
        year=int(row["year"]),
        value=float(row["value"]),
        unit=str(row["unit"]),
        source=schemas.Source(
            publisher=str(row["source_publisher"]),
            title=str(row["source_title"]),
            url=text("source_url"),
            accessed_via=str(row["accessed_via"]),
            note=text("note"),
        ),
        revision_id=int(row["revision_id"]),
        preliminary=(status := figure_status(text("note"))) == "preliminary",
        status=status,
    )


def series_figures(store: FigureStore, series_id: str) -> list[schemas.Figure]:
    """Every current figure of a series with provenance (UnknownSeries if there is no such)."""
    store.get_series(series_id)
    return [_figure(row) for _, row in store.figures(series_id).iterrows()]


def champion_summary(champion: Champion) -> schemas.ChampionSummary:
    """Name, version, training time, data revision and backtest quality of a champion."""
    card = champion.card
    return schemas.ChampionSummary(
        name=card.model_name,
        description=describe_model(card.model_name),
        version=champion.version,
        trained_at=card.trained_at,
        data_revision=card.data_revision,
        figures_revision=card.figures_revision,
        backtest_mase=_finite(card.metrics.get("mase")),
        backtest_forecasts=_count(card.metrics.get("backtest_forecasts")),
        intervals_borrowed=champion.model.forecast.borrowed,
        coverage=calibrated_coverage(card.metrics),
    )


def describe_model(name: str) -> str:
    """A model's description in plain words ("" for a name the catalog lacks): a catalog
    model, the median of the best few, or a model pooled with the default (``a+b``)."""
    from models.catalog import CATALOG
    from training.evidence import pool_members

    if name in CATALOG:
        return CATALOG[name].description
    if name.startswith("median_best"):  # champions of earlier releases
        count = name.removeprefix("median_best")
        return f"median of the {count} candidates with the best backtests"
    members = pool_members(name)
    if len(members) >= 2 and all(member in CATALOG for member in members):
        described = "; ".join(CATALOG[member].description for member in members)
        return f"mean of {len(members)} models: {described}"
    return ""


def _count(value: float | None) -> int | None:
    finite = _finite(value)
    return int(finite) if finite is not None else None


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def list_series(
    store: FigureStore, board: ChampionBoard, jobs: JobQueue | None = None
) -> list[schemas.SeriesSummary]:
    """Every series with its latest figure and champion, whether a retrain of it is pending
    (in ``jobs``) and whether a figure has come in that its projection lacks."""
    champions = board.snapshot
    figures = store.figures()
    summaries = []
    for info in store.list_series():
        own = figures[figures["series_id"] == info.id]
        latest = _figure(own.sort_values("year").iloc[-1]) if len(own) else None
        champion = champions.get(info.id)
        trained_to = champion.model.forecast.last_year if champion else None
        summaries.append(
            schemas.SeriesSummary(
                **{**asdict(info), "breaks": list(info.breaks)},
                latest=latest,
                champion=champion_summary(champion) if champion else None,
                last_retrain=_retrain_status(board, info.id),
                champion_problem=None if champion else board.load_errors.get(info.id),
                **_pending(jobs, info.id),
                projection_stale=(
                    stale_words(trained_to, latest.year)
                    if trained_to is not None and latest is not None and latest.year > trained_to
                    else None
                ),
            )
        )
    return summaries


def stale_words(trained_to: int, latest: int) -> str:
    """What a projection from figures up to ``trained_to`` is, beside a stored figure for a
    later year ``latest`` that no retrain has taken in (it has not run yet, or it kept the
    earlier champion): a card had read "no figure for 2025 has been added yet" beside "latest
    figure 35 in 2025". The page words it in page.js (``missingWords``)."""
    return (
        f"this projection is from figures up to {trained_to}: the {latest} figure added since "
        "is not in it (no retrain has replaced it yet)"
    )


def _pending(jobs: JobQueue | None, series_id: str) -> dict[str, bool | str | None]:
    """``retrain_pending`` and ``retrain_job_id`` of a series' answers."""
    job_id = jobs.pending_job(series_id) if jobs is not None else None
    return {"retrain_pending": job_id is not None, "retrain_job_id": job_id}


def _retrain_status(board: ChampionBoard, series_id: str) -> schemas.RetrainStatus | None:
    status = board.statuses.get(series_id)
    if status is None:
        return None
    return schemas.RetrainStatus(
        status=status.decision,
        reason=status.reason,
        data_revision=status.data_revision,
        finished_at=status.finished_at.to_pydatetime() if status.finished_at is not None else None,
    )


def champion_for(store: FigureStore, board: ChampionBoard, series_id: str) -> Champion:
    """The champion, or UnknownSeries (404) / NoChampion (409, or 503 for one that could not
    be loaded) as the case is."""
    champion = board.snapshot.get(series_id)
    if champion is None:
        store.get_series(series_id)  # raises UnknownSeries for a series nobody knows
        try:
            return board.get(series_id)  # NoChampion, saying why when it could not be loaded
        except NoChampion as error:
            if error.unloadable is None and store.values(series_id).empty:
                raise NoChampion(series_id, without_figures=True) from None
            raise
    return champion


def forecast_response(
    store: FigureStore,
    board: ChampionBoard,
    series_id: str,
    horizon: int,
    levels: Sequence[float],
    jobs: JobQueue | None = None,
) -> schemas.ForecastResponse:
    """The champion's forecast as a response schema, saying whether a retrain in ``jobs``
    is pending."""
    champion = champion_for(store, board, series_id)
    response = _render(champion, store.get_series(series_id), horizon, levels)
    return response.model_copy(update=_pending(jobs, series_id))


def _render(
    champion: Champion, info: SeriesInfo, horizon: int, levels: Sequence[float]
) -> schemas.ForecastResponse:
    return schemas.ForecastResponse(
        series_id=info.id,
        unit=info.unit,
        last_figure_year=champion.model.forecast.last_year,
        horizon=horizon,
        levels=list(levels),
        model=champion_summary(champion),
        forecast=forecast_points(champion.forecast(horizon, levels), levels),
    )


def forecast_points(frame: pd.DataFrame, levels: Sequence[float]) -> list[schemas.ForecastPoint]:
    """The rows of a forecast frame (``year, mean, lo-<L>, hi-<L>, ...``) as response points."""
    labels = [level_label(level) for level in levels]
    return [
        schemas.ForecastPoint(
            year=int(row["year"]),
            mean=float(row["mean"]),
            lower={label: float(row[bound_columns(label)[0]]) for label in labels},
            upper={label: float(row[bound_columns(label)[1]]) for label in labels},
        )
        for _, row in frame.iterrows()
    ]


_PENDING_FIELDS = {"retrain_pending", "retrain_job_id"}


def forecast_json(
    store: FigureStore,
    board: ChampionBoard,
    series_id: str,
    horizon: int,
    levels: Sequence[float],
    jobs: JobQueue | None = None,
) -> bytes:
    """The forecast as JSON bytes, computed once per champion, horizon and level set; whether
    a retrain is pending (which changes without the champion) is added to each answer."""
    champion = champion_for(store, board, series_id)
    key = (horizon, tuple(levels))
    body = champion.cached(key)
    if body is None:
        response = _render(champion, store.get_series(series_id), horizon, levels)
        body = response.model_dump_json(exclude=_PENDING_FIELDS).encode()
        champion.keep(key, body)
    # the cached object ends with "}": the pending fields go last, as the schema lists them
    return (
        body[:-1] + b"," + json.dumps(_pending(jobs, series_id), separators=(",", ":"))[1:].encode()
    )


#: Decimals a downloaded forecast keeps, by unit ("" for any other: percent, per 100,000).
CSV_DECIMALS = {"JPY": 0, "count": 1, "": 2}


def forecast_csv(
    store: FigureStore, board: ChampionBoard, series_id: str, horizon: int, levels: Sequence[float]
) -> str:
    """The forecast as CSV: ``series_id,year,mean,lo-<L>,hi-<L>,...,model,model_version,unit,
    last_figure_year``: each file says what its numbers count and from which year its horizon
    runs (a download of yen losses and one of cases had looked alike). The numbers are
    rounded as a planner reads them (``CSV_DECIMALS``): a download read 6443.901395136709
    cases and 10966629191.266674 yen; the JSON answer keeps full precision."""
    champion = champion_for(store, board, series_id)
    frame = champion.forecast(horizon, levels)
    unit = store.get_series(series_id).unit
    values = [column for column in frame.columns if column != "year"]
    decimals = CSV_DECIMALS.get(unit, CSV_DECIMALS[""])
    frame[values] = frame[values].round(decimals)
    if decimals == 0 and bool(frame[values].notna().all(axis=None)):
        frame[values] = frame[values].astype("int64")  # "10966629191", not "10966629191.0"
    frame.insert(0, "series_id", series_id)
    frame["model"] = champion.card.model_name
    frame["model_version"] = champion.version
    frame["unit"] = unit
    frame["last_figure_year"] = champion.model.forecast.last_year
    return str(frame.to_csv(index=False))


def forecast_png(
    store: FigureStore, board: ChampionBoard, series_id: str, horizon: int, levels: Sequence[float]
) -> bytes:
    """A fan chart: history, mean, shaded bands per level, definition breaks marked."""
    champion = champion_for(store, board, series_id)
    info = store.get_series(series_id)
    figures = store.figures(series_id)
    history = pd.Series(figures["value"].to_numpy(float), index=figures["year"].astype(int))
    preliminary = [
        int(y) for y, n in zip(figures["year"], figures["note"], strict=True) if is_preliminary(n)
    ]
    chart = fan_chart(
        history,
        champion.forecast(horizon, levels),
        title=f"{chart_title(info.title, series_id)} — {champion.card.model_name}",
        unit=info.unit,
        breaks=info.breaks,
        preliminary_years=preliminary,
    )
    return to_png(chart)


def model_card(
    store: FigureStore, board: ChampionBoard, series_id: str, mlflow_ui_url: str = ""
) -> schemas.ModelCard:
    """How the champion was chosen and how every candidate did in backtests."""
    champion = champion_for(store, board, series_id)
    card = champion.card
    candidates = [
        schemas.CandidateMetrics(
            model=str(row.get("model")),
            selected=bool(row.get("selected")),
            metrics={
                k: float(v)
                for k, v in row.items()
                if k not in {"model", "selected", "error"} and _is_number(v)
            },
            error=str(row.get("error")) or None,
        )
        for row in card.candidates
    ]
    url = mlflow_run_url(mlflow_ui_url, champion.experiment_id, card.run_id)
    return schemas.ModelCard(
        series_id=series_id,
        champion=champion_summary(champion),
        reason=card.reason,
        notes=list(card.notes),
        candidates=candidates,
        mlflow_experiment_url=url,
        track_record=track_record_items(store, series_id),
    )


def mlflow_run_url(ui_url: str, experiment_id: str, run_id: str) -> str | None:
    """Where the MLflow UI shows the retrain that chose a champion (its candidates are its
    child runs); the series' experiment when the run is not known; None without a UI."""
    if not ui_url or not experiment_id:
        return None
    base = f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}"
    return f"{base}/runs/{run_id}" if run_id else base


def track_record_items(store: FigureStore, series_id: str) -> list[schemas.TrackRecordItem]:
    """Earlier champions' forecasts beside the figures that came in, oldest year first."""
    return [
        schemas.TrackRecordItem(
            year=int(row["year"]),
            actual=float(row["actual"]),
            mean=float(row["mean"]),
            lower={label: float(row[bound_columns(label)[0]]) for label in ("80", "95")},
            upper={label: float(row[bound_columns(label)[1]]) for label in ("80", "95")},
            inside_80=bool(row["inside_80"]),
            inside_95=bool(row["inside_95"]),
            model_name=str(row["model_name"]),
            model_version=str(row["model_version"]),
        )
        for row in store.track_record(series_id).to_dict(orient="records")
    ]


def score_incoming(
    store: FigureStore,
    board: ChampionBoard,
    series_ids: Sequence[str],
    given: Collection[tuple[str, int]] | None = None,
) -> list[str]:
    """Score the serving champions against newly added figures; returns the surprises, of the
    ``given`` figures only when named (a figure scored before, its series not yet retrained,
    was named a surprise again in the answer to every later write)."""
    found: list[str] = []
    for series_id in series_ids:
        champion = board.snapshot.get(series_id)
        if champion is None:
            continue
        scores = track_record.score_figures(
            series_id,
            store.values(series_id),
            champion.model.forecast,
            model_name=champion.card.model_name,
            model_version=champion.version,
            data_revision=champion.card.data_revision,
        )
        surprising = track_record.record(store, scores)
        if given is not None:
            years = [year for named, year in given if named == series_id]
            surprising = track_record.surprises(scores[scores["year"].isin(years)])
            surprising += _revised_surprises(store, series_id, set(years) - set(scores["year"]))
        found += surprising
    return found


def _revised_surprises(store: FigureStore, series_id: str, years: set[int]) -> list[str]:
    """Surprises among revised figures the serving champion was trained on: the store judged
    the forecast made before each first came in anew (``rescore_revised``); it is a surprise
    when the revised figure falls outside that forecast's 95% interval. A preliminary 16,500
    revised to 12,000, far outside, had been said nothing of."""
    if not years:
        return []
    record = store.track_record(series_id)
    record = record[record["year"].isin(years)]
    if record.empty:
        return []
    # the latest version that forecast each year: the one serving when its figure came in
    latest = record.assign(version=pd.to_numeric(record["model_version"], errors="coerce"))
    latest = latest.sort_values("version").groupby("year").tail(1)
    found = track_record.surprises(latest)
    for sentence in found:
        log.warning("%s (a revised figure)", sentence)
    return found


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def after_figures_added(
    store: FigureStore, board: ChampionBoard, jobs: JobQueue, result: AddResult, *, reason: str
) -> tuple[list[str], schemas.Job | None]:
    """Score the outgoing champions and queue a retrain of the series whose values changed."""
    if not result.changed_series:
        return [], None
    given = {*result.added, *result.changed}
    surprises = score_incoming(store, board, result.changed_series, given)
    return surprises, jobs.submit(result.changed_series, reason=reason)


def add_figures(
    store: FigureStore,
    board: ChampionBoard,
    jobs: JobQueue,
    request: schemas.AddFiguresRequest,
    *,
    source: str,
) -> schemas.AddFiguresResponse:
    """Add figures all or nothing, flag surprises, and schedule a retrain of what changed."""
    frame = pd.DataFrame([figure.model_dump() for figure in request.figures])
    result = store.add_figures(frame, source=source, message=request.message)
    return _figures_response(store, board, jobs, result, f"figures added through the {source}")


def withdraw_figures(
    store: FigureStore,
    board: ChampionBoard,
    jobs: JobQueue,
    request: schemas.WithdrawFiguresRequest,
    *,
    source: str,
) -> schemas.AddFiguresResponse:
    """Withdraw figures of one series and schedule its retrain."""
    result = store.withdraw_figures(
        request.series_id, request.years, source=source, message=request.message
    )
    return _figures_response(store, board, jobs, result, f"figures withdrawn through the {source}")


def _figures_response(
    store: FigureStore, board: ChampionBoard, jobs: JobQueue, result: AddResult, reason: str
) -> schemas.AddFiguresResponse:
    surprises, job = after_figures_added(store, board, jobs, result, reason=reason)
    return schemas.AddFiguresResponse(
        revision_id=result.revision.id if result.revision else None,
        no_op=result.no_op,
        summary=result.summary(),
        added=len(result.added),
        changed=len(result.changed),
        unchanged=len(result.unchanged),
        changed_series=result.changed_series,
        warnings=result.warnings,
        withdrawn=len(result.withdrawn),
        surprises=surprises,
        retrain_job_id=job.id if job else None,
    )
