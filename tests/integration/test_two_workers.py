"""The API keeps no state of its own: two server processes on the same stores answer with the
same champion, and both switch to a champion promoted by a third process."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from data.settings import PROJECT_ROOT
from tests.integration.servers import background_process, free_port, wait_for_http
from tests.support import QUICK_CANDIDATES, TRAINED, environment, make_state, train_into, yen_figure
from training.pipeline import retrain

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
SERIES = TRAINED[1]
#: Seconds both workers get to pick a promotion up (they look every 0.3 s).
PICKUP_TIMEOUT = 30.0


def _served_model(base_url: str) -> dict[str, Any]:
    url = f"{base_url}/v1/series/{SERIES}/forecast?horizon=2&levels=80"
    with urllib.request.urlopen(url, timeout=10) as answer:
        model: dict[str, Any] = json.load(answer)["model"]
    return model


def test_two_workers_serve_the_same_champion_and_both_pick_up_a_promotion(
    tmp_path: Path,
) -> None:
    root = train_into(tmp_path / "stores")
    env = environment(root, FRAUDCAST_RELOAD_INTERVAL="0.3", FRAUDCAST_SCHEDULER_ENABLED="false")
    with ExitStack() as servers:
        urls = []
        for worker in (1, 2):
            port = free_port()
            command = [
                sys.executable, "-m", "uvicorn", "serving.app:create_app", "--factory",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            ]  # fmt: skip
            log = tmp_path / f"worker-{worker}.log"
            process = servers.enter_context(background_process(command, log, env, PROJECT_ROOT))
            urls.append((f"http://127.0.0.1:{port}", process, log))
        for url, process, log in urls:
            wait_for_http(f"{url}/readyz", process, log)
        before = [_served_model(url) for url, _, _ in urls]
        assert before[0] == before[1]

        state = make_state(root)
        latest = state.store.values(SERIES)
        added = state.store.add_figures(
            pd.DataFrame([yen_figure(int(latest.index[-1]) + 1, float(latest.iloc[-1]) * 1.1)]),
            source="next-year.csv",
        )
        assert not added.no_op
        (outcome,) = retrain([SERIES], store=state.store, settings=state.training,
                             candidates=QUICK_CANDIDATES)  # fmt: skip
        state.store.close()
        assert outcome.status in {"promoted", "refreshed"}, outcome
        assert outcome.data_revision != before[0]["data_revision"]

        deadline = time.monotonic() + PICKUP_TIMEOUT
        served = before
        while time.monotonic() < deadline:
            served = [_served_model(url) for url, _, _ in urls]
            if all(model["data_revision"] == outcome.data_revision for model in served):
                break
            time.sleep(0.2)
        assert [model["data_revision"] for model in served] == [outcome.data_revision] * 2
        assert served[0]["version"] == served[1]["version"] == str(outcome.version)
