"""forecast-file end to end, through the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from models.catalog import CATALOG
from serving.cli import app
from tests.support import said
from training.parallel import parse_long_frame, write_forecasts

runner = CliRunner()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _good_csv(tmp_path: Path) -> Path:
    rows = ["unique_id,ds,y"]
    rows += [f"a,{2000 + i},{100 * 1.1**i:.2f}" for i in range(8)]
    rows += ["b,2019,5", "b,2020,7", "b,2022,9", "b,2023,12", "b,2024,11"]  # 2021 missing
    rows.reverse()  # any order
    rows.insert(0, rows.pop())
    return _write(tmp_path / "in.csv", "\n".join(rows) + "\n")


def test_forecast_file_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        [
            "forecast-file",
            str(_good_csv(tmp_path)),
            "--horizon",
            "3",
            "--levels",
            "80,95",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == [
        "unique_id", "ds", "mean", "lo-80", "hi-80", "lo-95", "hi-95", "model"
    ]  # fmt: skip
    # the model that forecast each series, one of the catalog's or a mean combination of them
    assert all(set(name.split("+")) <= set(CATALOG) for name in frame["model"]), frame["model"]
    assert frame.groupby("unique_id")["ds"].apply(list).to_dict() == {
        "a": [2008, 2009, 2010],
        "b": [2025, 2026, 2027],
    }
    values = frame[["lo-95", "lo-80", "mean", "hi-80", "hi-95"]].to_numpy()
    assert (np.diff(values, axis=1) >= 0).all() and (values >= 0).all()
    assert result.output == ""  # quiet when not on a terminal


def test_rows_in_any_order_are_read_as_each_series_by_year() -> None:
    frame = pd.DataFrame(
        {
            "unique_id": ["b", "a", "b", "c", "a", "b", "a"],
            "ds": [2021, 2005, 2019, 1990, 2003, 2020, 2004],
            "y": [3.0, 50.0, 1.0, 7.0, 30.0, 2.0, 40.0],
        }
    )
    read = parse_long_frame(frame)
    # ids as they first appear, each series by year with its own figures
    assert [series_id for series_id, _ in read] == ["b", "a", "c"]
    assert [list(values.items()) for _, values in read] == [
        [(2019, 1.0), (2020, 2.0), (2021, 3.0)],
        [(2003, 30.0), (2004, 40.0), (2005, 50.0)],
        [(1990, 7.0)],
    ]
    assert all(values.index.name == "year" for _, values in read)


def test_figures_are_written_without_floating_point_noise(tmp_path: Path) -> None:
    """A spreadsheet shows 12479.1234568, not 12479.123456789012 or 7.000000000000001."""
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app, ["forecast-file", str(_good_csv(tmp_path)), "--horizon", "3", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    cells = [cell for line in out.read_text().splitlines()[1:] for cell in line.split(",")[2:-1]]
    digits = [
        len(cell.split("e")[0].replace(".", "").replace("-", "").strip("0")) for cell in cells
    ]
    assert len(cells) == 30 and max(digits) <= 12, cells
    assert pd.read_csv(out)["mean"].notna().all()


def test_malformed_input_names_lines_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    bad = _write(tmp_path / "bad.csv", "unique_id,ds,y\na,2000,1\na,2001,x\na,2001,3\nb,20.5,4\n")
    result = runner.invoke(app, ["forecast-file", str(bad), "--horizon", "2", "--output", str(out)])
    assert result.exit_code == 2
    assert "y is missing or not a number on line(s) 3" in result.output
    assert "leave out its row" not in result.output  # 'x' is no blank
    assert "ds is not an integer year on line(s) 5" in result.output
    assert not out.exists()
    blank = _write(tmp_path / "blank.csv", "unique_id,ds,y\na,2000,1\na,2001,\na,2002,3\n")
    result = runner.invoke(
        app, ["forecast-file", str(blank), "--horizon", "2", "--output", str(out)]
    )
    assert result.exit_code == 2
    # a blank is no way to leave a year missing: the message says what is
    assert "to leave a year missing, leave out its row" in " ".join(result.output.split())


def test_duplicates_and_missing_columns(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    dup = _write(tmp_path / "dup.csv", "unique_id,ds,y\na,2000,1\na,2001,2\na,2001,3\n")
    result = runner.invoke(app, ["forecast-file", str(dup), "--horizon", "2", "--output", str(out)])
    assert result.exit_code == 2 and "duplicate (unique_id, ds) on line(s) 3, 4" in result.output
    cols = _write(tmp_path / "cols.csv", "id,year,value\na,2000,1\n")
    result = runner.invoke(
        app, ["forecast-file", str(cols), "--horizon", "2", "--output", str(out)]
    )
    assert result.exit_code == 2 and "missing columns: unique_id, ds, y" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (
            'unique_id,ds,y\na,2019,"5,470"\na,2020,6\n',
            "line(s) 2 (a plain number: no thousands separators or units; '5,470' on line 2)",
        ),
        ("unique_id;ds;y\na;2019;5\n", "the file looks separated by semicolons"),
        ("unique_id\tds\ty\na\t2019\t5\n", "the file looks separated by tabs"),
        ("id,year,value\na,2019,5\n", "found 'id', 'year', 'value')"),
    ],
)
def test_a_spreadsheets_habits_are_named(tmp_path: Path, content: str, said: str) -> None:
    out = tmp_path / "out.csv"
    path = _write(tmp_path / "in.csv", content)
    result = runner.invoke(
        app, ["forecast-file", str(path), "--horizon", "2", "--output", str(out)]
    )
    assert result.exit_code == 2 and said in " ".join(result.output.split()), result.output
    assert not out.exists()


def test_a_header_with_spaces_and_utf16_text(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    spaced = _write(tmp_path / "spaced.csv", "unique_id, ds, y \na,2019,5\na,2020,6\na,2021,7\n")
    result = runner.invoke(
        app, ["forecast-file", str(spaced), "--horizon", "2", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out)["ds"].tolist() == [2022, 2023]
    utf16 = tmp_path / "u16.csv"
    utf16.write_text("unique_id,ds,y\na,2019,5\n", encoding="utf-16")
    result = runner.invoke(
        app, ["forecast-file", str(utf16), "--horizon", "2", "--output", str(out)]
    )
    assert result.exit_code == 2
    # named for what it is (it had been "not UTF-8 text"; the store had said Shift_JIS)
    assert "the file is UTF-16 text, as Excel's 'Unicode Text' saves it, not UTF-8: save it " in (
        " ".join(result.output.split())
    )
    shift_jis = tmp_path / "sjis.csv"
    shift_jis.write_bytes("unique_id,ds,y\n不正送金,2019,5\n".encode("cp932"))
    result = runner.invoke(
        app, ["forecast-file", str(shift_jis), "--horizon", "2", "--output", str(out)]
    )
    assert result.exit_code == 2
    assert "it reads as Shift_JIS, Japanese Excel's default for CSV" in result.output


def test_a_spreadsheets_trailing_empty_rows_are_no_series(tmp_path: Path) -> None:
    """Excel writes ",,,," lines after the data: three problems each had been reported and
    nothing written; `figures add` takes the same lines."""
    out = tmp_path / "out.csv"
    source = _write(
        tmp_path / "excel.csv", "unique_id,ds,y\r\na,2019,5\r\na,2020,6\r\na,2021,7\r\n,,\r\n,,\r\n"
    )
    result = runner.invoke(
        app, ["forecast-file", str(source), "--horizon", "2", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out)["unique_id"].tolist() == ["a", "a"]


def test_bad_levels_and_horizon_are_rejected(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    good = _good_csv(tmp_path)
    result = runner.invoke(
        app,
        ["forecast-file", str(good), "--horizon", "2", "--levels", "80,100", "--output", str(out)],
    )
    assert result.exit_code != 0 and "strictly between 0 and 100" in said(result.output)
    result = runner.invoke(
        app, ["forecast-file", str(good), "--horizon", "31", "--output", str(out)]
    )
    assert result.exit_code != 0 and not out.exists()


@pytest.mark.parametrize("levels", ["99.99999", "80.123456", "0", "1e-5"])
def test_levels_the_api_refuses_are_refused_here_too(tmp_path: Path, levels: str) -> None:
    """A level beyond 4 decimals would be written under a rounded label ("lo-100")."""
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        ["forecast-file", str(_good_csv(tmp_path)), "--horizon", "2", "--levels", levels,
         "--output", str(out)],
    )  # fmt: skip
    assert result.exit_code == 2 and "at most 4 decimal places" in said(result.output)
    assert not out.exists()


def _forecast_good(tmp_path: Path, *options: str) -> tuple[Result, Path]:
    """`forecast-file` of the good CSV, two years ahead, with ``options``; and its output."""
    out = tmp_path / "out.csv"
    command = ["forecast-file", str(_good_csv(tmp_path)), "--horizon", "2", *options]
    return runner.invoke(app, [*command, "--output", str(out)]), out


def test_levels_are_written_once_each_from_the_narrowest(tmp_path: Path) -> None:
    result, out = _forecast_good(tmp_path, "--levels", "95,80,95")
    assert result.exit_code == 0, result.output
    assert list(pd.read_csv(out).columns) == [
        "unique_id", "ds", "mean", "lo-80", "hi-80", "lo-95", "hi-95", "model"
    ]  # fmt: skip


def test_streamed_file_holds_what_forecast_long_returns(tmp_path: Path) -> None:
    from training.parallel import forecast_long, write_forecasts

    frame = pd.read_csv(_good_csv(tmp_path), dtype={"unique_id": "string"})
    out = tmp_path / "out.csv"
    written = write_forecasts(frame, out, horizon=4, levels=(50, 90))
    expected, _ = forecast_long(frame, horizon=4, levels=(50, 90))
    streamed = pd.read_csv(out, dtype={"unique_id": "string"})
    pd.testing.assert_frame_equal(streamed, expected, check_dtype=False)
    assert (written.rows, written.series, written.failures) == (8, 2, [])


def test_an_interrupted_run_leaves_the_old_output_and_no_partial_file(
    tmp_path: Path, monkeypatch
) -> None:
    import training.parallel as parallel

    out = tmp_path / "out.csv"
    out.write_text("the previous forecasts\n")
    calls = {"n": 0}
    real = parallel._forecast_one

    def second_series_dies(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(parallel, "_forecast_one", second_series_dies)
    frame = pd.read_csv(_good_csv(tmp_path), dtype={"unique_id": "string"})
    try:
        parallel.write_forecasts(frame, out, horizon=2)
    except KeyboardInterrupt:
        pass
    else:  # pragma: no cover - the interruption must surface
        raise AssertionError("the interruption was swallowed")
    assert calls["n"] == 2
    assert out.read_text() == "the previous forecasts\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_series_backtested_for_the_evidence_are_not_backtested_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each series is backtested once: those sampled for the population's evidence are chosen
    for from those backtests, and the forecasts equal fitting every series afresh. A series
    named like a reference series topping up a small population keeps its own backtests."""
    from training import population, selection
    from training.parallel import forecast_long
    from training.population import _reference_items, population_evidence, reference_top_up
    from training.selection import fit_series

    clash = _reference_items(reference_top_up(12), 0)[0][0]  # a top-up series' name
    rng = np.random.default_rng(7)
    frame = pd.concat(
        pd.DataFrame(
            {
                "unique_id": name,
                "ds": np.arange(2000, 2014),
                "y": 100.0 * np.exp(np.cumsum(rng.normal(0.05, 0.1, 14))),
            }
        )
        for name in [clash, *(f"s{index}" for index in range(11))]
    )
    calls: list[str] = []
    evaluate = selection.evaluate_series

    def counted(*args: object, series_id: str, **kwargs: object) -> selection.SeriesEvaluation:
        calls.append(series_id)
        return evaluate(*args, series_id=series_id, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(population, "evaluate_series", counted)
    monkeypatch.setattr(selection, "evaluate_series", counted)
    forecasts, failures = forecast_long(frame, horizon=3, levels=(80, 95))
    assert failures == []
    own = [name for name in calls if not name.startswith("reference:")]
    assert sorted(own) == sorted(f"s{index}" for index in range(11))  # once each
    assert calls.count(clash) == 2  # as a series of the file, and as a reference series

    monkeypatch.setattr(population, "evaluate_series", evaluate)
    monkeypatch.setattr(selection, "evaluate_series", evaluate)
    items = [
        (name, pd.Series(group["y"].to_numpy(), index=group["ds"].to_numpy()), ())
        for name, group in frame.groupby("unique_id", sort=False)
    ]
    evidence = population_evidence(items)
    for name, y, _ in items:
        afresh = fit_series(y, series_id=name, evidence=evidence).champion.predict(3, (80, 95))
        served = forecasts[forecasts["unique_id"] == name].reset_index(drop=True)
        np.testing.assert_allclose(served["mean"], afresh["mean"])
        np.testing.assert_allclose(served["hi-95"], afresh["hi-95"])


def test_a_folder_as_output_is_refused_and_leaves_no_stray_rows(tmp_path: Path) -> None:
    """``--output /tmp`` wrote the forecasts to ``/.tmp.<random>.part``, said "nothing
    written" and left them there."""
    folder = tmp_path / "forecasts"
    folder.mkdir()
    result = runner.invoke(
        app, ["forecast-file", str(_good_csv(tmp_path)), "--horizon", "2", "--output", str(folder)]
    )
    assert result.exit_code == 2 and "is a directory" in said(result.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forecasts", "in.csv"]
    assert not any(folder.iterdir())
    frame = pd.read_csv(_good_csv(tmp_path), dtype={"unique_id": "string"})
    with pytest.raises(IsADirectoryError):
        write_forecasts(frame, folder, horizon=2)  # the library call cleans up too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forecasts", "in.csv"]


def test_zero_workers_is_refused_with_what_to_give(tmp_path: Path) -> None:
    result, out = _forecast_good(tmp_path, "--jobs", "0")
    assert result.exit_code == 2, result.output
    assert "0 workers cannot run anything: give 1 or more, or -1 for all cores" in said(
        result.output
    )
    assert not out.exists()


def test_an_output_in_a_missing_folder_names_the_folder_not_a_hidden_file(tmp_path: Path) -> None:
    """The error quoted the part file written beside the output: '.o.csv.loryuh66.part'."""
    out = tmp_path / "no_such_folder" / "out.csv"
    result = runner.invoke(
        app, ["forecast-file", str(_good_csv(tmp_path)), "--horizon", "2", "--output", str(out)]
    )
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert f"cannot write {out}: its folder {out.parent} does not exist; nothing written" in said
    assert ".part" not in said


def test_series_that_rest_on_a_single_or_a_few_spread_figures_are_named(tmp_path: Path) -> None:
    """Three figures over 41 years were forecast as if every year were published, and a single
    figure got intervals, with nothing said; a series of consecutive years is not named."""
    text = "unique_id,ds,y\nalone,2020,5\nspread,1985,3\nspread,2005,4\nspread,2025,6\n"
    text += "".join(f"steady,{2015 + i},{10 + i}\n" for i in range(8))
    out, reasons = tmp_path / "out.csv", tmp_path / "reasons.csv"
    given = _write(tmp_path / "in.csv", text)
    arguments = ["forecast-file", str(given), "--horizon", "3", "--output", str(out)]
    result = runner.invoke(app, [*arguments, "--reasons", str(reasons)])
    assert result.exit_code == 0, result.output
    assert set(pd.read_csv(out)["unique_id"]) == {"alone", "spread", "steady"}
    # and its reason says what one figure can borrow: "1 years are too few" had been matched
    # "on similar recent growth and volatility", which one figure does not show
    [why] = pd.read_csv(reasons).query("unique_id == 'alone'")["reason"]
    assert why.startswith("1 year is too few to calibrate intervals"), why
    assert "every one of the" in why and "(one figure shows no growth to match)" in why, why
    assert "at the rate of its one year (5 a year)" in why, why
    said = result.stderr.splitlines()
    assert said == [
        "warning: alone: one figure only, nothing of its own to learn from; its intervals are "
        "borrowed from what reference series did next",
        "warning: spread: 3 figures over 41 years; the 38 years between them are filled by "
        "interpolation and fitted as if published",
    ]


def test_a_series_given_in_percent_is_forecast_below_100(tmp_path: Path) -> None:
    """A clearance rate of 99.6 rising had been forecast at 108 with a 95% bound of 144: the
    input had no way to say it was a share. An optional unit column says so, as for a
    series of the store; the same figures without it (a change in percent) are not bounded."""
    rates = [80.2, 84.0, 87.0, 90.0, 92.0, 94.0, 95.5, 97.0, 98.5, 99.6]
    years = list(range(2016, 2026))
    frame = pd.concat(
        [
            pd.DataFrame({"unique_id": "cleared", "ds": years, "y": rates, "unit": "percent"}),
            pd.DataFrame({"unique_id": "change", "ds": years, "y": rates, "unit": ""}),
            # the full-width sign of a Japanese keyboard had gone unread: forecast past 100
            pd.DataFrame({"unique_id": "zenkaku", "ds": years, "y": rates, "unit": "％"}),
        ]
    )
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    frame.to_csv(source, index=False)
    result = runner.invoke(
        app, ["forecast-file", str(source), "--horizon", "6", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    forecasts = pd.read_csv(out).set_index("unique_id")
    share, change = forecasts.loc["cleared"], forecasts.loc["change"]
    assert (share["mean"] < 100).all() and (
        share.drop(columns=["ds", "model"]).to_numpy() <= 100
    ).all()
    assert share["mean"].is_monotonic_increasing
    pd.testing.assert_frame_equal(forecasts.loc["zenkaku"].set_index(share.index), share)
    assert change["mean"].max() > 100 and change["hi-95"].max() > 120


def test_a_share_in_whole_percents_is_projected_below_100_at_its_own_pace(tmp_path: Path) -> None:
    """80, 82, ... 96 %: whole numbers, so calibrated as a small count, and its projection had
    reached exactly 100 from the second year on (the room below the ceiling was measured only
    for series calibrated on the log scale)."""
    years = list(range(2015, 2024))
    rates = [80 + 2 * index for index in range(len(years))]
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"unique_id": "r", "ds": years, "y": rates, "unit": "%"}).to_csv(
        source, index=False
    )
    result = runner.invoke(
        app, ["forecast-file", str(source), "--horizon", "6", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    path = pd.read_csv(out)["mean"].to_numpy()
    # the room left went from 20 to 4 in 8 years: it shrinks at most that fast, ~18% a year
    room = 100.0 - path
    assert room[0] >= 4.0 * np.exp(-np.log(5.0) / 8) - 1e-9
    assert np.all(np.diff(path) > 0) and np.all(room > 1.0)


def test_reasons_say_why_each_series_got_its_model(tmp_path: Path) -> None:
    """An auditor could not tell why a model was chosen, or that a new series' intervals were
    borrowed: the output held the model's name and nothing else."""
    rows = ["unique_id,ds,y", *(f"a,{2000 + i},{100 * 1.1**i:.2f}" for i in range(9))]
    rows += ["new,2023,2271", "new,2024,3570", "new,2025,4100"]
    given = _write(tmp_path / "in.csv", "\n".join(rows) + "\n")
    out, why = tmp_path / "out.csv", tmp_path / "why.csv"
    args = ["forecast-file", str(given), "--horizon", "2", "--output", str(out)]
    result = runner.invoke(app, [*args, "--reasons", str(why)])
    assert result.exit_code == 0, result.output
    reasons = pd.read_csv(why).set_index("unique_id")
    assert list(reasons.columns) == ["model", "reason"]
    forecasts = pd.read_csv(out).groupby("unique_id")["model"].first()
    assert reasons["model"].to_dict() == forecasts.to_dict()
    # three years: its intervals are borrowed, and it says from how many reference series
    new = reasons.at["new", "reason"]
    assert "3 years are too few to calibrate intervals on the series' own backtests" in new
    assert "reference yearly series" in new
    assert reasons.at["a", "reason"].strip() and "too few" not in reasons.at["a", "reason"]
    # a missing folder is found before any forecasting, and nothing is written
    missing = tmp_path / "gone" / "why.csv"
    refused = runner.invoke(app, [*args, "--reasons", str(missing)])
    assert refused.exit_code == 2
    assert f"its folder {missing.parent} does not exist" in " ".join(refused.output.split())
    assert not missing.parent.exists()


def test_a_percent_series_with_a_figure_past_100_is_warned_of_not_kept_below_100(
    tmp_path: Path,
) -> None:
    """A clearance rate of 99, 101, 100 in percent had its 95% bound at 137% five years on
    and nothing said the ceiling of 100 was not applied."""
    rows = ["unique_id,ds,y,unit", "a,2020,99,percent", "a,2021,101,percent", "a,2022,100,percent"]
    rows += ["b,2020,97,percent", "b,2021,98,percent", "b,2022,99,percent"]
    given = _write(tmp_path / "in.csv", "\n".join(rows) + "\n")
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app, ["forecast-file", str(given), "--horizon", "3", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert (
        "warning: a: unit percent, but 101 in 2021 is outside 0-100: forecast as a change in "
        "percent that may pass 100" in said
    )
    assert "warning: b:" not in said  # within 0-100: kept below 100, nothing to say
    forecasts = pd.read_csv(out)
    assert forecasts.loc[forecasts["unique_id"] == "b", "hi-95"].max() <= 100.0
