"""What changed since the last projection: for each champion version that moved the served
projection, the figures that arrived or were revised, the old and new projection for the same
years, and the change in plain words.

Everything is read back from what is kept: the champion versions and the projection each
recorded (``training.registry``), the figures after each revision (``data.states``) and the
track record (what the replaced champion had forecast for a figure that came in).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from data.records import parse_breaks
from data.states import FigureChange, SeriesState, figure_changes, state_of
from data.store import FigureStore
from training import registry
from training.evidence import same_model
from training.tracking import BREAKS_TAG

log = logging.getLogger(__name__)

#: Projections equal to this relative tolerance are the same projection (a refit on the same
#: figures may differ in the last bits).
_SAME = 1e-9
#: Figures named in a sentence; the rest are counted.
_FIGURES_IN_WORDS = 3
#: A relative change below this shows as 0.0%.
_ROUNDS_TO_ZERO = 0.0005


@dataclass(frozen=True)
class ChangedFigure:
    """A figure that arrived, was revised or was withdrawn before a retrain, and what had been
    forecast for it (the replaced champion's forecast of that year, from the track record,
    when it made one)."""

    change: FigureChange
    projected: float | None

    @property
    def surprise(self) -> float | None:
        """How far the figure came in from the forecast, as a fraction of the forecast."""
        if self.projected is None or self.projected == 0 or self.change.kind == "withdrawn":
            return None
        return (self.change.figure.value - self.projected) / abs(self.projected)


@dataclass(frozen=True)
class YearChange:
    """One year's projection before and after a retrain (``mean``, ``lo-80``, ``hi-80`` ...)."""

    year: int
    before: dict[str, float]
    after: dict[str, float]

    @property
    def change(self) -> float | None:
        """The relative change of the projected mean (None from a projection of zero)."""
        before, after = self.before["mean"], self.after["mean"]
        return None if before == 0 else (after - before) / abs(before)


@dataclass(frozen=True)
class ProjectionChange:
    """One retrain that changed the served projection."""

    version: str
    previous_version: str
    trained_at: str
    data_revision: str
    model: str
    previous_model: str
    figures: list[ChangedFigure]
    years: list[YearChange]
    summary: str

    @property
    def model_changed(self) -> bool:
        """True when another model serves now, False when the same model was refitted (a mean
        combination whose members the population ranked in another order is the same)."""
        return not same_model(self.model, self.previous_model)


@dataclass(frozen=True)
class ChangeHistory:
    """The changes of one series' projection, newest first; ``message`` says why there are
    none when the list is empty."""

    series_id: str
    changes: list[ProjectionChange]
    message: str | None = None


def projection_changes(
    series_id: str, *, store: FigureStore, client: MlflowClient
) -> ChangeHistory:
    """Every retrain of a series that changed its served projection, newest first.

    Raises ``UnknownSeries`` for a series the store does not know.
    """
    unit = store.get_series(series_id).unit
    versions = registry.champion_history(series_id, client=client)
    if len(versions) < 2:
        return ChangeHistory(series_id, [], _why_none(versions))
    states = store.series_states(series_id)
    record = store.track_record(series_id)
    projections = [_projection(version) for version in versions]
    changes = []
    for index in range(1, len(versions)):
        before, after = projections[index - 1], projections[index]
        if before is None or after is None or _same(before, after):
            continue
        pair = (versions[index - 1], versions[index])
        changes.append(_change(*pair, _years(before, after), states, record, unit))
    message = None if changes else _why_none(versions)
    return ChangeHistory(series_id, changes[::-1], message)


def _why_none(versions: list[ModelVersion]) -> str:
    if not versions:
        return "This series has no trained model yet, so there is no projection to compare."
    first = versions[0]
    when = f"version {first.version}"
    trained = _trained_at(first)
    if trained is not None:
        when += f", trained {trained:%-d %b %Y, %H:%M} UTC"  # as the page's model card dates it
    if len(versions) == 1:
        return (
            f"This series has been trained once ({when}): there is no earlier projection to "
            "compare with yet."
        )
    again = len(versions) - 1
    return (
        f"This series was retrained {again} time{'s' if again > 1 else ''} since its first "
        f"projection ({when}); none changed the projection."
    )


def _projection(version: ModelVersion) -> pd.DataFrame | None:
    try:
        return registry.recorded_projection(version).set_index("year")
    except Exception:  # an old model that no longer loads: its projection is unknown
        log.exception("no projection for %s version %s", version.name, version.version)
        return None


def _same(before: pd.DataFrame, after: pd.DataFrame) -> bool:
    if not before.index.equals(after.index) or list(before.columns) != list(after.columns):
        return False
    return bool(np.allclose(before.to_numpy(), after.to_numpy(), rtol=_SAME, atol=0.0))


def _years(before: pd.DataFrame, after: pd.DataFrame) -> list[YearChange]:
    columns = [str(column) for column in after.columns if column in before.columns]
    years = [year for year in after.index if year in before.index]
    old, new = before.loc[years, columns], after.loc[years, columns]
    return [
        YearChange(int(year), old.loc[year].to_dict(), new.loc[year].to_dict()) for year in years
    ]


def _change(
    previous: ModelVersion,
    current: ModelVersion,
    years: list[YearChange],
    states: list[SeriesState],
    record: pd.DataFrame,
    unit: str,
) -> ProjectionChange:
    figures = [
        ChangedFigure(change, _forecast_of(record, change.figure.year, previous.version))
        for change in _figures_between(states, previous, current)
    ]
    model, previous_model = current.tags.get("model_name", ""), previous.tags.get("model_name", "")
    return ProjectionChange(
        version=str(current.version),
        previous_version=str(previous.version),
        trained_at=current.tags.get("trained_at", ""),
        data_revision=current.tags.get("data_revision", ""),
        model=model,
        previous_model=previous_model,
        figures=figures,
        years=years,
        summary=summary(
            years,
            figures,
            unit=unit,
            model=model,
            previous_model=previous_model,
            new_release=current.tags.get("code_version") != previous.tags.get("code_version"),
            breaks=(previous.tags.get(BREAKS_TAG), current.tags.get(BREAKS_TAG)),
        ),
    )


def _figures_between(
    states: list[SeriesState], previous: ModelVersion, current: ModelVersion
) -> list[FigureChange]:
    """The figures the new champion was trained on that the old one was not."""
    after = state_of(states, current.tags.get("data_revision", ""), trained_at=_trained_at(current))
    if after is None:
        return []
    before = state_of(
        states,
        previous.tags.get("data_revision", ""),
        up_to=after.revision_id,
        trained_at=_trained_at(previous),
    )
    return [] if before is None else figure_changes(before, after)


def _trained_at(version: ModelVersion) -> datetime | None:
    """When a champion was trained (its ``trained_at`` tag), None if it does not say."""
    trained = pd.to_datetime(version.tags.get("trained_at", ""), utc=True, errors="coerce")
    return None if pd.isna(trained) else trained.to_pydatetime()


def _forecast_of(record: pd.DataFrame, year: int, version: str) -> float | None:
    """What champion ``version`` forecast for ``year`` before its figure came in, if scored."""
    rows = record[(record["year"] == year) & (record["model_version"] == str(version))]
    return float(rows["mean"].iloc[0]) if len(rows) else None


# -- plain words ---------------------------------------------------------------------------------


def summary(
    years: list[YearChange],
    figures: list[ChangedFigure],
    *,
    unit: str,
    model: str,
    previous_model: str,
    new_release: bool = False,
    breaks: tuple[str | None, str | None] = (None, None),
) -> str:
    """A retrain's change in plain words: "The 2027 projection rose 12%, from 16,100 to 18,000,
    after the 2025 figure came in 9% above the projection. The model is still theta."; on the
    same figures, what else moved it: a ``new_release`` of the forecasting code, or else the
    evidence pooled from the other series, or the definition ``breaks`` (before, after, as the
    champions record them; None for one registered before they were recorded)."""
    moved = _moved(years[0], unit) if years else "the projection moved to other years"
    why = _because(figures, unit)
    if why:
        said = f"{moved}, after {why}"
    elif new_release:
        said = f"{moved}, on the same figures, retrained by a new release of fraudcast"
    elif None not in breaks and breaks[0] != breaks[1]:
        before, after = (_breaks_words(b) for b in breaks)
        said = f"{moved}, on the same figures, with definition breaks {after} (were {before})"
    elif None not in breaks:
        said = (
            f"{moved}, on the same figures: the backtests of the other series it is chosen "
            "with changed"
        )
    else:
        said = (
            f"{moved}, on the same figures: the backtests of the other series it is chosen "
            "with, or its definition breaks, changed"
        )
    if not same_model(model, previous_model):
        return f"{said[0].upper()}{said[1:]}. The model changed from {previous_model} to {model}."
    return f"{said[0].upper()}{said[1:]}. The model is still {model}."


def _breaks_words(recorded: str | None) -> str:
    """Break years as a champion's tag records them (``2010;2020``), in words."""
    years = parse_breaks(recorded or "")
    return "at " + ", ".join(map(str, years)) if years else "none"


def _moved(year: YearChange, unit: str) -> str:
    before, after = year.before["mean"], year.after["mean"]
    change = year.change
    if change is not None and abs(change) < _ROUNDS_TO_ZERO:
        [now] = _amounts(unit, after)
        return f"the {year.year} projection stayed at {now}, its intervals moved"
    direction = "rose" if after > before else "fell"
    by = f" {_percent(change)}" if change is not None else ""
    old, new = _amounts(unit, before, after)
    return f"the {year.year} projection {direction}{by}, from {old} to {new}"


def _because(figures: list[ChangedFigure], unit: str) -> str:
    named = [_figure_words(figure, unit) for figure in figures[:_FIGURES_IN_WORDS]]
    rest = figures[len(named) :]
    if rest:
        kinds = {figure.change.kind for figure in rest}
        kind = kinds.pop() if len(kinds) == 1 else "mixed"  # mixed kinds say "changed"
        withdrawn = "was withdrawn" if len(rest) == 1 else "were withdrawn"
        how = {"arrived": "came in", "withdrawn": withdrawn}.get(kind, "changed")
        named.append(f"{len(rest)} more figure{'s' if len(rest) > 1 else ''} {how}")
    if len(named) <= 1:
        return "".join(named)
    return ", ".join(named[:-1]) + " and " + named[-1]


def _figure_words(figure: ChangedFigure, unit: str) -> str:
    change = figure.change
    year, value = change.figure.year, change.figure.value
    if change.kind == "withdrawn" and change.previous_value is not None:
        [old] = _figures(unit, change.previous_value)
        return f"the {year} figure of {old} was withdrawn"
    if change.previous_value is not None:
        before = change.previous_value
        direction = "up" if value > before else "down"
        share = f" {_percent((value - before) / abs(before))}" if before else ""
        old, new = _figures(unit, before, value)
        return f"the {year} figure was revised {direction}{share}, from {old} to {new}"
    surprise = figure.surprise
    if surprise is None:
        [came] = _figures(unit, value)
        return f"the {year} figure came in at {came}"
    if abs(surprise) < _ROUNDS_TO_ZERO:
        return f"the {year} figure came in as projected"
    side = "above" if surprise > 0 else "below"
    return f"the {year} figure came in {_percent(surprise)} {side} the projection"


def _percent(fraction: float) -> str:
    """12%, 3.4%, 0.2% (as the page rounds percentages)."""
    if abs(fraction) < _ROUNDS_TO_ZERO:
        return "less than 0.1%"
    value = abs(fraction) * 100
    text = f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:.0f}"
    if text == "100" and value != 100:  # a fall of 99.7% is not a fall to nothing
        text = f"{value:.1f}"
    return f"{text}%"


def _amounts(unit: str, *values: float) -> list[str]:
    """Values in their unit to 3 significant digits, more where two would read the same."""
    texts = []
    for digits in range(3, 16):
        texts = [_amount(value, unit, digits) for value in values]
        if len(set(texts)) == len(set(values)):
            break
    return texts


def _figures(unit: str, *values: float) -> list[str]:
    """Published figures in their unit, each exactly as given (13,150, not 13,200 as a
    projection would be rounded), at least 3 significant digits."""
    return [_amount(value, unit, _digits_of(value)) for value in values]


def _digits_of(value: float) -> int:
    """The significant digits that write ``value`` exactly (at least 3, at most 15)."""
    if value == 0 or not math.isfinite(value):
        return 3
    for digits in range(3, 16):
        decimals = digits - 1 - math.floor(math.log10(abs(value)))
        if round(value, decimals) == value:
            return digits
    return 15


def _amount(value: float, unit: str, digits: int) -> str:
    if unit == "JPY":
        for scale, word in ((1e12, " trillion"), (1e9, " billion"), (1e6, " million")):
            if abs(value) >= scale:
                return f"¥{_significant(value / scale, digits)}{word}"
        return f"¥{_significant(value, digits)}"
    text = _significant(value, digits)
    return text if unit == "count" else f"{text} {unit}"


def _significant(value: float, digits: int) -> str:
    """16,100 and 11.7 and 0.523: ``digits`` significant digits, thousands separated."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    return f"{round(value, decimals):,.{max(decimals, 0)}f}"
