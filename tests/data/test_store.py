"""Revisions, history, atomicity, warnings and data hashes of the figure store."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import data.batches
import data.store
from data.canonical import format_value
from data.errors import InvalidFigures, InvalidSeries, UnknownRevision, UnknownSeries
from data.records import SeriesInfo
from data.store import FigureStore
from tests.data.conftest import row

NEW_SERIES = SeriesInfo("jp_test_reports", "Test reports", "count", country="JP")
#: Figures of any size and fraction (a count's must be whole).
NEW_MONEY = SeriesInfo("jp_test_losses_jpy", "Test losses", "JPY", country="JP")


def frame_of(*rows: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def test_a_changed_value_makes_a_new_revision_and_keeps_the_old(
    seeded_store: FigureStore,
) -> None:
    changed = row(series_id="jp_cybercrime_cleared", year="2018", value="9041")
    result = seeded_store.add_figures(frame_of(changed), source="fix.csv", message="restated")

    assert result.revision is not None and result.revision.id == 2
    assert result.changed == [("jp_cybercrime_cleared", 2018)]
    assert result.changed_series == ["jp_cybercrime_cleared"]
    assert seeded_store.values("jp_cybercrime_cleared").loc[2018] == 9041
    # the figure replaced is named with both values: a year typed wrong shows at once
    assert result.summary() == (
        "Revision 2: 0 added, 1 changed, 0 unchanged (jp_cybercrime_cleared). "
        "Revised: jp_cybercrime_cleared 2018: 9,040 → 9,041."
    )
    history = seeded_store.history("jp_cybercrime_cleared", 2018)
    assert history["value"].tolist() == [9040, 9041]
    assert history["revision_id"].tolist() == [1, 2]
    assert history["revision_message"].tolist()[1] == "restated"
    assert history["source_publisher"].tolist()[0] == "Japan Times (seed 000)"
    assert str(history["created_at"].dt.tz) == "UTC"


def test_revision_records_hash_time_source_message_and_counts(seeded_store: FigureStore) -> None:
    result = seeded_store.add_figures(
        frame_of(row(), row(series_id="jp_cybercrime_cleared", year="2018", value="9040")),
        source="npa-2024.csv",
        message="2024 report",
    )

    assert result.revision is not None
    stored = seeded_store.revision(result.revision.id)
    assert stored == result.revision
    assert (stored.source, stored.message) == ("npa-2024.csv", "2024 report")
    assert (stored.added, stored.changed, stored.unchanged) == (1, 1, 0)
    assert len(stored.content_hash) == 64
    assert stored.created_at.tzinfo is not None
    assert [revision.id for revision in seeded_store.revisions()] == [1, 2]
    with pytest.raises(UnknownRevision):
        seeded_store.revision(99)


def test_content_hash_ignores_row_order(figure_store: FigureStore) -> None:
    rows = [row(year=str(year), value=str(100 + year)) for year in range(2011, 2016)]
    other = FigureStore(figure_store.url.replace("figures.db", "other.db"))
    for store in (figure_store, other):
        store.add_series(SeriesInfo("jp_ib_transfer_cases", "IB cases", "count"))

    forward = figure_store.add_figures(frame_of(*rows), source="a.csv")
    backward = other.add_figures(frame_of(*reversed(rows)), source="b.csv")
    other.close()

    assert forward.revision is not None and backward.revision is not None
    assert forward.revision.content_hash == backward.revision.content_hash


def test_adding_the_same_figures_twice_is_a_no_op(seeded_store: FigureStore) -> None:
    batch = frame_of(row(), row(year="2026", value="5000"))
    first = seeded_store.add_figures(batch, source="a.csv")
    second = seeded_store.add_figures(batch, source="a.csv")

    assert not first.no_op and first.added == [
        ("jp_ib_transfer_cases", 2024),
        ("jp_ib_transfer_cases", 2026),
    ]
    assert second.no_op and second.revision is None
    assert len(second.unchanged) == 2
    assert "No change: all 2 figures are already in the store" in second.summary()
    assert len(seeded_store.revisions()) == 2
    one = seeded_store.add_figures(frame_of(row()), source="b.csv")
    assert one.summary().startswith("No change: the figure is already in the store")


def test_provenance_only_change_is_a_revision_but_not_a_data_change(
    seeded_store: FigureStore,
) -> None:
    before = seeded_store.data_revision_hash("jp_cybercrime_cleared")
    current = seeded_store.figures("jp_cybercrime_cleared").drop(columns="revision_id")
    current.loc[current["year"] == 2018, "note"] = "confirmed against the NPA PDF"

    result = seeded_store.add_figures(current, source="notes.csv")

    assert len(result.changed) == 1 and result.changed_series == []
    assert seeded_store.data_revision_hash("jp_cybercrime_cleared") == before


def test_a_bad_row_last_in_a_long_file_writes_nothing(seeded_store: FigureStore) -> None:
    before = seeded_store.figures()
    long_batch = before.drop(columns="revision_id").astype({"value": float})
    long_batch["value"] = long_batch["value"] + 1  # every row would be a change...
    bad_last = row(year="2024", value="-3")  # ...but the last row is refused
    long_batch = pd.concat([long_batch.astype(str), frame_of(bad_last)], ignore_index=True)

    with pytest.raises(InvalidFigures) as caught:
        seeded_store.add_figures(long_batch, source="long.csv")

    assert [problem.line for problem in caught.value.problems] == [len(long_batch) + 1]
    pd.testing.assert_frame_equal(seeded_store.figures(), before)
    assert len(seeded_store.revisions()) == 1


def test_a_crash_mid_write_rolls_everything_back(
    seeded_store: FigureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = seeded_store.figures()

    def crash(*_args: object) -> list[str]:
        raise RuntimeError("power cut after the rows were inserted")

    monkeypatch.setattr(data.batches, "jump_warnings", crash)
    with pytest.raises(RuntimeError):
        seeded_store.add_figures(frame_of(row(), row(year="2026")), source="crash.csv")

    pd.testing.assert_frame_equal(seeded_store.figures(), before)
    assert len(seeded_store.revisions()) == 1


def test_a_database_refusal_is_a_clear_rejection_not_a_raw_database_error(
    seeded_store: FigureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    validate = data.store.validate_figures

    def lets_a_duplicate_through(frame: pd.DataFrame, *known: object) -> pd.DataFrame:
        clean = validate(frame.iloc[:1], *known)  # type: ignore[arg-type]
        return pd.concat([clean, clean], ignore_index=True)

    monkeypatch.setattr(data.store, "validate_figures", lets_a_duplicate_through)
    with pytest.raises(InvalidFigures) as caught:
        seeded_store.add_figures(frame_of(row(), row(year="2026")), source="twice.csv")

    assert "the figure store refused these figures" in str(caught.value)
    assert "nothing was written" in str(caught.value)
    assert len(seeded_store.revisions()) == 1


def test_sharp_jumps_are_accepted_with_a_warning(seeded_store: FigureStore) -> None:
    result = seeded_store.add_figures(frame_of(row(value="50000")), source="typo.csv")

    assert seeded_store.values("jp_ib_transfer_cases").loc[2024] == 50000
    assert len(result.warnings) == 2
    assert "2024 = 50,000 is 9.0× up on the 2023 value 5,578" in result.warnings[0]
    assert "2025 = 4,747 is 10.5× down on the 2024 value 50,000" in result.warnings[1]


def test_a_rise_no_yearly_series_makes_is_refused_and_nothing_changes(
    seeded_store: FigureStore,
) -> None:
    """A typo of 1e24 for a series whose largest figure is 5,578 was once stored and served."""
    before = seeded_store.figures()
    with pytest.raises(InvalidFigures) as caught:
        seeded_store.add_figures(frame_of(row(year="2026", value="1e24")), source="typo.csv")

    (problem,) = caught.value.problems
    assert (problem.line, problem.column, problem.value) == (2, "value", "1e24")
    assert problem.reason == (
        "value is over 1,000 times the largest published figure of jp_ib_transfer_cases "
        "(5,578): no yearly series moves like that; check the number's unit and zeros"
    )
    pd.testing.assert_frame_equal(seeded_store.figures(), before)
    assert len(seeded_store.revisions()) == 1
    # just under the line, and after a declared definition break, a sharp jump is accepted
    # with a warning
    seeded_store.set_breaks("jp_ib_transfer_cases", [2026])
    result = seeded_store.add_figures(frame_of(row(year="2026", value="5578000")), source="b")
    assert seeded_store.values("jp_ib_transfer_cases").loc[2026] == 5_578_000
    assert "is 1,175.1× up on the 2025 value 4,747" in result.warnings[0]


@pytest.mark.parametrize(
    ("series_id", "year", "value", "said"),
    [
        # ¥11.25 billion typed in thousands of yen; 924x down is within the series' range
        (
            "jp_ib_transfer_losses_jpy",
            "2026",
            "11250000",
            "value is 924 times below the 2025 figure of jp_ib_transfer_losses_jpy "
            "(10,397,000,000): no yearly series moves like that in a year",
        ),
        # a revision between two years is compared with both
        (
            "jp_ib_transfer_cases",
            "2020",
            "1734000",
            "value is 926 times above the 2019 figure of jp_ib_transfer_cases (1,872)",
        ),
    ],
)
def test_a_figure_hundreds_of_times_off_its_neighbouring_year_is_refused(
    seeded_store: FigureStore, series_id: str, year: str, value: str, said: str
) -> None:
    before = seeded_store.figures()
    unit = "JPY" if series_id.endswith("_jpy") else "count"
    typo = row(series_id=series_id, year=year, value=value, unit=unit)
    with pytest.raises(InvalidFigures) as caught:
        seeded_store.add_figures(frame_of(typo), source="thousands.csv")

    (problem,) = caught.value.problems
    assert problem.reason.startswith(said), problem.reason
    assert problem.reason.endswith(f"`fraudcast series breaks {series_id} {year}`)")
    pd.testing.assert_frame_equal(seeded_store.figures(), before)


def test_the_neighbour_rule_reads_the_file_as_it_will_stand(seeded_store: FigureStore) -> None:
    """A file correcting a slipped year had its right figure refused against the wrong one
    still stored; a new series' first file was never checked; the break hint named only the
    new year, and following it would have wiped the series' other breaks."""
    seeded_store.add_series(NEW_SERIES)
    first = [row(series_id=NEW_SERIES.id, year="2024", value="950")]
    seeded_store.add_figures(frame_of(*first), source="first.csv")
    slipped = row(series_id=NEW_SERIES.id, year="2025", value="950000")
    seeded_store.set_breaks(NEW_SERIES.id, [2025])  # the only way the slip got in
    seeded_store.add_figures(frame_of(slipped), source="slip.csv")
    seeded_store.set_breaks(NEW_SERIES.id, [])
    fixed = [{**slipped, "value": "950"}, row(series_id=NEW_SERIES.id, year="2026", value="1000")]
    seeded_store.add_figures(frame_of(*fixed), source="fix.csv")
    assert seeded_store.values(NEW_SERIES.id).tolist() == [950, 950, 1000]

    fresh = SeriesInfo("jp_test_fresh", "Fresh", "count", breaks=(2010, 2015))
    seeded_store.add_series(fresh)
    rows = [row(series_id=fresh.id, year="2021", value="120")]
    rows.append(row(series_id=fresh.id, year="2022", value="50000"))
    with pytest.raises(InvalidFigures) as caught:
        seeded_store.add_figures(frame_of(*rows), source="fresh.csv")
    by_line = {problem.line: problem.reason for problem in caught.value.problems}
    assert by_line[3].startswith("value is 417 times above the 2021 figure of jp_test_fresh (120)")
    assert by_line[3].endswith("`fraudcast series breaks jp_test_fresh 2010,2015,2022`)")


def test_a_new_offence_may_rise_hundreds_of_times_from_a_handful_of_cases(
    seeded_store: FigureStore,
) -> None:
    seeded_store.add_series(NEW_SERIES)
    given = [row(series_id=NEW_SERIES.id, year="2023", value="3")]
    seeded_store.add_figures(frame_of(*given), source="first.csv")
    result = seeded_store.add_figures(
        frame_of(row(series_id=NEW_SERIES.id, year="2024", value="2000")), source="next.csv"
    )
    assert seeded_store.values(NEW_SERIES.id).tolist() == [3, 2000]
    assert "666.7× up" in result.warnings[0]


def test_a_fall_no_yearly_series_makes_is_refused_and_nothing_changes(
    seeded_store: FigureStore,
) -> None:
    """A revision of ¥141.4 billion to 1414.2 (typed in units of ¥100 million) was accepted
    with a warning, and the retrain served an interval whose upper bound was its mean."""
    series = "jp_special_fraud_losses_jpy"
    before = seeded_store.figures()
    smallest = float(before.loc[before["series_id"] == series, "value"].min())
    typo = row(series_id=series, year="2025", value="1414.2", unit="JPY")
    with pytest.raises(InvalidFigures) as caught:
        seeded_store.add_figures(frame_of(typo), source="oku.csv")

    (problem,) = caught.value.problems
    assert (problem.column, problem.value) == ("value", "1414.2")
    assert problem.reason == (
        f"value is under a 1,000th of the smallest published figure of {series} "
        f"({smallest:,.15g}): no yearly series moves like that; check the number's unit and zeros"
    )
    pd.testing.assert_frame_equal(seeded_store.figures(), before)
    # a count can be none: 0 stays allowed
    seeded_store.add_figures(frame_of(row(year="2026", value="0")), source="none.csv")
    assert seeded_store.values("jp_ib_transfer_cases").loc[2026] == 0


def test_a_fraction_of_a_count_is_refused(seeded_store: FigureStore) -> None:
    with pytest.raises(InvalidFigures) as caught:
        seeded_store.add_figures(frame_of(row(value="4369.5")), source="half.csv")

    (problem,) = caught.value.problems
    assert problem.reason == (
        "jp_ib_transfer_cases counts cases (count): value must be a whole number"
    )
    assert len(seeded_store.revisions()) == 1


def test_ordinary_changes_and_the_bundled_jumps_raise_no_warning(
    seeded_store: FigureStore,
) -> None:
    result = seeded_store.add_figures(frame_of(row(value="4369")), source="npa.csv")

    assert result.warnings == []


def test_data_revision_hash_is_stable_and_blind_to_other_series(
    seeded_store: FigureStore,
) -> None:
    cybercrime = seeded_store.data_revision_hash("jp_cybercrime_cleared")
    reopened = FigureStore(seeded_store.url)
    assert reopened.data_revision_hash("jp_cybercrime_cleared") == cybercrime
    reopened.close()

    seeded_store.add_figures(frame_of(row(value="4369")), source="other.csv")
    assert seeded_store.data_revision_hash("jp_cybercrime_cleared") == cybercrime

    restated = row(series_id="jp_cybercrime_cleared", year="2018", value="9041")
    seeded_store.add_figures(frame_of(restated), source="restated.csv")
    changed = seeded_store.data_revision_hash("jp_cybercrime_cleared")
    assert changed != cybercrime

    seeded_store.add_figures(frame_of({**restated, "value": "9040"}), source="revert.csv")
    assert seeded_store.data_revision_hash("jp_cybercrime_cleared") == cybercrime


def test_values_are_floats_indexed_by_year(seeded_store: FigureStore) -> None:
    cases = seeded_store.values("jp_cybercrime_cleared")

    assert cases.name == "jp_cybercrime_cleared"
    assert cases.dtype == "float64"
    assert cases.index.dtype == "int64"
    assert cases.index.is_monotonic_increasing
    assert cases.loc[2018] == 9040
    assert 2003 not in cases.index


def test_every_series_is_read_at_once_as_it_is_read_alone(seeded_store: FigureStore) -> None:
    """A retrain reads its whole population in one query: each series' figures as ``values``
    reads them, a restated figure at its latest value, a withdrawn one gone, a series with
    no figures yet left out."""
    seeded_store.add_figures(
        frame_of(row(series_id="jp_cybercrime_cleared", year="2018", value="9041")),
        source="fix.csv",
        message="restated",
    )
    seeded_store.withdraw_figures(
        "jp_cybercrime_cleared", [2019], source="fix.csv", message="typed into the wrong year"
    )
    seeded_store.add_series(NEW_SERIES)

    every = seeded_store.all_values()

    assert set(every) == {info.id for info in seeded_store.list_series()} - {NEW_SERIES.id}
    for series_id, values in every.items():
        pd.testing.assert_series_equal(values, seeded_store.values(series_id))
    assert every["jp_cybercrime_cleared"].loc[2018] == 9041
    assert 2019 not in every["jp_cybercrime_cleared"].index


def test_a_store_without_figures_reads_as_no_series(figure_store: FigureStore) -> None:
    figure_store.add_series(NEW_SERIES)

    assert figure_store.all_values() == {}


@pytest.mark.parametrize(
    "call",
    [
        lambda store: store.get_series("nope"),
        lambda store: store.figures("nope"),
        lambda store: store.values("nope"),
        lambda store: store.history("nope", 2020),
        lambda store: store.data_revision_hash("nope"),
    ],
)
def test_unknown_series_raise_a_typed_error(
    seeded_store: FigureStore, call: Callable[[FigureStore], object]
) -> None:
    with pytest.raises(UnknownSeries, match=r"unknown series 'nope'.*jp_cybercrime_cleared"):
        call(seeded_store)


def test_a_new_series_takes_figures_after_it_is_added(seeded_store: FigureStore) -> None:
    assert seeded_store.add_series(NEW_SERIES) is True
    assert seeded_store.add_series(NEW_SERIES) is False
    result = seeded_store.add_figures(
        frame_of(row(series_id=NEW_SERIES.id, year="2025", value="12")), source="new.csv"
    )

    assert result.changed_series == [NEW_SERIES.id]
    assert seeded_store.values(NEW_SERIES.id).to_dict() == {2025: 12.0}
    assert seeded_store.get_series(NEW_SERIES.id) == NEW_SERIES


def test_a_series_cannot_be_redefined(seeded_store: FigureStore) -> None:
    redefined = SeriesInfo("jp_cybercrime_cleared", "Cybercrime", "JPY")

    with pytest.raises(InvalidSeries, match="already exists with different metadata"):
        seeded_store.add_series(redefined)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": "Bad Id"}, "lower-case"),
        ({"title": " "}, "needs a title"),
        ({"unit": ""}, "needs a unit"),
        ({"breaks": (1800,)}, "break years"),
    ],
)
def test_bad_series_metadata_is_refused(fields: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"id": "jp_ok", "title": "OK", "unit": "count"}
    with pytest.raises(InvalidSeries, match=message):
        SeriesInfo(**{**base, **fields})  # type: ignore[arg-type]


def test_readers_never_see_half_a_batch(seeded_store: FigureStore) -> None:
    seeded_store.add_series(NEW_SERIES)
    batches = [
        frame_of(
            *(
                row(series_id=NEW_SERIES.id, year=str(year), value=str(n))
                for year in range(1950, 2026)
            )
        )
        for n in (1, 2, 3)
    ]
    seen: set[tuple[int, int]] = set()
    done = threading.Event()

    def read_until_done() -> None:
        reader = FigureStore(seeded_store.url)
        while not done.is_set():
            values = reader.values(NEW_SERIES.id)
            seen.add((len(values), len(set(values))))
        reader.close()

    threads = [threading.Thread(target=read_until_done) for _ in range(2)]
    for thread in threads:
        thread.start()
    for batch in batches:
        seeded_store.add_figures(batch, source="batch.csv")
    done.set()
    for thread in threads:
        thread.join()

    # Every read saw either no figures or one whole batch (76 years, all one value).
    assert seen <= {(0, 0), (76, 1)}


def test_opening_a_new_store_waits_for_a_writer_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (i INTEGER)")  # another process, mid-write:
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other VALUES (1)")
    threading.Timer(0.5, writer.execute, args=("COMMIT",)).start()
    store = FigureStore(f"sqlite:///{path}")
    try:
        store.ensure_seeded()  # SQLite refuses the switch to WAL at once while the writer holds
        assert len(store.figures()) == 116
    finally:
        store.close()
        writer.close()


def test_concurrent_first_use_seeds_exactly_once(figure_store: FigureStore) -> None:
    stores = [FigureStore(figure_store.url) for _ in range(4)]
    failures: list[BaseException] = []

    def first_use(store: FigureStore) -> None:
        try:
            store.ensure_seeded()
        except BaseException as error:  # e.g. "database is locked" while another sets it up
            failures.append(error)

    threads = [threading.Thread(target=first_use, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()

    assert failures == []  # every first user succeeds, not only the one that seeds
    assert len(figure_store.revisions()) == 1
    assert len(figure_store.figures()) == 116


@settings(max_examples=15, deadline=None)
@given(
    values=st.dictionaries(
        st.integers(min_value=1900, max_value=2025),
        st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=30,
    )
)
def test_current_figures_added_back_are_always_a_no_op(values: dict[int, float]) -> None:
    store = FigureStore("sqlite://")
    store.add_series(NEW_MONEY)
    batch = frame_of(
        *(
            row(series_id=NEW_MONEY.id, year=str(year), value=format_value(value), unit="JPY")
            for year, value in values.items()
        )
    )
    try:
        store.add_figures(batch, source="first.csv")
    except InvalidFigures as refused:  # a year 300x off its neighbour: refused whole
        assert all("times" in problem.reason for problem in refused.problems)
        assume(False)

    again = store.add_figures(store.figures().drop(columns="revision_id"), source="again.csv")

    assert again.no_op
    assert store.values(NEW_MONEY.id).to_dict() == values
    store.close()


def test_the_warning_threshold_is_five_times_either_way(seeded_store: FigureStore) -> None:
    seeded_store.add_series(NEW_SERIES)

    def add(year: int, value: str) -> list[str]:
        figure = row(series_id=NEW_SERIES.id, year=str(year), value=value)
        return seeded_store.add_figures(frame_of(figure), source=f"{year}.csv").warnings

    assert add(2010, "100") == []
    assert add(2011, "490") == []  # 4.9×: a real fraud jump, no warning
    assert len(add(2012, "2500")) == 1  # 5.1× up on 2011
    assert add(2013, "510") == []  # 4.9× down
    assert len(add(2014, "100")) == 1  # 5.1× down


def test_a_jump_from_or_to_zero_reads_as_a_sentence() -> None:
    from data.jumps import jump_warnings

    rise, fall = jump_warnings({"s": {2020: 0, 2021: 3, 2022: 0}}, [("s", 2021)])
    assert rise.startswith("s: 2021 = 3 is up from the 2020 value 0 (more than 5× either way)")
    assert fall.startswith("s: 2022 = 0 is down to zero from the 2021 value 3 (")


def test_only_a_percent_series_whose_figures_stay_within_0_to_100_is_a_share() -> None:
    from data.records import share_ceiling

    assert share_ceiling("percent", [94.1, 99.6]) == 100.0
    assert share_ceiling(" Per Cent ".replace(" ", ""), [5.0]) == 100.0
    assert share_ceiling("%", [0.0, 100.0]) == 100.0
    assert share_ceiling("percent", [12.0, 140.0]) is None  # a change in percent can pass 100
    assert share_ceiling("count", [94.1, 99.6]) is None


def test_a_count_typed_in_capitals_is_still_a_count(seeded_store: FigureStore) -> None:
    """Registered as "Count", a series had taken fractions and been charted as "14.44 Count"."""
    info = SeriesInfo("jp_phishing_sites", "Phishing sites", " Count ")
    assert info.unit == "count" and SeriesInfo("jp_x_jpy", "X", "jpy").unit == "JPY"
    seeded_store.add_series(info)
    half = row(series_id=info.id, year="2024", value="10.5", unit="Count")
    with pytest.raises(InvalidFigures, match="value must be a whole number"):
        seeded_store.add_figures(frame_of(half), source="half.csv")
    seeded_store.add_figures(frame_of({**half, "value": "10"}), source="whole.csv")
    assert seeded_store.values(info.id).tolist() == [10]


def test_yen_typed_as_yen_or_in_japanese_is_a_yen_series(seeded_store: FigureStore) -> None:
    """Registered as "yen", a losses series had been charted as "1,080,000,000.00 yen" with
    no ¥, and could never be put right: once it had figures it could not be removed."""
    for typed in ("yen", "Yen", "円", "¥"):
        assert SeriesInfo("jp_x_jpy", "X", typed).unit == "JPY"
    assert SeriesInfo("jp_x", "X", "件").unit == "count"
    assert SeriesInfo("jp_x", "X", "件数").unit == "count"  # the usual Japanese header
    assert SeriesInfo("jp_x_jpy", "X", "￥").unit == "JPY"
    # typed on a Japanese keyboard, full width: read as "%", not kept as a unit of no meaning
    assert {
        SeriesInfo("jp_x", "X", typed).unit for typed in ("%", "Percent", "per cent", "％")
    } == {"percent"}
    assert SeriesInfo("jp_x", "X", "per 100,000 people").unit == "per 100,000 people"
    info = SeriesInfo("jp_fake_shop_losses_jpy", "Fake-shop losses", "yen")
    seeded_store.add_series(info)
    figure = row(series_id=info.id, year="2024", value="1080000000", unit="円")
    seeded_store.add_figures(frame_of(figure), source="losses.csv")
    assert seeded_store.get_series(info.id).unit == "JPY"
    assert seeded_store.values(info.id).tolist() == [1_080_000_000]
    rate = SeriesInfo("jp_fake_shop_cleared", "Fake-shop cases cleared", "percent")
    seeded_store.add_series(rate)
    seeded_store.add_figures(
        frame_of(row(series_id=rate.id, year="2024", value="41.5", unit="%")), source="rate.csv"
    )
    assert seeded_store.values(rate.id).tolist() == [41.5]


def test_an_unknown_id_in_a_large_store_lists_a_few_known_series_not_all() -> None:
    """Every 404 had listed every known id: thousands of them in a store of thousands."""
    from data.errors import KNOWN_LISTED, UnknownSeries

    known = [f"series_{index:04d}" for index in range(3000)]
    message = str(UnknownSeries("series_12345", known))
    assert len(message) < 800
    assert f"and {3000 - KNOWN_LISTED} more (GET /v1/series, or `fraudcast series list`)" in message
    assert "series_0000, series_0001" in message and "series_2999" not in message
    few = str(UnknownSeries("nope", ["a_cases", "b_cases"]))
    assert few.endswith("Known series: a_cases, b_cases.")
