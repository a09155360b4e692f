"""Calibrated champions: intervals from backtest errors, pure-numpy prediction."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson

from models import calibration
from models.base import MAX_HORIZON
from models.calibration import (
    MIN_PITS,
    CalibratedForecast,
    blend_probabilities,
    grid_probabilities,
    held_out_coverage,
    held_out_pits,
    poisson_root_variance,
    recalibration_from,
    vincentized,
)


def _backtest(errors_by_step: dict[int, list[float]], level: float = 100.0) -> pd.DataFrame:
    rows = []
    for step, errors in errors_by_step.items():
        for i, error in enumerate(errors):
            rows.append(
                {
                    "origin": 2000 + i,
                    "year": 2000 + i + step,
                    "step": step,
                    "actual": level * np.exp(error),
                    "mean": level,
                }
            )
    return pd.DataFrame(rows)


def _history(n: int = 20) -> pd.Series:
    return pd.Series(np.full(n, 100.0), index=range(2000, 2000 + n))


def test_many_errors_give_empirical_coverage() -> None:
    rng = np.random.default_rng(0)
    errors = {1: list(rng.normal(0, 0.1, 400))}
    forecast = CalibratedForecast.from_backtest(
        "m", _history(), np.full(30, 100.0), _backtest(errors)
    )
    frame = forecast.predict(1, [80])
    # 80% of N(0, 0.1) lies within +-0.128 on the log scale
    assert frame["hi-80"][0] == pytest.approx(100 * np.exp(0.128), rel=0.05)
    assert frame["lo-80"][0] == pytest.approx(100 * np.exp(-0.128), rel=0.05)


def test_averaged_quantiles_lie_between_the_two_and_keep_the_served_path() -> None:
    """Averaged with another forecast's quantiles (``vincentized``), a bound is the weighted
    geometric mean of the two at its level; at full weight the own intervals are served as
    they were, and a weight outside 0..1 is refused."""
    rng = np.random.default_rng(0)
    own = CalibratedForecast.from_backtest(
        "m", _history(), np.full(30, 100.0), _backtest({1: list(rng.normal(0, 0.1, 400))})
    )
    # another forecast twice as spread: log changes from the path at twice own's quantiles
    wider = np.exp(2.0 * np.log(own.predict_arrays(1, [80])["hi-80"][0] / 100.0))
    theirs = 100.0 * np.exp(np.log(wider) / 1.2816 * _z(blend_probabilities()))[None, :]
    theirs = np.repeat(theirs, MAX_HORIZON, axis=0)
    served = vincentized(own, theirs, 0.5).predict(1, [80])
    mine = own.predict(1, [80])
    assert served["mean"][0] == mine["mean"][0]
    assert served["hi-80"][0] == pytest.approx(np.sqrt(mine["hi-80"][0] * 100 * wider), rel=0.01)
    assert mine["hi-80"][0] < served["hi-80"][0] < 100 * wider
    pd.testing.assert_frame_equal(
        vincentized(own, theirs, 1.0).predict(3, [80, 95]), own.predict(3, [80, 95])
    )
    with pytest.raises(ValueError, match="weight"):
        vincentized(own, theirs, 1.5)


def _z(probabilities: np.ndarray) -> np.ndarray:
    """Standard normal quantiles at ``probabilities`` (the ends clipped)."""
    from scipy.stats import norm

    return np.asarray(norm.ppf(np.clip(probabilities, 1e-12, 1 - 1e-12)))


def test_intervals_widen_with_the_step_and_nest_across_levels() -> None:
    errors = {1: [0.05, -0.05, 0.1, -0.1], 2: [0.1, -0.1, 0.2], 3: [0.2, -0.25]}
    forecast = CalibratedForecast.from_backtest(
        "m", _history(), np.full(30, 100.0), _backtest(errors)
    )
    frame = forecast.predict(30, [50, 80, 95, 99.5])
    width = frame["hi-80"] - frame["lo-80"]
    assert (np.diff(width) > 0).all()
    ordered = frame[
        ["lo-99.5", "lo-95", "lo-80", "lo-50", "mean", "hi-50", "hi-80", "hi-95", "hi-99.5"]
    ]
    assert (np.diff(ordered.to_numpy(), axis=1) >= 0).all()


@pytest.mark.parametrize("recalibrated", [False, True], ids=["as-calibrated", "recalibrated"])
def test_intervals_the_reference_envelope_cuts_stay_inside_it_and_nested(
    recalibrated: bool,
) -> None:
    """Errors of a factor of 50 either way a year ahead: the distribution reaches far beyond
    what any reference series did, at every level. Each bound stays within the envelope and
    the wider level's interval still contains the narrower one strictly: before, every level
    was clipped to one and the same bound."""
    rng = np.random.default_rng(1)
    errors = {1: list(rng.normal(0.0, 4.0, 30)), 2: list(rng.normal(0.0, 5.0, 20))}
    forecast = CalibratedForecast.from_backtest(
        "m", _history(), np.full(30, 100.0), _backtest(errors)
    )
    if recalibrated:  # a population whose figures fell outside more often widens it further
        steps = np.ones(MIN_PITS)
        forecast.recalibration = recalibration_from(steps, np.linspace(0.0, 1.0, MIN_PITS) ** 2)
        assert forecast.recalibration is not None
    levels = [50, 80, 95, 99.9999]
    frame = forecast.predict(12, levels)
    envelope = calibration.reference_envelope()[:12]
    assert (frame["lo-99.9999"] >= 100.0 * np.exp(envelope[:, 0]) * (1 - 1e-9)).all()
    assert (frame["hi-99.9999"] <= 100.0 * np.exp(envelope[:, 1]) * (1 + 1e-9)).all()
    ordered = frame[[*(f"lo-{level}" for level in levels[::-1]), "mean"]]
    ordered = pd.concat([ordered, frame[[f"hi-{level}" for level in levels]]], axis=1)
    assert (np.diff(ordered.to_numpy(), axis=1) > 0).all()


def test_the_envelope_counts_changes_from_the_last_figure_not_from_a_projected_trend() -> None:
    """A projection rising 25% a year carried the envelope with it: the 99.9% bound of the
    bundled internet-banking cases reached 185x the last figure, beyond the corpus' x111."""
    rng = np.random.default_rng(1)
    errors = {1: list(rng.normal(0.0, 1.5, 30)), 2: list(rng.normal(0.0, 2.0, 20))}
    rising = 100.0 * 1.25 ** np.arange(1, 31)
    forecast = CalibratedForecast.from_backtest("m", _history(), rising, _backtest(errors))
    frame = forecast.predict(12, [80, 99.9999])
    envelope = calibration.reference_envelope()[:12]
    assert (frame["hi-99.9999"] <= 100.0 * np.exp(envelope[:, 1]) * (1 + 1e-9)).all()
    assert (frame["lo-99.9999"] >= 100.0 * np.exp(envelope[:, 0]) * (1 - 1e-9)).all()
    np.testing.assert_allclose(frame["mean"], rising[:12])
    assert (frame["lo-80"] < frame["mean"]).all() and (frame["mean"] < frame["hi-80"]).all()


def test_intervals_widen_at_least_as_a_random_walks_do() -> None:
    """Backtest errors that hardly grow with the step (their far steps rest on a few old
    origins) still give intervals whose width grows at least with the square root of the step:
    four years out, twice the width of one year out."""
    flat = [0.1, -0.1, 0.12, -0.08]
    errors = {1: flat, 2: flat, 3: flat, 4: flat}
    forecast = CalibratedForecast.from_backtest(
        "m", _history(), np.full(30, 100.0), _backtest(errors)
    )
    frame = forecast.predict(4, [80])
    log_width = np.log(frame["hi-80"] / frame["lo-80"])
    assert log_width[3] >= 2.0 * log_width[0] * (1 - 1e-9)


def test_the_random_walk_floor_never_narrows_the_first_step(monkeypatch) -> None:
    """Errors of one spread at every step (a series around a stable level, or bursts that
    fade): the floor on growth widens the far steps and leaves step 1 as the errors show it.
    Rescaling the errors by the floor too made the step-1 interval a fifth narrower here."""
    rng = np.random.default_rng(3)
    errors = {step: list(rng.normal(0, 0.1, 60)) for step in range(1, 7)}

    def widths() -> np.ndarray:
        forecast = CalibratedForecast.from_backtest(
            "m", _history(), np.full(30, 100.0), _backtest(errors)
        )
        frame = forecast.predict(6, [80])
        return np.log(frame["hi-80"] / frame["lo-80"]).to_numpy()

    floored = widths()
    monkeypatch.setattr(calibration, "MIN_GROWTH", 0.0)
    unfloored = widths()
    assert floored[0] == pytest.approx(unfloored[0], rel=1e-9)
    assert (floored[1:] > unfloored[1:]).all()
    assert floored[5] >= np.sqrt(6) * floored[0] * (1 - 1e-9)


def test_no_backtest_gives_a_wide_prior_and_never_below_zero() -> None:
    history = pd.Series([5.0], index=[2020])
    forecast = CalibratedForecast.from_backtest("naive", history, np.full(30, 5.0), _backtest({}))
    frame = forecast.predict(3, [95])
    assert (frame["lo-95"] >= 0).all() and (frame["hi-95"] > 7.5).all()


def test_additive_errors_for_series_with_zeros_clip_at_zero() -> None:
    history = pd.Series([0.0, 1.5, 0.0, 2.5], index=range(2000, 2004))
    backtest = pd.DataFrame({"step": [1, 1, 1], "actual": [1.5, 0.0, 2.5], "mean": [0.0, 1.5, 0.0]})
    forecast = CalibratedForecast.from_backtest("naive", history, np.full(30, 2.0), backtest)
    assert forecast.error_scale == "additive"
    assert (forecast.predict(5, [95])["lo-95"] >= 0).all()


def _poisson_champions(rates: np.ndarray, years: int, seed: int) -> tuple[list, np.ndarray]:
    """Champions calibrated on naive forecasts of flat Poisson series, and next year's draw."""
    rng = np.random.default_rng(seed)
    champions, future = [], []
    for rate in rates:
        values = rng.poisson(rate, years + 1).astype(float)
        history = pd.Series(values[:-1], index=range(2000, 2000 + years))
        backtest = pd.DataFrame(
            {"step": 1, "actual": values[1:-1], "mean": values[:-2], "origin": range(years - 1)}
        )
        point = np.full(30, values[-2])
        champions.append(CalibratedForecast.from_backtest("naive", history, point, backtest))
        future.append(values[-1])
    return champions, np.array(future)


def test_small_counts_get_count_shaped_intervals_that_cover() -> None:
    """Counts of a few to tens a year: naive's errors are Poisson noise, larger relative to
    the level the smaller the count. Calibrated on the square-root scale, the 80% and 95%
    intervals hold next year's count as often as they say, from a count of 2 to one of 60,
    and a count that may be zero gets a lower bound of zero and a longer upper tail."""
    champions, future = _poisson_champions(np.geomspace(2, 60, 400), years=15, seed=1)
    assert {champion.error_scale for champion in champions} == {"sqrt"}
    for level in (80, 95):
        label = str(level)
        bounds = np.array(
            [
                champion.predict(1, [level]).iloc[0][[f"lo-{label}", f"hi-{label}"]]
                for champion in champions
            ]
        )
        held = np.mean((future >= bounds[:, 0]) & (future <= bounds[:, 1]))
        assert abs(held - level / 100) < 0.05, (level, held)
    small = champions[0].predict(1, [95]).iloc[0]
    # rounds to a count of zero, and reaches further up than down, as a Poisson count does
    assert small["lo-95"] < 0.5
    assert small["hi-95"] - small["mean"] > small["mean"] - small["lo-95"]


def _served_coverage(
    paths: list[np.ndarray],
    years: int,
    first_origin: int,
    forecast: Callable[[np.ndarray], float],
    levels: Sequence[float],
    steps: int = 6,
    scale: str | None = None,
) -> dict[float, np.ndarray]:
    """Per level, whether each of the ``steps`` figures after a path's first ``years`` fell
    inside the intervals of a champion calibrated from the backtest of ``forecast`` (a flat
    projection from the history before each origin, origins ``first_origin`` to ``years - 1``):
    series by step. ``scale``, when given, is the error scale every champion must have."""
    held: dict[float, list[np.ndarray]] = {level: [] for level in levels}
    for values in paths:
        rows = [
            {"origin": origin, "step": step, "actual": values[origin + step - 1],
             "mean": forecast(values[:origin])}
            for origin in range(first_origin, years)
            for step in range(1, steps + 1)
            if origin + step - 1 < years
        ]  # fmt: skip
        history = pd.Series(values[:years], index=range(2000, 2000 + years))
        point = np.full(30, forecast(values[:years]))
        champion = CalibratedForecast.from_backtest("m", history, point, pd.DataFrame(rows))
        assert scale is None or champion.error_scale == scale
        bounds = champion.predict(steps, list(levels))
        future = values[years : years + steps]
        for level in levels:
            inside = (bounds[f"lo-{level}"] <= future) & (future <= bounds[f"hi-{level}"])
            held[level].append(inside.to_numpy())
    return {level: np.array(inside) for level, inside in held.items()}


def _stable_counts(years: int, steps: int) -> list[np.ndarray]:
    """Counts at fixed rates of 3 to 60 a year (a county's murders), one path per rate."""
    rng = np.random.default_rng(4)
    return [rng.poisson(rate, years + steps).astype(float) for rate in np.geomspace(3, 60, 300)]


def test_stable_small_counts_are_not_widened_as_a_random_walk_six_years_out() -> None:
    """Counts around a stable rate (a county's murders, 3 to 60 a year), forecast by their
    mean: the error is Poisson noise at every step. Its square-root-scale noise does not grow
    with the step, so the 6-year-ahead intervals hold the count about as often as they say;
    floored at a random walk's growth as a whole, the 80% interval had held 96% of them."""
    held = _served_coverage(_stable_counts(11, 6), 11, 4, np.mean, (80, 95), scale="sqrt")
    for level, inside in held.items():
        # within 5 points below and 7 above: the early origins' means of 4 to 6 counts add
        # an error of their own that the later years do not have
        sixth = float(np.mean(inside[:, -1]))
        assert level / 100 - 0.05 < sixth < level / 100 + 0.07, (level, sixth)


def test_a_stable_count_forecast_by_its_last_figure_keeps_its_far_intervals_honest() -> None:
    """Counts at fixed rates (3 to 60 a year) forecast by their last figure: every error,
    one year ahead or six, is two years' Poisson noise, and the level does not move. Treated
    as a moving level beyond one year's noise, the sixth year's interval was 1.8 times the
    first's and held 90% of the counts at 80% (98.7% at 95%)."""
    held = _served_coverage(_stable_counts(11, 6), 11, 4, lambda past: past[-1], (80, 95))
    coverage = {level: float(np.mean(inside[:, -1])) for level, inside in held.items()}
    assert abs(coverage[80] - 0.80) < 0.05, coverage
    assert 0.92 < coverage[95] < 0.975, coverage


def test_the_noise_of_a_count_s_square_root_is_its_own_at_every_level() -> None:
    """The square root of a Poisson count varies by 1/4 only at large counts (Anscombe
    1948): by about 0.40 at one or two a year, less again near zero."""
    rng = np.random.default_rng(0)
    means = np.array([0.3, 1.0, 2.0, 5.0, 40.0])
    sampled = np.sqrt(rng.poisson(means, (400_000, means.size))).var(axis=0)
    np.testing.assert_allclose(poisson_root_variance(means), sampled, atol=0.005)
    assert float(poisson_root_variance(0.0)) == 0.0
    assert abs(float(poisson_root_variance(2.0)) - 0.39) < 0.005
    # a whole-number series that has fallen to tens from billions (yen) has a mean level of
    # millions: a quarter, without a sum over a count per unit of the mean (nor its rounding)
    np.testing.assert_allclose(poisson_root_variance(np.array([80.0, 1e6, 1e12])), 0.25, atol=0.002)


def test_counts_of_one_to_three_a_year_do_not_read_their_noise_as_a_moving_level() -> None:
    """Counts at fixed rates of 0.7 to 3 a year forecast by their last figure: the level
    does not move, so the sixth year's interval holds the count about as often as the first
    year's, and as often as the central intervals of each count's own Poisson distribution
    do (a share below it, half its own chance counted, as ``benchmarks.devsets.true_coverage``
    reads a count: 86% at 80%, whole numbers leaving nothing to cut between them). With the
    square root's noise taken as 1/4 at every level, the extra noise of these counts was read
    as a moving level and the intervals grew with the step like a random walk's."""
    rng = np.random.default_rng(4)
    rates = np.geomspace(0.7, 3.0, 300)
    paths = [rng.poisson(rate, 17).astype(float) for rate in rates]
    held = _served_coverage(paths, 11, 4, lambda past: past[-1], (80,), scale="sqrt")
    first, sixth = (float(np.mean(held[80][:, step])) for step in (0, -1))
    figures = np.array([values[-1] for values in paths])
    share = poisson.cdf(figures - 1, rates) + poisson.pmf(figures, rates) / 2
    truth = float(np.mean(np.abs(share - 0.5) <= 0.4))
    assert abs(sixth - truth) < 0.05, (sixth, truth)
    assert sixth - first < 0.05, (first, sixth)


def test_a_count_that_has_stood_at_zero_keeps_room_for_a_one() -> None:
    """A count of 0 in each of 12 years, forecast at 0 with every backtest error 0. A one
    next year has a chance of about 4% by its history alone (Jeffreys' predictive, the floor
    of its upper bounds), so the 95% interval reaches most of the way to 1.
    Calibrated from the errors alone, all 0, it had been 0 to 0.02: a count's figure of 1
    then fell far beyond its 99.9% bound, and a few such figures in a population's pooled
    backtests widened every other series' intervals."""
    history = pd.Series(np.zeros(12), index=range(2000, 2012))
    backtest = pd.DataFrame(
        [
            {"origin": origin, "step": step, "actual": 0.0, "mean": 0.0}
            for origin in range(2003, 2011)
            for step in range(1, 7)
            if origin + step < 2012
        ]
    )
    champion = CalibratedForecast.from_backtest("naive", history, np.zeros(30), backtest)
    assert champion.error_scale == "sqrt"
    first = champion.predict(1, [95]).iloc[0]
    assert first["lo-95"] == 0.0 and 0.7 < first["hi-95"] < 1.0
    # the card says why the interval is wider than the backtest errors alone
    assert any("Poisson count's noise" in note for note in champion.notes), champion.notes
    # a count whose backtest errors are wider than its noise says nothing of it
    missed = backtest.assign(actual=30.0 + 10.0 * np.sign(np.sin(np.arange(len(backtest)))))
    wide = CalibratedForecast.from_backtest(
        "naive", history + 30.0, np.full(30, 30.0), missed.assign(mean=30.0)
    )
    assert wide.error_scale == "sqrt"
    assert not any("Poisson count's noise" in note for note in wide.notes), wide.notes


def test_counts_that_are_mostly_zero_are_served_intervals_as_wide_as_their_noise() -> None:
    """Counts at fixed rates of 0.05 to 0.5 a year (a small county's murders, most years 0)
    forecast by their last figure: their 95% intervals hold at least 95% of the next six
    years, and of the first. Calibrated from the errors alone, a count that had stood at 0
    through its backtest got an interval of 0 to nearly 0, and only 90% of first years fell
    inside the 95% intervals."""
    rng = np.random.default_rng(4)
    paths = [rng.poisson(rate, 17).astype(float) for rate in np.geomspace(0.05, 0.5, 300)]
    held = _served_coverage(paths, 11, 4, lambda past: past[-1], (95,), scale="sqrt")
    assert float(np.mean(held[95][:, 0])) >= 0.94, float(np.mean(held[95][:, 0]))
    assert float(np.mean(held[95])) >= 0.95, float(np.mean(held[95]))


def test_99_percent_intervals_are_not_read_off_the_largest_backtest_errors() -> None:
    """Gaussian random walks forecast by their last figure and calibrated from 10 origins
    checked 6 years ahead: 60 errors, but only the shocks of 15 years. Read with the same
    weight at every level, the empirical quantiles had set the 99% bounds near the largest of
    those errors, and the 99% intervals held 98.1-98.6% of the next six years (four seeds)."""
    rng = np.random.default_rng(0)
    paths = [100 * np.exp(np.cumsum(rng.normal(0.0, 0.05, 26))) for _ in range(1000)]
    held = _served_coverage(paths, 20, 10, lambda past: past[-1], (80, 95, 99))
    coverage = {level: float(np.mean(inside)) for level, inside in held.items()}
    assert coverage[99] >= 0.988, coverage
    assert 0.94 <= coverage[95] <= 0.975, coverage
    assert 0.77 <= coverage[80] <= 0.83, coverage


def test_predict_arrays_match_the_frame() -> None:
    forecast = CalibratedForecast.from_backtest("m", _history(), np.full(30, 100.0), _backtest({}))
    arrays = forecast.predict_arrays(4, [80, 95])
    frame = forecast.predict(4, [80, 95])
    assert list(arrays) == list(frame.columns)
    for name, values in arrays.items():
        np.testing.assert_array_equal(values, frame[name].to_numpy())


def test_horizon_and_level_outside_range_are_clear_errors() -> None:
    forecast = CalibratedForecast.from_backtest("m", _history(), np.full(30, 100.0), _backtest({}))
    with pytest.raises(ValueError, match="between 1 and 30"):
        forecast.predict(31)
    with pytest.raises(ValueError, match="between 0 and 100"):
        forecast.predict(3, [0])
    assert forecast.predict(2, [97.5]).columns.tolist() == ["year", "mean", "lo-97.5", "hi-97.5"]


def _origins_backtest(log_errors_by_origin: dict[int, float], steps: int = 3) -> pd.DataFrame:
    """A backtest of a flat forecast at 100 whose every step at an origin misses by the same
    log error."""
    rows = [
        {
            "origin": origin,
            "year": origin + step,
            "step": step,
            "actual": 100.0 * np.exp(error),
            "mean": 100.0,
        }
        for origin, error in log_errors_by_origin.items()
        for step in range(1, steps + 1)
    ]
    return pd.DataFrame(rows)


def test_held_out_coverage_never_calibrates_an_origin_on_its_own_errors() -> None:
    # one origin alone is checked against the intervals of no errors at all (the wide prior):
    # its 65% misses fall outside the 80% prior interval one year ahead, inside it later;
    # calibrated on its own errors, all three would be covered
    backtest = _origins_backtest({2010: 0.5})
    history = _history(11)
    prior = CalibratedForecast.from_backtest("m", history, np.full(30, 100.0), _backtest({}))
    expected = prior.predict(3, [80])
    inside = (backtest["actual"] >= expected["lo-80"]) & (backtest["actual"] <= expected["hi-80"])
    assert inside.tolist() == [False, True, True]
    assert held_out_coverage(history, backtest, [80]) == {80.0: pytest.approx(2 / 3)}
    own = CalibratedForecast.from_backtest("m", history, np.full(30, 100.0), backtest)
    assert own.predict(1, [80])["hi-80"][0] >= backtest["actual"].iloc[0]


def test_an_outlying_origin_is_a_miss_and_widens_the_others() -> None:
    # ten origins miss by 1-3%, one by a factor of 10: held out of its own calibration the
    # outlier is outside both intervals, and it widens the others' enough to cover them
    errors = {2000 + i: 0.01 * (1 + i % 3) * (-1) ** i for i in range(10)} | {2010: np.log(10.0)}
    shares = held_out_coverage(_history(15), _origins_backtest(errors), [80, 95])
    assert shares == {80.0: pytest.approx(30 / 33), 95.0: pytest.approx(30 / 33)}


def test_a_year_far_off_is_a_miss_however_many_origins_forecast_it() -> None:
    # a flat forecast of a level that does not move: every error is its year's own noise, 2%
    # but for one year twice the level. The four origins that forecast that year (1-4 years
    # ahead) share its miss; checked against the others' errors on that very year, the one
    # four years ahead had fallen inside its 95% interval and another barely outside
    rng = np.random.default_rng(4)
    noise = dict(zip(range(2001, 2020), rng.normal(0.0, 0.02, 19), strict=True)) | {
        2010: np.log(2.0)
    }
    rows = [
        {"origin": origin, "step": step, "actual": 100.0 * np.exp(noise[origin + step])}
        for origin in range(2000, 2013)
        for step in range(1, 5)
    ]
    backtest = pd.DataFrame(rows).assign(mean=100.0)
    _, pits = held_out_pits(_history(13), backtest)
    on_the_year = (backtest["origin"] + backtest["step"] == 2010).to_numpy()
    assert np.all(pits[on_the_year] > 0.975)
    shares = held_out_coverage(_history(13), backtest, [95])
    assert shares[95.0] == pytest.approx(1.0 - on_the_year.mean())


def test_held_out_coverage_is_that_of_the_served_kind_of_interval() -> None:
    # the model's own backtest intervals would be irrelevant: held-out calibration of steady
    # 10% errors covers close to the nominal level, not 0 or 1
    rng = np.random.default_rng(3)
    errors = dict(zip(range(1960, 2000), rng.normal(0.0, 0.1, 40), strict=True))
    shares = held_out_coverage(_history(60), _origins_backtest(errors, steps=1), [80, 95])
    assert 0.7 <= shares[80.0] <= 0.9
    assert 0.9 <= shares[95.0] <= 1.0
    assert held_out_coverage(_history(), _backtest({}), [80]) == {}


def test_held_out_pits_tell_the_same_misses_as_held_out_coverage() -> None:
    # the PITs pooled for a population's recalibration are those of the intervals held-out
    # coverage checks: where the reference envelope does not cut them (errors of 20%), a
    # figure is inside the central 80% exactly when its PIT is within 0.1..0.9, and the steps
    # say how far ahead each figure was
    rng = np.random.default_rng(8)
    errors = dict(zip(range(2005, 2015), rng.normal(0.0, 0.2, 10), strict=True))
    history, backtest = _history(30), _origins_backtest(errors, steps=3)
    steps, pits = held_out_pits(history, backtest)
    assert len(pits) == len(backtest) and set(steps) == {1.0, 2.0, 3.0}
    assert np.all((pits >= 0.0) & (pits <= 1.0))
    for level in (80.0, 95.0):
        tail = (1.0 - level / 100.0) / 2.0
        inside = float(np.mean((pits >= tail) & (pits <= 1.0 - tail)))
        assert held_out_coverage(history, backtest, [level])[level] == pytest.approx(inside)
    assert held_out_pits(history, _backtest({})).shape == (2, 0)


def _standard_normal_forecast(recalibration: np.ndarray | None) -> CalibratedForecast:
    """A forecast of 0 whose errors it takes for standard normal (additive scale)."""
    from scipy.stats import norm

    probabilities = grid_probabilities()
    return CalibratedForecast(
        model_name="m",
        last_year=2025,
        point_path=np.zeros(30),
        error_scale="additive",
        probabilities=probabilities,
        error_quantiles=np.asarray(norm.ppf(probabilities)),
        step_scale=np.ones(30),
        nonnegative=False,
        recalibration=recalibration,
    )


def _coverage(forecast: CalibratedForecast, figures: np.ndarray, level: float) -> float:
    frame = forecast.predict(1, [level])
    lo, hi = frame[f"lo-{level:g}"][0], frame[f"hi-{level:g}"][0]
    return float(np.mean((figures >= lo) & (figures <= hi)))


def test_intervals_too_narrow_for_a_population_are_widened_to_cover_as_claimed() -> None:
    from scipy.stats import norm

    rng = np.random.default_rng(0)
    # the population moves twice as far as the forecasts claim
    backtested = rng.normal(0.0, 2.0, 3000)
    table = recalibration_from(np.ones(3000, dtype=np.int64), norm.cdf(backtested))
    assert table is not None
    future = rng.normal(0.0, 2.0, 20_000)
    assert _coverage(_standard_normal_forecast(None), future, 80) < 0.5
    for level in (80, 95):
        covered = _coverage(_standard_normal_forecast(table), future, level)
        assert covered == pytest.approx(level / 100, abs=0.02)


def test_intervals_are_never_narrowed_by_a_calmer_population() -> None:
    from scipy.stats import norm

    rng = np.random.default_rng(1)
    backtested = rng.normal(0.0, 0.5, 3000)
    table = recalibration_from(np.ones(3000, dtype=np.int64), norm.cdf(backtested))
    plain = _standard_normal_forecast(None).predict(5, [80, 95])
    recalibrated = _standard_normal_forecast(table).predict(5, [80, 95])
    for column in ("lo-80", "lo-95"):
        assert np.all(recalibrated[column] <= plain[column] + 1e-12)
    for column in ("hi-80", "hi-95"):
        assert np.all(recalibrated[column] >= plain[column] - 1e-12)


def test_recalibration_needs_enough_figures_and_later_steps_reuse_the_last_row() -> None:
    from scipy.stats import norm

    rng = np.random.default_rng(2)
    few = norm.cdf(rng.normal(0.0, 2.0, MIN_PITS - 1))
    assert recalibration_from(np.ones(few.size, dtype=np.int64), few) is None
    steps = np.repeat([1, 2, 3], [MIN_PITS, MIN_PITS, MIN_PITS - 1])
    pits = norm.cdf(rng.normal(0.0, 2.0, steps.size) * steps)
    table = recalibration_from(steps, pits)
    assert table is not None and table.shape == (2, grid_probabilities().size)
    frame = _standard_normal_forecast(table).predict(6, [80])
    assert np.all(frame["hi-80"][2:] == frame["hi-80"][1])


def test_a_share_rising_to_its_ceiling_keeps_some_room_and_its_intervals_stay_nested() -> None:
    """A clearance rate of 99.6 rising by half a point a year had been projected at exactly 100
    from the first year on, and its upper bounds with it: the room left below 100 now shrinks
    in proportion to the way up, as on the log of that room. Below the last figure nothing
    changes."""
    values = np.array([97.1, 97.9, 98.3, 98.6, 99.0, 99.2, 99.4, 99.6])
    path = 99.6 + 0.5 * np.arange(1, MAX_HORIZON + 1)
    rng = np.random.default_rng(3)
    steps = np.tile(np.arange(1, 7), 10)
    predicted = np.full(steps.size, 99.0)
    actual = predicted * np.exp(0.002 * steps * rng.standard_normal(steps.size))
    forecast = CalibratedForecast.from_errors(
        "drift", values, 2025, path, (actual, predicted, steps)
    )
    forecast.upper_limit = 100.0
    served = forecast.predict(6, (80, 95))
    assert (served["mean"] < 100.0).all() and (served.drop(columns="year").to_numpy() <= 100).all()
    assert served["mean"].is_monotonic_increasing and served["mean"].iloc[0] > 99.6
    assert served["mean"].iloc[0] == pytest.approx(100 - 0.4 * np.exp(-0.5 / 0.4))
    assert (served["lo-95"] < served["lo-80"]).all() and (served["lo-80"] < served["mean"]).all()
    assert (served["mean"] < served["hi-80"]).all() and (served["hi-80"] <= served["hi-95"]).all()
    assert served["hi-80"].iloc[0] < served["hi-95"].iloc[0] < 100.0  # distinct, a year ahead
    # and no faster than the series' own room shrank on average: 2.9 to 0.4 in 7 years
    forecast.under_ceiling(100.0, pd.Series(values, index=range(2018, 2026)))
    pace = np.log(2.9 / 0.4) / 7
    paced = forecast.predict(6, (80, 95))
    assert paced["mean"].tolist() == pytest.approx(
        [100 - 0.4 * np.exp(-min(0.5 * k / 0.4, pace * k)) for k in range(1, 7)]
    )
    assert paced["mean"].iloc[0] < 99.75 and (paced["mean"] < paced["hi-80"]).all()
    falling = forecast.recentred(2025, 99.6 - 0.5 * np.arange(1, MAX_HORIZON + 1))
    falling.last_value = 99.6  # a champion whose own path falls: served as it is
    assert falling.predict(3)["mean"].tolist() == pytest.approx([99.1, 98.6, 98.1])


@pytest.mark.parametrize("last", [100.0, 99.6])
def test_a_shares_lower_bounds_keep_their_distance_from_the_projection_as_served(
    last: float,
) -> None:
    """Under a share's ceiling the projection is served below 100 while the model's path climbs
    past it; the lower bounds had been set from the climbing path, so they rose towards the
    projection year on year (a rate at 100 had its 99% lower bound go from 65.676 to 65.744).
    Each now stays at least as far below the projection as it was a year nearer."""
    from scipy.stats import norm

    probabilities = grid_probabilities()
    forecast = CalibratedForecast(
        model_name="drift",
        last_year=2025,
        point_path=last + 1.0 * np.arange(1, MAX_HORIZON + 1),
        error_scale="log",
        probabilities=probabilities,
        error_quantiles=np.asarray(0.01 * norm.ppf(probabilities)),
        step_scale=np.sqrt(np.arange(1, MAX_HORIZON + 1)),
        last_value=last,
    )
    forecast.under_ceiling(100.0, pd.Series([97.0, 98.5, last], index=range(2023, 2026)))
    served = forecast.predict(10, (80, 99))
    for level in (80, 99):
        below = (served["mean"] - served[f"lo-{level}"]).to_numpy()
        assert np.all(np.diff(below) >= 0), (level, below)
    assert (served.drop(columns="year").to_numpy() <= 100.0).all()


def test_a_share_that_has_stood_at_100_has_bounds_that_reach_100() -> None:
    """A clearance rate at 100% every other year fell outside every 95% interval of its own,
    which ended at 99.98: the bounds eased towards 100 without reaching it. A share that has
    stood at its ceiling may stand there again; one that never has keeps its bounds below."""
    from scipy.stats import norm

    probabilities = grid_probabilities()

    def served(history: list[float]) -> pd.DataFrame:
        forecast = CalibratedForecast(
            model_name="naive",
            last_year=2025,
            point_path=np.full(MAX_HORIZON, history[-1]),
            error_scale="log",
            probabilities=probabilities,
            error_quantiles=np.asarray(0.01 * norm.ppf(probabilities)),
            step_scale=np.sqrt(np.arange(1, MAX_HORIZON + 1)),
            last_value=history[-1],
        )
        forecast.under_ceiling(100.0, pd.Series(history, index=range(2026 - len(history), 2026)))
        return forecast.predict(6, (50, 80, 95))

    stood = served([100.0, 99.0, 100.0, 99.5, 100.0, 99.5])
    assert (stood["hi-95"] == 100.0).all() and (stood["hi-80"] == 100.0).all()
    assert (stood["mean"] < 100.0).all()  # the projection still eases towards 100
    never = served([98.0, 99.0, 98.5, 99.2, 99.0, 99.5])
    assert (never["hi-95"] < 100.0).all() and (never["hi-95"] > never["hi-80"]).all()


def test_held_out_coverage_counts_a_figure_outside_the_served_bounds_as_a_miss() -> None:
    # errors of a factor of 3 either way, as wild as the reference corpus ever moved: the
    # served intervals are cut at the envelope of what it did (``_inside_envelope``), so a
    # figure beyond the cut bound is a miss though it lies within the uncut distribution.
    # The check must count what the served bounds (``from_backtest``, left out as it is) hold
    rng = np.random.default_rng(7)
    rows = [
        {"origin": origin, "step": step, "actual": 100.0 * np.exp(rng.normal(0.0, 1.1))}
        for origin in range(2000, 2012)
        for step in range(1, 5)
    ]
    backtest = pd.DataFrame(rows).assign(mean=100.0)
    history = _history(16)
    target = backtest["origin"] + backtest["step"]
    inside = []
    for row in backtest.itertuples():
        rest = backtest[(backtest["origin"] != row.origin) & (target != row.origin + row.step)]
        served = CalibratedForecast.from_backtest(
            "m", history.loc[: row.origin], np.full(4, 100.0), rest, max_horizon=4
        ).predict(row.step, [80])
        inside.append(served["lo-80"].iloc[-1] <= row.actual <= served["hi-80"].iloc[-1])
    _, pits = held_out_pits(history, backtest)
    assert np.mean((pits >= 0.1) & (pits <= 0.9)) != pytest.approx(np.mean(inside))
    assert held_out_coverage(history, backtest, [80]) == {80.0: pytest.approx(np.mean(inside))}


def test_the_calibrated_median_is_the_errors_own_weighed_against_the_t() -> None:
    # 40 independent errors a year ahead, 1% to 40% above the path: at the conformal plotting
    # positions k / 41 their median is 20.5%, weighed by the 20 errors beyond it
    # (20 / (20 + EMPIRICAL_HALF_TAIL)) against the t's median of 0
    errors = list(np.arange(1, 41) / 100.0)
    forecast = CalibratedForecast.from_backtest(
        "m", _history(), np.full(30, 100.0), _backtest({1: errors})
    )
    weight = 20.0 / (20.0 + calibration.EMPIRICAL_HALF_TAIL)
    median = 100.0 * np.exp(weight * 0.205)
    assert forecast.cdf(np.array([median]), np.array([1]))[0] == pytest.approx(0.5, abs=1e-9)


def _figures_backtest(history: pd.Series, first: int, last: int, steps: int) -> pd.DataFrame:
    """A backtest of a path that drifts up from each origin's figure, from every origin in
    ``first``..``last`` up to ``steps`` years ahead (fewer near the end of the history)."""
    values = history.to_dict()
    rows = [
        {
            "origin": origin,
            "step": step,
            "actual": values[origin + step],
            "mean": max(values[origin], 1.0) * (1.0 + 0.03 * step),
        }
        for origin in range(first, last + 1)
        for step in range(1, steps + 1)
        if origin + step in values
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("kind", ["positive", "small count", "a figure of 0"])
def test_each_figure_is_checked_against_its_own_held_out_calibration(kind: str) -> None:
    # the check calibrates every figure of a backtest at once; each must get what
    # ``from_backtest`` gives around its origin's path from the other origins' errors on other
    # years: origins near the end have shorter paths, a small count is calibrated on the
    # square-root scale, and a figure of 0 sends only the calibrations whose errors include
    # it off the log scale
    rng = np.random.default_rng(12)
    years = range(2000, 2016)
    if kind == "small count":
        values = rng.poisson(6.0, len(years)).astype(float)
    else:
        values = 100.0 * np.exp(np.cumsum(rng.normal(0.02, 0.1, len(years))))
        if kind == "a figure of 0":
            values[-2] = 0.0
    history = pd.Series(values, index=years)
    backtest = _figures_backtest(history, 2004, 2013, steps=4)
    target = backtest["origin"] + backtest["step"]
    expected, scales = [], set()
    for row in backtest.sort_values(["origin", "step"], kind="stable").itertuples():
        rest = backtest[(backtest["origin"] != row.origin) & (target != row.origin + row.step)]
        path = backtest.loc[backtest["origin"] == row.origin, "mean"].to_numpy()
        forecast = CalibratedForecast.from_backtest(
            "m", history.loc[: row.origin], path, rest, max_horizon=len(path)
        )
        scales.add(forecast.error_scale)
        expected.append(forecast.cdf(np.array([row.actual]), np.array([row.step]))[0])
    steps, pits = held_out_pits(history, backtest)
    wanted = {"positive": {"log"}, "small count": {"sqrt"}, "a figure of 0": {"log", "additive"}}
    assert scales == wanted[kind]
    assert pits == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert steps.tolist() == backtest.sort_values(["origin", "step"])["step"].tolist()


def test_held_out_pits_count_each_figure_at_its_own_step_past_a_missing_year() -> None:
    # an origin followed by a year with no figure has no figure a year ahead: its figures two
    # and three years ahead are counted there, not as one and two years ahead (a card's
    # "figures a year ahead" had counted 7 such figures of the bundled series too many)
    errors = {2000 + i: 0.05 * (-1) ** i for i in range(8)}
    backtest = _origins_backtest(errors, steps=3)
    backtest = backtest[~((backtest["origin"] == 2007) & (backtest["step"] == 1))]
    steps, _ = held_out_pits(_history(12), backtest)
    assert np.sum(steps == 1.0) == 7 and np.sum(steps == 3.0) == 8


def test_a_small_count_s_intervals_are_a_count_s_not_a_symmetric_t_s() -> None:
    """Counts at fixed rates of 0.2 to 1 a year (a small county's murders) forecast by their
    mean: the 95% intervals hold at least 95% of the next six years, and a year ahead they
    reach no higher on average than each count's own 99.5% quantile does. The parametric part
    of their calibration had been a t on the square-root scale, symmetric where the count is
    not (at 0.8 a year: 0 in 45% of years, 3 or more in 5%): its upper bounds averaged 3.8,
    a Poisson count at these rates reaching 2.9 once in 200 years; 2.7 now."""
    rng = np.random.default_rng(7)
    rates = np.geomspace(0.2, 1.0, 300)
    paths = [rng.poisson(rate, 17).astype(float) for rate in rates]
    held = _served_coverage(paths, 11, 4, lambda past: float(np.mean(past)), (95,), scale="sqrt")
    assert float(np.mean(held[95])) >= 0.95, float(np.mean(held[95]))
    uppers = []
    for values in paths:
        rows = [
            {"origin": origin, "step": step, "actual": values[origin + step - 1],
             "mean": float(np.mean(values[:origin]))}
            for origin in range(4, 11)
            for step in range(1, 7)
            if origin + step - 1 < 11
        ]  # fmt: skip
        history = pd.Series(values[:11], index=range(2000, 2011))
        point = np.full(30, float(np.mean(values[:11])))
        champion = CalibratedForecast.from_backtest("m", history, point, pd.DataFrame(rows))
        uppers.append(float(champion.predict(1, [95])["hi-95"].iloc[0]))
    reach = float(np.mean(poisson.ppf(0.995, rates)))
    assert float(np.mean(uppers)) < reach, (float(np.mean(uppers)), reach)


def test_a_small_count_whose_path_explodes_is_calibrated_without_summing_every_count() -> None:
    """A count of 2 to 90 growing by half every year is a small count (its recent level is
    under 100), and drift on its log projects it past 29 million in 30 years. Its intervals
    come from a count's distribution, which had been summed over every whole number up to
    its reach: 21 GB, and the training process was killed. Far out, a gamma of the same mean
    and variance stands in (``COUNT_ENUMERATED``); near, the bounds are a count's."""
    history = pd.Series([2, 3, 5, 8, 12, 18, 27, 40, 60, 90.0], index=range(2016, 2026))
    growth = np.log(90.0 / 2.0) / 9
    rows = [
        {"origin": origin, "step": step, "actual": float(history[origin + step]),
         "mean": float(history[origin] * np.exp(growth * step))}
        for origin in range(2019, 2025)
        for step in range(1, 7)
        if origin + step <= 2025
    ]  # fmt: skip
    path = 90.0 * np.exp(growth * np.arange(1, 31))
    assert path[-1] > 2e7
    champion = CalibratedForecast.from_backtest("log_drift", history, path, pd.DataFrame(rows))
    assert champion.error_scale == "sqrt"
    served = champion.predict(30, [80, 95])
    bounds = served[["lo-95", "lo-80", "hi-80", "hi-95"]].to_numpy()
    assert np.all(np.isfinite(bounds)) and np.all(np.diff(bounds, axis=1) >= 0)
    assert np.all(served["lo-95"] <= path[:30]) and np.all(path[:30] <= served["hi-95"])
