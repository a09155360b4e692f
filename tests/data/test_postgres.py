"""The same store on PostgreSQL: on the server FRAUDCAST_TEST_POSTGRES_URL names, else on a
throwaway cluster of Debian's postgresql (`make test` installs it; the test skips without it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pandas as pd
import pytest
from sqlalchemy import create_engine

from data.errors import InvalidFigures
from data.store import FigureStore
from tests.integration.servers import postgres_cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """The test server's URL, or that of a throwaway cluster's ``figures`` database."""
    given = os.environ.get("FRAUDCAST_TEST_POSTGRES_URL", "")
    if given:
        yield given
        return
    with postgres_cluster(("figures",)) as base:
        yield f"{base}/figures"


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[FigureStore]:
    """A store in a fresh schema of the test server, dropped afterwards."""
    schema = f"fraudcast_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in postgres_url else "?"
    store = FigureStore(f"{postgres_url}{separator}options=-csearch_path%3D{schema}")
    yield store
    store.close()
    with admin.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


def test_seed_revise_and_refuse_on_postgres(postgres_store: FigureStore) -> None:
    assert postgres_store.ensure_seeded() is not None
    assert postgres_store.ensure_seeded() is None
    assert len(postgres_store.figures()) == 116

    cybercrime = postgres_store.figures("jp_cybercrime_cleared").drop(columns="revision_id")
    cybercrime.loc[cybercrime["year"] == 2018, "value"] = 9041
    revised = postgres_store.add_figures(cybercrime, source="restated.csv")
    again = postgres_store.add_figures(cybercrime, source="restated.csv")

    assert revised.changed == [("jp_cybercrime_cleared", 2018)] and again.no_op
    assert postgres_store.history("jp_cybercrime_cleared", 2018)["value"].tolist() == [9040, 9041]

    before = postgres_store.figures()
    bad_last = pd.concat(
        [cybercrime.astype(str), cybercrime.head(1).astype(str).assign(year="1800")],
        ignore_index=True,
    )
    with pytest.raises(InvalidFigures):
        postgres_store.add_figures(bad_last, source="bad.csv")
    pd.testing.assert_frame_equal(postgres_store.figures(), before)
    assert len(postgres_store.revisions()) == 2
