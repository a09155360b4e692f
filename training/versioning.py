"""The code version recorded with every run: it changes exactly when a forecast can change.

Only the code and data that make a forecast are hashed: the features, the models, the
backtest, the population evidence and the selection that choose and calibrate a champion, and
the reference corpus short series borrow from. An edit to charts, MLflow logging, the registry
or the pipeline's plumbing leaves it unchanged, so it does not retrain every series.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import metadata
from pathlib import Path

#: Packages whose every module can change a forecast.
_FORECAST_PACKAGES = ("features", "models")
#: Modules of other packages that can change one, and data they read.
_FORECAST_FILES = (
    "training/backtest.py",
    "training/evidence.py",
    "training/metrics.py",
    "training/population.py",
    "training/selection.py",
    "data/reference.py",
    "data/reference/yearly.csv.gz",
)


def forecast_sources(root: Path) -> list[Path]:
    """The files under ``root`` (a source tree) whose content can change a forecast, sorted."""
    paths = [path for package in _FORECAST_PACKAGES for path in (root / package).rglob("*.py")]
    paths += [root / name for name in _FORECAST_FILES if (root / name).exists()]
    return sorted(paths)


def source_digest(root: Path) -> str:
    """Hash of the names and contents of ``forecast_sources(root)``."""
    digest = hashlib.sha256()
    for path in forecast_sources(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@lru_cache(maxsize=1)
def code_version() -> str:
    """``<package version>+<hash of the forecasting sources>``, stable across machines."""
    try:
        version = metadata.version("fraudcast")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        version = "0+unknown"
    return f"{version}+{source_digest(Path(__file__).resolve().parent.parent)}"
