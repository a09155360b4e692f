"""The bundled figures load whole, once, with their provenance and their gaps."""

from __future__ import annotations

import pandas as pd

from data.bundled import BUNDLED_FIGURES, read_series_csv
from data.canonical import ACCESS_MODES
from data.store import FigureStore
from data.validation import read_figures_csv


def test_seed_loads_every_bundled_figure_and_series(figure_store: FigureStore) -> None:
    revision = figure_store.ensure_seeded()

    assert revision is not None
    assert revision.added == 116
    assert len(figure_store.figures()) == 116
    assert len(figure_store.list_series()) == 11


def test_seeding_twice_does_nothing_the_second_time(figure_store: FigureStore) -> None:
    figure_store.ensure_seeded()
    before = figure_store.figures()

    assert figure_store.ensure_seeded() is None
    assert len(figure_store.revisions()) == 1
    pd.testing.assert_frame_equal(figure_store.figures(), before)


def test_every_bundled_figure_keeps_its_source(seeded_store: FigureStore) -> None:
    current = seeded_store.figures()

    assert (current["source_publisher"].str.strip() != "").all()
    assert (current["source_title"].str.strip() != "").all()
    assert current["accessed_via"].isin(ACCESS_MODES).all()
    assert set(current["accessed_via"]) == {"primary", "secondary", "seed", "derived"}


def test_stored_figures_equal_the_bundled_file_cell_for_cell(seeded_store: FigureStore) -> None:
    bundled = read_figures_csv(BUNDLED_FIGURES).reset_index(drop=True)
    bundled = bundled.sort_values(["series_id", "year"]).reset_index(drop=True)
    current = seeded_store.figures()

    assert current["year"].astype(str).tolist() == bundled["year"].tolist()
    assert current["value"].tolist() == bundled["value"].astype(float).tolist()
    for column in ("source_publisher", "source_title", "source_url", "accessed_via", "note"):
        assert current[column].tolist() == bundled[column].tolist(), column


def test_missing_years_stay_missing(seeded_store: FigureStore) -> None:
    special_fraud = seeded_store.values("jp_special_fraud_cases")

    assert 2016 not in special_fraud.index
    assert 2019 not in special_fraud.index
    assert not special_fraud.isna().any()
    assert special_fraud.loc[2017] == 18201


def test_series_metadata_keeps_definition_breaks(seeded_store: FigureStore) -> None:
    bundled = {info.id: info for info in read_series_csv()}

    assert seeded_store.get_series("jp_special_fraud_cases").breaks == (2010, 2018)
    assert seeded_store.get_series("jp_cybercrime_cleared").breaks == (2003, 2011)
    assert {info.id: info for info in seeded_store.list_series()} == bundled
