"""The one catalog of models: the backtest, selection, the API and the tests all iterate it.

Adding a model is one entry: a name, a factory returning a fresh unfitted forecaster, and a line
saying what it is for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from models.analogs import ReferenceClass
from models.arima import AutoArima
from models.base import Forecaster
from models.combination import Combination
from models.dynamic_theta import DynamicTheta
from models.global_ar import GlobalAR
from models.regression import RidgeGrowth
from models.simple import Naive, RandomWalkDrift
from models.smoothing import ExponentialSmoothing, Theta
from models.transformed import LogScale


@dataclass(frozen=True)
class CatalogEntry:
    """A named model: how to build it fresh and what it is for."""

    name: str
    factory: Callable[[], Forecaster]
    description: str

    @property
    def min_length(self) -> int:
        """Fewest years the model needs."""
        return self.factory().min_length


def _ses() -> Forecaster:
    return ExponentialSmoothing(trend=False)


def _holt() -> Forecaster:
    return ExponentialSmoothing(trend=True)


def _damped() -> Forecaster:
    return ExponentialSmoothing(trend=True, damped=True)


def _named(forecaster: Forecaster, name: str) -> Forecaster:
    forecaster.name = name
    return forecaster


def _comb_sth() -> Forecaster:
    """SES, damped trend and Theta averaged: three diverse smoothers, robust on short series."""
    return Combination([_ses(), _damped(), Theta()], how="mean", name="comb_sth")


def _comb() -> Forecaster:
    """Median of drift, dynamic Theta and damped trend: the trend carried in full, in the share
    the data support, and fading."""
    return Combination(
        [RandomWalkDrift(), DynamicTheta(), _named(_damped(), "damped")], name="comb"
    )


_ENTRIES = (
    CatalogEntry(
        "naive", Naive, "no change: the last value carried forward (a new small count's rate)"
    ),
    CatalogEntry("drift", RandomWalkDrift, "random walk with drift"),
    CatalogEntry("log_drift", lambda: LogScale(RandomWalkDrift()), "constant growth rate"),
    CatalogEntry("ses", lambda: _named(_ses(), "ses"), "simple exponential smoothing"),
    CatalogEntry("holt", lambda: _named(_holt(), "holt"), "ETS with additive trend"),
    CatalogEntry("damped", lambda: _named(_damped(), "damped"), "ETS with damped trend"),
    CatalogEntry(
        "log_damped",
        lambda: LogScale(_named(_damped(), "damped")),
        "damped trend on the log scale (growth that slows)",
    ),
    CatalogEntry("theta", Theta, "Theta method"),
    CatalogEntry("log_theta", lambda: LogScale(Theta()), "Theta on the log scale"),
    CatalogEntry(
        "dotm", DynamicTheta, "dynamic optimised Theta: trend line updated yearly, share fitted"
    ),
    CatalogEntry("arima", AutoArima, "ARIMA(p,1,q) with drift, order by AICc"),
    CatalogEntry(
        "global_ar",
        GlobalAR,
        "one autoregression learned across many series' windows: the population's own (30 "
        "series or more), else 1,344 reference yearly series'",
    ),
    CatalogEntry("ridge", RidgeGrowth, "ridge regression of changes on lagged changes"),
    CatalogEntry("log_ridge", lambda: LogScale(RidgeGrowth()), "ridge regression of growth rates"),
    CatalogEntry("comb_sth", _comb_sth, "mean of SES, damped trend and Theta"),
    CatalogEntry("comb", _comb, "median of drift, dynamic Theta and damped trend"),
    CatalogEntry(
        "analogs",
        ReferenceClass,
        "what the most similar reference yearly series did next (reference class forecast)",
    ),
)

#: Every model by name.
CATALOG: Mapping[str, CatalogEntry] = MappingProxyType({entry.name: entry for entry in _ENTRIES})


def make_forecaster(name: str) -> Forecaster:
    """A fresh, unfitted forecaster of the named catalog model."""
    try:
        entry = CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(CATALOG)}") from None
    forecaster = entry.factory()
    forecaster.name = name
    return forecaster


def candidate_names(length: int) -> list[str]:
    """Catalog models whose minimum length a series of ``length`` years meets."""
    return [name for name, entry in CATALOG.items() if entry.min_length <= length]
