"""Checks on the scale a yearly series can be modelled on."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def is_strictly_positive(values: ArrayLike) -> bool:
    """Whether every value is finite and above zero (so a log or Box-Cox scale applies)."""
    array = np.asarray(values, dtype=float)
    return bool(array.size > 0 and np.all(np.isfinite(array)) and np.all(array > 0))
