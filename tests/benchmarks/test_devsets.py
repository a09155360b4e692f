"""The development sets' truth: how often a forecaster that knew every year's rate covers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks import devsets


def _counts_at(rate: float, figures: np.ndarray, dispersion: float = np.inf) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": "a",
            "ds": np.arange(1, figures.size + 1),
            "y": figures,
            "true_mean": rate,
            "true_dispersion": dispersion,
        }
    )


def test_a_sparse_counts_true_intervals_cover_more_than_they_claim() -> None:
    # at 0.3 a year a count is 0 (74%) or 1 (22%): the 80% interval of the distribution it is
    # drawn from holds both, 96% of years, and its 95% interval no more
    figures = np.random.default_rng(0).poisson(0.3, size=20_000).astype(float)
    found = devsets.true_coverage(_counts_at(0.3, figures), (80, 95))
    assert found is not None
    assert abs(found[80] - 0.963) < 0.01
    assert abs(found[95] - 0.963) < 0.01


def test_a_large_counts_true_intervals_cover_as_claimed() -> None:
    rng = np.random.default_rng(1)
    poisson = devsets.true_coverage(_counts_at(5_000.0, rng.poisson(5_000.0, 20_000)), (80, 95))
    size, rate = 4.0, 200.0
    spread = rng.negative_binomial(size, size / (size + rate), 20_000).astype(float)
    negative_binomial = devsets.true_coverage(_counts_at(rate, spread, size), (80, 95))
    for found in (poisson, negative_binomial):
        assert found is not None
        assert abs(found[80] - 0.80) < 0.01
        assert abs(found[95] - 0.95) < 0.006


def test_only_sets_of_generated_counts_have_a_true_coverage() -> None:
    _, crime = devsets.synthetic_crime(n_series=20)  # rates with 5% noise among the counts
    _, counts = devsets.sparse_counts(n_series=20)
    assert devsets.true_coverage(crime, (80,)) is None
    assert devsets.true_coverage(counts[["unique_id", "ds", "y"]], (80,)) is None
    assert devsets.true_coverage(counts, (80,)) is not None


def test_a_cut_keeps_each_years_truth_with_its_figure() -> None:
    train, test = devsets.stable_counts(n_series=30)
    cut_train, cut_test = devsets.short_cuts(train, test, 3, seed=3)
    whole = pd.concat([train, test])
    drawn = set(zip(whole["unique_id"], whole["y"], whole["true_mean"], strict=True))
    for frame in (cut_train, cut_test):
        assert list(frame.columns) == ["unique_id", "ds", "y", *devsets.TRUTH_COLUMNS]
        # every cut year's figure sits beside the mean it was drawn with in the whole series
        cut = set(zip(frame["unique_id"], frame["y"], frame["true_mean"], strict=True))
        assert cut <= drawn
