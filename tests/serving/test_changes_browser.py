"""The cards' "What changed" section in headless Chromium against a real server.

Needs Debian's ``chromium`` (``apt-get install chromium``); skips with the reason when absent.
Set ``FRAUDCAST_SCREENSHOT_DIR=docs`` to also write the section's screenshot there.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.serving.conftest import QUIET, Changed
from tests.support import (
    BROWSER_MARKS,
    TRAINED,
    PageWatch,
    get_json,
    load_page,
    make_state,
    open_page,
    running_server,
)

pytestmark = BROWSER_MARKS
YEN = TRAINED[1]


@pytest.fixture(scope="module")
def base_url(changed: Changed) -> Iterator[str]:
    """A real server on stores where the yen series' projection changed once."""
    with running_server(make_state(changed.root, **QUIET)) as url:
        yield url


def _open(browser: Browser, base_url: str, width: int = 1280) -> tuple[Page, PageWatch]:
    """The page loaded, watching for console errors and off-server requests."""
    page, watch = open_page(browser, base_url, {"width": width, "height": 900})
    load_page(page, base_url + "/")
    return page, watch


def test_each_card_says_what_changed_newest_first(
    browser: Browser, base_url: str, tmp_path: Path
) -> None:
    answer = get_json(f"{base_url}/v1/series/{YEN}/changes")
    [change] = answer["changes"]
    page, watch = _open(browser, base_url)

    section = page.locator(f"#series-{YEN} .changes")
    section.locator(".change").first.wait_for(timeout=30_000)
    assert section.is_visible()
    assert section.locator("h3").inner_text() == "What changed"
    entry = section.locator(".change")
    assert entry.count() == 1
    assert entry.locator(".change-summary").inner_text() == change["summary"]
    when = entry.locator(".change-when").inner_text()
    assert f"version {change['previous_version']} → {change['version']}" in when
    figures = entry.locator(".change-figures li")
    assert figures.count() == 2
    assert figures.nth(0).inner_text().startswith("2026: ")
    assert "NPA 2026 annual report" in figures.nth(0).inner_text()
    assert figures.nth(1).inner_text().startswith("2025: revised from ")

    entry.locator(".change-projection summary").click()
    rows = entry.locator(".change-projection tbody tr")
    assert rows.count() == len(change["projection"])
    assert rows.first.locator("th").inner_text() == str(change["projection"][0]["year"])

    once = page.locator(f"#series-{TRAINED[0]} .changes")
    once.locator("p").wait_for(timeout=30_000)
    assert "has been trained once" in once.inner_text()
    # the card dates its training once, one way: "trained 04 December 2026 at 17:51 UTC" had
    # stood below the model card's "Trained 4 Dec 2026, 17:51 UTC"
    facts = page.locator(f"#series-{TRAINED[0]} .model-card .facts").inner_text()
    trained = re.search(r"Trained (\d{1,2} \w{3} \d{4}, \d\d:\d\d UTC)", facts)
    assert trained, facts
    assert f"trained {trained[1]}" in once.inner_text()
    assert page.locator("#series-cn_telecom_fraud_cases_solved .changes").is_hidden()

    shot = tmp_path / "page-changes.png"
    section.screenshot(path=str(shot))
    target = os.environ.get("FRAUDCAST_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)
    assert watch.clean(), watch


def test_the_section_fits_a_phone(browser: Browser, base_url: str) -> None:
    page, watch = _open(browser, base_url, width=390)
    entry = page.locator(f"#series-{YEN} .changes .change")
    entry.first.wait_for(timeout=30_000)
    entry.locator(".change-projection summary").click()
    assert entry.locator(".change-projection tbody tr").first.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert watch.clean(), watch
