"""The MLflow UI in headless Chromium: a modeller compares a series' candidates side by side.

Starts ``mlflow server`` against the tracking store of a real training (``trained_root``),
opens the series' experiment, selects the candidate runs of its retrain and opens their
comparison. Needs Debian's ``chromium`` (``apt-get install chromium``); skips with the reason
when absent. Set ``FRAUDCAST_SCREENSHOT_DIR=docs`` to also write ``mlflow-compare.png`` there.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from playwright.sync_api import Page, ViewportSize, sync_playwright

from serving.services import model_card
from tests.integration.servers import mlflow_server
from tests.support import BROWSER_MARKS, QUICK_CANDIDATES, launch_chromium, make_state
from training.tracking import ROLE_TAG, experiment_name

# Wide and tall enough that every candidate's column and the metrics table fit on screen.
VIEWPORT: ViewportSize = {"width": 1600, "height": 1400}
SERIES_ID = "jp_cybercrime_cleared"
START_TIMEOUT_S = 120
UI_TIMEOUT_MS = 60_000  # the React app's first load takes ~10 s on this machine
pytestmark = BROWSER_MARKS


@dataclass(frozen=True)
class Candidate:
    """A candidate's child run, as the tracking store holds it."""

    run_id: str
    name: str
    mase: float


def ui_metric(value: float) -> str:
    """A metric as the MLflow UI prints it (a port of its ``Utils.formatMetric``)."""
    if value == 0:
        return "0"
    if abs(value) < 1e-3:
        mantissa, exponent = f"{value:.3e}".split("e")
        return f"{mantissa}e{int(exponent):+d}"
    scale = 1000 if abs(value) < 10 else 100 if abs(value) < 100 else 10
    rounded = math.floor(value * scale + 0.5) / scale  # JavaScript's Math.round
    text = repr(rounded)
    return text.removesuffix(".0")


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1.43993, "1.44"), (2.2050598, "2.205"), (26.3749, "26.37"), (340.26, "340.3"), (1.0, "1")],
)
def test_metrics_are_formatted_as_the_ui_prints_them(value: float, shown: str) -> None:
    assert ui_metric(value) == shown


@pytest.fixture(scope="module")
def experiment(trained_root: Path) -> tuple[str, list[Candidate]]:
    """The series' experiment id and the candidates of its newest retrain, read via MLflow."""
    client = MlflowClient(tracking_uri=f"sqlite:///{trained_root / 'mlflow.db'}")
    found = client.get_experiment_by_name(experiment_name(SERIES_ID))
    assert found is not None, f"training made no experiment for {SERIES_ID}"
    experiment_id = str(found.experiment_id)
    parent = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{ROLE_TAG}` = 'retrain'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )[0]
    children = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
    )
    candidates = [
        Candidate(run.info.run_id, run.info.run_name or "", run.data.metrics["mase"])
        for run in children
    ]
    assert set(QUICK_CANDIDATES) <= {c.name for c in candidates}
    return experiment_id, candidates


@pytest.fixture(scope="module")
def mlflow_ui(trained_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow server`` (the UI and its REST API) on the trained store; yields its URL."""
    log = tmp_path_factory.mktemp("mlflow-ui") / "server.log"
    store = f"sqlite:///{trained_root / 'mlflow.db'}"
    with mlflow_server(store, trained_root / "artifacts", log, timeout=START_TIMEOUT_S) as url:
        yield url


def _open_comparison(page: Page, url: str, experiment_id: str, candidates: list[Candidate]) -> None:
    """From the experiment list: open the series, its runs, select the candidates, compare."""
    # MLflow announces features in popovers ("Detect Issues in Your Traces") that cover the
    # page until dismissed, at a moment that varies: dismiss one whenever it blocks an action
    page.add_locator_handler(
        page.get_by_role("button", name="Got it", exact=True), lambda button: button.click()
    )
    page.goto(f"{url}/#/experiments")
    page.get_by_role("link", name=experiment_name(SERIES_ID), exact=True).click(
        timeout=UI_TIMEOUT_MS
    )
    page.get_by_role("link", name="Training runs", exact=True).click(timeout=UI_TIMEOUT_MS)
    parent_id = _parent_row_id(page, candidates)
    name_cell = page.locator(f".ag-row[row-id='{parent_id}'] [col-id='attributes.`Run Name`']")
    name_cell.wait_for(timeout=UI_TIMEOUT_MS)
    assistant = page.get_by_role("button", name="Close", exact=True)
    if assistant.is_visible():  # the assistant side panel only narrows the view
        assistant.click()
    name_cell.get_by_role("button").click()  # expand the retrain to show its candidate runs
    for candidate in candidates:
        row = page.locator(f".ag-row[row-id='{candidate.run_id}']")
        row.get_by_role("checkbox", name="toggle row selection").check(timeout=UI_TIMEOUT_MS)
    page.get_by_role("button", name="Compare", exact=True).click()
    page.get_by_text(f"Comparing {len(candidates)} Runs", exact=False).wait_for(
        timeout=UI_TIMEOUT_MS
    )
    assert f"experiments=[%22{experiment_id}%22]" in page.url


def _parent_row_id(page: Page, candidates: list[Candidate]) -> str:
    """The retrain run that holds the candidates (its row is the collapsed one in the table)."""
    page.locator(".ag-row").first.wait_for(timeout=UI_TIMEOUT_MS)
    ids = page.locator(".ag-row[row-id]").evaluate_all(
        "rows => [...new Set(rows.map(r => r.getAttribute('row-id')))]"
    )
    others = [row_id for row_id in ids if row_id not in {c.run_id for c in candidates}]
    assert len(others) == 1, f"expected one retrain run in the table, found {others}"
    return str(others[0])


def _shown_in_column(page: Page, x: float, y: float) -> str:
    """The text the page shows at a point of the viewport."""
    return str(
        page.evaluate("([x, y]) => document.elementFromPoint(x, y)?.innerText ?? ''", [x, y])
    )


def test_the_candidates_of_a_series_compare_side_by_side_with_their_mase(
    mlflow_ui: str, experiment: tuple[str, list[Candidate]], tmp_path: Path
) -> None:
    experiment_id, candidates = experiment
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            _open_comparison(page, mlflow_ui, experiment_id, candidates)
            page.get_by_role("button", name="Toggle sidebar").click()
            page.get_by_text("Visualizations", exact=True).click()  # fold the plots away
            names_row = page.locator("tr", has=page.locator("th", has_text="Run Name:"))
            names_row.wait_for(timeout=UI_TIMEOUT_MS)
            cells = names_row.locator("td")
            shown_names = [text.strip() for text in cells.all_inner_texts()]
            assert sorted(shown_names) == sorted(c.name for c in candidates)
            # Each candidate's MASE sits in its own column, in the row the metric names.
            columns = {}
            for index, name in enumerate(shown_names):
                box = cells.nth(index).bounding_box()
                assert box is not None, name
                columns[name] = box["x"] + box["width"] / 2
            mase_label = page.get_by_role("link", name="mase", exact=True)
            mase_label.scroll_into_view_if_needed()
            label_box = mase_label.bounding_box()
            assert label_box is not None
            row_y = label_box["y"] + label_box["height"] / 2
            shown_mase = {
                name: _shown_in_column(page, x, row_y).strip() for name, x in columns.items()
            }
            assert shown_mase == {c.name: ui_metric(c.mase) for c in candidates}
            page.get_by_text("Run details", exact=True).scroll_into_view_if_needed()
            shot = tmp_path / "mlflow-compare.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 20_000  # a blank page compresses to almost nothing
        finally:
            browser.close()
    target = os.environ.get("FRAUDCAST_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)


def test_a_model_cards_mlflow_link_opens_the_retrain_that_chose_the_champion(
    mlflow_ui: str, experiment: tuple[str, list[Candidate]], trained_root: Path
) -> None:
    """The card linked to ``#/experiments/search?searchFilter=<series>``, which MLflow 3 reads
    as an experiment whose id is "search": "Experiment load error" on every card."""
    experiment_id, _ = experiment
    state = make_state(trained_root, mlflow_ui_url=mlflow_ui)
    state.board.refresh()
    card = model_card(state.store, state.board, SERIES_ID, mlflow_ui)
    run_id = state.board.get(SERIES_ID).card.run_id
    assert card.mlflow_experiment_url == f"{mlflow_ui}/#/experiments/{experiment_id}/runs/{run_id}"
    run_name = MlflowClient(tracking_uri=state.training.mlflow_tracking_uri).get_run(run_id)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(card.mlflow_experiment_url)
            page.get_by_text(str(run_name.info.run_name), exact=True).first.wait_for(
                timeout=UI_TIMEOUT_MS
            )
            assert "Experiment load error" not in page.inner_text("body")
        finally:
            browser.close()
