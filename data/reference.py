"""The bundled reference corpus of public yearly series (``data/reference/``, see SOURCES.md).

Short series borrow from what these series did next (``models.analogs``). Read on first use
and cached; nothing is read at import.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE_FILE: Path = Path(__file__).resolve().parent / "reference" / "yearly.csv.gz"
#: Sources of the corpus to leave out, comma-separated (benchmarks set it when they forecast
#: cuts of a set that is also in the corpus, so no series is forecast from its own future).
EXCLUDE_VARIABLE = "FRAUDCAST_REFERENCE_EXCLUDE"


def reference_series(path: Path = REFERENCE_FILE) -> tuple[np.ndarray, ...]:
    """Every series of the reference corpus as an array of yearly values, oldest first (less
    the sources named in ``FRAUDCAST_REFERENCE_EXCLUDE``)."""
    excluded = frozenset(
        part.strip().lower() for part in os.environ.get(EXCLUDE_VARIABLE, "").split(",") if part
    )
    return _load(path, excluded)


@functools.lru_cache(maxsize=4)
def _load(path: Path, excluded: frozenset[str]) -> tuple[np.ndarray, ...]:
    corpus = pd.read_csv(path, dtype={"source": "string", "unique_id": "string"})
    corpus = corpus[~corpus["source"].str.lower().isin(excluded)]
    corpus = corpus.sort_values(["unique_id", "ds"])
    return tuple(
        group.to_numpy(dtype=float) for _, group in corpus.groupby("unique_id", sort=True)["y"]
    )
