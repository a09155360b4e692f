"""The "What if" field of the planner page in headless Chromium against a real server.

Needs Debian's ``chromium``; skips with the reason when absent. Set
``FRAUDCAST_SCREENSHOT_DIR=docs`` to also write the README's ``page-scenario.png`` there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest
from playwright.sync_api import Browser, Page

from tests.support import (
    BROWSER_MARKS,
    TRAINED,
    chart_traces,
    load_page,
    make_state,
    open_page,
    running_server,
)

pytestmark = BROWSER_MARKS
SERIES = TRAINED[0]  # jp_cybercrime_cleared: figures to 2025
CARD = f"#series-{SERIES}"


@pytest.fixture(scope="module")
def base_url(trained_root: Path) -> Iterator[str]:
    with running_server(make_state(trained_root)) as url:
        yield url


def _api_scenario(base_url: str, series_id: str, body: dict[str, Any]) -> Any:
    request = Request(
        f"{base_url}/v1/series/{series_id}/scenario",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urlopen(request, timeout=30) as response:
        return json.load(response)


def _drawn(page: Page, series_id: str) -> dict[str, list[float]]:
    """The what-if traces of a card's chart: name -> y values, as Plotly holds them."""
    return dict(
        page.evaluate(
            """id => [...document.querySelector(`#series-${id} .chart`).data]
                .filter(t => t.name.startsWith('What if')).map(t => [t.name, [...t.y]])""",
            series_id,
        )
    )


def _what_if(page: Page, year: str, value: str) -> None:
    card = page.locator(CARD)
    card.locator("select[name=year]").select_option(year)
    card.locator("input[name=value]").fill(value)
    card.locator("button[type=submit]").click()


def _expect_scenario(page: Page, base_url: str, horizon: int) -> None:
    """The card draws the API's scenario for 20,000 in 2026 and says how it moves."""
    page.wait_for_selector(f"{CARD}[data-scenario=drawn]", timeout=30_000)
    body = {"figures": [{"year": 2026, "value": 20000}], "horizon": horizon, "levels": [80, 95]}
    api = _api_scenario(base_url, SERIES, body)
    drawn = _drawn(page, SERIES)
    assert drawn["What if: assumed figure"] == [20000]
    assert drawn["What if: projection"] == [p["mean"] for p in api["forecast"][1:]]
    last_figure = page.evaluate(
        "id => document.querySelector(`#series-${id} .chart`).data"
        ".find(t => t.name === 'Figure').y.at(-1)",
        SERIES,
    )
    assert drawn["What if"] == [last_figure] + [p["mean"] for p in api["forecast"]]
    assert drawn["What if: 95% interval"][1:] == [p["upper"]["95"] for p in api["forecast"][1:]]
    words = page.locator(f"{CARD} .what-if-comparison").inner_text().strip()
    assert words == api["comparison"]
    assert words.startswith(f"With 20,000 in 2026, the {2025 + horizon} projection is ")
    assert "Hypothetical, not stored" in page.locator(f"{CARD} .what-if-basis").inner_text()
    assert chart_traces(page, SERIES)["Forecast"] == horizon  # the projection stays drawn


def test_a_typed_what_if_is_drawn_beside_the_projection_and_a_link_reproduces_it(
    browser: Browser, base_url: str, tmp_path: Path
) -> None:
    page, watch = open_page(browser, base_url)
    load_page(page, base_url + "/")
    assert not _drawn(page, SERIES)
    _what_if(page, "2026", "20,000")
    _expect_scenario(page, base_url, horizon=5)
    assert "whatif=jp_cybercrime_cleared:2026:20000" in page.url
    page.evaluate(  # the card at the top of the screen, below the sticky controls
        """id => window.scrollTo(0, document.getElementById(id).getBoundingClientRect().top
            + window.scrollY - document.getElementById('controls').offsetHeight - 8)""",
        f"series-{SERIES}",
    )
    shot = tmp_path / "page-scenario.png"
    page.screenshot(path=str(shot))
    target = os.environ.get("FRAUDCAST_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)

    page.focus("#horizon")  # another horizon redraws the what-if, and the address keeps both
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        f"() => document.querySelector('{CARD} .what-if-comparison')"
        "?.textContent.includes('the 2031 projection')",
        timeout=30_000,
    )
    _expect_scenario(page, base_url, horizon=6)
    assert "horizon=6" in page.url and "whatif=jp_cybercrime_cleared:2026:20000" in page.url

    link = page.url
    again, watch_again = open_page(browser, base_url)
    load_page(again, link)
    _expect_scenario(again, base_url, horizon=6)
    assert again.locator(f"{CARD} select[name=year]").input_value() == "2026"
    assert again.locator(f"{CARD} input[name=value]").input_value() == "20000"
    assert not _drawn(again, TRAINED[1])  # only the card the link names
    assert watch.clean(), watch
    assert watch_again.clean(), watch_again


# "％" as a rate would be typed: the sign is dropped as 件 and 円 are
@pytest.mark.parametrize("typed", ["２００００", "20,000件", "2万", "２万", "20000％"])
def test_a_what_if_typed_with_a_japanese_ime_is_read_as_the_number(
    browser: Browser, base_url: str, typed: str
) -> None:
    """Full-width digits, a counter word and 万 had been refused as "not a number"."""
    page, watch = open_page(browser, base_url)
    load_page(page, base_url + "/")
    _what_if(page, "2026", typed)
    _expect_scenario(page, base_url, horizon=5)
    assert page.locator(f"{CARD} input[name=value]").get_attribute("aria-invalid") == "false"
    assert watch.clean(), watch


def test_a_what_if_outside_the_rules_says_why_and_clear_takes_it_away(
    browser: Browser, base_url: str
) -> None:
    page, watch = open_page(browser, base_url)
    load_page(page, base_url + f"/?whatif={SERIES}:2026:20000")
    page.wait_for_selector(f"{CARD}[data-scenario=drawn]", timeout=30_000)
    _what_if(page, "2026", "-5")
    page.wait_for_selector(f"{CARD}[data-scenario=refused]", timeout=30_000)
    # in plain words, saying how a fall is typed (it had said "The value must be >= 0: figures
    # of jp_cybercrime_cleared (count) are never negative")
    refusal = page.locator(f"{CARD} .what-if-result").inner_text()
    assert "never below 0" in refusal and "-20%" in refusal and SERIES not in refusal
    # refused, not only unreadable: said to a screen reader too
    assert page.locator(f"{CARD} input[name=value]").get_attribute("aria-invalid") == "true"
    assert not _drawn(page, SERIES)  # the refused what-if is not drawn, nor the one before
    assert "whatif" not in page.url  # nor does a link bring either back
    _what_if(page, "2026", "lots")
    assert "Type the number as 8000, 8,000" in page.locator(f"{CARD} .what-if-result").inner_text()
    value = page.locator(f"{CARD} input[name=value]")
    assert value.get_attribute("aria-invalid") == "true"  # said to a screen reader too
    _what_if(page, "2027", "30000")  # 2026 is filled in between
    page.wait_for_selector(f"{CARD}[data-scenario=drawn]", timeout=30_000)
    assert "2026 filled by interpolation" in page.locator(f"{CARD} .what-if-basis").inner_text()
    assert "whatif=jp_cybercrime_cleared:2027:30000" in page.url
    refusals = len(watch.errors)
    page.focus("#horizon")  # one year ahead ends within the what-if's years: it says so...
    page.keyboard.press("Home")
    page.wait_for_selector(f"{CARD}[data-scenario=refused]", timeout=30_000)
    assert "at least 3 years" in page.locator(f"{CARD} .what-if-result").inner_text()
    assert len(watch.errors) == refusals  # ...without asking the API for a 422
    assert "whatif=jp_cybercrime_cleared:2027:30000" in page.url
    page.keyboard.press("ArrowRight")  # ...and draws it again with enough years
    page.keyboard.press("ArrowRight")
    page.wait_for_selector(f"{CARD}[data-scenario=drawn]", timeout=30_000)
    assert len(_drawn(page, SERIES)["What if: projection"]) == 1  # 2028, after 2026 and 2027
    page.locator(f"{CARD} .what-if button", has_text="Clear").click()
    page.wait_for_selector(f"{CARD}[data-scenario=none]", timeout=30_000)
    assert not _drawn(page, SERIES)
    assert "whatif" not in page.url
    assert page.locator(f"{CARD} .what-if-result").inner_text() == ""
    # the browser itself reports a 422 it was given; nothing else may go wrong
    assert all("422" in error for error in watch.errors), watch
    assert not watch.outside_requests


def test_a_what_if_answer_cut_off_by_a_newer_change_is_not_taken_for_an_answer(
    browser: Browser, base_url: str
) -> None:
    """The horizon changed while a what-if's answer was being read: the read, aborted, was
    taken for an empty answer, and drawing it threw "Cannot read properties of undefined
    (reading 'map')". The page's own module is given an answer whose body read is aborted."""
    page, watch = open_page(browser, base_url)
    load_page(page, base_url + "/")
    outcome = page.evaluate(
        """async () => {
            const { refreshScenario } = await import('/static/scenario.js');
            const card = document.createElement('div');
            card.innerHTML = '<div class="what-if-result"></div>';
            const entry = {
                series: { id: 'x' }, figures: [{ year: 2025, value: 1 }], element: card,
                whatIf: { year: 2026, value: 2 }, scenario: null,
                whatIfParts: {
                    result: card.firstChild, clear: {}, reach: {}, submit: {},
                    year: document.createElement('select'),
                },
            };
            const aborted = () => Promise.reject(new DOMException('cut off', 'AbortError'));
            const realFetch = window.fetch;
            window.fetch = async () => ({ ok: true, json: aborted });
            try {
                await refreshScenario(entry, { horizon: 5, levels: [80] }, undefined);
                return `answered: ${JSON.stringify(entry.scenario)}`;
            } catch (error) {
                return `${error.name}: ${JSON.stringify(entry.scenario)}`;
            } finally {
                window.fetch = realFetch;
            }
        }"""
    )
    assert outcome == "AbortError: null"
    assert watch.clean(), watch


def _assumed(page: Page) -> float:
    page.wait_for_selector(f"{CARD}[data-scenario=drawn]", timeout=30_000)
    [value] = _drawn(page, SERIES)["What if: assumed figure"]
    return value


def test_a_change_in_percent_is_taken_on_the_years_projection_and_said(
    browser: Browser, base_url: str
) -> None:
    """ "-20%" had been sent as -20 and refused with "The value must be >= 0: figures of
    jp_…_jpy (JPY) are never negative; got -20"."""
    page, watch = open_page(browser, base_url)
    load_page(page, base_url + "/")
    projected = page.evaluate(
        "id => document.querySelector(`#series-${id} .chart`).data"
        ".find(t => t.name === 'Forecast').y[1]",
        SERIES,
    )  # 2027's
    _what_if(page, "2027", "-20%")
    fall = float(f"{projected * 0.8:.3g}")  # to 3 significant figures, as a projection is worth
    assert _assumed(page) == fall
    typed = page.locator(f"{CARD} .what-if-typed").inner_text()
    assert typed == f"-20% on the 2027 projection ({projected:,.0f}) is {fall:,.0f}."
    assert f"whatif={SERIES}:2027:{fall:.0f}" in page.url
    _what_if(page, "2027", "＋１５％")  # as a Japanese IME types it
    assert _assumed(page) == float(f"{projected * 1.15:.3g}")
    assert watch.clean(), watch


def test_a_change_on_a_yen_projection_names_the_figure_the_sentence_assumes(
    browser: Browser, base_url: str
) -> None:
    """ "-20% on the 2026 projection (¥11B) is ¥8.8B." had stood above "With ¥8.77B in 2026,
    the 2030 projection is ...": one what-if figure written two ways."""
    yen = TRAINED[1]
    page, watch = open_page(browser, base_url)
    load_page(page, base_url + "/")
    card = page.locator(f"#series-{yen}")
    card.locator("select[name=year]").select_option("2026")
    card.locator("input[name=value]").fill("-20%")
    card.locator("button[type=submit]").click()
    page.wait_for_selector(f"#series-{yen}[data-scenario=drawn]", timeout=30_000)
    typed = card.locator(".what-if-typed").inner_text()
    [amount] = re.findall(r"is (¥[0-9.]+[MBT])\.$", typed)
    assert f"With {amount} in 2026," in card.locator(".what-if-result").inner_text()
    assert watch.clean(), watch


def test_a_fraction_of_a_count_is_rounded_and_said(browser: Browser, base_url: str) -> None:
    """ "20000.4" cases had been drawn as 20000.4 cases."""
    page, watch = open_page(browser, base_url)
    load_page(page, base_url + "/")
    _what_if(page, "2026", "20000.4")
    assert _assumed(page) == 20000
    assert page.locator(f"{CARD} .what-if-typed").inner_text() == (
        "A count is whole: 20000.4 is taken as 20,000."
    )
    assert watch.clean(), watch


@pytest.mark.parametrize("typed", ["¥9,000,000,000", "9B", "9 billion", "9bn", "9000M", "90億"])
def test_yen_typed_as_the_page_writes_it_is_read(
    browser: Browser, base_url: str, typed: str
) -> None:
    """ "102B", "102 billion" and "¥102,000,000,000" had been refused as "not a number", though
    the page writes yen as "¥127.5B"; its own example had been cut off ("e.g. 127470000…")."""
    yen = TRAINED[1]
    page, watch = open_page(browser, base_url)
    load_page(page, base_url + "/")
    card = page.locator(f"#series-{yen}")
    field = card.locator("input[name=value]")
    example = field.get_attribute("placeholder") or ""
    assert re.fullmatch(r"e\.g\. ¥\d+(\.\d)?B", example), example
    assert page.evaluate("el => el.scrollWidth <= el.clientWidth + 1", field.element_handle())
    field.fill(typed)
    card.locator("button[type=submit]").click()
    page.wait_for_selector(f"#series-{yen}[data-scenario=drawn]", timeout=30_000)
    assert _drawn(page, yen)["What if: assumed figure"] == [9e9]
    assert watch.clean(), watch


def test_an_unreadable_what_if_says_the_forms_that_work_and_takes_the_old_one_away(
    browser: Browser, base_url: str
) -> None:
    """Refused as "not a number", the drawn what-if's sentence went but its line stayed, and
    the address still brought it back."""
    yen = TRAINED[1]
    page, watch = open_page(browser, base_url)
    load_page(page, base_url + f"/?whatif={yen}:2026:9000000000")
    page.wait_for_selector(f"#series-{yen}[data-scenario=drawn]", timeout=30_000)
    card = page.locator(f"#series-{yen}")
    card.locator("input[name=value]").fill("about nine billion")
    card.locator("button[type=submit]").click()
    page.wait_for_selector(f"#series-{yen}[data-scenario=refused]", timeout=30_000)
    refusal = card.locator(".what-if-result").inner_text()
    for form in ("¥102,000,000,000", "102B", "102 billion", "1020億", "-20%"):
        assert form in refusal, refusal
    assert not _drawn(page, yen)
    assert "whatif" not in page.url
    assert watch.clean(), watch


def test_the_years_offered_are_those_the_horizon_projects_after(
    browser: Browser, base_url: str
) -> None:
    """At 5 years ahead of 2025 the list had offered 2026-2035, and 2030 on were refused:
    "The 5-year horizon ends in 2030, within the what-if's years"."""
    page, watch = open_page(browser, base_url)
    load_page(page, base_url + "/")
    year = page.locator(f"{CARD} select[name=year]")

    def offered() -> list[str]:
        return [o.strip() for o in year.locator("option").all_inner_texts()]

    assert offered() == ["2026", "2027", "2028", "2029"]
    page.focus("#horizon")
    page.keyboard.press("End")  # 15 years: every year a what-if may set
    page.wait_for_selector("body[data-state=ready]", timeout=60_000)
    page.wait_for_function(f"() => document.querySelectorAll('{CARD} select option').length == 10")
    assert offered() == [str(y) for y in range(2026, 2036)]
    page.keyboard.press("Home")  # 1 year: none, and it says why
    page.wait_for_function(f"() => document.querySelector('{CARD} select').disabled")
    assert offered() == []
    assert "choose 2 or more years ahead" in page.locator(f"{CARD} .what-if-reach").inner_text()
    assert watch.clean(), watch


def test_a_printed_what_if_keeps_the_sentences_that_explain_its_line(
    browser: Browser, base_url: str
) -> None:
    """The print style hid the whole What-if box: the purple line and diamond printed with
    nothing to say what they were."""
    page, watch = open_page(browser, base_url)
    load_page(page, base_url + f"/?whatif={SERIES}:2026:20000")
    page.wait_for_selector(f"{CARD}[data-scenario=drawn]", timeout=30_000)
    page.emulate_media(media="print")
    assert page.locator(f"{CARD} .what-if-comparison").is_visible()
    assert page.locator(f"{CARD} .what-if-basis").is_visible()
    assert page.locator(f"{CARD} .what-if-form").is_hidden()  # the field, not the figures
    assert page.locator(f"#series-{TRAINED[1]} .what-if").is_hidden()  # no what-if, no box
    assert watch.clean(), watch
