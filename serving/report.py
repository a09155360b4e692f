"""The outlook brief as a PDF: a cover, then a page per series, drawn with matplotlib.

The words and numbers come from ``serving.outlook`` (the API's own answers); this module only
places them on A4 pages (``serving.pdf_pages``): the fan chart of ``training.plots``, tables.
Nothing is fetched: the fonts are matplotlib's and the system's (``training.fonts``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import replace

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.text import Text

from data.incoming import DROPPED_SOURCE, dropped_message
from data.records import Revision
from data.store import FigureStore
from models.base import level_label
from serving.champions import ChampionBoard
from serving.outlook import (
    Outlook,
    SeriesOutlook,
    build_outlook,
    format_exact,
    format_range,
    format_value,
    model_words,
)
from serving.pdf_pages import ACCENT, MUTED, PageFlow, number_pages
from training.fonts import Fonts, chart_fonts
from training.plots import chart_title, draw_fan_chart

CHART_HEIGHT = 2.8
#: Interval columns per projection table: more levels make a second table below.
_LEVELS_PER_TABLE = 3
_NO_CJK = "no CJK font is installed to draw it here"
#: Most series one brief served over HTTP may hold (a page takes about 0.3 s of CPU).
MAX_SERIES = 50


def render_pdf(outlook: Outlook, fonts: Fonts | None = None) -> bytes:
    """The brief as PDF bytes: the cover, then each series from a new page."""
    fonts = fonts or chart_fonts()
    outlook = replace(outlook, pages=[_drawable_unit(page, fonts) for page in outlook.pages])
    series = PageFlow(fonts)
    starts = []
    for page in outlook.pages:
        series.new_page()
        starts.append(len(series.pages))
        _draw_series(series, page, fonts)
    cover = _draw_cover(outlook, fonts, starts, cover_pages=1)
    if len(cover.pages) > 1:  # the contents ran over: number the series pages after it
        cover = _draw_cover(outlook, fonts, starts, cover_pages=len(cover.pages))
    pages = cover.pages + series.pages
    number_pages(pages, f"fraudcast outlook · {outlook.made_at:%Y-%m-%d}", fonts)
    for figure in pages:  # "fi" drawn as one glyph reads as "" in a PDF reader's search and copy
        for text in figure.findobj(Text):
            text.set_fontfeatures(("-liga",))
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata=_metadata(outlook)) as pdf:
        for figure in pages:
            pdf.savefig(figure)
    return buffer.getvalue()


def _drawable_unit(page: SeriesOutlook, fonts: Fonts) -> SeriesOutlook:
    """``page`` with its unit as ``fonts`` can draw it wherever it is written ("百万円" as
    "million yen" without a CJK font), not as empty boxes."""
    unit = fonts.unit(page.series.unit)
    if unit == page.series.unit:
        return page
    return replace(
        page,
        series=page.series.model_copy(update={"unit": unit}),
        forecast=page.forecast.model_copy(update={"unit": unit}),
        figures=[figure.model_copy(update={"unit": unit}) for figure in page.figures],
    )


def _revision_words(revision: Revision) -> str:
    """What a revision was, for a brief that is forwarded: a dropped file by its name, whatever
    its stored message says (those of earlier versions name the server's folder)."""
    if revision.source.startswith(DROPPED_SOURCE):
        return dropped_message(revision.source.removeprefix(DROPPED_SOURCE))
    return revision.message or revision.source


def _metadata(outlook: Outlook) -> dict[str, object]:
    return {
        "Title": "fraudcast outlook",
        "Subject": f"Projections {outlook.horizon} years ahead",
        "Creator": "fraudcast",
        "CreationDate": outlook.made_at,
    }


def series_name(page: SeriesOutlook, fonts: Fonts) -> str:
    """The series title as these fonts can draw it: in full, or its English name, or its id."""
    english = fonts.legible(page.series.title, fallback="")
    return english if english.strip() else page.series.id


def _draw_cover(outlook: Outlook, fonts: Fonts, starts: list[int], cover_pages: int) -> PageFlow:
    """The first page: when, on which figures, what is inside (with page numbers), how to read."""
    flow = PageFlow(fonts)
    flow.new_page()
    flow.space(0.3)
    flow.text("Outlook brief", 24, weight="bold", colour=ACCENT)
    flow.text("Projections of yearly fraud and cybercrime figures, with intervals", 12)
    flow.space(0.25)
    flow.text(f"Made {outlook.made_at:%-d %B %Y, %H:%M} UTC by fraudcast.", 10)
    revision = outlook.revision
    if revision is not None:
        said = fonts.legible(_revision_words(revision), fallback=revision.source)
        flow.text(f"Data revision {revision.id} of {revision.created_at:%-d %B %Y} ({said}).", 10)
    labels = [f"{level_label(level)}%" for level in outlook.levels]
    levels = " and ".join([", ".join(labels[:-1]), labels[-1]] if len(labels) > 1 else labels)
    flow.text(f"Every projection: {outlook.horizon} years ahead, with {levels} intervals.", 10)
    if outlook.pages:  # one table a reader can hand on: every series' last projected year
        flow.heading("At a glance")
        header = ["Series", "Latest figure", "Projection", "Likely range", "Page"]
        rows = [
            _glance_row(page, start + cover_pages, fonts)
            for start, page in zip(starts, outlook.pages, strict=True)
        ]
        names = [row[0] for row in rows]  # two series whose names read the same: their ids too
        for row, page in zip(rows, outlook.pages, strict=True):
            if names.count(row[0]) > 1:
                row[0] = f"{row[0]} ({page.series.id})"
        flow.table(header, rows)
        flow.space(0.05)
        flow.text(_GLANCE_NOTE + _earlier_ends(outlook, fonts), 8, colour=MUTED)
    if outlook.unprojected:
        flow.heading("Not projected")
        for summary in outlook.unprojected:
            why = "its model could not be loaded" if summary.champion_problem else "no model yet"
            title = fonts.legible(summary.title, fallback=summary.id)
            flow.text(f"{title} ({summary.id}): {why}", 9)
    flow.heading("How to read it")
    for line in _HOW_TO_READ:
        flow.text(line, 9)
    return flow


#: Series names in the cover's table are cut to this many characters.
_GLANCE_NAME = 56
_GLANCE_NOTE = (
    "Projection: the last year projected, and the range the series' page calls likely (its "
    "80% interval, or the level nearest it). Each series' page gives every year, the trend and "
    "how far to trust it."
)


def _earlier_ends(outlook: Outlook, fonts: Fonts) -> str:
    """Said under the cover's table when a series' projection ends before the others' (its
    figures end earlier): "in 2027" had stood among "in 2030" rows unexplained."""
    last = max(page.forecast.forecast[-1].year for page in outlook.pages)
    early = [page for page in outlook.pages if page.forecast.forecast[-1].year < last]
    if not early:
        return ""
    ends = ", ".join(
        f"{english_name(page, fonts)} in {page.forecast.forecast[-1].year} (latest figure "
        f"from {page.forecast.forecast[0].year - 1})"
        for page in early
    )
    return (
        f" A projection runs {outlook.horizon} years from a series' latest figure, so one whose "
        f"figures end earlier ends earlier: {ends}."
    )


def _glance_row(page: SeriesOutlook, number: int, fonts: Fonts) -> list[str]:
    """A series' row in the cover's table: name, latest figure, last projected year, page."""
    name = english_name(page, fonts)
    if len(name) > _GLANCE_NAME:
        name = name[: _GLANCE_NAME - 1].rstrip() + "…"
    unit = page.forecast.unit
    latest = page.latest[0] if page.latest else None
    last = page.forecast.forecast[-1]
    level = page.level
    return [
        name,
        f"{format_exact(latest.value, unit)} in {latest.year}" if latest else "-",  # as published
        f"{format_value(last.mean, unit)} in {last.year}",
        f"{format_range(last.lower[level], last.upper[level], unit)} ({level}%)",
        str(number),
    ]


_HOW_TO_READ = (
    "Each series has a page: the outlook in one sentence, the fan chart (published figures as "
    "points, the projection as a line, the intervals shaded), the projected figures, the latest "
    "figures with their sources, the model in plain words and its track record.",
    "An 80% interval is where the figure is expected to land four years in five. Intervals are "
    "calibrated on each model's own backtests: forecasts made from earlier years and checked "
    "against the figures that came in.",
    "Words used: a backtest forecasts years already published from the years before them; "
    "MASE is a model's typical error as a multiple of the typical change from one year to the "
    "next (1: as large); naive is the last figure carried forward, the simplest forecast.",
    "The numbers are the API's: GET /v1/series/{id}/forecast with the same horizon and levels "
    "answers the same projections.",
)


def english_name(page: SeriesOutlook, fonts: Fonts) -> str:
    """The series' name for a sentence: its title without asides in other scripts; a title
    with no English words in full where ``fonts`` draw it, else the series id."""
    return chart_title(page.series.title, page.series.id, fonts)


def _draw_series(flow: PageFlow, page: SeriesOutlook, fonts: Fonts) -> None:
    summary = page.series
    flow.text(series_name(page, fonts), 15, weight="bold", colour=ACCENT)
    publisher = fonts.legible(summary.publisher, fallback=summary.country)
    # a series registered without publisher or country reads "id · unit: …", not "id · · unit"
    parts = [summary.id, publisher, f"unit: {summary.unit}"]
    flow.text(" · ".join(part for part in parts if part.strip()), 8.5, colour=MUTED)
    flow.space(0.1)
    flow.text(page.headline(english_name(page, fonts)) + ".", 10.5, weight="bold")
    flow.space(0.05)
    flow.chart(CHART_HEIGHT, lambda axes: _fan(axes, page, fonts))
    _projection_tables(flow, page)
    flow.heading("Track record")
    for line in page.track_record_words():
        flow.text(line, 8.5, weight="bold" if line.startswith("Surprise") else "normal")
    flow.heading("Latest figures")
    for figure in page.latest:
        status = "" if figure.status == "not stated" else f" ({figure.status})"
        source = figure.source
        title = fonts.legible(source.title, fallback=f"(title in CJK script: {_NO_CJK})")
        publisher = fonts.legible(source.publisher, fallback=source.accessed_via)
        flow.text(
            f"{figure.year}: {format_exact(figure.value, figure.unit)}{status}. Source: "
            f"{publisher}, {title} [{source.accessed_via}]",
            8.5,
        )
        details = [source.url or ""]
        # a note that only says the status is not said again under it ("(preliminary)", then
        # "preliminary" on the next line)
        if source.note and source.note.strip(" .。").lower() != figure.status:
            details.append(fonts.legible(source.note, f"(note in CJK script: {_NO_CJK})"))
        flow.text("  ".join(detail for detail in details if detail), 7.5, colour=MUTED, indent=0.2)
    flow.heading("The model")
    for line in model_words(page):
        flow.text(fonts.legible(line, fallback=line.encode("ascii", "replace").decode()), 8)


def _projection_tables(flow: PageFlow, page: SeriesOutlook) -> None:
    forecast = page.forecast
    unit = forecast.unit
    in_millions = unit == "JPY"
    flow.heading("Projected figures" + (" (¥ million)" if in_millions else f" ({unit})"), size=10)
    labels = [level_label(level) for level in forecast.levels]
    for start in range(0, len(labels), _LEVELS_PER_TABLE):
        shown = labels[start : start + _LEVELS_PER_TABLE]
        rows = [
            [
                str(point.year),
                _table_value(point.mean, unit),
                *(
                    f"{_table_value(point.lower[label], unit)} – "
                    f"{_table_value(point.upper[label], unit)}"
                    for label in shown
                ),
            ]
            for point in forecast.forecast
        ]
        flow.table(["Year", "Projection", *(f"{label}% interval" for label in shown)], rows)
        flow.space(0.05)


def _table_value(value: float, unit: str) -> str:
    """A projected figure to the unit (counts), to the million yen, or to one decimal in any
    other unit: a rate of 99.9 percent, or 3.4 per 100,000, had been printed as 100 and 3."""
    if unit == "JPY":
        return f"{value / 1e6:,.0f}"
    return f"{value:,.0f}" if unit == "count" else f"{value:,.1f}"


def _fan(axes: Axes, page: SeriesOutlook, fonts: Fonts) -> None:
    """The fan chart of the served forecast, as ``GET …/forecast.png`` draws it."""
    figures = page.figures
    history = pd.Series(
        [figure.value for figure in figures], index=[figure.year for figure in figures]
    )
    labels = [level_label(level) for level in page.forecast.levels]
    forecast = pd.DataFrame(
        {
            "year": [point.year for point in page.forecast.forecast],
            "mean": [point.mean for point in page.forecast.forecast],
            **{
                f"{side}-{label}": [
                    (point.lower if side == "lo" else point.upper)[label]
                    for point in page.forecast.forecast
                ]
                for label in labels
                for side in ("lo", "hi")
            },
        }
    )
    draw_fan_chart(
        axes,
        history,
        forecast,
        title=f"{page.forecast.model.name}, {page.forecast.horizon} years ahead",
        unit=page.forecast.unit,
        breaks=page.series.breaks,
        preliminary_years=[figure.year for figure in figures if figure.preliminary],
        fonts=fonts,
    )


def outlook_pdf(
    store: FigureStore,
    board: ChampionBoard,
    series_ids: Sequence[str],
    horizon: int,
    levels: Sequence[float],
    *,
    max_series: int | None = None,
) -> bytes:
    """The outlook brief of the named series (every series when none is named) as PDF bytes."""
    outlook = build_outlook(
        store, board, series_ids, horizon=horizon, levels=levels, max_series=max_series
    )
    return render_pdf(outlook)
