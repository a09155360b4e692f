"""Every request and response body of the HTTP API, in one module."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    field_validator,
)

from models.base import MAX_HORIZON


def _not_boolean(value: object) -> object:
    """JSON's true and false are not numbers, though Python would take them as 1 and 0; nor
    is a string, though pydantic would read "13100" as one: a request meant to be refused had
    been stored."""
    if isinstance(value, bool):
        raise ValueError(f"{str(value).lower()} is a boolean, not a number")
    if isinstance(value, str):
        raise ValueError(f"{value[:20]!r} is a string, not a number: write it without quotes")
    return value


#: Numbers in request bodies: what pydantic takes for int and float, less booleans and strings.
Integer = Annotated[int, BeforeValidator(_not_boolean)]
Number = Annotated[float, BeforeValidator(_not_boolean)]


def iso_utc(moment: datetime) -> str:
    """A moment as every answer writes it: ISO 8601 in UTC to the second, ``Z`` for UTC
    ("2026-12-04T17:51:13Z"); a naive one is UTC already (the store's). One object had said
    "…17:51:13+00:00" beside "…17:51:14.199000Z"."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_text(given: object) -> object:
    """A moment kept as text (a model card's ``trained_at``) rewritten as ``iso_utc`` writes
    it; text that is no ISO moment (a card that does not say) is left as it is."""
    if isinstance(given, datetime):
        return iso_utc(given)
    if isinstance(given, str) and given:
        try:
            return iso_utc(datetime.fromisoformat(given))
        except ValueError:
            return given
    return given


#: Every moment in a response, written by ``iso_utc``: ``Timestamp`` held as a datetime,
#: ``TimestampText`` as the text of a card or tag.
Timestamp = Annotated[datetime, PlainSerializer(iso_utc, return_type=str, when_used="json")]
TimestampText = Annotated[str, BeforeValidator(_iso_text)]

#: A level's label (``models.base.level_label``) keeps 6 significant digits, two of them before
#: the point: with more than 4 decimals, 99.999999 would be served under the label "100".
LEVEL_DECIMALS = 4
LEVEL_MIN, LEVEL_MAX = 0.0001, 99.9999
MAX_LEVELS = 10
#: Hypothetical years one what-if scenario may set.
MAX_SCENARIO_YEARS = 10
LEVEL_RULE = (
    f"each level must be a number strictly between 0 and 100 with at most {LEVEL_DECIMALS} "
    f"decimal places ({LEVEL_MIN:g} to {LEVEL_MAX:g})"
)
#: One level as query text: 1-99 with up to 4 decimals, or 0.0001-0.9999 (a non-zero digit
#: within the first 4 decimals); no sign, exponent or leading zero.
LEVEL_TEXT = (
    r"(?:[1-9][0-9]?(?:\.[0-9]{1,4})?"
    r"|0\.(?:[1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]?|000[1-9]))"
)
#: A comma-separated list of 1 to MAX_LEVELS levels, as the ``levels`` query parameter takes.
LEVELS_PATTERN = rf"^\s*{LEVEL_TEXT}(?:\s*,\s*{LEVEL_TEXT}){{0,{MAX_LEVELS - 1}}}\s*$"


#: What the ``mean`` of a forecast year is: named so since the first API version, a median
#: where the series is a count or borrows (``models.calibration.count_median``,
#: ``models.analogs``)
POINT_DESCRIPTION = (
    "The projection served as the point forecast: the champion's path; for a small count "
    "(whole numbers under 100 a year that scatter as a Poisson count does) the median of a "
    "Poisson count at it, a whole number; for a series of 3-5 years, the median of what "
    "comparable reference series did next, or its rate carried forward for a small count."
)


class Source(BaseModel):
    """Where one figure came from."""

    publisher: str
    title: str
    url: str | None = None
    accessed_via: str
    note: str | None = None


class Figure(BaseModel):
    """One yearly figure with its provenance."""

    year: int
    value: float
    unit: str
    source: Source
    revision_id: int
    preliminary: bool = Field(description="True when the source marks the figure preliminary.")
    status: str = Field(
        description="preliminary or final as the figure's note says, else 'not stated'."
    )


class ChampionSummary(BaseModel):
    """The model currently served for a series."""

    name: str
    description: str = Field(default="", description="What the model does, in plain words.")
    version: str
    trained_at: TimestampText
    data_revision: str = Field(
        description="Hash of the series' figures it was trained on (year and value pairs)."
    )
    figures_revision: int | None = Field(
        default=None,
        description="The store revision those figures stood as of (`fraudcast figures "
        "history`; the brief's cover names the latest); null for a champion trained before it "
        "was kept.",
    )
    backtest_mase: float | None = None
    backtest_forecasts: int | None = Field(
        default=None,
        description="Backtest forecasts (origin and step pairs) the MASE and coverage rest on.",
    )
    intervals_borrowed: bool = Field(
        default=False,
        description="The series is too short to backtest: its intervals are borrowed from what "
        "comparable reference series did next, not calibrated on its own errors.",
    )
    coverage: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "How often intervals calibrated on the model's own backtest errors, as the served "
            "ones are before they are averaged with comparable series', contained the figure in "
            "backtests (each figure checked against a calibration without its own origin's "
            "errors or any error on its own year), "
            "per level, as fractions 0..1; empty for a champion trained before it was measured."
        ),
    )


#: How a series' retrain ended (``training.outcome.Outcome``): a new model serves (promoted),
#: the champion's model refitted on new figures serves (refreshed), the champion serves as it
#: was (kept), nothing to do (unchanged: figures and code as at the last retrain), or the
#: retrain raised and everything is as it was (failed).
RetrainOutcome = Literal["promoted", "refreshed", "kept", "unchanged", "failed"]
_OUTCOMES = (
    "promoted (a new model serves), refreshed (the champion's model refitted on new figures "
    "serves), kept (the champion serves as it was), unchanged (figures and code as at the "
    "last retrain: nothing done) or failed (figures and champion as they were)"
)


class RetrainStatus(BaseModel):
    """How the last retrain of a series ended."""

    status: Literal[RetrainOutcome, "running"] = Field(
        description=f"{_OUTCOMES}; running while a retrain of it is under way"
    )
    reason: str
    data_revision: str
    finished_at: Timestamp | None = None


class TrackRecordItem(BaseModel):
    """A champion's earlier forecast of a year, beside the figure that came in."""

    year: int
    actual: float
    mean: float
    lower: dict[str, float]
    upper: dict[str, float]
    inside_80: bool
    inside_95: bool
    model_name: str
    model_version: str


_RETRAIN_PENDING = (
    "True while a queued or running retrain job of this service will retrain the series: "
    "figures added or changed since are not in {what} yet, and it may be replaced when the "
    "job ends."
)
_RETRAIN_JOB_ID = "That job (GET /v1/jobs/{id}); null when no retrain is pending."


class SeriesSummary(BaseModel):
    """A series, its latest figure and the champion serving it."""

    id: str
    title: str
    unit: str
    country: str
    publisher: str
    definition: str
    breaks: list[int]
    latest: Figure | None
    champion: ChampionSummary | None
    last_retrain: RetrainStatus | None = None
    champion_problem: str | None = Field(
        default=None,
        description="Why its registered champion is not served: its model could not be loaded "
        "(files missing or unreadable in MLflow's artifact store); null otherwise.",
    )
    retrain_pending: bool = Field(
        default=False, description=_RETRAIN_PENDING.format(what="the served champion")
    )
    retrain_job_id: str | None = Field(default=None, description=_RETRAIN_JOB_ID)
    projection_stale: str | None = Field(
        default=None,
        description="When the store holds a figure for a year after the last one the served "
        "champion was trained on, that said in words (as the page and the brief say it): its "
        "projection starts at or before a year whose figure is in; null otherwise.",
    )


class ForecastPoint(BaseModel):
    """One forecast year: the point forecast and the interval bounds per level (keys are level
    labels)."""

    year: int
    mean: float = Field(description=POINT_DESCRIPTION)
    lower: dict[str, float]
    upper: dict[str, float]


class ForecastResponse(BaseModel):
    """Projections of one series by its champion."""

    series_id: str
    unit: str
    last_figure_year: int = Field(
        description="The year of the last figure the model was trained on: the projection "
        "starts the year after, and the horizon counts from it, not from today."
    )
    horizon: int = Field(description="Years projected after last_figure_year.")
    levels: list[float]
    model: ChampionSummary
    forecast: list[ForecastPoint]
    retrain_pending: bool = Field(
        default=False, description=_RETRAIN_PENDING.format(what="this projection")
    )
    retrain_job_id: str | None = Field(default=None, description=_RETRAIN_JOB_ID)


class HypotheticalFigure(BaseModel):
    """A figure a what-if scenario assumes for a year after the last published one."""

    model_config = ConfigDict(extra="forbid")

    year: Integer
    value: Number = Field(description="In the series' unit; finite and not negative.")


class ScenarioRequest(BaseModel):
    """Hypothetical figures for the years right after the last published one, and the
    projection wanted (as a forecast's ``horizon`` and ``levels``)."""

    model_config = ConfigDict(extra="forbid")

    figures: list[HypotheticalFigure] = Field(
        description=(
            f"1 to {MAX_SCENARIO_YEARS} hypothetical figures, one per year, for years in the "
            f"{MAX_SCENARIO_YEARS} after the last published figure; years they skip are filled "
            "by interpolation, as the store's own missing years are for training."
        ),
        # Checked by the service, for a message that says what is allowed; shown here.
        json_schema_extra={"minItems": 1, "maxItems": MAX_SCENARIO_YEARS},
    )
    horizon: Integer = Field(
        default=5,
        description="Years ahead of the last published figure, as for a forecast; it must "
        "reach past the last hypothetical year.",
        json_schema_extra={"minimum": 1, "maximum": 30},
    )
    levels: list[Number] = Field(
        default_factory=lambda: [80.0, 95.0],
        description=f"Interval levels: {LEVEL_RULE}; at most {MAX_LEVELS}.",
        json_schema_extra={
            "minItems": 1,
            "maxItems": MAX_LEVELS,
            "items": {"type": "number", "minimum": LEVEL_MIN, "maximum": LEVEL_MAX},
        },
    )


class ScenarioResponse(ForecastResponse):
    """What the series' champion would project had the hypothetical figures been published,
    in the shape of a forecast: the years from the one after the last published figure, the
    assumed and filled years at their value (no interval), then the projection of the
    champion's model refitted in memory on the figures and the assumptions, with the
    champion's calibration. Nothing is stored."""

    hypothetical: Literal[True] = Field(
        default=True, description="Always true: this is not the served projection."
    )
    assumptions: list[HypotheticalFigure] = Field(
        description="The hypothetical figures the projection is conditioned on, by year."
    )
    filled: list[HypotheticalFigure] = Field(
        description="Years the assumptions skip, filled by interpolation between the last "
        "published figure and the assumptions (log-linear for positive figures) and taken as "
        "given, by year."
    )
    comparison: str = Field(
        description="The last year's projection with the assumptions against the champion's "
        "own, as a sentence (e.g. 'With 20,000 in 2026, the 2030 projection is 24,100 "
        "instead of 18,100.')."
    )
    basis: str = Field(description="What was refitted on what, in plain words.")


class ForecastRequestItem(BaseModel):
    """One series in a batch forecast request."""

    model_config = ConfigDict(extra="forbid")

    series_id: str
    horizon: Integer = Field(default=5, ge=1, le=MAX_HORIZON)
    levels: list[Number] = Field(
        default_factory=lambda: [80.0, 95.0],
        min_length=1,
        max_length=MAX_LEVELS,
        description=f"Interval levels: {LEVEL_RULE}.",
        # Checked by the service, for a message that says what is allowed; shown here.
        json_schema_extra={"items": {"type": "number", "minimum": LEVEL_MIN, "maximum": LEVEL_MAX}},
    )


class BatchForecastRequest(BaseModel):
    """Forecasts for many series in one request."""

    model_config = ConfigDict(extra="forbid")

    requests: list[ForecastRequestItem] = Field(min_length=1, max_length=1000)


class BatchForecastResponse(BaseModel):
    """One forecast per requested series, in request order."""

    forecasts: list[ForecastResponse]


class CandidateMetrics(BaseModel):
    """One candidate model with its backtest metrics."""

    model: str
    selected: bool
    metrics: dict[str, float]
    error: str | None = None


class ModelCard(BaseModel):
    """Why the champion of a series was chosen, and how the candidates compared."""

    series_id: str
    champion: ChampionSummary
    reason: str
    notes: list[str]
    candidates: list[CandidateMetrics]
    mlflow_experiment_url: str | None = Field(
        default=None,
        description="The retrain that chose this champion, in the MLflow UI "
        "(FRAUDCAST_MLFLOW_UI_URL); null when that is not set.",
    )
    track_record: list[TrackRecordItem] = Field(default_factory=list)


class ProjectedYear(BaseModel):
    """One year's projection: the point forecast and the bounds per level (keys are level
    labels)."""

    mean: float = Field(description=POINT_DESCRIPTION)
    lower: dict[str, float]
    upper: dict[str, float]


class ProjectionYearChange(BaseModel):
    """A year's projection before and after a retrain."""

    year: int
    before: ProjectedYear
    after: ProjectedYear
    change: float | None = Field(
        description="Relative change of the mean, (after - before) / before; null from zero."
    )


class ChangedFigure(BaseModel):
    """A figure that arrived, was revised or was withdrawn before a retrain, with its source."""

    year: int
    kind: str = Field(
        description="arrived (a year not in the data before), revised, or withdrawn (stored by "
        "mistake; the revision, time and message are the withdrawal's)"
    )
    value: float | None = Field(description="The figure now; null when withdrawn.")
    previous_value: float | None = Field(
        description="The value before a revision or withdrawal; null if new."
    )
    unit: str
    source: Source
    revision_id: int
    added_at: Timestamp = Field(description="When the figure entered the store (UTC).")
    message: str = Field(description="The message given with the figures, if any.")
    projected: float | None = Field(
        default=None,
        description="What the replaced champion had forecast for this year (its track record); "
        "null when it forecast no such year.",
    )
    surprise: float | None = Field(
        default=None, description="(value - projected) / projected; null without a forecast."
    )


class ProjectionChange(BaseModel):
    """One retrain that changed the served projection."""

    trained_at: TimestampText
    version: str = Field(description="The registered model version serving since this retrain.")
    previous_version: str = Field(description="The version it replaced.")
    model: str
    previous_model: str
    model_changed: bool = Field(description="False when the same model was refitted.")
    data_revision: str
    summary: str = Field(description="The change in plain words.")
    figures: list[ChangedFigure] = Field(description="Newest year first.")
    projection: list[ProjectionYearChange] = Field(
        description="The old and new projection for the years both cover."
    )


class ChangesResponse(BaseModel):
    """How a series' projection moved at each retrain that changed it, newest first."""

    series_id: str
    unit: str
    changes: list[ProjectionChange]
    message: str | None = Field(
        default=None, description="Why the list is empty (never retrained, or never changed)."
    )


class FigureIn(BaseModel):
    """One figure to add, in the same columns as the figures CSV."""

    model_config = ConfigDict(extra="forbid")

    series_id: str
    year: Integer
    #: NaN in the JSON had read as a missing value ("value is required")
    value: Number = Field(allow_inf_nan=False)
    unit: str
    source_publisher: str
    source_title: str
    source_url: str | None = None
    accessed_via: str
    note: str | None = None


class AddFiguresRequest(BaseModel):
    """A batch of figures, taken whole or not at all."""

    model_config = ConfigDict(extra="forbid")

    figures: list[FigureIn] = Field(min_length=1, max_length=10000)
    message: str = Field(default="", max_length=2000)


class WithdrawFiguresRequest(BaseModel):
    """Figures of one series to withdraw: stored by mistake (a wrong year, the wrong series)."""

    model_config = ConfigDict(extra="forbid")

    series_id: str = Field(max_length=100)
    #: whole numbers only: true had been read as year 1, "2016" as 2016
    years: list[StrictInt] = Field(min_length=1, max_length=300)
    message: str = Field(
        min_length=1, max_length=2000, description="Why they go (kept in their history)."
    )


class AddFiguresResponse(BaseModel):
    """What adding (or withdrawing) figures did, and the retrain it scheduled."""

    revision_id: int | None
    no_op: bool
    summary: str
    added: int
    changed: int
    unchanged: int
    changed_series: list[str]
    warnings: list[str]
    withdrawn: int = 0
    surprises: list[str] = Field(
        default_factory=list,
        description="Figures that fell outside the current champion's 95% interval.",
    )
    retrain_job_id: str | None = None


class RetrainRequest(BaseModel):
    """Which series to retrain: those named, each once; every series when ``series`` is left
    out (an empty list names none, and is refused)."""

    model_config = ConfigDict(extra="forbid")

    series: list[str] | None = Field(default=None, max_length=10000)
    #: true or false only: "yes" or 1 had been taken for true and forced a full retrain
    force: StrictBool = False

    @field_validator("series")
    @classmethod
    def _each_once(cls, series: list[str] | None) -> list[str] | None:
        if series is not None and not series:
            raise ValueError(
                "an empty list names no series: leave series out to retrain every series"
            )
        return None if series is None else list(dict.fromkeys(series))


class JobOutcome(BaseModel):
    """How a job's retrain of one series ended; ``model``, ``mase`` and ``coverage`` describe
    the model that serves afterwards."""

    series_id: str
    status: RetrainOutcome = Field(description=_OUTCOMES)
    reason: str
    model: str | None = None
    mase: float | None = Field(default=None, description="its backtest MASE")
    coverage: dict[str, float] = Field(
        default_factory=dict,
        description="share (0-1) of its backtest figures inside its calibrated intervals, by "
        "level in percent",
    )
    backtest_forecasts: int | None = Field(
        default=None, description="backtest forecasts (origin and step pairs) these rest on"
    )
    intervals_borrowed: bool = Field(
        default=False,
        description="the series is too short to backtest: its intervals are borrowed from "
        "comparable series, and its few backtest forecasts are too few to judge them by",
    )
    version: str | None = Field(default=None, description="its registered version")
    run_id: str | None = Field(default=None, description="the MLflow run of this retrain")
    data_revision: str | None = Field(default=None, description="hash of the figures used")


class Job(BaseModel):
    """A background retrain and how it is going."""

    id: str
    state: Literal["queued", "running", "succeeded", "failed"] = Field(
        description="succeeded or failed only once the champions it promoted are served"
    )
    series: list[str] = Field(
        description="the series asked for; a job for every series has it empty while queued or "
        "running, and names the series it covered once it has ended"
    )
    reason: str
    created_at: Timestamp
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    outcomes: list[JobOutcome] = Field(
        default_factory=list, description="one per series retrained, once the job has ended"
    )
    error: str | None = None


class Problem(BaseModel):
    """Every error answer: what went wrong and, where useful, how to fix it."""

    detail: str
    problems: list[dict[str, Any]] | None = None
    hint: str | None = None


class Alive(BaseModel):
    """Liveness: the process answers. What it has loaded is readiness' business (``Health``)."""

    status: Literal["alive"] = "alive"


class Health(BaseModel):
    """Readiness: the champions and series loaded."""

    status: str
    champions: int = 0
    series: int = 0
    details: dict[str, Any] = Field(default_factory=dict)
