"""The outlook brief's words, from the same answers as the API (no PDF drawn here)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from serving.outlook import build_outlook, format_exact, format_range, format_value, model_words
from serving.state import ServiceState
from tests.support import TRAINED

CYBER = TRAINED[0]


def _headline(state: ServiceState, made_in: int) -> tuple[str, int]:
    state.board.refresh()
    made_at = datetime(made_in, 6, 1, tzinfo=UTC)
    outlook = build_outlook(
        state.store, state.board, [CYBER], horizon=5, levels=(80, 95), made_at=made_at
    )
    [page] = outlook.pages
    return page.headline("Cybercrime cases cleared"), page.forecast.forecast[0].year


def test_a_projection_that_starts_before_this_year_says_which_figures_are_missing(
    state: ServiceState,
) -> None:
    """A brief made years after the latest figure would otherwise quote "likely … in 2026" as
    if 2026 were next year."""
    first = int(state.store.figures(CYBER)["year"].max()) + 1
    headline, starts = _headline(state, made_in=first + 3)
    assert starts == first
    assert headline.endswith(f"; no figure for {first}–{first + 2} has been added yet")
    assert _headline(state, made_in=first + 1)[0].endswith(
        f"; no figure for {first} has been added yet"
    )


def test_a_projection_from_last_years_figure_says_nothing_is_missing(state: ServiceState) -> None:
    first = int(state.store.figures(CYBER)["year"].max()) + 1
    headline, _ = _headline(state, made_in=first)
    assert "has been added yet" not in headline and headline.startswith(
        "Cybercrime cases cleared: likely"
    )


def test_the_brief_quotes_the_same_error_ratio_as_the_pages_model_card(state: ServiceState) -> None:
    """The page's card gives the MASE one year ahead; the brief gave the all-steps one under the
    same words, so one series read 1.49x on the page and 3.39x on paper."""
    state.board.refresh()
    [page] = build_outlook(state.store, state.board, [CYBER], horizon=5, levels=(80, 95)).pages
    [selected] = [candidate for candidate in page.card.candidates if candidate.selected]
    one_year = selected.metrics["mase_h1"]
    assert one_year != page.forecast.model.backtest_mase
    said = " ".join(model_words(page))
    assert f"In backtests one year ahead, its errors were {one_year:.2f}× the typical" in said
    assert f"(MASE at 1 year {one_year:.2f}; 1 means errors as large as the typical" in said
    # not "below 1 beats guessing the last value": a card read "errors were 2.18x the typical
    # change ... below 1 beats guessing" beside "0.81 x naive's" error in its reason
    assert "beats guessing" not in said


def test_a_projection_that_starts_in_a_past_year_leads_with_this_year(
    state: ServiceState,
) -> None:
    """A brief of 4 Dec 2026 led with "likely 310–881 in 2023" for a series whose figures end
    in 2022, as if 2023 were still to come."""
    last = int(state.store.figures(CYBER)["year"].max())
    headline, starts = _headline(state, made_in=last + 4)
    assert starts == last + 1
    state.board.refresh()
    [page] = build_outlook(
        state.store,
        state.board,
        [CYBER],
        horizon=5,
        levels=(80, 95),
        made_at=datetime(last + 4, 6, 1, tzinfo=UTC),
    ).pages
    [now] = [point for point in page.forecast.forecast if point.year == last + 4]
    bounds = format_range(now.lower["80"], now.upper["80"], "count")
    latest = format_exact(page.series.latest.value, "count")
    assert headline.startswith(
        f"Cybercrime cases cleared: likely {bounds} in {last + 4} (80%) (the latest figure, "
        f"{latest}, is from {last}), "
    )
    assert f"from the {last + 4} projection to {last + 5}" in headline
    assert f"in {last + 1} (80%)" not in headline


def test_yen_are_written_one_way_in_the_brief_and_the_what_if() -> None:
    """The brief's cover read "¥10,397,000,000 in 2025" beside "¥13.1B in 2030", and a
    what-if read "With ¥102,000,000,000 in 2026, the 2030 projection is ¥130 billion"."""
    from serving import schemas
    from serving.scenarios import describe_assumptions, rounded

    assert format_exact(10_397_000_000, "JPY") == "¥10.4B"
    assert format_value(13.1e9, "JPY") == "¥13.1B"
    assert rounded(1.3e11, "JPY") == "¥130B" and rounded(24_123, "count") == "24,100"
    assumed = [schemas.HypotheticalFigure(year=2026, value=1.02e11)]
    assert describe_assumptions(assumed, "JPY") == "¥102B in 2026"


def test_the_trend_is_read_along_the_projection_not_from_the_latest_figure(
    state: ServiceState,
) -> None:
    """After a surprise figure a quarter of the projection, a projection that stays flat read
    "rising about 21% a year". And it says so: "rising about 8% a year to 2030" unqualified was
    read from the latest figure (5,604 in 2025 to 8,730 in 2030 is 9% a year)."""
    state.board.refresh()
    [page] = build_outlook(state.store, state.board, [CYBER], horizon=5, levels=(80, 95)).pages
    steps = page.forecast.forecast
    growth = (steps[-1].mean / steps[0].mean) ** (1 / (steps[-1].year - steps[0].year)) - 1
    direction = "rising" if growth > 0 else "falling"
    said = (
        f"{direction} about {abs(growth):.0%} a year from the {steps[0].year} projection "
        f"to {steps[-1].year}"
    )
    assert said in page.headline("Cybercrime cases cleared")
    latest = max(page.figures, key=lambda figure: figure.year)
    surprise = latest.model_copy(update={"value": latest.value / 4})
    after = replace(page, figures=[*(f for f in page.figures if f is not latest), surprise])
    assert said in after.headline("Cybercrime cases cleared")


def test_likely_is_not_said_of_an_interval_its_backtests_contradict(state: ServiceState) -> None:
    """A 3-year series' brief read "likely 5,450-10,900 in 2026 (80%)" beside "80% intervals
    like this held 0 of the 3 backtest forecasts"."""
    state.board.refresh()
    [page] = build_outlook(state.store, state.board, [CYBER], horizon=5, levels=(80, 95)).pages

    def held(share: float, checked: int) -> str:
        model = page.forecast.model.model_copy(
            update={"coverage": {"80": share, "95": share}, "backtest_forecasts": checked}
        )
        forecast = page.forecast.model_copy(update={"model": model})
        return replace(page, forecast=forecast).headline("Cybercrime cases cleared")

    for share, checked in ((0.0, 3), (0.0, 2), (0.6, 40)):  # as likely as 1 in 25 or less
        said = held(share, checked)
        assert "likely" not in said and "by the 80% interval" in said, said
        assert said.endswith(", fewer than such an interval should hold: read it with caution")
    for share, checked in ((1 / 3, 3), (0.7, 40), (0.0, 1)):  # 1 in 10 or more: not shown
        said = held(share, checked)
        assert said.startswith("Cybercrime cases cleared: likely") and "caution" not in said


def test_a_unit_written_out_is_said_once_per_range() -> None:
    """ "likely 95.9 percent–104 percent" and, in the CLI table, "99.4 per 100,000 – 116 per
    100,000" (the table's title already names the unit)."""
    from serving.commands.scenario import _value
    from serving.outlook import format_range

    assert format_range(99.43, 116.2, "per 100,000") == "99.4–116 per 100,000"
    assert format_range(14_612, 17_149, "count") == "14,600–17,100"
    assert format_range(8.7e9, 1.2e10, "JPY") == "¥8.7B–¥12B"
    assert _value(99.43, "per 100,000") == "99.4" and _value(2.4e9, "JPY") == "¥2.4B"


def test_a_projection_older_than_a_stored_figure_says_so_not_that_it_is_missing(
    state: ServiceState,
) -> None:
    """A retrain refused after a surprise figure left the card reading "no figure for 2025
    has been added yet" beside "latest figure 35 in 2025"."""
    import pandas as pd

    from tests.support import yen_figure

    yen = TRAINED[1]
    first = int(state.store.figures(yen)["year"].max()) + 1
    state.store.add_figures(pd.DataFrame([yen_figure(first, 5.0e9)]), source="late")
    state.board.refresh()
    made_at = datetime(first + 3, 6, 1, tzinfo=UTC)
    [page] = build_outlook(
        state.store, state.board, [yen], horizon=5, levels=(80, 95), made_at=made_at
    ).pages
    headline = page.headline("Losses")
    assert page.forecast.forecast[0].year == first  # not retrained
    assert headline.endswith(
        f"; this projection is from figures up to {first - 1}: the {first} figure added "
        "since is not in it (no retrain has replaced it yet)"
    )
    assert "has been added yet" not in headline


def test_a_published_figure_in_another_unit_is_quoted_with_its_own_digits() -> None:
    """The brief printed "700.00 百万円" and "96.00 percent" beside a projection of
    "974 百万円", and 61 stored as 60.99999999999999 would have been 61.00."""
    from serving.outlook import format_exact

    assert format_exact(700.0, "百万円") == "700 百万円"
    assert format_exact(96.0, "percent") == "96 percent"
    assert format_exact(88.16, "percent") == "88.16 percent"
    assert format_exact(12345.5, "per 100,000") == "12,345.5 per 100,000"
    assert format_exact(60.99999999999999, "percent") == "61 percent"
    assert format_exact(8.73e9, "JPY") == "¥8.7B"
