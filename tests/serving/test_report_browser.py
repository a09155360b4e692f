"""The planner page's "Download the outlook (PDF)" link, clicked in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.support import BROWSER_MARKS, TRAINED, load_page, make_state, running_server

pytestmark = [
    *BROWSER_MARKS,
    pytest.mark.skipif(
        shutil.which("pdftotext") is None,
        reason="poppler's pdftotext is not installed (apt-get install poppler-utils)",
    ),
]


@pytest.fixture(scope="module")
def base_url(trained_root: Path) -> Iterator[str]:
    with running_server(make_state(trained_root)) as url:
        yield url


def test_the_outlook_link_downloads_the_brief_of_the_view_shown(
    browser: Browser, base_url: str
) -> None:
    page = browser.new_page(accept_downloads=True)
    load_page(page, f"{base_url}/?horizon=3&levels=80,90")
    link = page.get_by_role("link", name="Download the outlook (PDF)")
    assert link.is_visible()
    page.get_by_label("Years ahead").focus()
    page.keyboard.press("ArrowRight")  # the brief follows the view: now 4 years ahead
    page.wait_for_function("() => location.search.includes('horizon=4')")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == "fraudcast-outlook.pdf"
    text = subprocess.run(
        ["pdftotext", "-layout", download.path(), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Every projection: 4 years ahead, with 80% and 90% intervals." in text
    for series_id in TRAINED:
        assert f"{series_id} ·" in text
    rows = re.findall(r"^\s*20\d\d\s+[\d,]+\s+[\d,]+ – [\d,]+\s+[\d,]+ – [\d,]+\s*$", text, re.M)
    assert len(rows) == 4 * len(TRAINED)  # four years, with the two intervals, per series
    page.close()
