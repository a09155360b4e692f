"""What the outlook brief says: the API's own answers per series, put into plain words.

Every number comes from the service functions the API answers with (``serving.services``):
the forecast of ``GET /v1/series/{id}/forecast``, the card of ``GET /v1/models/{id}``, the
figures of ``GET /v1/series/{id}/figures``. Nothing here forecasts; it only words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from data.store import FigureStore, Revision
from models.base import level_label
from serving import schemas, services
from serving.champions import ChampionBoard
from serving.requests import InvalidRequest

#: Latest figures listed per series, newest first.
LATEST_FIGURES = 3
#: Growth below this share a year is "about flat".
_FLAT = 0.005
#: Below this chance of holding as few backtest forecasts, an interval's claim is contradicted.
_CONTRADICTED = 0.05


@dataclass(frozen=True)
class SeriesOutlook:
    """One series' page: its summary, figures, forecast and model card as the API serves them."""

    series: schemas.SeriesSummary
    figures: list[schemas.Figure]
    forecast: schemas.ForecastResponse
    card: schemas.ModelCard
    #: the year the brief was made in: a projection that starts before it projects years
    #: whose figures are not in the store yet
    made_in: int

    @property
    def level(self) -> str:
        """The label of the interval the headline quotes: of those requested, the one nearest
        80% whose coverage the backtests measured, else the narrowest."""
        labels = [level_label(level) for level in sorted(self.forecast.levels)]
        measured = [label for label in labels if label in self.forecast.model.coverage]
        return min(measured, key=lambda label: abs(float(label) - 80)) if measured else labels[0]

    @property
    def latest(self) -> list[schemas.Figure]:
        """The newest figures, newest first."""
        return sorted(self.figures, key=lambda figure: figure.year, reverse=True)[:LATEST_FIGURES]

    @property
    def lead(self) -> schemas.ForecastPoint:
        """The projected year the headline quotes: the first not yet past when the brief was
        made (a brief of 4 Dec 2026 led with "likely 310–881 in 2023" for a series whose
        figures end in 2022), else the last projected."""
        points = self.forecast.forecast
        return next((point for point in points if point.year >= self.made_in), points[-1])

    def headline(self, name: str) -> str:
        """ "Cybercrime cases cleared: likely 14,600–17,100 in 2026 (80%), rising about 3% a
        year from the 2026 projection to 2030; in backtests 80% intervals calibrated on its
        own errors held 87% of the time"; a projection that starts in a past year says where its
        figures end."""
        lead = self.lead
        unit = self.forecast.unit
        bounds = format_range(lead.lower[self.level], lead.upper[self.level], unit)
        contradicted = self.contradicted
        if contradicted:
            words = f"{name}: {bounds} in {lead.year} by the {self.level}% interval"
        else:
            words = f"{name}: likely {bounds} in {lead.year} ({self.level}%)"
        latest = self.series.latest
        if lead.year > self.forecast.forecast[0].year and latest is not None:
            words += (
                f" (the latest figure, {format_exact(latest.value, unit)}, is from {latest.year})"
            )
        trend = self.trend()
        if trend:
            words += f", {trend}"
        caution = ", fewer than such an interval should hold: read it with caution"
        return f"{words}; {self.evidence()}{caution if contradicted else ''}{self.missing()}"

    @property
    def contradicted(self) -> bool:
        """Whether the backtests contradict the headline's interval: it held so few of its
        backtest forecasts that an interval covering as claimed would hold as few less than
        once in ``_CONTRADICTED`` (a one-sided binomial test). "Likely" is not said of it: a
        brief read "likely 5,450–10,900" beside intervals that "held 0 of the 3"."""
        model = self.forecast.model
        share, checked = model.coverage.get(self.level), model.backtest_forecasts
        if share is None or not checked:
            return False
        held, claimed = round(share * checked), float(self.level) / 100.0
        chance = sum(
            math.comb(checked, k) * claimed**k * (1.0 - claimed) ** (checked - k)
            for k in range(held + 1)
        )
        return chance < _CONTRADICTED

    def missing(self) -> str:
        """ "; no figure for 2023–2025 has been added yet" when the projection starts before
        the year the brief was made in (a reader would otherwise take 2023 for next year); or,
        where the store holds a figure for a year the projection starts at or after, that the
        projection is older than it (``stale_words``)."""
        first, last = self.forecast.forecast[0].year, self.made_in - 1
        latest = self.series.latest
        if latest is not None and latest.year >= first:
            return f"; {services.stale_words(first - 1, latest.year)}"
        if first > last:
            return ""
        years = str(first) if first == last else f"{first}–{last}"
        return f"; no figure for {years} has been added yet"

    def trend(self) -> str:
        """Average yearly change of the projection from the year the headline quotes to its
        last year, saying so: "rising about 8% a year from the 2026 projection to 2030" (not
        from the latest figure: after a surprise figure, a projection that recovers and stays
        flat read "rising about 21% a year"; and "about 8% a year" unqualified was read from
        the latest figure, 5,604 in 2025 to 8,730 in 2030, which is 9% a year)."""
        start, end = self.lead, self.forecast.forecast[-1]
        if start.mean <= 0 or end.mean <= 0 or end.year <= start.year:
            return ""
        growth = (end.mean / start.mean) ** (1 / (end.year - start.year)) - 1
        span = f"from the {start.year} projection to {end.year}"
        if abs(growth) < _FLAT:
            return f"about flat {span}"
        direction = "rising" if growth > 0 else "falling"
        return f"{direction} about {abs(growth):.0%} a year {span}"

    def evidence(self) -> str:
        """How far the headline's interval can be trusted, from the backtests."""
        model = self.forecast.model
        share = model.coverage.get(self.level)
        checked = model.backtest_forecasts
        if model.intervals_borrowed:
            borrowed = (
                "a rough indication, too few years to calibrate on its own: the intervals are "
                "borrowed from what comparable series did next"
            )
            if share is None or not checked:
                return borrowed
            # the page's card says the same: a share of 3 backtest forecasts is not a rate
            held = round(share * checked)
            return (
                f"{borrowed}; {self.level}% intervals like this held {held} of the {checked} "
                f"backtest forecast{'s' if checked > 1 else ''} its years allow"
            )
        if share is None:
            return f"no backtest measured how often {self.level}% intervals held"
        return (
            f"in backtests {self.level}% intervals calibrated on its own errors held "
            f"{share:.0%} of the time"
        )

    def surprises(self) -> list[schemas.TrackRecordItem]:
        """Figures that came in outside the 95% interval forecast for them, newest first."""
        return sorted(
            (item for item in self.card.track_record if not item.inside_95),
            key=lambda item: item.year,
            reverse=True,
        )

    def track_record_words(self) -> list[str]:
        """The track record in sentences: each surprise, or that there was none (or no record)."""
        record = self.card.track_record
        unit = self.forecast.unit
        if not record:
            return ["No track record yet: no figure has come in since this series was projected."]
        words = [
            f"Surprise: the {item.year} figure came in at {format_exact(item.actual, unit)}, "
            f"outside the 95% interval of {format_range(item.lower['95'], item.upper['95'], unit)} "
            f"that {item.model_name} (version {item.model_version}) forecast for it "
            f"(projection {format_value(item.mean, unit)})."
            for item in self.surprises()
        ]
        inside = sum(item.inside_80 for item in record)
        total = f"{len(record)} figure{'s' if len(record) != 1 else ''}"
        if not words:
            words.append(f"No surprises: all {total} that came in fell inside the 95% interval.")
        words.append(f"{inside} of {total} came in inside the 80% interval forecast for it.")
        return words


@dataclass(frozen=True)
class Outlook:
    """The brief: when it was made, on which figures, and a page per projected series."""

    made_at: datetime
    revision: Revision | None
    horizon: int
    levels: tuple[float, ...]
    pages: list[SeriesOutlook]
    unprojected: list[schemas.SeriesSummary]


def build_outlook(
    store: FigureStore,
    board: ChampionBoard,
    series_ids: Sequence[str] = (),
    *,
    horizon: int,
    levels: Sequence[float],
    made_at: datetime | None = None,
    max_series: int | None = None,
) -> Outlook:
    """The brief of the named series (every series when none is named) from the API's answers.

    A named series that is unknown raises ``UnknownSeries``; one without a champion,
    ``NoChampion``. Unnamed series without a champion are listed as not projected. More than
    ``max_series`` series to project raise ``InvalidRequest`` before any is read.
    """
    summaries = {summary.id: summary for summary in services.list_series(store, board)}
    for series_id in series_ids:
        if series_id not in summaries:
            store.get_series(series_id)  # raises UnknownSeries
    named = [series_id for series_id in dict.fromkeys(series_ids) if series_id in summaries]
    chosen = [summaries[series_id] for series_id in named] or list(summaries.values())
    projected = [summary for summary in chosen if summary.champion is not None or named]
    if max_series is not None and len(projected) > max_series:
        raise InvalidRequest(
            f"an outlook brief has at most {max_series} series and this one would have "
            f"{len(projected)}: name the series wanted, e.g. series=jp_cybercrime_cleared"
        )
    made_at = made_at or datetime.now(UTC)
    pages = []
    for summary in projected:
        series_id = summary.id
        forecast = services.forecast_response(store, board, series_id, horizon, levels)
        pages.append(
            SeriesOutlook(
                series=summary,
                figures=services.series_figures(store, series_id),
                forecast=forecast,
                card=services.model_card(store, board, series_id),
                made_in=made_at.year,
            )
        )
    revisions = store.revisions()
    return Outlook(
        made_at=made_at,
        revision=revisions[-1] if revisions else None,
        horizon=horizon,
        levels=tuple(levels),
        pages=pages,
        unprojected=[summary for summary in chosen if summary.champion is None and not named],
    )


def figures_as_of(model: schemas.ChampionSummary) -> str:
    """What a champion was trained on: "the figures as of revision 7 (a1b2c3d4e5f6)"."""
    revision = model.figures_revision
    as_of = f" as of revision {revision}" if revision is not None else ""
    return f"the figures{as_of} ({model.data_revision[:12]})"


def model_words(page: SeriesOutlook) -> list[str]:
    """The model card in sentences: which model, why, how it did in backtests, what it notes."""
    model = page.forecast.model
    described = f" — {model.description}" if model.description else ""
    trained = model.trained_at[:10]
    words = [
        f"Model: {model.name}{described} (registered version {model.version}, trained "
        f"{trained} on {figures_as_of(model)})."
    ]
    if page.card.reason:
        words.append(f"Why this model: {page.card.reason}.")
    accuracy = _accuracy_words(page.card, model.backtest_mase)
    if accuracy:
        words.append(accuracy)
    checked = model.backtest_forecasts
    levels = sorted(model.coverage.items(), key=lambda item: float(item[0]))
    if model.intervals_borrowed:  # counted, not a rate: "0% of the time" read as a verdict
        words.append(borrowed_evidence(levels, checked))
    for label, share in [] if model.intervals_borrowed else levels:
        count = f" ({round(share * checked)} of {checked} backtest forecasts)" if checked else ""
        words.append(
            f"{label}% intervals calibrated on its own backtest errors contained the figure "
            f"that came in {share:.0%} of the time{count}."
        )
    # a note that the reason already says (a short series' borrowed intervals) is not repeated
    notes = [note for note in page.card.notes if note not in page.card.reason]
    return words + [f"Note: {note}" for note in notes]


def borrowed_evidence(levels: list[tuple[str, float]], checked: int | None) -> str:
    """What a borrowed (short) series' own backtests can say, as the page's card says it: a
    count, and that it is too few to judge by."""
    if not checked or not levels:
        return (
            "A rough indication: too few years to test its intervals on its own figures; they "
            "are borrowed from comparable series."
        )
    held = [f"{round(share * checked)} inside the {label}% interval" for label, share in levels]
    listed = ", ".join(held[:-1]) + " and " + held[-1] if len(held) > 1 else held[0]
    return (
        f"A rough indication: of the {checked} backtest forecast{'s' if checked != 1 else ''} "
        f"its years allow, {listed}: too few to judge its intervals by. They are borrowed from "
        "comparable series."
    )


#: What a MASE of 1 is. Not "below 1 beats guessing the last value": a burst makes the last
#: value's own errors far larger than the changes before it, so a MASE of 2 can still be half
#: of naive's (the reason says how it compares with naive).
_MASE_SCALE = "1 means errors as large as the typical change up to the forecast"


def _accuracy_words(card: schemas.ModelCard, backtest_mase: float | None) -> str:
    """The backtest MASE in words, as the page's model card puts it: one year ahead where the
    selected candidate's backtest measured it (the horizon a planner acts on first), else over
    all steps."""
    selected = next((candidate for candidate in card.candidates if candidate.selected), None)
    one_year = selected.metrics.get("mase_h1") if selected is not None else None
    if one_year is not None and math.isfinite(one_year):
        return (
            f"In backtests one year ahead, its errors were {one_year:.2f}× the typical "
            f"year-to-year change in the figures (MASE at 1 year {one_year:.2f}; {_MASE_SCALE})."
        )
    if backtest_mase is None or not math.isfinite(backtest_mase):
        return ""
    return (
        f"In backtests its errors were {backtest_mase:.2f}× the typical year-to-year change in "
        f"the figures (MASE {backtest_mase:.2f}; {_MASE_SCALE})."
    )


def format_exact(value: float, unit: str) -> str:
    """A figure to the unit, as published: 15,812, 88.16 percent; no digits it does not have
    ("700.00 百万円" and "96.00 percent" had stood beside "974 百万円"). Yen as every sentence
    and the page's latest figure write them (¥8.7B): "¥10,397,000,000 in 2025" had stood
    beside "¥13.1B in 2030"; the figures list and its CSV give them to the yen."""
    if unit == "JPY":
        return compact_yen(value)
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:,.15g} {unit}"


def format_value(value: float, unit: str) -> str:
    """A figure rounded for a sentence: 3 significant digits for counts (14,600), yen as the
    page shows them (¥8.7B)."""
    if unit == "JPY":
        return compact_yen(value)
    if unit == "count":
        return f"{_significant(value, 3):,.0f}"
    return f"{_significant(value, 3):,g} {unit}"


def format_range(lower: float, upper: float, unit: str) -> str:
    """``format_value`` of both bounds: 14,600–17,100; a unit written out once, after both
    (99.4–116 per 100,000, not "99.4 per 100,000–116 per 100,000")."""
    if unit in ("JPY", "count"):
        return f"{format_value(lower, unit)}–{format_value(upper, unit)}"
    return f"{_significant(lower, 3):,g}–{_significant(upper, 3):,g} {unit}"


def _significant(value: float, digits: int) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def compact_yen(value: float, decimals: int = 1) -> str:
    """As the page's ``Intl.NumberFormat`` compact yen: ¥8.7B, ¥870M, ¥1.2T, at most
    ``decimals`` decimals (trailing zeros dropped); the one way yen are written in words, in
    the brief and in a what-if's sentence."""
    for threshold, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if abs(value) >= threshold:
            shown = f"{value / threshold:,.{decimals}f}"
            return f"¥{shown.rstrip('0').removesuffix('.') if '.' in shown else shown}{suffix}"
    return f"¥{value:,.0f}"
