"""Charts drawn on reused figures are the charts a fresh figure gives, whatever came before; their
axis labels and titles are readable at every magnitude."""

from __future__ import annotations

import io
import warnings

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from training.fonts import chart_fonts, latin_fonts
from training.plots import (
    LOGGED_DPI,
    ChartRenderer,
    chart_title,
    clipped_top,
    fan_chart,
    residual_chart,
    to_png,
)


def _pixels(png: bytes) -> np.ndarray:
    return matplotlib.image.imread(io.BytesIO(png), format="png")


def _history(start: int, values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.Index(range(start, start + len(values)), name="year"))


def _forecast(first_year: int, mean: list[float], spread: float, levels=(80, 95)) -> pd.DataFrame:
    frame = pd.DataFrame({"year": range(first_year, first_year + len(mean)), "mean": mean})
    for index, level in enumerate(levels, start=1):
        frame[f"lo-{level}"] = frame["mean"] - spread * index
        frame[f"hi-{level}"] = frame["mean"] + spread * index
    return frame


FAN_CHARTS = [
    # a count series with breaks; a yen series; below zero with one level; no history
    (_history(2004, [120, 180, 260, 300, 900, 1100]), _forecast(2010, [1200, 1300, 1350], 90),
     "Cases: comb", "count", (2007,)),
    (_history(1990, [2.5e9, 3.1e9, 2.2e9, 4.0e9]), _forecast(1994, [4.1e9, 4.3e9], 5e8),
     "Losses: theta", "JPY", ()),
    (_history(2015, [5.0, -3.0, 2.0]), _forecast(2018, [1.0, 0.5, 0.0, -0.5], 4.0, (50,)),
     "Change: drift", "", (2016, 2017)),
    (_history(2020, []), _forecast(2020, [10.0, 12.0], 3.0), "New: naive", "count", ()),
]  # fmt: skip


def _backtest(seed: int, origins: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = np.tile(np.arange(1, 4), origins)
    return pd.DataFrame(
        {
            "origin": np.repeat(np.arange(2000, 2000 + origins), 3),
            "step": steps,
            "actual": rng.normal(100, 20, 3 * origins),
            "mean": np.full(3 * origins, 100.0),
        }
    )


def test_reused_fan_charts_equal_fresh_ones_in_any_order() -> None:
    charts = ChartRenderer()
    for history, forecast, title, unit, breaks in [*FAN_CHARTS, *reversed(FAN_CHARTS)]:
        reused = charts.fan_png(history, forecast, title=title, unit=unit, breaks=breaks)
        chart = fan_chart(history, forecast, title=title, unit=unit, breaks=breaks)
        fresh = to_png(chart, dpi=LOGGED_DPI)
        np.testing.assert_array_equal(_pixels(reused), _pixels(fresh), err_msg=title)


def test_reused_residual_plots_equal_fresh_ones_in_any_order() -> None:
    charts = ChartRenderer()
    backtests = [_backtest(1, 8), _backtest(2, 2), _backtest(3, 0), _backtest(4, 5)]
    for index, backtest in enumerate([*backtests, *reversed(backtests)]):
        reused = charts.residual_png(backtest, title=f"model {index}")
        fresh = to_png(residual_chart(backtest, title=f"model {index}"), dpi=LOGGED_DPI)
        np.testing.assert_array_equal(_pixels(reused), _pixels(fresh), err_msg=str(index))


def _drawn_boxes(figure: Figure) -> tuple[Bbox, list[Bbox], list[Bbox], Bbox, Bbox, Bbox]:
    """The axes, y and x tick label boxes, y and x label and title boxes of a drawn chart."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    (ax,) = figure.axes
    y_ticks = [text.get_window_extent(renderer) for text in ax.get_yticklabels() if text.get_text()]
    x_ticks = [text.get_window_extent(renderer) for text in ax.get_xticklabels() if text.get_text()]
    return (
        ax.get_window_extent(renderer),
        y_ticks,
        x_ticks,
        ax.yaxis.label.get_window_extent(renderer),
        ax.xaxis.label.get_window_extent(renderer),
        ax.title.get_window_extent(renderer),
    )


@pytest.mark.parametrize("scale", [3.0, 250.0, 12_479.0, 2.78e10, -1.25e6, 0.42])
def test_axis_labels_and_titles_clear_the_tick_labels_inside_the_figure(scale: float) -> None:
    rng = np.random.default_rng(7)
    history = _history(2008, list(scale * (1 + 0.3 * rng.random(16))))
    last = float(history.iloc[-1])
    fan = fan_chart(history, _forecast(2024, [last] * 6, abs(scale) * 0.2), title="A", unit="cases")
    backtest = _backtest(5, 6)
    backtest["actual"] = backtest["actual"] * scale / 100
    residuals = residual_chart(backtest, title="B")
    for figure in (fan, residuals):
        figure.set_dpi(LOGGED_DPI)
        axes, y_ticks, x_ticks, y_label, x_label, title = _drawn_boxes(figure)
        page = figure.bbox
        assert all(y_label.x1 < box.x0 for box in y_ticks), (scale, y_label, y_ticks)
        assert y_label.x0 >= page.x0
        assert title.y0 >= axes.y1 and title.y1 <= page.y1
        if x_label.width > 0:  # the residual plot's "years ahead"
            assert all(x_label.y1 < box.y0 for box in x_ticks)
            assert x_label.y0 >= page.y0


def test_a_fan_too_wide_for_the_history_is_clipped_as_on_the_page_and_says_so() -> None:
    """The PNG and the PDF drew special fraud losses' 95% interval to ¥1.95T, flattening 20
    years of ¥28–72bn figures into a line, where the page clips the axis and says what runs off."""
    history = _history(2016, [30e9, 28e9, 37e9, 45e9, 72e9, 141e9])
    wide = pd.DataFrame({"year": [2026, 2027], "mean": [170e9, 200e9],
                         "lo-80": [125e9, 120e9], "hi-80": [260e9, 1.17e12],
                         "lo-95": [99e9, 90e9], "hi-95": [330e9, 1.95e12]})  # fmt: skip
    assert clipped_top(history, wide) == pytest.approx(2 * 200e9)
    figure = fan_chart(history, wide, title="Losses: comb", unit="JPY")
    [ax] = figure.axes
    assert ax.get_ylim() == pytest.approx((0.0, 400e9))
    said = [text.get_text() for text in ax.texts]
    # in yen as the axis writes them
    assert "above the chart by 2027: 80% interval to ¥1.17T, 95% interval to ¥1.95T" in said
    narrow = _forecast(2022, [150e9, 160e9], 10e9)
    assert clipped_top(history, narrow) is None  # everything fits: nothing clipped
    assert not [t for t in fan_chart(history, narrow, title="t").axes[0].texts
                if "above the chart" in t.get_text()]  # fmt: skip


def test_the_figures_line_never_crosses_a_year_without_a_figure() -> None:
    # China's series: figures for 2016, 2019, 2020, 2022, 2023 and 2025 only
    history = pd.Series(
        [83e3, 200e3, 322e3, 464e3, 437e3, 258e3],
        index=pd.Index([2016, 2019, 2020, 2022, 2023, 2025], name="year"),
    )
    chart = fan_chart(history, _forecast(2026, [252e3, 253e3], 4e4), title="Cases", unit="count")
    (line,) = [line for line in chart.axes[0].get_lines() if line.get_label() == "figures"]
    years, values = (np.asarray(data, dtype=float) for data in line.get_data())
    drawn = years[np.isfinite(values)]
    assert drawn.tolist() == history.index.tolist()  # every figure is marked
    joined = np.isfinite(values[:-1]) & np.isfinite(values[1:])
    assert set(np.diff(years)[joined]) == {1.0}  # segments only between consecutive years
    assert joined.sum() == 2  # 2019-2020 and 2022-2023


def test_a_title_written_japanese_first_is_drawn_by_its_english_aside() -> None:
    """ "偽ショッピングサイト詐欺 認知件数 (Fake-shopping-site fraud cases)" had been drawn as
    "(Fake-shopping-site fraud cases)", brackets and all; English-first titles drop the aside."""
    japanese_first = (
        "偽ショッピングサイト詐欺 認知件数 (Fake-shopping-site fraud cases, prefecture)"
    )
    assert chart_title(japanese_first, "x") == "Fake-shopping-site fraud cases, prefecture"
    assert chart_title("偽サイト詐欺（Fake-shop fraud）", "x") == "Fake-shop fraud"
    assert (
        chart_title("Cybercrime cases cleared (サイバー犯罪 検挙件数)", "x")
        == "Cybercrime cases cleared"
    )
    assert chart_title("SNS fraud (losses)", "x") == "SNS fraud (losses)"
    figure = fan_chart(
        pd.Series([1210.0, 2480.0, 3950.0], index=[2023, 2024, 2025]),
        pd.DataFrame({"year": [2026], "mean": [4457.0], "lo-80": [3100.0], "hi-80": [6340.0]}),
        # as the PNG download and MLflow title it, with the model after it
        title=f"{chart_title(japanese_first, 'x')} — comb",
    )
    assert figure.axes[0].get_title() == "Fake-shopping-site fraud cases, prefecture — comb"


def test_a_title_with_no_english_words_is_drawn_in_cjk_or_named_by_the_series_id() -> None:
    """A series titled "不正送金 被害額" had a chart titled "— comb", and "2点系列" was "2"."""
    latin = latin_fonts()  # a machine without a CJK font
    assert chart_title("不正送金 被害額", "jp_transfer_losses", latin) == "jp_transfer_losses"
    assert chart_title("2点系列", "two_points", latin) == "two_points"
    history = _history(2021, [410.0, 455.0, 501.0])
    forecast = _forecast(2024, [530.0, 560.0], 40.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns of every glyph it draws as a box
        if chart_fonts().has_cjk:
            assert chart_title("不正送金 被害額", "jp_transfer_losses") == "不正送金 被害額"
            title = f"{chart_title('不正送金 被害額', 'jp_transfer_losses')} — comb"
            chart = fan_chart(history, forecast, title=title, unit="百万円")
            assert chart.axes[0].get_title() == "不正送金 被害額 — comb"
            to_png(chart)
        # a title no font here draws loses what cannot be drawn, not into boxes
        chart = fan_chart(history, forecast, title="不正送金 — comb", fonts=latin)
        assert chart.axes[0].get_title() == "— comb"
        to_png(chart)


def test_huge_amounts_are_written_out_not_in_exponent_notation() -> None:
    """A yen bound of 7.27e16 was labelled "7.27e+04T" above a brief's chart."""
    from training.plots import _compact

    assert _compact(7.27e16, digits=3) == "72,700T"
    assert _compact(2.5e9) == "2.5bn" and _compact(1234.5, digits=3) == "1.23k"


def test_a_unit_in_cjk_script_is_drawn_with_the_cjk_font_or_named_in_english() -> None:
    """The y label "百万円" was drawn as three empty boxes (matplotlib warning "Glyph 30334
    missing from font(s) DejaVu Sans") even with fonts-noto-cjk installed, in the PNG download
    and the brief alike; the README promises never an empty box."""
    history = _history(2021, [410.0, 455.0, 501.0])
    forecast = _forecast(2024, [530.0, 560.0], 40.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns of every glyph it draws as a box
        if chart_fonts().has_cjk:
            chart = fan_chart(history, forecast, title="Transfer fraud", unit="百万円")
            assert chart.axes[0].get_ylabel() == "百万円"
            to_png(chart)
        latin = latin_fonts()  # a machine without a CJK font
        known = fan_chart(history, forecast, title="t", unit="百万円", fonts=latin)
        assert known.axes[0].get_ylabel() == "million yen"
        other = fan_chart(history, forecast, title="t", unit="口座", fonts=latin)
        assert other.axes[0].get_ylabel() == "(unit in CJK script)"
        to_png(known), to_png(other)


def test_a_yen_chart_writes_yen_as_the_page_and_the_brief_do() -> None:
    """A brief's yen chart read "25bn" up an axis titled "JPY", beside "¥4.3B" in its sentence."""
    history, forecast, title, unit, breaks = FAN_CHARTS[1]
    axes = fan_chart(history, forecast, title=title, unit=unit, breaks=breaks).axes[0]
    assert axes.get_ylabel() == "Yen per year"
    assert axes.yaxis.get_major_formatter()(2.5e10, 0) == "¥25B"
    assert axes.yaxis.get_major_formatter()(5e8, 0) == "¥500M"


def test_the_shaded_range_starts_at_the_last_figure() -> None:
    """The bands began at the first projected year, leaving a gap after the last figure that
    the page's chart does not have."""
    history, forecast, title, unit, breaks = FAN_CHARTS[0]
    axes = fan_chart(history, forecast, title=title, unit=unit, breaks=breaks).axes[0]
    bands = [band for band in axes.collections if band.get_label().endswith("% interval")]
    assert len(bands) == 2
    for band in bands:
        years = np.concatenate([path.vertices[:, 0] for path in band.get_paths()])
        assert years.min() == history.index[-1]


def test_a_definition_change_is_named_in_the_legend_not_across_the_figures() -> None:
    """ "definition change 2012" was written up the dashed line, across the figures' line."""
    history, forecast, title, unit, breaks = FAN_CHARTS[0]
    axes = fan_chart(history, forecast, title=title, unit=unit, breaks=breaks).axes[0]
    assert not [text for text in axes.texts if "definition" in text.get_text()]
    legend = axes.get_legend()
    assert legend is not None
    assert "definition change 2007" in [text.get_text() for text in legend.get_texts()]


def test_a_projection_of_zero_is_drawn_along_the_bottom_of_the_chart() -> None:
    """A small county's projection of 0 murders a year ran along the chart's bottom edge,
    half cut off and the rest under the axes' frame: the chart showed bands and no line."""
    history = _history(2015, [0, 1, 0, 0, 2, 1, 0, 0, 0, 1, 0.0])
    forecast = _forecast(2026, [0.0] * 5, 0.0).assign(
        **{"hi-80": [2.5, 2.7, 2.9, 3.2, 3.4], "hi-95": [5.7, 6.5, 6.7, 7.4, 8.3]}
    )
    chart = fan_chart(history, forecast, title="Murders in a small county", unit="count")
    axes = chart.axes[0]
    chart.canvas.draw()
    height = chart.canvas.get_width_height()[1]
    (first, bottom), (last, _) = axes.transData.transform([(2026, 0.0), (2030, 0.0)])
    pixels = _pixels(to_png(chart))[..., :3]
    row = round(height - bottom)
    strip = pixels[row - 2 : row + 3, int(first) : int(last)]
    forecast_blue = np.all(np.abs(strip - np.array([8, 81, 156]) / 255) < 0.08, axis=-1)
    # the line's full width shows across the projected years (half of it, one pixel beside the
    # black frame, was all that showed before)
    assert ((forecast_blue.sum(axis=0) >= 2).mean()) > 0.9
