"""Short series borrow from what comparable reference series did next."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.reference import reference_series
from models.analogs import (
    PRECEDENT_HORIZON,
    ReferenceClass,
    is_poisson_count,
    is_steady_count,
    rate_median,
)
from models.calibration import from_quantile_paths, grid_probabilities
from training.population import fit_many, population_evidence
from training.selection import _rate_carried, fit_series

SNS_LOSSES = pd.Series([2.2e9, 14.0e9, 27.8e9], index=[2023, 2024, 2025])


def _log_change_range(step: int) -> tuple[float, float]:
    """The smallest and largest log change over ``step`` years in the reference corpus."""
    lows, highs = [], []
    for values in reference_series():
        if len(values) > step:
            changes = np.log(values[step:] / values[:-step])
            lows.append(changes.min())
            highs.append(changes.max())
    return float(min(lows)), float(max(highs))


@pytest.mark.parametrize(
    "values",
    [[100.0, 110.0, 105.0], SNS_LOSSES.to_list(), [5.2, 60.5, 2.1], [1e6, 1e6, 1e6]],
    ids=["flat", "sns-losses", "burst", "constant"],
)
def test_a_three_year_series_stays_within_what_the_reference_ever_did(values: list[float]) -> None:
    y = pd.Series(values, index=[2023, 2024, 2025])
    fit = fit_series(y, series_id="short")
    forecast = fit.champion.predict(PRECEDENT_HORIZON, [80, 95])
    assert forecast.notna().all().all()
    last = values[-1]
    for step, row in enumerate(forecast.itertuples(), start=1):
        low, high = _log_change_range(step)
        assert 0 <= row[3] <= row[2] <= row[4]  # lo-80 <= mean <= hi-80
        lo95, hi95 = forecast.loc[step - 1, "lo-95"], forecast.loc[step - 1, "hi-95"]
        assert last * np.exp(low) * (1 - 1e-9) <= lo95 and hi95 <= last * np.exp(high) * (1 + 1e-9)
    assert "borrowed from what the" in fit.reason and "reference yearly series" in fit.reason
    assert f"; its point path comes from {fit.selected}" in fit.reason  # not "analogs's"


def test_the_sns_losses_interval_five_years_out_is_one_a_planner_can_read() -> None:
    """It once reached ¥507,405 trillion at 95%; now it stays within a factor of ten."""
    fit = fit_series(SNS_LOSSES, series_id="jp_sns_investment_fraud_losses_jpy")
    year_five = fit.champion.predict(5, [95]).iloc[-1]
    assert 27.8e9 / 10 < year_five["lo-95"] < year_five["hi-95"] < 27.8e9 * 10


@pytest.mark.parametrize(
    "values", [[5000.0, 2500.0, 1200.0], SNS_LOSSES.to_list(), [100.0, 110.0, 105.0]]
)
def test_a_borrowed_interval_never_narrows_further_out(values: list[float]) -> None:
    """Fewer precedents reach far steps; the interval of a series that halved twice once
    reached 3.0x its last value five years out and only 2.6x six years out."""
    fit = fit_series(pd.Series(values, index=[2023, 2024, 2025]), series_id="new")
    forecast = fit.champion.predict(PRECEDENT_HORIZON, [80, 95])
    for level in (80, 95):
        below = np.log(forecast["mean"] / forecast[f"lo-{level}"])
        above = np.log(forecast[f"hi-{level}"] / forecast["mean"])
        assert (np.diff(below) >= -1e-9).all() and (np.diff(above) >= -1e-9).all(), level


def test_a_count_series_with_zeros_borrows_relative_changes_and_stays_non_negative() -> None:
    y = pd.Series([3.0, 0.0, 5.0, 2.0], index=range(2022, 2026))
    forecast = ReferenceClass().fit(y).predict(8, [80, 95])
    assert (forecast.drop(columns="year") >= 0).all().all()
    assert forecast["hi-95"].iloc[-1] < 100
    # a count that was zero two years ago may be zero again: the 95% interval reaches it
    assert (forecast["lo-95"] == 0).all()


def test_a_new_small_count_keeps_its_count_noise_in_the_interval() -> None:
    """The reference series are large aggregates; a count of about five a year also varies by
    Poisson noise, whose 95% range around 5 is 1 to 10, so the borrowed interval holds it."""
    fit = fit_series(pd.Series([4.0, 6.0, 5.0], index=[2023, 2024, 2025]), series_id="new")
    first = fit.champion.predict(1, [95]).iloc[0]
    assert first["lo-95"] <= 1.0 and 10.0 <= first["hi-95"] <= 20.0
    assert "borrowed from what the" in fit.reason


def test_a_new_counts_own_noise_is_not_counted_twice() -> None:
    """A county's 12, 20, 15, 18, 11 murders swing as much as Poisson noise around 15 does.
    Matched to precedents on that swing, they borrowed from the corpus' most volatile
    stretches and then had their count noise added again: a 95% interval three years out of
    5.0 to 50.3, ten to one, where the same figures in thousands, which have no count noise at
    all, get six to one. Matched on the swing left after the noise, the count's interval is
    no wider in proportion than the thousands' (5.1 to one), and it is centred on the count's
    rate over its five years, not on its last figure, which is as much noise as level."""
    figures = [12.0, 20.0, 15.0, 18.0, 11.0]
    bounds = {}
    for scale in (1.0, 1000.0):
        history = pd.Series([figure * scale for figure in figures], index=range(2021, 2026))
        fit = fit_series(history, series_id="county")
        assert fit.selected == "naive" and "borrowed from what the" in fit.reason
        last = fit.champion.predict(3, [95]).iloc[-1]
        bounds[scale] = (last["lo-95"] / scale, last["hi-95"] / scale)
    assert bounds[1.0][1] / bounds[1.0][0] <= bounds[1000.0][1] / bounds[1000.0][0]
    assert bounds[1.0][0] < np.mean(figures) < bounds[1.0][1]


def test_a_new_count_at_zero_and_one_keeps_its_interval_to_a_few() -> None:
    """0, 0, 1 is a count of about one a year or less: a Poisson count at 1 a year reaches 4
    about one year in fifty. Its changes read relative to a mean level of 1/3, with a large
    count's noise added, had given it a 95% interval of 0 to 7.8 next year and 0 to 16.6 five
    years out; counts like it, cut to 3 years, had 1.32 times naive's interval score."""
    fit = fit_series(pd.Series([0.0, 0.0, 1.0], index=[2023, 2024, 2025]), series_id="new")
    forecast = fit.champion.predict(5, [80, 95])
    assert (forecast["lo-95"] == 0).all() and (forecast["lo-80"] == 0).all()
    assert 2.0 <= forecast["hi-95"].iloc[0] <= 4.0
    assert forecast["hi-95"].iloc[-1] <= 6.0
    # no change, for a count, is its rate: 0 a year, the median of a count at a half a year
    # (its last figure, 1, is what such a count does about one year in four)
    assert (forecast["mean"] == 0.0).all()
    assert "applied to a Poisson count at the rate of its last 3 years (0.333 a year)" in fit.reason
    assert "its rate carried forward (0 a year" in fit.reason


def test_a_new_count_is_forecast_at_its_rate_not_its_last_figure() -> None:
    """A county's 12, 20, 15, 18, 11 murders: the last figure is a year's Poisson noise about
    the rate (15.2 a year over five years) as much as the rate itself. The served point path,
    no change (naive), carries the rate forward: 15 a year, every year, and the card says so;
    the same figures in thousands are no count and keep their last figure."""
    figures = [12.0, 20.0, 15.0, 18.0, 11.0]
    fit = fit_series(pd.Series(figures, index=range(2021, 2026)), series_id="county")
    forecast = fit.champion.predict(5, [80])
    assert fit.selected == "naive"
    assert (forecast["mean"] == 15.0).all()
    assert (forecast["lo-80"] < 15.0).all() and (forecast["hi-80"] > 15.0).all()
    assert (
        "its point path is no change (naive), for a count its rate carried forward (15 a year, "
        "the median of a Poisson count at it) rather than its last figure (11)"
    ) in fit.reason
    large = pd.Series([figure * 1000 for figure in figures], index=range(2021, 2026))
    assert (fit_series(large, series_id="large").champion.predict(5, [80])["mean"] == 11000).all()


def test_a_count_of_seven_years_on_naive_is_forecast_at_its_rate() -> None:
    """A count of 6-8 years borrows its intervals around the rate of its latest years, and
    no change (naive) is that rate carried forward there too, as for a newer count: 12, 20,
    15, 18, 11, 16, 13 is forecast at 14 a year, not at its last figure. On the small counts
    cut to 7 years, a third of them on naive, that took fraudcast's MASE from 1.019 times the
    best statsforecast method's to 0.994."""
    figures = pd.Series([12.0, 20.0, 15.0, 18.0, 11.0, 16.0, 13.0], index=range(2019, 2026))
    fit = fit_series(figures, series_id="county", candidates=["naive"])
    forecast = fit.champion.predict(5, [80])
    assert fit.selected == "naive"
    assert rate_median(figures.to_numpy()) == 14.0
    assert (forecast["mean"] == 14.0).all()
    assert (forecast["lo-80"] < 14.0).all() and (forecast["hi-80"] > 14.0).all()
    assert "for a count its rate carried forward (14 a year" in fit.reason
    assert "rather than its last figure (13)" in fit.reason


def test_a_steady_count_of_seven_years_is_forecast_at_its_rate_whichever_model_won() -> None:
    """Its handful of backtest origins cannot tell a model's movement from a count's noise:
    on smoothing or drift, 12, 20, 15, 18, 11, 16, 13 is forecast at its rate, 14, as on
    naive, and the card says why. A count that moves one way beyond its noise (10, 20, ...,
    70) keeps its model's path. On the small, stable, sparse and bursty counts cut to 7 years
    the rate missed the following years by less than the models' paths did."""
    figures = pd.Series([12.0, 20.0, 15.0, 18.0, 11.0, 16.0, 13.0], index=range(2019, 2026))
    for model in ("ses", "drift"):
        fit = fit_series(figures, series_id="county", candidates=[model])
        assert fit.selected == model
        assert (fit.champion.predict(5, [80])["mean"] == 14.0).all()
        assert "its count's rate carried forward (14 a year" in fit.reason
        assert f"rather than {model}'s path" in fit.reason
    # the analogs' path is already a count's at its rate: served, as a count, at its median
    fit = fit_series(figures, series_id="county", candidates=["analogs"])
    served = fit.champion.predict(5, [80])["mean"]
    assert (served == np.round(served)).all() and (abs(served - 14.0) <= 1.0).all(), served
    assert "served as a count" in fit.reason and "rate carried forward" not in fit.reason
    # nor does a card claim the rate where the path served is not it (a mean with the analogs)
    assert _rate_carried("ses+analogs", figures, fit.champion) == ""
    rising = pd.Series([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0], index=range(2019, 2026))
    fit = fit_series(rising, series_id="rising", candidates=["drift"])
    assert fit.champion.predict(3, [80])["mean"].tolist() == [80.0, 90.0, 100.0]
    assert "rate carried forward" not in fit.reason


def test_a_new_steady_count_on_the_populations_trend_says_it_is_forecast_at_its_rate() -> None:
    """Where the pooled backtests of a store's short series choose drift, a new count at a
    slowly moving rate (12, 20, 15, 18, 11) is still forecast at its rate, and its card says
    so: it had read "its point path comes from drift" beside a flat path of 15."""
    rng = np.random.default_rng(3)
    growing = [
        (f"g{index}", pd.Series(1000.0 + 200.0 * np.arange(5) + rng.normal(0, 10, 5),
                                index=range(2021, 2026)), ())
        for index in range(40)
    ]  # fmt: skip
    county = ("county", pd.Series([12.0, 20.0, 15.0, 18.0, 11.0], index=range(2021, 2026)), ())
    evidence = population_evidence([*growing, county])
    assert evidence.short is not None and evidence.short.choice == "drift"
    [fit] = list(fit_many([county], evidence=evidence))
    assert fit.selected == "drift"
    assert (fit.champion.predict(3, [80])["mean"] == 15.0).all()
    assert "; drift is the choice of the pooled backtests of 41 short series" in fit.reason
    assert "its point path is its count's rate carried forward (15 a year" in fit.reason
    assert "its point path comes from drift" not in fit.reason


def test_a_counts_rate_is_nearer_its_next_years_than_its_last_figure() -> None:
    """On 300 counts of 0.5 to 60 a year around slowly moving rates, 5 years known: the rate's
    median misses the next 3 years by less than the last figure does (about a fifth less)."""
    rng = np.random.default_rng(5)
    by_rate, by_last = [], []
    for _ in range(300):
        rate = np.exp(rng.uniform(np.log(0.5), np.log(60.0)) + np.cumsum(rng.normal(0, 0.06, 8)))
        counts = rng.poisson(rate).astype(float)
        known, following = counts[:5], counts[5:]
        if not is_poisson_count(known):
            continue
        by_rate.append(np.mean(np.abs(following - rate_median(known))))
        by_last.append(np.mean(np.abs(following - known[-1])))
    assert len(by_rate) > 250
    assert np.mean(by_rate) < 0.9 * np.mean(by_last)


def test_a_count_that_moves_far_beyond_its_noise_is_forecast_from_its_last_figure() -> None:
    """A count's rate is the mean of its latest years only while it moves slowly. Read as a
    Poisson count at that rate, 1,000, 100, 10, 1 had been forecast at 278 a year (80%
    interval 140-370 next year) and 0, 5, 12 at 6: a straight line through either stands out
    of a Poisson count's scatter at its mean far beyond what one rate gives (against a
    chi-squared of 1 degree of freedom, p of 0 to double precision, and 4e-4). Both keep their
    last figure; a county's 12, 20, 15, 18, 11 is still a count at its rate."""
    for moving in ([1000.0, 100.0, 10.0, 1.0], [0.0, 5.0, 12.0]):
        assert is_poisson_count(np.array(moving)) and not is_steady_count(np.array(moving))
    assert is_steady_count(np.array([12.0, 20.0, 15.0, 18.0, 11.0]))
    collapse = fit_series(
        pd.Series([1000.0, 100.0, 10.0, 1.0], index=range(2022, 2026)), series_id="c"
    )
    first = collapse.champion.predict(1, [80, 95]).iloc[0]
    assert first["mean"] == 1.0 and first["hi-95"] < 10.0
    rising = fit_series(pd.Series([0.0, 5.0, 12.0], index=range(2023, 2026)), series_id="r")
    first = rising.champion.predict(1, [80]).iloc[0]
    assert first["mean"] == 12.0 and first["lo-80"] < 12.0 < first["hi-80"]
    assert "rate carried forward" not in rising.reason


def test_a_burst_that_fell_back_is_still_a_count_at_its_rate() -> None:
    """A burst stands out of one rate's scatter as far as a steep line does, but a count that
    rose and fell back is a count whose rate jumped, not one on its way somewhere: it is
    forecast at its rate, not from its last figure, and its 80% interval next year holds
    that rate. Read as moving, the bursty incidents cut to 7 years got intervals that scored
    worse than the best statsforecast method's."""
    burst = [5.0, 6.0, 40.0, 90.0, 60.0]
    assert is_poisson_count(np.array(burst)) and is_steady_count(np.array(burst))
    fit = fit_series(pd.Series(burst, index=range(2021, 2026)), series_id="b")
    first = fit.champion.predict(1, [80]).iloc[0]
    rate = rate_median(np.array(burst))
    assert first["mean"] == rate < 60.0
    assert first["lo-80"] < rate < first["hi-80"]


def test_a_count_that_stood_at_zero_has_room_for_a_one_next_year() -> None:
    """Three years at 0 do not rule out a rate of a half a year (Jeffreys' prior): the 95%
    interval reaches past 1, the 80% interval holds 0 alone."""
    fit = fit_series(pd.Series([0.0, 0.0, 0.0], index=[2023, 2024, 2025]), series_id="new")
    first = fit.champion.predict(1, [80, 95]).iloc[0]
    assert first["lo-95"] == 0 and 1.0 <= first["hi-95"] <= 2.5
    assert first["hi-80"] < 1.0


def test_precedents_are_those_with_similar_recent_growth() -> None:
    rising = ReferenceClass().fit(pd.Series([100.0, 150.0, 225.0], index=[2023, 2024, 2025]))
    falling = ReferenceClass().fit(pd.Series([225.0, 150.0, 100.0], index=[2023, 2024, 2025]))
    assert rising.predict(3)["mean"].iloc[-1] / 225.0 > falling.predict(3)["mean"].iloc[-1] / 100.0


def test_precedents_are_matched_on_up_to_ten_years_not_the_last_five() -> None:
    """Two series whose last five years are the same, one calm before them and one that swung
    by a quarter a year: read off their last five years alone, both had borrowed the same
    intervals. The one that swung is matched to more volatile precedents, and its intervals
    are wider, a year ahead and five years ahead."""
    calm_end = [100.0, 103.0, 101.0, 104.0, 102.0]
    years = range(2016, 2026)
    calm = ReferenceClass().fit(pd.Series([98.0, 100.0, 99.0, 101.0, 100.0, *calm_end], years))
    swung = ReferenceClass().fit(pd.Series([60.0, 85.0, 55.0, 90.0, 65.0, *calm_end], years))
    for step in (1, 5):
        calm_bounds, swung_bounds = (
            fitted.predict(step, [80]).iloc[-1] for fitted in (calm, swung)
        )
        calm_width = calm_bounds["hi-80"] / calm_bounds["lo-80"]
        assert swung_bounds["hi-80"] / swung_bounds["lo-80"] > 1.1 * calm_width


def test_borrowed_quantiles_are_served_as_given() -> None:
    history = pd.Series([10.5, 12.0, 11.5], index=[2020, 2021, 2022])  # not a count
    probabilities = grid_probabilities()
    steps = np.arange(1, 31)[:, None]
    paths = 11.0 * np.exp(0.1 * np.sqrt(steps) * (probabilities[None, :] - 0.5) * 4)
    champion = from_quantile_paths("analogs", history, paths)
    assert champion.borrowed
    served = champion.predict(30, [80])
    expected_hi = [np.interp(0.9, probabilities, row) for row in paths]
    np.testing.assert_allclose(served["hi-80"], expected_hi, rtol=1e-4)  # log-scale interpolation
    np.testing.assert_allclose(served["mean"], 11.0, rtol=1e-9)


def test_whole_numbers_smoother_than_a_count_keep_their_trend() -> None:
    """An index kept in whole numbers (M1's 62, 65, 68, 72, 76, then 77, 78, 82, 87, 93) is
    far smoother than a Poisson count at 70 a year, whose figures scatter by about 8. Read as
    one, its growth was taken for noise: a median of 71.6 next year, below its last figure."""
    assert not is_poisson_count(np.array([62.0, 65.0, 68.0, 72.0, 76.0]))
    assert is_poisson_count(np.array([12.0, 20.0, 15.0, 18.0, 11.0]))
    assert is_poisson_count(np.array([1.0, 1.0, 1.0]))  # a count at 1 a year, one time in 20
    fitted = ReferenceClass().fit(
        pd.Series([62.0, 65.0, 68.0, 72.0, 76.0], index=range(2021, 2026))
    )
    assert fitted.predict(1)["mean"].iloc[0] > 76.0
