"""What-if scenarios, as the scenario route and command call them: the champion's model refitted
in memory on the published figures plus hypothetical ones, answered in a forecast's shape."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from data.records import SeriesInfo, share_ceiling
from data.store import FigureStore
from data.validation import FigureRange, implausible_figure
from models.base import level_label
from models.calibration import CalibratedForecast
from serving import requests, schemas, services
from serving.champions import Champion, ChampionBoard
from serving.outlook import compact_yen
from serving.requests import InvalidRequest
from training.scenario import bridged, refit_champion


def scenario_response(
    store: FigureStore,
    board: ChampionBoard,
    series_id: str,
    request: schemas.ScenarioRequest,
    max_horizon: int,
) -> schemas.ScenarioResponse:
    """The champion's projection had ``request.figures`` been published: UnknownSeries,
    NoChampion, or InvalidRequest saying which rule a figure, the horizon or the levels break."""
    info = store.get_series(series_id)
    champion = services.champion_for(store, board, series_id)
    horizon = requests.check_horizon(request.horizon, max_horizon)
    levels = requests.parse_levels(request.levels)
    published = store.values(series_id)
    assumed = checked_assumptions(request.figures, info, published)
    last_published = int(published.index.max())
    given = pd.Series({figure.year: figure.value for figure in assumed}, dtype=float)
    taken = _figures(bridged(published, given))  # the assumptions and the years they skip
    steps = horizon - len(taken)
    if steps < 1:
        raise InvalidRequest(
            f"horizon {horizon} ends in {last_published + horizon}, within the hypothetical "
            f"years: ask for at least {len(taken) + 1} years to see a projection after "
            f"{taken[-1].year}"
        )
    filled = [figure for figure in taken if figure.year not in given.index]
    refitted = _refit(champion, pd.concat([published, _values(taken)]), info)
    frame = refitted.predict(steps, levels)
    _check_projection(frame, refitted)
    end_year, end_mean = int(frame["year"].iloc[-1]), float(frame["mean"].iloc[-1])
    return schemas.ScenarioResponse(
        series_id=info.id,
        unit=info.unit,
        last_figure_year=last_published,
        horizon=horizon,
        levels=list(levels),
        model=services.champion_summary(champion),
        forecast=_taken_points(taken, levels) + services.forecast_points(frame, levels),
        assumptions=assumed,
        filled=filled,
        comparison=(
            f"With {describe_assumptions(assumed, info.unit)}, the {end_year} projection is "
            f"{rounded(end_mean, info.unit)}{_instead(champion, end_year, end_mean, info.unit)}."
        ),
        basis=(
            f"hypothetical, not stored: {refitted.model_name}, the champion (version "
            f"{champion.version}), refitted in memory on the {len(published)} published figures "
            f"to {last_published} plus {describe_assumptions(assumed, info.unit)}"
            f"{_filled_words(filled)}; intervals calibrated as the champion's"
        ),
    )


def _figures(values: pd.Series) -> list[schemas.HypotheticalFigure]:
    return [
        schemas.HypotheticalFigure(year=int(year), value=float(value))
        for year, value in zip(values.index, values.to_numpy(dtype=float), strict=True)
    ]


def _values(figures: Sequence[schemas.HypotheticalFigure]) -> pd.Series:
    return pd.Series({figure.year: figure.value for figure in figures}, dtype=float)


def _filled_words(filled: Sequence[schemas.HypotheticalFigure]) -> str:
    if not filled:
        return ""
    years = f"{filled[0].year}" if len(filled) == 1 else f"{filled[0].year}-{filled[-1].year}"
    return f" ({years} filled by interpolation)"


def _taken_points(
    taken: Sequence[schemas.HypotheticalFigure], levels: Sequence[float]
) -> list[schemas.ForecastPoint]:
    """The assumed and filled years as forecast points: taken as given, each interval is the
    figure itself."""
    labels = [level_label(level) for level in levels]
    return [
        schemas.ForecastPoint(
            year=figure.year,
            mean=figure.value,
            lower=dict.fromkeys(labels, figure.value),
            upper=dict.fromkeys(labels, figure.value),
        )
        for figure in taken
    ]


def _instead(champion: Champion, year: int, projected: float, unit: str) -> str:
    """`` instead of 18,100``: the champion's own projection of ``year`` ("" beyond its reach),
    or ``, as without it`` where the two read the same (not "0 instead of 0")."""
    forecast = champion.model.forecast
    steps = year - forecast.last_year
    if not 1 <= steps <= forecast.max_horizon:
        return ""
    own = rounded(float(forecast.predict_arrays(steps, ())["mean"][-1]), unit)
    return ", as without it" if own == rounded(projected, unit) else f" instead of {own}"


def in_unit(number: str, unit: str) -> str:
    """A number written with its unit: ``1,200`` for a count, ``96.5 percent``."""
    if unit == "count":
        return number
    if unit == "JPY":
        return f"¥{number}"
    return f"{number} {unit}"


def rounded(value: float, unit: str) -> str:
    """A projection to 3 significant figures, as it is worth saying: ``24,100``; yen as the
    page and the brief write them, ``¥2.4B`` (a sentence had read "¥102,000,000,000 … ¥130
    billion")."""
    if unit == "JPY":
        return compact_yen(value)
    return in_unit(rounded_number(value), unit)


def rounded_number(value: float) -> str:
    """``rounded`` without the unit: ``24,100``, ``2.4 billion``."""
    if value == 0:
        return "0"
    value = round(value, 2 - math.floor(math.log10(abs(value))))
    for scale, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {word}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def checked_assumptions(
    figures: Sequence[schemas.HypotheticalFigure], info: SeriesInfo, published: pd.Series
) -> list[schemas.HypotheticalFigure]:
    """The hypothetical figures in year order, or InvalidRequest naming the first figure
    that breaks a rule: 1 to MAX_SCENARIO_YEARS of them, finite, not negative (no series'
    figures are: the store refuses them), within ``IMPLAUSIBLE_RISE`` times the published figures
    (as the store refuses), one per year, each in the MAX_SCENARIO_YEARS years after
    the last published figure."""
    limit = schemas.MAX_SCENARIO_YEARS
    if not 1 <= len(figures) <= limit:
        raise InvalidRequest(
            f"a scenario sets 1 to {limit} hypothetical years, one figure each; got {len(figures)}"
        )
    for index, figure in enumerate(figures):
        where = f"figures[{index}]"
        if not math.isfinite(figure.value):
            raise InvalidRequest(f"{where}.value must be a finite number, got {figure.value!r}")
        if figure.value < 0:
            raise InvalidRequest(
                f"{where}.value must be >= 0: figures of {info.id} ({info.unit}) are never "
                f"negative; got {figure.value:g}"
            )
    if published.empty:
        raise InvalidRequest(f"{info.id} has no published figures to add hypothetical ones to")
    years = published.index.astype("int64").tolist()
    known = FigureRange.of(dict(zip(years, published.astype("float64").tolist(), strict=True)))
    ceiling = share_ceiling(info.unit, published)
    for index, figure in enumerate(figures):
        implausible = implausible_figure(
            figure.value, known, info.id, figure.year, info.breaks, break_hint=False
        )
        if implausible:
            raise InvalidRequest(f"figures[{index}].value {figure.value:,.15g} is {implausible}")
        if ceiling is not None and figure.value > ceiling:
            raise InvalidRequest(
                f"figures[{index}].value {figure.value:,.15g} is over {ceiling:g}: {info.id} is a "
                f"share in {info.unit}, and its projection stops at {ceiling:g}"
            )
    years = [figure.year for figure in figures]
    for index, year in enumerate(years):
        if year in years[:index]:
            raise InvalidRequest(
                f"figures[{index}].year {year} is set twice (first as figures[{years.index(year)}])"
            )
    last = int(published.index.max())
    for index, year in enumerate(years):
        if year <= last:
            raise InvalidRequest(
                f"figures[{index}].year {year} is not after the last published figure of "
                f"{info.id} ({last}): a scenario assumes figures to come (a published figure "
                "is revised by adding it to the store)"
            )
        if year > last + limit:
            raise InvalidRequest(
                f"figures[{index}].year {year} is more than {limit} years after the last "
                f"published figure of {info.id} ({last}): a scenario sets years up to "
                f"{last + limit}, as the years between are filled by interpolation and a longer "
                "unknown stretch is no basis for a projection"
            )
    return sorted(figures, key=lambda figure: figure.year)


def describe_assumptions(assumed: Sequence[schemas.HypotheticalFigure], unit: str) -> str:
    """``20,000 in 2026 and 25,000 in 2027``: the values as given; yen in the page's style to
    the million (``¥102B``, ``¥1.234B``), as the projection beside them."""
    parts = [f"{_as_given(figure.value, unit)} in {figure.year}" for figure in assumed]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _as_given(value: float, unit: str) -> str:
    return compact_yen(value, decimals=3) if unit == "JPY" else in_unit(f"{value:,.15g}", unit)


def _refit(champion: Champion, figures: pd.Series, info: SeriesInfo) -> CalibratedForecast:
    try:
        return refit_champion(champion.model.forecast, figures, info.breaks)
    except ValueError as error:  # the model cannot fit these figures (e.g. a log model, a 0)
        raise InvalidRequest(
            f"the champion's model {champion.card.model_name} cannot be refitted on these "
            f"figures: {error}"
        ) from None


def _check_projection(frame: pd.DataFrame, refitted: CalibratedForecast) -> None:
    """InvalidRequest when the refitted projection is no answer: a value that is not finite,
    or a projection of 0 where the intervals are proportional to it (and would vanish)."""
    name = refitted.model_name
    if not np.isfinite(frame.drop(columns="year").to_numpy(dtype=float)).all():
        raise InvalidRequest(
            f"with these figures the champion's model {name} projects figures beyond any "
            "finite number: give values nearer the published ones"
        )
    flat = frame.loc[frame["mean"] <= 0, "year"]
    if refitted.error_scale == "log" and not flat.empty:
        raise InvalidRequest(
            f"with these figures the champion's model {name} projects 0 for {int(flat.iloc[0])}, "
            "where its intervals, proportional to the projection, would vanish: it cannot say "
            "how sure it is of a projection of 0; give values above 0"
        )
