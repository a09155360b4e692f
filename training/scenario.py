"""What-if scenarios: a champion's own model refitted on its figures plus hypothetical ones.

Only the point path is refitted; the intervals keep the champion's calibration (its backtest
errors, or the quantiles a short series borrowed), so a scenario answers "what would this
champion project had these been the figures", not "which model would win then". Nothing is
logged or stored: the refit lives in memory for one answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.gaps import fill_gaps
from features.prepare import prepare_series
from models.calibration import CalibratedForecast
from models.global_ar import learning_from
from training.selection import model_path


def bridged(published: pd.Series, hypothetical: pd.Series) -> pd.Series:
    """The hypothetical figures (values by year, all after the published ones) with the years
    they skip filled in as the store's own missing years are filled for training: by
    interpolation between neighbours, log-linear for positive figures (``fill_gaps``).

    Filled here rather than by ``prepare_series`` on the whole series, which keeps only the
    latest contiguous run when it is long enough: a hypothetical gap must not change which
    published years the model sees."""
    last_year = published.index.max()
    segment = pd.concat([published.loc[[last_year]], hypothetical]).sort_index()
    filled = fill_gaps(segment, min_tail=len(segment) + 1).series
    return filled.iloc[1:]


def refit_champion(
    champion: CalibratedForecast, figures: pd.Series, breaks: Sequence[int] = ()
) -> CalibratedForecast:
    """The champion's model fitted to ``figures`` (values by year, published and hypothetical)
    prepared as in training (gaps filled, level shifts at ``breaks`` adjusted), forecasting
    from their last year with the champion's calibration. ValueError if the model cannot fit
    them. A hypothetical figure far beyond the published ones may give a path that is not
    finite: the caller decides what to answer then."""
    history = prepare_series(figures, breaks).series
    # the caller checks the path is finite; a global autoregression learns from the windows
    # the champion's did
    with np.errstate(over="ignore", invalid="ignore"), learning_from(champion.learned_from):
        path = model_path(champion.model_name, history)
    return champion.recentred(int(history.index[-1]), path, float(history.iloc[-1]))
