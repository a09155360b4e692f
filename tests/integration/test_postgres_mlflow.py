"""Several modellers' setup: MLflow on a tracking server with PostgreSQL behind it and proxied
artifacts, and the figure store on the same PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, func, select

from data.schema import figures_table
from tests.integration.servers import mlflow_server, postgres_cluster
from tests.support import QUICK_CANDIDATES, TRAINED

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_train_on_a_postgres_backed_tracking_server_and_load_the_champion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from data.store import FigureStore
    from training.pipeline import retrain

    artifacts = tmp_path / "shared-artifacts"
    with (
        postgres_cluster(("mlflow", "figures")) as postgres,
        mlflow_server(f"{postgres}/mlflow", artifacts, tmp_path / "mlflow.log") as tracking,
    ):
        monkeypatch.setenv("FRAUDCAST_MLFLOW_TRACKING_URI", tracking)
        monkeypatch.setenv("FRAUDCAST_DATABASE_URL", f"{postgres}/figures")

        outcomes = retrain(list(TRAINED), candidates=QUICK_CANDIDATES)

        assert [o.status for o in outcomes] == ["promoted"] * len(TRAINED), outcomes
        store = FigureStore.from_settings()
        assert len(store.figures()) == 116
        store.close()
        engine = create_engine(f"{postgres}/figures")
        with engine.connect() as connection:  # the figures really are in PostgreSQL
            rows = connection.execute(select(func.count()).select_from(figures_table)).scalar()
        engine.dispose()
        assert rows == 116
        # Artifacts went through the server into its shared destination, not a local path.
        assert any(artifacts.rglob("MLmodel"))
        assert not (tmp_path / "artifacts").exists()
        # every candidate's CSVs and the charts too, uploaded straight to the runs' URIs
        assert len(list(artifacts.rglob("backtest.csv"))) > len(TRAINED)
        assert len(list(artifacts.rglob("candidates.csv"))) == len(TRAINED)
        assert len(list(artifacts.rglob("fan_chart.png"))) > len(TRAINED)

        mlflow.set_tracking_uri(tracking)
        mlflow.set_registry_uri(tracking)
        model = mlflow.pyfunc.load_model(f"models:/fraudcast.{TRAINED[0]}@champion")
        answer = model.predict(pd.DataFrame({"horizon": [3, 3], "level": [80.0, 95.0]}))

    assert len(answer) > 0
    assert {"mean", "lo-80", "hi-80"} <= set(map(str, answer.columns))
    assert (answer["lo-80"] <= answer["mean"]).all() and (answer["mean"] <= answer["hi-80"]).all()


def test_train_straight_into_a_postgres_tracking_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow on PostgreSQL without a server: the candidate runs go in one transaction a series
    from mlflow.tracking import MlflowClient

    from training.pipeline import retrain

    with postgres_cluster(("mlflow",)) as postgres:
        monkeypatch.setenv("FRAUDCAST_MLFLOW_TRACKING_URI", f"{postgres}/mlflow")
        [outcome] = retrain(list(TRAINED[:1]), candidates=QUICK_CANDIDATES)
        assert outcome.status == "promoted", outcome.reason
        client = MlflowClient(f"{postgres}/mlflow")
        experiment = client.get_run(outcome.run_id).info.experiment_id
        children = client.search_runs(
            [experiment], filter_string=f"tags.mlflow.parentRunId = '{outcome.run_id}'"
        )
        assert set(QUICK_CANDIDATES) <= {run.info.run_name for run in children}
        assert {run.info.status for run in children} == {"FINISHED"}
        selected = next(run for run in children if run.data.tags["selected"] == "true")
        assert selected.info.run_name == outcome.model
        assert selected.data.metrics["mase"] == pytest.approx(outcome.mase)
        files = {item.path for item in client.list_artifacts(selected.info.run_id)}
        assert {"backtest.csv", "forecast.csv", "fan_chart.png"} <= files


def test_retrains_on_hosts_sharing_a_postgres_store_take_turns(tmp_path: Path) -> None:
    import psycopg
    from filelock import FileLock

    from data.schema import POSTGRES_RETRAIN_LOCK_KEY
    from training.locking import RetrainBusy, retrain_lock
    from training.settings import TrainingSettings

    here = TrainingSettings(retrain_lock=tmp_path / "here.lock", retrain_lock_timeout=0.5)
    with postgres_cluster(("figures",)) as postgres:
        url = f"{postgres}/figures"
        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as other_host:
            other_host.execute(f"SELECT pg_advisory_lock({POSTGRES_RETRAIN_LOCK_KEY})")
            # another host's retrain blocks this one, whatever this host's lock file says
            busy = pytest.raises(RetrainBusy, match=r"retrain lock on .*127\.0\.0\.1.* for 0\.5 s")
            with busy, retrain_lock(url, here):
                pass
            other_host.execute(f"SELECT pg_advisory_unlock({POSTGRES_RETRAIN_LOCK_KEY})")
            with FileLock(here.retrain_lock), retrain_lock(url, here):
                # held in PostgreSQL, where the other host sees it
                taken = other_host.execute(
                    f"SELECT pg_try_advisory_lock({POSTGRES_RETRAIN_LOCK_KEY})"
                ).fetchone()
                assert taken == (False,)
            # released at the end: the other host gets it at once
            taken = other_host.execute(
                f"SELECT pg_try_advisory_lock({POSTGRES_RETRAIN_LOCK_KEY})"
            ).fetchone()
            assert taken == (True,)
