"""Pooled evidence: a population's backtests decide, a series departs only as far as its own
evidence supports."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from models.catalog import CATALOG
from training.evidence import DEFAULT, PopulationEvidence, SeriesScores
from training.population import fit_many, fit_one, population_evidence
from training.scenario import refit_champion
from training.selection import SeriesFit, fit_series


def _scores(series_id: str, origins: int, errors: dict[str, float], seed: int) -> SeriesScores:
    """Backtest errors of a series: each model's scaled error at every origin and step, with
    noise."""
    rng = np.random.default_rng(seed)
    return SeriesScores(
        series_id,
        {
            name: level * (1.0 + 0.3 * rng.standard_normal((origins, 6)))
            for name, level in errors.items()
        },
    )


def _random_walks(
    count: int, length: int = 14, seed: int = 0
) -> list[tuple[str, pd.Series, tuple]]:
    """Series where nothing beats the last value: level shifts with no trend to follow."""
    rng = np.random.default_rng(seed)
    items = []
    for index in range(count):
        values = 1000.0 + np.cumsum(rng.normal(0.0, 40.0, length))
        items.append((f"rw{index}", pd.Series(values, index=range(2000, 2000 + length)), ()))
    return items


def test_a_population_that_favours_naive_gives_naive_to_a_series_with_weak_evidence() -> None:
    population = [
        _scores(f"s{i}", 10, {"naive": 1.0, "drift": 1.4, DEFAULT: 1.3}, seed=i) for i in range(60)
    ]
    evidence = PopulationEvidence.pool(population)
    assert evidence.choice == "naive"
    # a series whose two origins say drift is far better: too little to leave the population
    weak = _scores("weak", 2, {"naive": 1.0, "drift": 0.5, DEFAULT: 1.0}, seed=99)
    decision = evidence.decide(weak, ["naive", "drift", DEFAULT])
    assert decision is not None and decision.chosen == "naive"
    assert decision.weights["drift"] < 0.5


def _naive_population(k: float) -> PopulationEvidence:
    """60 series whose backtests favour naive over drift, with credibility ``k``."""
    return PopulationEvidence(
        PopulationEvidence.pool(
            [_scores(f"s{i}", 10, {"naive": 1.0, "drift": 1.2}, seed=i) for i in range(60)]
        ).models,
        series=60,
        k=k,
        choice="naive",
    )


def test_strong_own_evidence_departs_from_the_population_choice() -> None:
    evidence = _naive_population(k=20.0)
    strong = _scores("strong", 40, {"naive": 3.0, "drift": 0.5}, seed=7)
    decision = evidence.decide(strong, ["naive", "drift"])
    assert decision is not None and decision.chosen == "drift"
    weak = _scores("weak", 1, {"naive": 3.0, "drift": 0.5}, seed=7)
    weak_decision = evidence.decide(weak, ["naive", "drift"])
    assert weak_decision is not None and weak_decision.chosen == "naive"


def test_series_that_differ_only_by_noise_keep_to_the_population_choice() -> None:
    """Smoothing beats the default by 10% on every one of 60 series alike: which model a
    series' own backtests favour is noise, so none departs from the population's choice. The
    test in time that sets k had tried departures from the earlier years' choice instead, the
    default (too few early errors to leave it), where a series choosing between it and
    smoothing on its own noise gained: k came out 20, and a series whose backtests favoured
    naive by a fifth left smoothing for it."""
    levels = {"naive": 1.0, DEFAULT: 1.0, "ses": 0.9}
    population = [_scores(f"s{i}", 10, levels, seed=i) for i in range(60)]
    for series in population:  # twice the noise ``_scores`` draws
        for name, errors in series.errors.items():
            errors += errors - levels[name]
    evidence = PopulationEvidence.pool(population)
    assert evidence.choice == "ses"
    candidates = list(levels)
    decisions = [evidence.decide(series, candidates) for series in population]
    assert all(decision is not None and decision.chosen == "ses" for decision in decisions)
    lucky = _scores("lucky", 10, {"naive": 0.75, DEFAULT: 1.0, "ses": 1.0}, seed=99)
    decision = evidence.decide(lucky, candidates)
    assert decision is not None and decision.chosen == "ses"


def _tied_with_the_default() -> list[SeriesScores]:
    """40 series on which drift looks a little better than the default, but which of the two
    does better differs from series to series far more than that: not a clear win."""
    rng = np.random.default_rng(0)
    tied = []
    for i in range(40):
        drift, default = 0.76 * np.exp(rng.normal(0, 0.4)), 0.80 * np.exp(rng.normal(0, 0.4))
        tied.append(_scores(f"s{i}", 10, {"naive": 1.0, DEFAULT: default, "drift": drift}, i))
    return tied


def test_the_default_holds_unless_the_population_clearly_beats_it() -> None:
    evidence = PopulationEvidence.pool(_tied_with_the_default())
    assert evidence.ranking()[0].name != DEFAULT  # the pooled means alone would leave it
    assert evidence.choice == DEFAULT
    beaten = [
        _scores(f"s{i}", 10, {"naive": 1.0, DEFAULT: 1.5, "drift": 0.6}, seed=i) for i in range(40)
    ]
    assert PopulationEvidence.pool(beaten).choice != DEFAULT


def test_random_walks_are_forecast_flat_from_pooled_evidence() -> None:
    """On a population of driftless random walks, backtests pooled over all of them favour
    carrying the last value (alone or in the pooled mean), not extrapolating noise."""
    items = _random_walks(120)
    candidates = ["naive", "drift", "theta", "damped", "dotm", "comb"]
    evidence = population_evidence(items, candidates=candidates)
    assert "naive" in evidence.choice.split("+")
    fits = list(fit_many(items, candidates=candidates, evidence=evidence))
    chosen = [fit.selected for fit in fits]
    assert sum(choice == evidence.choice for choice in chosen) >= 0.8 * len(chosen)
    assert "pooled backtests of" in fits[0].reason
    # the card's table lists the 6 candidates; combinations of them are counted apart
    combined = [name for name in evidence.models if name not in CATALOG]
    options = f"among {len(candidates)} candidates"
    if combined:
        assert f"{options} and {len(combined)} mean combination" in fits[0].reason
    else:
        assert f"{options}, " in fits[0].reason


def test_counts_around_a_stable_rate_are_forecast_by_smoothing_from_pooled_evidence() -> None:
    """Counts of 3 to 60 a year around rates that do not move (a county's murders): the last
    figure carries a year's noise forward and a trend model follows it, so the population's
    backtests favour simple exponential smoothing, the local level model's forecast, among
    the default candidates; on the synthetic stable counts of ``benchmarks.devsets`` it had
    been dynamic Theta for every series (MASE 0.990 against SES's 0.975). Fourteen years give
    the test in time (``_pays_out_of_time``) enough early origins to leave the default on,
    and 160 series enough of them: with backtests scored at the count's served median, 80
    such series passed it or kept the default by chance (seeds 5-7: 1 in 3 kept it; 160
    series, seeds 5-11: none did)."""
    rng = np.random.default_rng(5)
    items = [
        (
            f"county{index}",
            pd.Series(rng.poisson(rate, 14).astype(float), index=range(2000, 2014)),
            (),
        )
        for index, rate in enumerate(np.geomspace(3, 60, 160))
    ]
    evidence = population_evidence(items, jobs=2)
    assert "ses" in evidence.choice.split("+")


def test_a_series_that_naive_forecast_exactly_adds_no_ratio_to_naive() -> None:
    """A count of 11 years at 0 throughout its backtest: naive is exact at every origin and
    step, so no other forecast has a ratio to it. With RATIO_FLOOR standing in for naive's error, a
    forecast of 0.3 there had counted as 4 times worse than naive, and outweighed the series
    where naive missed."""
    zeros = SeriesScores("zeros", {"naive": np.zeros((6, 6)), "ses": np.full((6, 6), 0.3)}, 11)
    assert np.isnan(zeros.relative("ses"))
    missed = [
        SeriesScores(f"m{i}", {"naive": np.full((6, 6), 1.0), "ses": np.full((6, 6), 0.7)}, 11)
        for i in range(7)
    ]
    evidence = PopulationEvidence.pool([zeros, zeros, zeros, *missed])
    assert evidence.models["ses"].series == 7
    assert evidence.models["ses"].mean == pytest.approx(np.log(0.8 / 1.1))
    # a short series keeps its ratio: its borrowed intervals are built around the last figure
    short = SeriesScores("new", {"naive": np.zeros((2, 2)), "ses": np.full((2, 2), 0.3)}, 5)
    assert short.relative("ses") == pytest.approx(np.log(0.4 / 0.1))


def test_counts_mostly_at_zero_are_not_given_naive_by_their_runs_of_zeros() -> None:
    """Counts at 0.05 to 1 a year around slowly moving rates (a small county's murders, most
    years 0), 11 years each. Naive is exact wherever a count stood at 0 through its backtest;
    counted at RATIO_FLOOR, those series had ranked naive first and the population took it.
    Without them, a forecast that tracks the rate beats naive."""
    rng = np.random.default_rng(1)
    items = []
    for index in range(200):
        log_rate = rng.uniform(np.log(0.05), 0.0) + np.cumsum(rng.normal(0.0, 0.06, 11))
        counts = rng.poisson(np.exp(log_rate)).astype(float)
        items.append((f"county{index}", pd.Series(counts, index=range(2000, 2011)), ()))
    evidence = population_evidence(items, jobs=2)
    assert evidence.choice != "naive"
    assert evidence.ranking()[0].mean < evidence.models["naive"].mean


def test_without_a_population_the_lowest_backtest_error_decides() -> None:
    y = pd.Series(5.0 + 3.0 * np.arange(15), index=range(2000, 2015))
    fit = fit_series(y, series_id="line", candidates=["naive", "drift"])
    assert fit.selected == "drift" and "lowest backtest MASE" in fit.reason


def test_four_year_series_can_be_given_a_trend_by_their_population() -> None:
    """Series of 4 years give drift two backtest origins each: too few to choose for one
    series, enough when the population's pooled backtests choose for all of them."""
    rng = np.random.default_rng(3)
    items = []
    for index in range(60):
        level = rng.uniform(100.0, 10_000.0)
        values = level * np.exp(0.15 * np.arange(4) + rng.normal(0.0, 0.01, 4))
        items.append((f"new{index}", pd.Series(values, index=range(2022, 2026)), ()))
    evidence = population_evidence(items)
    assert evidence.short is not None
    assert {"drift", "log_drift"} <= set(evidence.short.models)  # compared, not skipped
    assert any(member in {"drift", "log_drift"} for member in evidence.short.choice.split("+"))
    fits = list(fit_many(items, evidence=evidence))
    for fit in fits[:5]:
        path = fit.champion.predict(3, (80,))["mean"].to_numpy()
        assert np.all(np.diff(path) > 0), fit.reason  # the growth carries on


def _covered(fits: list, following: list) -> float:
    """Share of the figures of the year after each series' last (one, or many drawn from the
    same process) inside its 80% interval, each series weighing alike."""
    inside = []
    for fit, figures in zip(fits, following, strict=True):
        frame = fit.champion.predict(1, (80,))
        figures = np.atleast_1d(figures)
        inside.append(np.mean((frame["lo-80"][0] <= figures) & (figures <= frame["hi-80"][0])))
    return float(np.mean(inside))


def test_short_series_moving_more_than_their_analogs_get_wider_borrowed_intervals() -> None:
    """A population of new series far more volatile than the reference corpus: its pooled
    backtests show the borrowed intervals missing too often, and they are widened, the card
    saying why; the next year's figures fall inside about as often as claimed."""
    rng = np.random.default_rng(5)
    items, following = [], []
    for index in range(150):
        changes = rng.normal(0.0, 0.6, 4)
        values = 1000.0 * np.exp(np.cumsum(changes))
        items.append((f"new{index}", pd.Series(values[:4], index=range(2022, 2026)), ()))
        following.append(values[-1] * np.exp(rng.normal(0.0, 0.6)))
    evidence = population_evidence(items)
    assert evidence.short is not None and evidence.short.calibration is not None
    assert evidence.short.calibration.widens
    plain = list(fit_many(items, evidence=PopulationEvidence()))
    pooled = list(fit_many(items, evidence=evidence))

    assert _covered(plain, following) < 0.6
    assert _covered(pooled, following) == pytest.approx(0.8, abs=0.08)
    widened = (
        r"widened because in the pooled backtests of \d+ short series [\d.]+% of [\d,]+ figures a "
        r"year ahead fell inside such 80% intervals and [\d.]+% inside 95% ones, (short of the "
        r"(80% and 95%|80%|95%) claimed|their tails further out than such intervals allow)"
    )
    assert re.search(widened, pooled[0].reason), pooled[0].reason
    assert "widened" not in plain[0].reason


def test_figures_without_a_pit_are_left_out_of_the_pooled_calibration() -> None:
    from training.evidence import pooled_calibration

    rng = np.random.default_rng(0)
    pits = np.vstack([np.ones(400), rng.uniform(0.0, 1.0, 400)])
    pits[1, :10] = np.nan
    scores = [SeriesScores("a", {}, 3, {"naive": pits})]
    pooled = pooled_calibration(scores, "naive")
    assert pooled is not None and pooled.figures == 390
    assert pooled.recalibration is None or np.isfinite(pooled.recalibration).all()


#: Figures of the year after a spiky series' last drawn from its process. With one a series,
#: 200 series' widened 80% intervals held 74% of them, those of the code before 76%, by the
#: luck of the draw (a binomial standard error of 2.8 points); of 100 a series, 78% both.
NEXT_YEAR_DRAWS = 100


def _spiky(count: int, length: int, seed: int) -> tuple[list[tuple[str, pd.Series, tuple]], list]:
    """Quiet series with one-year spikes (a burst of incidents that is over the next year),
    and ``NEXT_YEAR_DRAWS`` figures of the year after their last, drawn from the same process:
    spikes make errors that do not grow with the step ahead, which a calibration leaning on
    growing errors under-covers a year ahead."""
    rng = np.random.default_rng(seed)
    items, following = [], []
    for index in range(count):
        noise = rng.normal(0.0, 0.05, length)
        spiked = rng.uniform(size=length) < 0.2
        sign = rng.choice([-1.0, 1.0])  # a series' spikes go one way
        values = 500.0 * np.exp(noise + 0.9 * np.where(spiked, sign, 0.0))
        years = range(2010, 2010 + length)
        items.append((f"spiky{index}", pd.Series(values, index=years), ()))
        later = np.random.default_rng([seed, index])
        spikes = np.where(later.uniform(size=NEXT_YEAR_DRAWS) < 0.2, sign, 0.0)
        following.append(500.0 * np.exp(later.normal(0.0, 0.05, NEXT_YEAR_DRAWS) + 0.9 * spikes))
    return items, following


def test_longer_series_missing_more_than_claimed_in_pooled_backtests_get_wider_intervals() -> None:
    """Backtested series whose calibrated intervals miss the next year's figure more often
    than claimed, across their population: the pooled PITs widen every such series'
    intervals, the card saying why, and the next figures fall inside about as often as
    claimed. A population whose intervals hold is left as it is."""
    items, following = _spiky(200, 16, seed=4)
    candidates = ["naive", "ses"]
    evidence = population_evidence(items, candidates=candidates)
    assert evidence.calibration is not None and evidence.calibration.widens
    plain = list(fit_many(items, candidates=candidates, evidence=PopulationEvidence()))
    pooled = list(fit_many(items, candidates=candidates, evidence=evidence))

    # averaged with borrowed intervals (``blended_forecast``), these series' own ones already
    # come nearer: they held 73-76% unwidened, 76-80% widened, over seeds 4-7
    assert _covered(plain, following) < 0.77
    assert _covered(pooled, following) == pytest.approx(0.8, abs=0.05)
    assert _covered(pooled, following) > _covered(plain, following) + 0.01
    widened = (
        r"widened because in the pooled backtests of \d+ series [\d.]+% of [\d,]+ figures a "
        r"year ahead fell inside such 80% intervals and [\d.]+% inside 95% ones, (short of the "
        r"(80% and 95%|80%|95%) claimed|their tails further out than such intervals allow)"
    )
    assert re.search(widened, pooled[0].reason), pooled[0].reason
    assert "widened" not in plain[0].reason
    steady = population_evidence(_random_walks(60), candidates=candidates)
    assert steady.calibration is not None and not steady.calibration.widens


def test_a_new_series_whose_own_backtests_disagree_with_the_pooled_choice_says_so() -> None:
    """120, 480, 1,900, 7,600 got naive's flat path, "the choice of the pooled backtests of 5
    short series (1.00 x naive's error there)": naive measured against itself, and nothing on
    the card said its own backtests had favoured growth (log_drift 0.11 against 10.04)."""
    rng = np.random.default_rng(7)
    items = [
        (f"new{index}", pd.Series(1000.0 * np.exp(np.cumsum(rng.normal(0, 0.2, 4))),
                                  index=range(2022, 2026)), ())
        for index in range(40)
    ]  # fmt: skip
    items.append(("qr", pd.Series([120.0, 480.0, 1900.0, 7600.0], index=range(2022, 2026)), ()))
    evidence = population_evidence(items)
    assert evidence.short is not None and evidence.short.choice == "naive"
    [qr] = list(fit_many(items[-1:], evidence=evidence))
    assert qr.selected == "naive"
    assert "its point path carries the last figure forward (naive): no other path clearly beat " \
        "that in the pooled backtests of 41 short series" in qr.reason  # fmt: skip
    assert "x naive's error" not in qr.reason
    # (log_drift's backtests held within the corpus' changes: x4 a year is x16 in two years,
    # beyond its x8.2, so MASE 3.40 rather than 0.11; still far below naive's)
    assert re.search(r"its own 3 backtest forecasts favoured \w+ \(MASE \d\.\d\d against "
                     r"\d+\.\d\d\), too few to choose a path by", qr.reason), qr.reason  # fmt: skip


def test_a_series_whose_own_backtests_favour_another_model_says_why_it_was_not_taken() -> None:
    """China telecom's card read "0.81 x naive's" beside a table where naive's own backtest
    MASE was half the champion's, and said nothing of it."""
    evidence = _naive_population(k=500.0)  # the series' own origins weigh next to nothing
    trend = pd.Series(1000.0 + 50.0 * np.arange(16), index=range(2008, 2024))
    trend += np.random.default_rng(3).normal(0.0, 5.0, 16)
    fit = fit_series(trend, series_id="trend", candidates=["naive", "drift"], evidence=evidence)
    assert fit.selected == "naive"
    assert re.search(
        r"its own \d+ backtest forecasts favoured drift \(MASE 0\.\d\d against \d+\.\d\d\), "
        r"not enough to outweigh the pooled evidence at that weight",
        fit.reason,
    ), fit.reason


def test_a_series_that_departs_from_the_population_choice_says_so_on_its_card() -> None:
    """A steady trend against a population that favours naive: its own 10 origins carry it to
    drift, and the card's reason had named only the blend, never the choice it left."""
    evidence = _naive_population(k=2.0)
    trend = pd.Series(1000.0 + 50.0 * np.arange(16), index=range(2008, 2024))
    trend += np.random.default_rng(3).normal(0.0, 5.0, 16)
    fit = fit_series(trend, series_id="trend", candidates=["naive", "drift"], evidence=evidence)
    assert fit.selected == "drift"
    assert "that weight took it from the population's choice, naive (" in fit.reason, fit.reason
    stays = fit_series(trend, series_id="trend", candidates=["naive", "drift"])
    assert "population's choice" not in stays.reason  # no population: nothing to depart from


def test_the_widening_reason_names_only_the_levels_that_fell_short() -> None:
    """The bundled cybercrime card read "80.1% … inside such 80% intervals …, short of the 80%
    and 95% claimed": 80.1% is not short of 80%."""
    from training.evidence import PooledCalibration
    from training.selection import _short

    def said(inside_80: float, inside_95: float) -> str:
        return _short(PooledCalibration(1056, inside_80, inside_95, None))

    assert said(0.801, 0.924) == ", short of the 95% claimed"
    assert said(0.70, 0.90) == ", short of the 80% and 95% claimed"
    assert said(0.78, 0.96) == ", short of the 80% claimed"
    assert said(0.81, 0.96) == ", their tails further out than such intervals allow"


def test_a_choice_whose_path_falls_to_zero_is_passed_over_for_a_positive_series() -> None:
    """A count falling 1,000 … 30, 15, 6 was projected at 0 for every year by the
    population's straight-line choice, which had run past the series' floor."""
    population = [
        _scores(f"s{i}", 10, {"naive": 1.0, "drift": 0.7, "log_drift": 0.9}, seed=i)
        for i in range(60)
    ]
    evidence = PopulationEvidence(
        PopulationEvidence.pool(population).models, series=60, k=500.0, choice="drift"
    )
    falling = pd.Series([1000, 700, 450, 300, 180, 110, 60, 30, 15, 6.0], index=range(2016, 2026))
    candidates = ["naive", "drift", "log_drift"]
    fit = fit_series(falling, series_id="falling", candidates=candidates, evidence=evidence)

    assert fit.selected == "log_drift"
    assert fit.reason.startswith(
        "log_drift, next by the pooled evidence: drift, the first choice, was passed over: its "
        "path reaches 0 by 2026 for a series that has never been 0"
    ), fit.reason
    assert (fit.champion.point_path > 0).all()
    # served as a count: the median of a Poisson count at a rate above 0 is 0 only where the
    # rate is below log 2 (0.35 a year after halving to 6), not where a line ran past its floor
    served = fit.champion.predict(6, (80,))["mean"].to_numpy()
    assert served.tolist() == [3.0, 2.0, 1.0, 0.0, 0.0, 0.0]
    assert ((served > 0) == (fit.champion.point_path[:6] >= np.log(2.0))).all()
    # a series that has been 0 keeps the population's choice
    zero = falling.copy()
    zero.iloc[3] = 0.0
    assert fit_series(zero, series_id="z", candidates=candidates, evidence=evidence).selected == (
        "drift"
    )


def test_one_more_series_takes_only_a_few_reference_series_out_of_a_small_population(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A small population is topped up with reference series, fewer the larger it is: one more
    series of its own takes a few of them out, never all of them at once (29 series had been
    topped up with 100 and 30 with none, and a series' projection moved by half)."""
    from training import population

    backtested: list[str] = []

    def recorded(item: tuple, **_: object) -> tuple[None, None]:
        backtested.append(item[0])
        return None, None

    monkeypatch.setattr(population, "_score_item", recorded)

    def references(count: int) -> set[str]:
        backtested.clear()
        population_evidence(_random_walks(count))
        return {name for name in backtested if name.startswith("reference:")}

    alone = references(1)
    sizes = {count: references(count) for count in (11, 28, 29, 30, 31)}
    assert len(alone) == 100
    for smaller, larger in [(11, 28), (28, 29), (29, 30), (30, 31)]:
        assert sizes[larger] <= sizes[smaller] <= alone
        assert len(sizes[smaller]) - len(sizes[larger]) <= 6 * (larger - smaller)
    assert 0 < len(sizes[29]) <= 6 and not sizes[30]


def test_a_kept_default_says_which_better_looking_model_it_is_counted_as() -> None:
    """The card read "0.75 x naive's: the pooled backtests (0.77 x naive's there) ... own
    origins get 0% of the weight": figures that do not add up without the rule that the kept
    default counts as the best. Then "lowest expected error among 10 candidates ..., 0.75 x
    naive's" of comb, beside "ridge at 0.75 x" lower than comb's own 0.77 x."""
    evidence = PopulationEvidence.pool(_tied_with_the_default())
    best = evidence.ranking()[0]
    assert evidence.choice == DEFAULT and best.name != DEFAULT
    items = [("line", pd.Series(5.0 + 3.0 * np.arange(15), index=range(2000, 2015)), ())]
    [fit] = fit_many(items, candidates=["naive", "drift", DEFAULT], evidence=evidence)
    assert fit.selected == DEFAULT, fit.reason
    kept = evidence.models[DEFAULT]
    assert fit.reason.startswith("the population's default among 3 candidates"), fit.reason
    assert "lowest expected error" not in fit.reason
    assert (
        f"its errors were {np.exp(kept.mean):.2f} x naive's; {best.name}'s were the lowest "
        f"there, {np.exp(best.mean):.2f} x, but not clearly lower, so the population kept "
        f"{DEFAULT}, and no single series leaves it on its own backtests"
    ) in fit.reason
    assert "rolling origins get 0% of the weight" in fit.reason  # and the reason is said first


def _bursts_that_pass(count: int) -> list[tuple[str, pd.Series, tuple[()]]]:
    """``count`` series of 15 years around a level of 50 to 500 that fall back halfway to it
    a year after any burst (incidents after an outbreak)."""
    rng = np.random.default_rng(3)
    items = []
    for index in range(count):
        level = rng.uniform(50, 500)
        values = [level]
        for _ in range(14):
            values.append(level + 0.5 * (values[-1] - level) + rng.normal(0, 0.1 * level))
        items.append((f"s{index}", pd.Series(values, index=range(2010, 2025)), ()))
    return items


def test_a_population_of_thirty_series_teaches_the_global_model_its_own_dynamics() -> None:
    """Forty series whose bursts pass: the global autoregression learns from their windows,
    as Montero-Manso & Hyndman fit it on the group forecast, and forecasts a burst falling back
    towards the series' level, where the reference corpus' trending series carry it on. A
    what-if refit of the champion learns from the same windows; 29 series leave the model to
    the corpus, as they are topped up from it."""
    items = _bursts_that_pass(40)
    candidates = ["global_ar", "naive"]
    evidence = population_evidence(items, candidates=candidates)
    assert evidence.windows is not None
    burst = items[0][1].copy()
    burst.iloc[-1] = 2 * burst.iloc[:-1].mean()
    learned = fit_one("burst", burst, (), (80, 95), 0, ["global_ar"], evidence)
    from_corpus = fit_one("burst", burst, (), (80, 95), 0, ["global_ar"], None)
    assert isinstance(learned, SeriesFit) and isinstance(from_corpus, SeriesFit)
    assert learned.champion.point_path[0] < 0.9 * burst.iloc[-1]
    assert from_corpus.champion.point_path[0] > burst.iloc[-1]
    what_if = refit_champion(learned.champion, burst)
    np.testing.assert_allclose(what_if.point_path, learned.champion.point_path)

    assert population_evidence(items[:29], candidates=candidates).windows is None
