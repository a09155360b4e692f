"""The forecaster contract, checked for every catalog model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.base import (
    NotFittedError,
    SeriesTooShort,
    interval_columns,
    level_label,
)
from models.catalog import CATALOG, candidate_names, make_forecaster

LEVELS = (80, 95)


@pytest.fixture(scope="module")
def growing_counts() -> pd.Series:
    rng = np.random.default_rng(1)
    values = 50 * np.exp(np.cumsum(rng.normal(0.08, 0.15, 14)))
    return pd.Series(values, index=range(2008, 2022))


@pytest.fixture(scope="module")
def forecasts(growing_counts: pd.Series) -> dict[str, pd.DataFrame]:
    return {name: make_forecaster(name).fit(growing_counts).predict(5, LEVELS) for name in CATALOG}


def test_level_labels() -> None:
    assert level_label(80.0) == "80"
    assert level_label(97.5) == "97.5"
    assert interval_columns([80, 97.5]) == ["lo-80", "hi-80", "lo-97.5", "hi-97.5"]
    with pytest.raises(ValueError, match="between 0 and 100"):
        level_label(100)


@pytest.mark.parametrize("name", list(CATALOG))
def test_output_shape_and_years(name: str, forecasts: dict[str, pd.DataFrame]) -> None:
    frame = forecasts[name]
    assert list(frame.columns) == ["year", "mean", "lo-80", "hi-80", "lo-95", "hi-95"]
    assert frame["year"].tolist() == [2022, 2023, 2024, 2025, 2026]
    assert np.isfinite(frame.drop(columns="year").to_numpy()).all()


@pytest.mark.parametrize("name", list(CATALOG))
def test_bounds_ordered_nested_and_nonnegative(
    name: str, forecasts: dict[str, pd.DataFrame]
) -> None:
    f = forecasts[name]
    assert (f["lo-95"] <= f["lo-80"]).all() and (f["lo-80"] <= f["mean"]).all()
    assert (f["mean"] <= f["hi-80"]).all() and (f["hi-80"] <= f["hi-95"]).all()
    assert (f["hi-95"] > f["lo-95"]).any(), "intervals must have width"
    assert (f["lo-95"] >= 0).all()


@pytest.mark.parametrize("name", list(CATALOG))
def test_deterministic(name: str, growing_counts: pd.Series, forecasts) -> None:
    again = make_forecaster(name).fit(growing_counts).predict(5, LEVELS)
    pd.testing.assert_frame_equal(again, forecasts[name])


@pytest.mark.parametrize("name", list(CATALOG))
def test_predict_before_fit_is_a_clear_error(name: str) -> None:
    with pytest.raises(NotFittedError, match="fit"):
        make_forecaster(name).predict(3)


@pytest.mark.parametrize("name", list(CATALOG))
def test_too_short_series_is_a_clear_error(name: str) -> None:
    model = make_forecaster(name)
    short = pd.Series(np.arange(1.0, model.min_length), index=range(2000, 1999 + model.min_length))
    with pytest.raises(SeriesTooShort, match=r"at least|empty|no member"):
        model.fit(short)
    assert name in candidate_names(model.min_length)
    assert name not in candidate_names(model.min_length - 1)


@pytest.mark.parametrize("name", list(CATALOG))
def test_fits_at_its_minimum_length(name: str) -> None:
    model = make_forecaster(name)
    y = pd.Series(
        10.0 + np.arange(model.min_length) * 2.0, index=range(2000, 2000 + model.min_length)
    )
    frame = model.fit(y).predict(2, [90])
    assert np.isfinite(frame["mean"]).all()


@pytest.mark.parametrize("name", list(CATALOG))
def test_get_params_and_gap_rejection(name: str) -> None:
    model = make_forecaster(name)
    assert isinstance(model.get_params(), dict)
    gappy = pd.Series(np.linspace(1, 20, 12), index=[*range(2000, 2006), *range(2007, 2013)])
    with pytest.raises(ValueError, match="contiguous"):
        model.fit(gappy)


@pytest.mark.parametrize("name", list(CATALOG))
def test_rolling_forecasts_equal_a_refit_at_each_origin(name: str, growing_counts) -> None:
    model = make_forecaster(name)
    ends = [model.min_length + 3, len(growing_counts) - 1]
    mean, bounds = model.rolling_forecasts(growing_counts, ends, 4, LEVELS)
    for row, end in enumerate(ends):
        refit = make_forecaster(name).fit(growing_counts.iloc[:end]).predict(4, LEVELS)
        np.testing.assert_allclose(mean[row], refit["mean"], rtol=1e-9)
        np.testing.assert_allclose(bounds[95.0][0][row], refit["lo-95"], rtol=1e-9)
        np.testing.assert_allclose(bounds[80.0][1][row], refit["hi-80"], rtol=1e-9)


def test_log_models_refuse_series_with_zeros() -> None:
    y = pd.Series([0.0, 3, 4, 6, 7, 9, 12, 13], index=range(2000, 2008))
    with pytest.raises(ValueError, match="strictly positive"):
        make_forecaster("log_drift").fit(y)


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="naive"):
        make_forecaster("prophet")
