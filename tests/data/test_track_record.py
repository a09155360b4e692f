"""The track record: how each champion's forecast fared against the figure that arrived later."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from data.errors import UnknownSeries
from data.store import SCORE_COLUMNS, FigureStore
from tests.data.conftest import row


def score(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "series_id": "jp_ib_transfer_cases",
        "year": 2024,
        "actual": 4369.0,
        "mean": 5200.0,
        "lo-80": 3900.0,
        "hi-80": 6500.0,
        "lo-95": 3100.0,
        "hi-95": 7400.5,
        "inside_80": True,
        "inside_95": True,
        "model_name": "ets_damped",
        "model_version": "3",
        "data_revision": "a" * 64,
    }
    return {**base, **changes}


def scores(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def test_scores_round_trip_sorted_with_utc_time(seeded_store: FigureStore) -> None:
    before = datetime.now(UTC)
    given = scores(
        score(year=2025, actual=4747.0, inside_80=False, inside_95=False, model_version="4"),
        score(series_id="jp_cybercrime_cleared", actual=12000.0, model_name="drift"),
        score(),
    )

    assert seeded_store.record_scores(given) == 3
    record = seeded_store.track_record()

    assert list(record.columns) == [*SCORE_COLUMNS, "scored_at"]
    assert record[["series_id", "year"]].values.tolist() == [
        ["jp_cybercrime_cleared", 2024],
        ["jp_ib_transfer_cases", 2024],
        ["jp_ib_transfer_cases", 2025],
    ]
    expected = given.iloc[[1, 2, 0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(record[list(SCORE_COLUMNS)], expected, check_dtype=False)
    assert record["inside_95"].dtype == bool and record["year"].dtype == "int64"
    assert str(record["scored_at"].dt.tz) == "UTC"
    assert (record["scored_at"] >= pd.Timestamp(before).floor("s")).all()


def test_recording_the_same_scores_again_changes_nothing(seeded_store: FigureStore) -> None:
    assert seeded_store.record_scores(scores(score())) == 1
    first = seeded_store.track_record("jp_ib_transfer_cases")

    rescored = scores(score(mean=9999.0), score(model_version="4"), score(model_version="4"))
    assert seeded_store.record_scores(rescored) == 1

    record = seeded_store.track_record("jp_ib_transfer_cases")
    assert record["model_version"].tolist() == ["3", "4"]
    pd.testing.assert_series_equal(record.iloc[0], first.iloc[0])
    assert seeded_store.record_scores(rescored) == 0


def test_one_series_and_unknown_series(seeded_store: FigureStore) -> None:
    seeded_store.record_scores(scores(score(), score(series_id="jp_cybercrime_cleared")))

    assert seeded_store.track_record("jp_cybercrime_cleared")["series_id"].tolist() == [
        "jp_cybercrime_cleared"
    ]
    assert seeded_store.track_record("jp_unauthorized_access_cleared").empty
    with pytest.raises(UnknownSeries):
        seeded_store.track_record("jp_nonexistent")
    with pytest.raises(UnknownSeries):
        seeded_store.record_scores(scores(score(), score(series_id="jp_nonexistent")))
    assert len(seeded_store.track_record()) == 2


def test_an_empty_track_record_has_the_columns(seeded_store: FigureStore) -> None:
    record = seeded_store.track_record()
    assert record.empty and list(record.columns) == [*SCORE_COLUMNS, "scored_at"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (scores(score(), score(year=2025)).drop(columns=["hi-95"]), "lacks columns: hi-95"),
        (scores(score(), score(year=2025, mean=None)), "missing values in: mean"),
        (scores(score(), score(year=2025, inside_80="False")), "True or False: inside_80"),
    ],
)
def test_malformed_scores_are_refused_whole(
    seeded_store: FigureStore, bad: pd.DataFrame, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        seeded_store.record_scores(bad)
    assert seeded_store.track_record().empty


def test_a_revised_figure_is_judged_anew_in_the_track_record(seeded_store: FigureStore) -> None:
    """A preliminary 19,800 scored as a surprise stayed one after its revision to a final
    18,200, which the same forecast's 95% interval held."""
    seeded_store.record_scores(
        scores(
            score(year=2026, actual=9000.0, inside_80=False, inside_95=False, model_version="3"),
            score(year=2026, actual=9000.0, inside_80=False, inside_95=False, model_version="4",
                  **{"lo-95": 1000.0, "hi-95": 2000.0}),
            score(),  # 2024, whose figure stays as it is
        )
    )  # fmt: skip
    seeded_store.add_figures(pd.DataFrame([row(year="2026", value="9000")]), source="prelim")
    other = seeded_store.track_record("jp_ib_transfer_cases").query("year == 2024")

    seeded_store.add_figures(pd.DataFrame([row(year="2026", value="7000")]), source="final")

    record = seeded_store.track_record("jp_ib_transfer_cases").set_index(["year", "model_version"])
    assert record.loc[(2026, "3"), ["actual", "inside_80", "inside_95"]].tolist() == [
        7000.0, False, True
    ]  # fmt: skip
    assert record.loc[(2026, "4"), ["actual", "inside_80", "inside_95"]].tolist() == [
        7000.0, False, False
    ]  # fmt: skip
    assert record.loc[(2026, "3"), "mean"] == 5200.0  # the forecast itself is as recorded
    later = seeded_store.track_record("jp_ib_transfer_cases").query("year == 2024")
    pd.testing.assert_frame_equal(later, other)  # nothing else was touched
