"""The forecaster contract, checked for every catalog model and for the calibrated champion
that is actually served (``CalibratedForecast``, own-backtest and borrowed)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest

from models import calibration
from models.base import (
    NotFittedError,
    Predictor,
    SeriesTooShort,
    constructor_arguments,
    interval_columns,
    level_label,
)
from models.catalog import CATALOG, candidate_names, make_forecaster
from training.selection import fit_series

LEVELS = (80, 95)
#: Served champions beside the catalog models: one calibrated on its own backtest, one
#: borrowed (a series too short to backtest).
CHAMPIONS = ("champion", "borrowed champion")
PREDICTORS = (*CATALOG, *CHAMPIONS)


def _series() -> pd.Series:
    rng = np.random.default_rng(1)
    values = 50 * np.exp(np.cumsum(rng.normal(0.08, 0.15, 14)))
    return pd.Series(values, index=range(2008, 2022))


def _predictor(name: str) -> Predictor:
    """A fitted predictor by name, built afresh each call; every one's last year is 2021."""
    y = _series()
    if name == "champion":
        return fit_series(y, series_id="contract").champion
    if name == "borrowed champion":
        return fit_series(y.iloc[-3:], series_id="contract-short").champion
    return make_forecaster(name).fit(y)


@pytest.fixture(scope="module")
def growing_counts() -> pd.Series:
    return _series()


@pytest.fixture(scope="module")
def predictors() -> dict[str, Predictor]:
    return {name: _predictor(name) for name in PREDICTORS}


@pytest.fixture(scope="module")
def forecasts(predictors: dict[str, Predictor]) -> dict[str, pd.DataFrame]:
    return {name: predictor.predict(5, LEVELS) for name, predictor in predictors.items()}


def test_level_labels() -> None:
    assert level_label(80.0) == "80"
    assert level_label(97.5) == "97.5"
    assert interval_columns([80, 97.5]) == ["lo-80", "hi-80", "lo-97.5", "hi-97.5"]
    with pytest.raises(ValueError, match="between 0 and 100"):
        level_label(100)


@pytest.mark.parametrize("name", PREDICTORS)
def test_output_shape_and_years(name: str, forecasts: dict[str, pd.DataFrame]) -> None:
    frame = forecasts[name]
    assert list(frame.columns) == ["year", "mean", "lo-80", "hi-80", "lo-95", "hi-95"]
    assert frame["year"].tolist() == [2022, 2023, 2024, 2025, 2026]
    assert np.isfinite(frame.drop(columns="year").to_numpy()).all()


@pytest.mark.parametrize("name", PREDICTORS)
def test_bounds_ordered_nested_and_nonnegative(
    name: str, forecasts: dict[str, pd.DataFrame]
) -> None:
    f = forecasts[name]
    assert (f["lo-95"] <= f["lo-80"]).all() and (f["lo-80"] <= f["mean"]).all()
    assert (f["mean"] <= f["hi-80"]).all() and (f["hi-80"] <= f["hi-95"]).all()
    assert (f["hi-95"] > f["lo-95"]).any(), "intervals must have width"
    assert (f["lo-95"] >= 0).all()


@pytest.mark.parametrize("name", PREDICTORS)
def test_deterministic(name: str, forecasts: dict[str, pd.DataFrame]) -> None:
    again = _predictor(name).predict(5, LEVELS)
    pd.testing.assert_frame_equal(again, forecasts[name])


@pytest.mark.parametrize("name", PREDICTORS)
def test_horizon_one_is_the_first_year_of_any_longer_horizon(
    name: str, predictors: dict[str, Predictor], forecasts: dict[str, pd.DataFrame]
) -> None:
    one = predictors[name].predict(1, LEVELS)
    assert one["year"].tolist() == [2022]
    pd.testing.assert_frame_equal(one, forecasts[name].iloc[:1])


@pytest.mark.parametrize("name", PREDICTORS)
def test_unusual_levels_are_labelled_ordered_and_nested(
    name: str, predictors: dict[str, Predictor]
) -> None:
    frame = predictors[name].predict(3, [99.9, 0.5])
    assert list(frame.columns) == ["year", "mean", "lo-99.9", "hi-99.9", "lo-0.5", "hi-0.5"]
    assert np.isfinite(frame.drop(columns="year").to_numpy()).all()
    assert (frame["lo-99.9"] <= frame["lo-0.5"]).all() and (frame["lo-0.5"] <= frame["mean"]).all()
    assert (frame["mean"] <= frame["hi-0.5"]).all() and (frame["hi-0.5"] <= frame["hi-99.9"]).all()
    assert (frame["hi-99.9"] - frame["lo-99.9"] > frame["hi-0.5"] - frame["lo-0.5"]).all()


@pytest.mark.parametrize("name", PREDICTORS)
def test_a_pickled_predictor_predicts_the_same(
    name: str, predictors: dict[str, Predictor], forecasts: dict[str, pd.DataFrame]
) -> None:
    restored = pickle.loads(pickle.dumps(predictors[name]))
    pd.testing.assert_frame_equal(restored.predict(5, LEVELS), forecasts[name])


@pytest.mark.parametrize("name", PREDICTORS)
def test_bad_horizons_and_levels_are_clear_errors(
    name: str, predictors: dict[str, Predictor]
) -> None:
    too_far = (31,) if name in CHAMPIONS else ()  # served champions forecast at most 30 years
    for horizon in (0, -1, 2.5, True, *too_far):
        with pytest.raises(ValueError, match="horizon"):
            predictors[name].predict(horizon, LEVELS)  # type: ignore[arg-type]
    for level in (0, 100, float("nan")):
        with pytest.raises(ValueError, match="between 0 and 100"):
            predictors[name].predict(2, [level])


@pytest.mark.parametrize("name", list(CATALOG))
def test_refit_on_new_data_forgets_the_old(name: str, growing_counts: pd.Series) -> None:
    other = pd.Series(
        np.linspace(400.0, 200.0, 12) + np.tile([5.0, -5.0], 6), index=range(1990, 2002)
    )
    model = make_forecaster(name).fit(growing_counts).fit(other)
    fresh = make_forecaster(name).fit(other)
    pd.testing.assert_frame_equal(model.predict(4, LEVELS), fresh.predict(4, LEVELS))


@pytest.mark.parametrize("name", list(CATALOG))
def test_fit_changes_neither_its_input_nor_its_arguments(
    name: str, growing_counts: pd.Series
) -> None:
    model = make_forecaster(name)
    arguments = {key: copy.deepcopy(getattr(model, key)) for key in _arguments(model)}
    y = growing_counts.copy()
    model.fit(y)
    pd.testing.assert_series_equal(y, growing_counts)
    for key, before in arguments.items():
        after = getattr(model, key)
        assert _same(after, before), f"{name}.fit changed its argument {key!r}"


def _arguments(model: object) -> tuple[str, ...]:
    return constructor_arguments(type(model))


def _same(after: object, before: object) -> bool:
    """Equal values, and nested models still unfitted exactly where they were before."""
    if isinstance(after, list | tuple) and isinstance(before, list | tuple):
        return len(after) == len(before) and all(map(_same, after, before))
    if hasattr(before, "get_params"):
        return vars(after).keys() == vars(before).keys()
    if isinstance(before, np.ndarray):
        return bool(np.array_equal(after, before))  # type: ignore[arg-type]
    return bool(after == before)


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
def test_get_params_are_the_constructor_arguments(name: str) -> None:
    model = make_forecaster(name)
    params = model.get_params()
    top = {key for key in params if "__" not in key}
    assert top == set(_arguments(model))
    for key in top:
        value, argument = params[key], getattr(model, key)
        nested = argument if isinstance(argument, list) else [argument]
        if all(hasattr(member, "get_params") for member in nested):
            names = [member.name for member in nested]
            assert value == (names if isinstance(argument, list) else names[0])
        elif isinstance(argument, tuple) and argument and isinstance(argument[0], np.ndarray):
            assert value is argument
        else:
            assert value == argument


@pytest.mark.parametrize("name", list(CATALOG))
def test_gaps_are_refused(name: str) -> None:
    model = make_forecaster(name)
    gappy = pd.Series(np.linspace(1, 20, 12), index=[*range(2000, 2006), *range(2007, 2013)])
    with pytest.raises(ValueError, match="contiguous"):
        model.fit(gappy)


@pytest.mark.parametrize("name", PREDICTORS)
def test_a_projection_moves_no_further_than_real_yearly_series_did(name: str) -> None:
    """A new fraud type's cases 5, 40, 300, 2,000, 15,000 (x7.5 a year; 6 years for the
    models that need them): drift on the log scale projected 7.4e12 ten years on. Every
    point path, served or backtested, stays within the reference corpus' changes over as many
    years from the last figure (x5.0 a year ahead, x111 ten years ahead)."""
    values = 15_000 * 7.5 ** np.arange(-5.0, 1.0)
    y = pd.Series(values, index=range(2020, 2026))
    envelope = np.exp(calibration.reference_envelope()[:10])
    if name == "champion":
        predictor: Predictor = fit_series(y, series_id="new-fraud").champion
    elif name == "borrowed champion":
        predictor = fit_series(y.iloc[-3:], series_id="new-fraud-short").champion
    else:
        model = make_forecaster(name)
        if model.min_length > len(y):
            pytest.skip(f"{name} needs {model.min_length} years")
        predictor = model.fit(y)
        mean, _ = make_forecaster(name).rolling_forecasts(y, [len(y)], 10)
        assert (mean[0] <= 15_000 * envelope[:, 1] * (1 + 1e-9)).all()
    path = predictor.predict(10, LEVELS)["mean"].to_numpy()
    assert (path <= 15_000 * envelope[:, 1] * (1 + 1e-9)).all(), path
    assert (path >= 15_000 * envelope[:, 0] * (1 - 1e-9)).all(), path


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
