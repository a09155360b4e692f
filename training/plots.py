"""Matplotlib charts logged to MLflow and served as PNG: fan charts and backtest residuals."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # charts are written to files and HTTP responses, never to a screen

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

_BAND_COLOURS = ("#9ecae1", "#3182bd")  # wider band lighter


_NON_LATIN_ASIDE = re.compile(r"\s*\([^)]*[^\x00-\u024f\u2010-\u2014][^)]*\)")
_NON_LATIN = re.compile(r"[^\x00-\u024f\u2010-\u2014]+")


def chart_title(text: str) -> str:
    """A title matplotlib's bundled fonts can draw: asides in other scripts are dropped
    (the page and API keep the full bilingual titles)."""
    return _NON_LATIN.sub("", _NON_LATIN_ASIDE.sub("", text)).strip()


def _levels_in(forecast: pd.DataFrame) -> list[str]:
    """Interval labels present in a forecast frame, widest first."""
    labels = [c[3:] for c in forecast.columns if c.startswith("lo-")]
    return sorted(labels, key=float, reverse=True)


def _compact(value: float, _pos: object = None) -> str:
    for threshold, suffix in ((1e12, "T"), (1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:g}{suffix}"
    return f"{value:g}"


def fan_chart(
    history: pd.Series,
    forecast: pd.DataFrame,
    *,
    title: str,
    unit: str = "",
    breaks: Sequence[int] = (),
    preliminary_years: Sequence[int] = (),
) -> Figure:
    """History as points, the forecast mean, shaded bands per level and dashed lines at breaks."""
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    years = forecast["year"].to_numpy()
    labels = _levels_in(forecast)
    for index, label in enumerate(labels):
        colour = _BAND_COLOURS[min(index, len(_BAND_COLOURS) - 1)] if len(labels) > 1 else "#6baed6"
        ax.fill_between(
            years,
            forecast[f"lo-{label}"],
            forecast[f"hi-{label}"],
            color=colour,
            alpha=0.45 if index == 0 else 0.6,
            linewidth=0,
            label=f"{label}% interval",
        )
    if len(history):
        ax.plot(
            history.index, history.to_numpy(), "o-", color="#222222", ms=4, lw=1, label="figures"
        )
        joined = np.concatenate([[history.index[-1]], years])
        path = np.concatenate([[history.iloc[-1]], forecast["mean"].to_numpy()])
        ax.plot(joined, path, "-", color="#08519c", lw=2, label="forecast")
    else:
        ax.plot(years, forecast["mean"], "-", color="#08519c", lw=2, label="forecast")
    prelim = [y for y in preliminary_years if y in history.index]
    if prelim:
        ax.plot(
            prelim, history.loc[prelim], "o", mfc="white", mec="#d95f02", ms=7, label="preliminary"
        )
    for year in breaks:
        ax.axvline(year - 0.5, color="#d95f02", ls="--", lw=1)
        ax.annotate(
            f"definition break {year}",
            (year - 0.5, 0.02),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="bottom",
            ha="right",
            fontsize=7,
            color="#d95f02",
        )
    ax.set_title(chart_title(title), fontsize=10)
    ax.set_ylabel(unit)
    ax.set_ylim(bottom=0 if _all_nonnegative(history, forecast) else None)
    ax.yaxis.set_major_formatter(FuncFormatter(_compact))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.subplots_adjust(left=0.09, right=0.98, top=0.92, bottom=0.09)  # tight_layout is slow
    return fig


def _all_nonnegative(history: pd.Series, forecast: pd.DataFrame) -> bool:
    lows = [forecast[c] for c in forecast.columns if c.startswith("lo-")]
    return bool((history >= 0).all() and all((low >= 0).all() for low in lows))


def residual_chart(backtest: pd.DataFrame, *, title: str) -> Figure:
    """Backtest errors (actual minus forecast) by horizon step, one point per origin."""
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if len(backtest):
        errors = backtest["actual"] - backtest["mean"]
        ax.scatter(backtest["step"], errors, s=14, alpha=0.7, color="#3182bd")
        means = errors.groupby(backtest["step"]).mean()
        ax.plot(means.index, means.to_numpy(), "-", color="#d95f02", label="mean error")
        ax.legend(fontsize=7)
    ax.axhline(0, color="#222222", lw=0.8)
    ax.set_xlabel("years ahead")
    ax.set_ylabel("actual − forecast")
    ax.yaxis.set_major_formatter(FuncFormatter(_compact))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(chart_title(title), fontsize=10)
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.14, right=0.97, top=0.9, bottom=0.14)
    return fig


def to_png(fig: Figure) -> bytes:
    """Render a figure to PNG bytes and release it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
