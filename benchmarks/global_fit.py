"""Which series should the global autoregression learn from? The candidate alone, fitted on
the reference corpus (every window of the bundled corpus, the set being forecast left out: as
served to a population of under 30 series) and fitted on the windows of the population being
forecast itself, as Montero-Manso & Hyndman (2021) fit theirs (as served to a population of 30
series or more), on every set of the benchmark. Writes ``benchmarks/GLOBAL.md``.

    .venv/bin/python -m benchmarks.global_fit

Each set's series are forecast from their training years only, by one pooled fit per order
(``models.global_ar.pooled_fit``) and recursively (``recursive_forecast``), exactly as the
catalog's ``global_ar`` forecasts; a series that never went below 0 has its path kept at 0 or
above. The MASE is set against the best of statsforecast's Naive, RandomWalkWithDrift,
AutoETS and AutoTheta on the same set, in the same run. This scores the candidate, not the
pipeline that chooses among candidates.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.m3 import (
    exclude_from_reference,
    horizon_of,
    load_yearly,
    run_statsforecast,
    score,
)
from benchmarks.populations import YARDSTICKS, _populations, ratio_interval
from models.global_ar import GlobalAR, _global_fit, pooled_fit, recursive_forecast

OUTPUT = Path(__file__).with_name("GLOBAL.md")
LABELS = {"m3": "M3", "m1": "M1", "tourism": "Tourism"}
#: The heading of the hand-written reading of the table, kept when the table is written again.
READING = "## Reading"


def forecasts(
    models: dict[str, GlobalAR], horizon: int, fits: dict[int, tuple[np.ndarray, np.ndarray]]
) -> pd.DataFrame:
    """Every series' path ``horizon`` years ahead from its fitted ``global_ar`` (its order,
    scale and latest years) and the pooled fit of its order among ``fits``, kept at 0 or above
    for a series that never went below 0, as a forecast frame whose bounds are the path (only
    MASE is read)."""
    rows = []
    for key, model in models.items():
        path, _ = recursive_forecast(model.last_, model.scale_, fits[model.order_], horizon)
        if model.nonnegative_:
            path = np.maximum(path, 0.0)
        years = int(model.y_.index[-1]) + np.arange(1, horizon + 1)
        rows += [(key, int(year), float(mean)) for year, mean in zip(years, path, strict=True)]
    frame = pd.DataFrame(rows, columns=["unique_id", "ds", "mean"])
    for column in ("lo-80", "hi-80", "lo-95", "hi-95"):
        frame[column] = frame["mean"]
    return frame


def evaluate(name: str, excluded: str, train: pd.DataFrame, test: pd.DataFrame, jobs: int) -> str:
    """One set's row of the table."""
    horizon = horizon_of(test)
    history = {
        str(key): pd.Series(group["y"].to_numpy(dtype=float), index=group["ds"].astype(int))
        for key, group in train.groupby("unique_id")
    }
    exclude_from_reference(excluded)  # as the benchmark forecasts it
    models = {key: GlobalAR().fit(series) for key, series in history.items()}
    orders = sorted({model.order_ for model in models.values()})
    corpus_fits = {order: _global_fit(order) for order in orders}
    population = [series.to_numpy(dtype=float) for series in history.values()]
    own = {order: pooled_fit(population, order) for order in orders}
    per_model, _ = run_statsforecast(train, jobs, False, horizon, cross_validate=False)
    best = min((score(m, f, train, test, 0.0) for m, f in per_model.items()), key=lambda r: r.mase)
    on_corpus = score("reference", forecasts(models, horizon, corpus_fits), train, test, 0.0)
    on_own = score("population", forecasts(models, horizon, own), train, test, 0.0)
    low, high = ratio_interval(on_own, on_corpus, "mase")
    return (
        f"| {name} | {len(history)} | {best.mase:.3f} ({best.name}) "
        f"| {on_corpus.mase / best.mase:.3f} | **{on_own.mase / best.mase:.3f}** "
        f"| {on_own.mase / on_corpus.mase:.3f} ({low:.2f}–{high:.2f}) |"
    )


def sets() -> Iterator[tuple[str, str, pd.DataFrame, pd.DataFrame]]:
    """(name, reference source to leave out, train, test) of every set: the yardsticks whole,
    then every population of the populations table."""
    for dataset in YARDSTICKS:
        train, test = load_yearly(dataset)
        yield LABELS[dataset], dataset, train, test
    for name, excluded, with_truth, test in _populations():
        yield name, excluded, with_truth[["unique_id", "ds", "y"]], test


def render(rows: Sequence[str]) -> str:
    return "\n".join(
        [
            "# Benchmark: what the global autoregression learns from",
            "",
            "Written by `python -m benchmarks.global_fit` (see its docstring). The `global_ar` "
            "candidate alone, one linear autoregression without intercept on series scaled by "
            "their MASE scale (Montero-Manso & Hyndman 2021), fitted *on the reference corpus*, "
            "every window of M1, M3 and Tourism (the set forecast left out; as served to a "
            "population of under 30 series), and fitted *on the population's own* training "
            "windows, as the paper fits it (as served to a population of 30 series or more). "
            "MASE ratios to the best statsforecast method on the set (Naive, RWD, AutoETS, "
            "AutoTheta; below 1 is better); the last column is own over corpus, with the 95% "
            "interval of 2,000 paired resamplings of the set's series.",
            "",
            "| set | series | best statsforecast MASE | on the corpus | on the population's own "
            "| own / corpus |",
            "|---|---:|---|---:|---:|---:|",
            *rows,
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    rows = []
    for name, excluded, train, test in sets():
        rows.append(evaluate(name, excluded, train, test, args.jobs))
        print(rows[-1], flush=True)
    kept = ""  # what was written by hand below the table stays
    if args.output.exists():
        previous = args.output.read_text(encoding="utf-8")
        if READING in previous:
            kept = previous[previous.index(READING) :]
    args.output.write_text(render(rows) + ("\n" + kept if kept else ""), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
