"""A series as it stood after each revision, and the figures that differ between two states."""

from __future__ import annotations

import pandas as pd

from data.states import figure_changes, state_of
from data.store import FigureStore
from tests.data.conftest import row

SERIES = "jp_ib_transfer_cases"


def _add(store: FigureStore, *rows: dict[str, str], message: str = "") -> None:
    store.add_figures(pd.DataFrame(list(rows)), source="test", message=message)


def test_each_state_is_the_series_as_a_model_trained_then_would_have_seen_it(
    seeded_store: FigureStore,
) -> None:
    seeded = seeded_store.data_revision_hash(SERIES)
    _add(seeded_store, row(year="2024", value="5000"), message="2024 release")
    added = seeded_store.data_revision_hash(SERIES)
    _add(seeded_store, row(year="2024", value="5000", note="now final"))  # provenance only
    _add(seeded_store, row(series_id="jp_cybercrime_cleared", year="2026", value="9"))  # another
    _add(seeded_store, row(year="2023", value="1"), row(year="2024", value="5100"))
    revised = seeded_store.data_revision_hash(SERIES)

    states = seeded_store.series_states(SERIES)
    assert [state.data_revision for state in states] == [seeded, added, added, revised]
    assert len({state.revision_id for state in states}) == 4

    before, after = state_of(states, seeded), state_of(states, revised)
    assert before is not None and after is not None
    changes = figure_changes(before, after)
    assert [(c.figure.year, c.kind, c.previous_value, c.figure.value) for c in changes] == [
        (2024, "arrived", None, 5100.0),
        (2023, "revised", before.figures[2023].value, 1.0),
    ]
    assert changes[0].figure.note == "test row"
    assert changes[0].figure.source_publisher == "National Police Agency (警察庁)"

    # the latest state with the figures a model saw, at or before a given revision
    assert state_of(states, added) == states[2]
    assert state_of(states, added, up_to=states[1].revision_id) == states[1]
    assert state_of(states, "not a revision") is None
    assert figure_changes(states[1], states[2]) == []  # a new note changes no model's data
    [arrived] = figure_changes(before, states[1])
    assert arrived.figure.revision_message == "2024 release"
