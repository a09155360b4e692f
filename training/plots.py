"""Matplotlib charts logged to MLflow and served as PNG: fan charts and backtest residuals."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # charts are written to files and HTTP responses, never to a screen

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.transforms import offset_copy

from models.base import bound_columns, interval_labels
from training.fonts import Fonts, chart_fonts

_BAND_COLOURS = ("#9ecae1", "#3182bd")  # wider band lighter
_DPI = 100
#: Charts logged to MLflow: 640x336 and 480x280 pixels, a fifth cheaper to draw than at 100 dpi.
LOGGED_DPI = 80
#: zlib level 1 rather than Pillow's 6: a chart is drawn and encoded in 30% less time for 12% more
#: bytes (flat colours and text compress well either way); a retrain draws two per series.
_PNG_OPTIONS = {"compress_level": 1}
_FAN_SIZE = (8.0, 4.2)
_RESIDUAL_SIZE = (6.0, 3.5)
#: The title's place, given rather than left to matplotlib: placing it measures every tick label
#: to keep clear of ticks above the axes, which these charts never have, and cost a seventh of
#: drawing a chart; the title lands where it did.
_TITLE_Y = 1.0
_TITLE_SIZE = 10.0
#: Axis labels at a set distance from the axes (points), likewise unmeasured, another tenth: the
#: y label clears tick labels of six characters ("-1.25k", "2.75bn": the compact format keeps
#: them that short), the x label one line of tick labels.
_YLABEL_GAP = 49.0
_XLABEL_GAP = 21.0
_LABEL_SIZE = 10.0  # matplotlib's "medium": a label given font properties takes its size from them


_NON_LATIN_ASIDE = re.compile(r"\s*\([^)]*[^\x00-\u024f\u2010-\u2014][^)]*\)")
_NON_LATIN = re.compile(r"[^\x00-\u024f\u2010-\u2014]+")


_LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")


def chart_title(title: str, series_id: str, fonts: Fonts | None = None) -> str:
    """A series' title for a chart: its English words (asides in other scripts dropped; the
    page and API keep the full bilingual titles); a title with none ("不正送金 被害額",
    "2点系列") in full where ``fonts`` (``chart_fonts()`` unless given) draw it, else
    ``series_id`` (such titles had been reduced to nothing, or to "2")."""
    latin = _latin(title)
    if _LATIN_LETTER.search(latin):
        return latin
    return title if (fonts or chart_fonts()).drawable(title) else series_id


def _latin(text: str) -> str:
    """``text`` without what matplotlib's bundled fonts cannot draw, and an English aside after
    a name in another script out of its brackets ("偽サイト詐欺 (Fake-shop fraud)" had been
    drawn as "(Fake-shop fraud)")."""
    latin = _NON_LATIN.sub("", _NON_LATIN_ASIDE.sub("", text)).strip()
    # with whatever follows it ("(Fake-shop fraud) — comb" in a chart's title)
    aside = re.fullmatch(r"[(（]\s*([^()（）]*?)\s*[)）](.*)", latin, flags=re.DOTALL)
    return (aside.group(1) + aside.group(2)).strip() if aside else latin


def _set_title(ax: Axes, title: str, fonts: Fonts) -> None:
    """``title`` (as ``chart_title`` made it, with the model after it) in what ``fonts`` draw."""
    shown = fonts.legible(title, fallback=_latin(title))
    ax.set_title(shown, fontproperties=fonts.properties(_TITLE_SIZE, text=shown), y=_TITLE_Y)


def _levels_in(forecast: pd.DataFrame) -> list[str]:
    """Interval labels present in a forecast frame, widest first."""
    return sorted(interval_labels(forecast.columns), key=float, reverse=True)


def _compact(value: float, _pos: object = None, digits: int = 6) -> str:
    for threshold, suffix in ((1e12, "T"), (1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if abs(value) >= threshold:
            scaled = value / threshold
            # beyond ``digits`` places "g" writes 7.27e+04T: whole numbers instead, 72,700T
            shown = f"{scaled:,.0f}" if abs(scaled) >= 10**digits else f"{scaled:.{digits}g}"
            return f"{shown}{suffix}"
    return f"{value:.{digits}g}"


def _compact_yen(value: float, _pos: object = None) -> str:
    """A yen tick as the page's axis and the brief's words write yen: ¥25B, ¥500M (not "25bn"
    under an axis titled "JPY")."""
    for threshold, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if abs(value) >= threshold:
            return f"¥{value / threshold:.4g}{suffix}"
    return f"¥{value:,.0f}"


#: What the y axis measures, as the page's chart says it (``unitWords`` in format.js).
_UNIT_WORDS = {"JPY": "Yen per year", "count": "Number per year"}


def fan_chart(
    history: pd.Series,
    forecast: pd.DataFrame,
    *,
    title: str,
    unit: str = "",
    breaks: Sequence[int] = (),
    preliminary_years: Sequence[int] = (),
    fonts: Fonts | None = None,
) -> Figure:
    """History as points, the forecast mean, shaded bands per level and dashed lines at breaks;
    text in CJK script is drawn with ``fonts`` (``chart_fonts()`` unless given)."""
    fig, ax = plt.subplots(figsize=_FAN_SIZE, dpi=_DPI)
    _draw_fan(ax, history, forecast, title, unit, breaks, preliminary_years, fonts)
    return fig


def draw_fan_chart(
    ax: Axes,
    history: pd.Series,
    forecast: pd.DataFrame,
    *,
    title: str,
    unit: str = "",
    breaks: Sequence[int] = (),
    preliminary_years: Sequence[int] = (),
    fonts: Fonts | None = None,
) -> None:
    """``fan_chart`` drawn on an axes placed in a larger figure (a page of the outlook PDF)."""
    _draw_fan(ax, history, forecast, title, unit, breaks, preliminary_years, fonts)


def _draw_fan(
    ax: Axes,
    history: pd.Series,
    forecast: pd.DataFrame,
    title: str,
    unit: str,
    breaks: Sequence[int],
    preliminary_years: Sequence[int],
    fonts: Fonts | None,
) -> None:
    fonts = fonts or chart_fonts()
    years = forecast["year"].to_numpy()
    labels = _levels_in(forecast)
    # the bands start at the last figure, as the page's chart does: from the first projected
    # year they left a gap after the latest figure
    anchored = len(history) > 0 and history.index[-1] < years[0]
    band_years = np.concatenate([[history.index[-1]], years]) if anchored else years
    for index, label in enumerate(labels):
        colour = _BAND_COLOURS[min(index, len(_BAND_COLOURS) - 1)] if len(labels) > 1 else "#6baed6"
        lo, hi = bound_columns(label)
        start = [history.iloc[-1]] if anchored else []
        ax.fill_between(
            band_years,
            np.concatenate([start, forecast[lo].to_numpy(dtype=float)]),
            np.concatenate([start, forecast[hi].to_numpy(dtype=float)]),
            color=colour,
            alpha=0.45 if index == 0 else 0.6,
            linewidth=0,
            label=f"{label}% interval",
        )
    if len(history):
        # a line joins consecutive years only: across a year without a figure it would draw
        # figures that were never published (the page shows figures as points alone)
        every_year = history.reindex(np.arange(history.index.min(), history.index.max() + 1))
        ax.plot(
            every_year.index, every_year.to_numpy(), "o-", color="#222222", ms=4, lw=1,
            label="figures",
        )  # fmt: skip
        joined = np.concatenate([[history.index[-1]], years])
        path = np.concatenate([[history.iloc[-1]], forecast["mean"].to_numpy()])
    else:
        joined, path = years, forecast["mean"].to_numpy()
    # over the axes' frame and not cut at it: a small county's projection of 0 a year ran
    # along the bottom axis, half cut off and the rest under the frame, and no line showed
    # (the axes always hold the path: from 0, or below its lowest, to twice its highest)
    ax.plot(joined, path, "-", color="#08519c", lw=2, label="forecast", clip_on=False, zorder=3)
    prelim = [y for y in preliminary_years if y in history.index]
    if prelim:
        ax.plot(
            prelim, history.loc[prelim], "o", mfc="white", mec="#d95f02", ms=7, label="preliminary"
        )
    # named in the legend, not written beside the line: "definition change 2012" drawn up
    # the dashed line ran across the figures' own line
    named = ", ".join(str(year) for year in breaks)
    for index, year in enumerate(breaks):
        ax.axvline(
            year - 0.5,
            color="#d95f02",
            ls="--",
            lw=1,
            label=None if index else f"definition change{'s' if len(breaks) > 1 else ''} {named}",
        )
    _set_title(ax, title, fonts)
    label = _UNIT_WORDS.get(unit) or fonts.unit(unit)
    ax.set_ylabel(label, fontproperties=fonts.properties(_LABEL_SIZE, text=label))
    _place_labels(ax)
    ax.set_ylim(bottom=0 if _all_nonnegative(history, forecast) else None)
    top = clipped_top(history, forecast)
    if top is not None:  # as the page draws it: the history stays readable
        ax.set_ylim(0.0, top)
        ax.text(
            0.99,
            0.97,
            _clipped_words(forecast, top, unit),
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=7,
            color="#444444",
        )
    ax.yaxis.set_major_formatter(FuncFormatter(_compact_yen if unit == "JPY" else _compact))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    # tight_layout is slow
    ax.figure.subplots_adjust(left=0.11, right=0.98, top=0.92, bottom=0.09)


def _place_labels(ax: Axes) -> None:
    """Put the axis labels ``_YLABEL_GAP`` and ``_XLABEL_GAP`` points outside the axes."""
    figure = ax.get_figure(root=True)
    assert isinstance(figure, Figure)  # every chart's axes sit in a figure
    ax.yaxis.set_label_coords(
        0.0, 0.5, transform=offset_copy(ax.transAxes, figure, x=-_YLABEL_GAP, units="points")
    )
    ax.xaxis.set_label_coords(
        0.5, 0.0, transform=offset_copy(ax.transAxes, figure, y=-_XLABEL_GAP, units="points")
    )


def clipped_top(history: pd.Series, forecast: pd.DataFrame) -> float | None:
    """The top of the y axis when some interval is so wide that it would flatten the history:
    twice the largest figure or forecast, as the page's chart (``serving/static/chart.js``,
    ``clippedTop``); None when everything fits."""
    labels = interval_labels(forecast.columns)
    values = np.concatenate([history.to_numpy(dtype=float), forecast["mean"].to_numpy(float)])
    if not values.size or not labels:
        return None
    lows = [forecast[bound_columns(label)[0]].to_numpy(float) for label in labels]
    highs = [forecast[bound_columns(label)[1]].to_numpy(float) for label in labels]
    reference = float(values.max())
    lowest = min(float(values.min()), *(float(low.min()) for low in lows))
    highest = max(float(high.max()) for high in highs)
    if not reference > 0 or lowest < 0 or highest <= 2.5 * reference:
        return None
    return 2.0 * reference


def _clipped_words(forecast: pd.DataFrame, top: float, unit: str = "") -> str:
    """What runs above a clipped chart, by the last year: "95% interval to 1.95T by 2030";
    yen as the axis writes them ("¥389B", not "389bn")."""
    end = forecast.iloc[-1]

    def shown(value: float) -> str:
        return _compact_yen(value) if unit == "JPY" else _compact(value, digits=3)

    over = [
        f"{label}% interval to {shown(float(end[bound_columns(label)[1]]))}"
        for label in sorted(interval_labels(forecast.columns), key=float)
        if float(end[bound_columns(label)[1]]) > top
    ]
    return f"above the chart by {int(end['year'])}: " + ", ".join(over)


def _all_nonnegative(history: pd.Series, forecast: pd.DataFrame) -> bool:
    lows = [forecast[bound_columns(label)[0]] for label in interval_labels(forecast.columns)]
    return bool((history >= 0).all() and all((low >= 0).all() for low in lows))


def residual_chart(backtest: pd.DataFrame, *, title: str) -> Figure:
    """Backtest errors (actual minus forecast) by horizon step, one point per origin."""
    fig, ax = plt.subplots(figsize=_RESIDUAL_SIZE, dpi=_DPI)
    _draw_residuals(ax, backtest, title)
    return fig


def _draw_residuals(ax: Axes, backtest: pd.DataFrame, title: str) -> None:
    if len(backtest):
        errors = backtest["actual"] - backtest["mean"]
        ax.scatter(backtest["step"], errors, s=14, alpha=0.7, color="#3182bd")
        means = errors.groupby(backtest["step"]).mean()
        ax.plot(means.index, means.to_numpy(), "-", color="#d95f02", label="mean error")
        ax.legend(fontsize=7)
    ax.axhline(0, color="#222222", lw=0.8)
    ax.set_xlabel("years ahead")
    ax.set_ylabel("actual − forecast")
    _place_labels(ax)
    ax.yaxis.set_major_formatter(FuncFormatter(_compact))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _set_title(ax, title, chart_fonts())
    ax.grid(alpha=0.3)
    ax.figure.subplots_adjust(left=0.14, right=0.97, top=0.9, bottom=0.14)


def to_png(fig: Figure, dpi: float | None = None) -> bytes:
    """Render a figure to PNG bytes (at its own dpi unless given) and release it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi or "figure", pil_kwargs=_PNG_OPTIONS)
    plt.close(fig)
    return buffer.getvalue()


class ChartRenderer:
    """Fan charts and residual plots as PNG bytes, drawn on two figures that are reused.

    Setting up a figure and its axes costs about as much as drawing it, and a retrain logs two
    charts per candidate; the images are the same as ``to_png(fan_chart(...), dpi=dpi)`` gives.
    Not for sharing between threads: ``renderer()`` hands each thread its own.
    """

    def __init__(self, dpi: float = LOGGED_DPI) -> None:
        self._fan_figure, self._fan = _reusable_axes(_FAN_SIZE, dpi)
        self._residual_figure, self._residuals = _reusable_axes(_RESIDUAL_SIZE, dpi)

    def fan_png(
        self,
        history: pd.Series,
        forecast: pd.DataFrame,
        *,
        title: str,
        unit: str = "",
        breaks: Sequence[int] = (),
    ) -> bytes:
        """``fan_chart`` rendered to PNG."""
        _clear(self._fan)
        _draw_fan(self._fan, history, forecast, title, unit, breaks, (), None)
        return _png(self._fan_figure)

    def residual_png(self, backtest: pd.DataFrame, *, title: str) -> bytes:
        """``residual_chart`` rendered to PNG."""
        _clear(self._residuals)
        _draw_residuals(self._residuals, backtest, title)
        return _png(self._residual_figure)


_renderers = threading.local()


def renderer() -> ChartRenderer:
    """This thread's ``ChartRenderer``, made on first use."""
    found = getattr(_renderers, "renderer", None)
    if found is None:
        found = _renderers.renderer = ChartRenderer()
    return found


def _reusable_axes(size: tuple[float, float], dpi: float) -> tuple[Figure, Axes]:
    """A figure with one axes, outside pyplot's registry (nothing to close)."""
    figure = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _clear(ax: Axes) -> None:
    """Remove what the last chart drew, keeping the axes and their ticks (cheaper than cla)."""
    for artist in [*ax.lines, *ax.collections, *ax.texts, *ax.patches]:
        artist.remove()
    legend = ax.get_legend()
    if legend is not None:
        legend.remove()
    ax.set_prop_cycle(None)
    ax.relim()  # no artists left: forget the last chart's data limits
    ax.set_xlim(0.0, 1.0)  # a new axes' view, kept by a chart that has no data
    ax.set_ylim(0.0, 1.0)
    ax.set_autoscale_on(True)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", pil_kwargs=_PNG_OPTIONS)
    return buffer.getvalue()
