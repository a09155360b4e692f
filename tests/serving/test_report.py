"""The outlook brief read as a person reads it: the PDF's text through poppler's ``pdftotext``.

Needs Debian's ``poppler-utils`` (``make test`` installs it when run as root); skips otherwise.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from matplotlib import font_manager
from typer.testing import CliRunner

from serving import report
from serving.cli import app as cli
from serving.outlook import build_outlook, format_range
from serving.pdf_pages import MARGIN, PAGE_WIDTH
from serving.services import describe_model, score_incoming
from serving.state import ServiceState
from tests.support import TRAINED, environment, yen_figure
from training import fonts as font_search
from training.fonts import chart_fonts, first_cjk_font, latin_fonts

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None,
    reason="poppler's pdftotext is not installed (apt-get install poppler-utils): "
    "the outlook PDF tests skip",
)
CYBER, YEN, SHORT = TRAINED
UNTRAINED = "cn_telecom_fraud_cases_solved"
CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")


def pdf_pages(body: bytes, tmp_path: Path) -> list[str]:
    """The text of each page, laid out as on the page."""
    path = tmp_path / "outlook.pdf"
    path.write_bytes(body)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")[:-1]  # each page ends with a form feed


def brief(client: TestClient, **params: Any) -> bytes:
    answer = client.get("/v1/report.pdf", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert 'filename="fraudcast-outlook.pdf"' in answer.headers["content-disposition"]
    return answer.content


def page_of(pages: list[str], series_id: str) -> str:
    (found,) = [page for page in pages if f"{series_id} ·" in page]
    return found


def test_the_brief_has_a_cover_and_a_page_per_series_with_outlook_sources_model_and_record(
    client: TestClient, tmp_path: Path
) -> None:
    pages = pdf_pages(brief(client), tmp_path)
    series = {item["id"]: item for item in client.get("/v1/series").json()}
    assert len(pages) == 1 + len(TRAINED)
    cover = pages[0]
    assert "Outlook brief" in _joined(cover)
    assert "yearly fraud and cybercrime figures" in cover  # a ligature would read "gures"
    assert re.search(r"Made \d{1,2} \w+ 20\d\d, \d\d:\d\d UTC", cover)
    assert "Data revision 1 of" in cover
    assert "Every projection: 5 years ahead, with 80% and 95% intervals." in cover
    # one table a reader can hand on: each series' latest figure, last projected year, the
    # range its page calls likely and its page, in the API's order (the cover had listed only
    # headlines, and its contents ran onto a second page)
    assert "At a glance" in cover
    assert "MASE is a model's typical error as a multiple of" in _joined(cover)  # words explained
    rows = [line.split() for line in cover.splitlines()]
    for number, series_id in enumerate(TRAINED, start=2):
        english = series[series_id]["title"].split(" (")[0]
        [row] = [row for row in rows if " ".join(row).startswith(english)]
        latest = series[series_id]["latest"]
        assert row[-1] == str(number) and row[-2] == "(80%)", row
        joined = " ".join(row)
        assert f"in {latest['year']}" in joined and f"in {latest['year'] + 5}" in joined
        if series[series_id]["unit"] == "count":  # a published figure as published, not rounded
            assert f"{latest['value']:,.0f} in {latest['year']}" in joined
    assert "Not projected" in cover
    assert f"({UNTRAINED}): no model yet" in _joined(cover)  # named, though it has no page
    for series_id in TRAINED:
        page = _joined(page_of(pages, series_id))
        item = series[series_id]
        champion = item["champion"]
        english = item["title"].split(" (")[0]
        assert re.search(rf"{re.escape(english)}: likely \S+–\S+ in 20\d\d \(80%\)", page)
        if champion["intervals_borrowed"]:
            assert "intervals are borrowed from what comparable series did next" in page
            checked = champion["backtest_forecasts"]
            if checked:  # the same count the page's card gives, not a rate that looks measured
                held = round(champion["coverage"]["80"] * checked)
                assert f"80% intervals like this held {held} of the {checked} backtest" in page
                # the model section counts them too, never "0% of the time" for 3 forecasts
                assert f"A rough indication: of the {checked} backtest forecast" in page
                assert "own backtest errors contained the figure" not in page
        else:
            held = f"{champion['coverage']['80']:.0%}"
            assert (
                f"in backtests 80% intervals calibrated on its own errors held {held} of the time"
                in page
            )
        latest = item["latest"]
        assert "Latest figures" in page
        assert f"{latest['year']}: " in page
        assert latest["source"]["publisher"].split(" (")[0] in page
        assert latest["source"]["url"] in page
        assert describe_model(champion["name"]) in page  # the model in plain words
        assert "No track record yet" in page


def _joined(page: str) -> str:
    """The page's words with its line breaks and layout spaces as single spaces."""
    return re.sub(r"\s+", " ", page)


def test_a_figure_that_came_in_outside_its_95_interval_is_named_a_surprise(
    state: ServiceState, tmp_path: Path
) -> None:
    state.board.refresh()
    state.store.add_figures(pd.DataFrame([yen_figure(2026, 2.0e11)]), source="test")
    assert score_incoming(state.store, state.board, [YEN])  # as adding figures does
    outlook = build_outlook(state.store, state.board, [YEN], horizon=5, levels=(80, 95))
    page = _joined(pdf_pages(report.render_pdf(outlook), tmp_path)[1])
    scored = state.store.track_record(YEN).iloc[0]
    outside = format_range(scored["lo-95"], scored["hi-95"], "JPY")
    assert (
        f"Surprise: the 2026 figure came in at ¥200B, outside the 95% interval "
        f"of {outside} that {scored['model_name']} (version {scored['model_version']})"
    ) in page
    assert "0 of 1 figure came in inside the 80% interval forecast for it." in page


@pytest.mark.parametrize("horizon", [7])
def test_the_brief_numbers_are_the_forecast_endpoints_numbers(
    client: TestClient, tmp_path: Path, horizon: int
) -> None:
    levels = "80,90,95"
    pages = pdf_pages(brief(client, horizon=horizon, levels=levels), tmp_path)
    for series_id in TRAINED:
        api = client.get(
            f"/v1/series/{series_id}/forecast", params={"horizon": horizon, "levels": levels}
        ).json()
        page = page_of(pages, series_id)
        yen = api["unit"] == "JPY"
        assert ("Projected figures (¥ million)" if yen else "Projected figures (count)") in page
        scale = 1e6 if yen else 1.0
        expected = [
            [
                str(point["year"]),
                f"{point['mean'] / scale:,.0f}",
                *(
                    f"{point['lower'][label] / scale:,.0f} – {point['upper'][label] / scale:,.0f}"
                    for label in ("80", "90", "95")
                ),
            ]
            for point in api["forecast"]
        ]
        assert _table(page) == expected, series_id
        first = api["forecast"][0]
        low, high = first["lower"]["80"], first["upper"]["80"]
        likely = (
            f"¥{f'{low / 1e9:.1f}'.removesuffix('.0')}B–¥{f'{high / 1e9:.1f}'.removesuffix('.0')}B"
            if yen
            else f"{float(f'{low:.3g}'):,.0f}–{float(f'{high:.3g}'):,.0f}"
        )
        assert f"likely {likely} in {first['year']} (80%)" in _joined(page), series_id


def _table(page: str) -> list[list[str]]:
    """The projection table's rows: year, projection, then each interval as 'low – high'."""
    row = re.compile(r"^\s*(20\d\d)\s+([\d,]+)((?:\s+[\d,]+ – [\d,]+)+)\s*$")
    rows = []
    for line in page.splitlines():
        found = row.match(line)
        if found:
            intervals = re.findall(r"[\d,]+ – [\d,]+", found[3])
            rows.append([found[1], found[2], *intervals])
    return rows


def test_the_cli_writes_the_brief_the_api_serves(
    client: TestClient, state: ServiceState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(state.training.mlflow_artifacts).parent
    for name, value in environment(root).items():
        monkeypatch.setenv(name, value)
    output = tmp_path / "brief.pdf"
    args = ["report", "--output", str(output), "--series", f"{YEN},{CYBER}", "--horizon", "3"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"wrote {output}" in result.output
    from_cli = pdf_pages(output.read_bytes(), tmp_path)
    from_api = pdf_pages(brief(client, series=[YEN, CYBER], horizon=3), tmp_path)
    assert len(from_cli) == 3  # the cover, then the two named series in the order named
    assert YEN in from_cli[1] and CYBER in from_cli[2]
    made = re.compile(r"Made .* UTC|\d{4}-\d\d-\d\d")  # the minute it was made may differ
    assert [made.sub("", page) for page in from_cli] == [made.sub("", page) for page in from_api]

    unknown = CliRunner().invoke(cli, ["report", "--output", str(output), "--series", "nope"])
    assert unknown.exit_code == 2 and "unknown series 'nope'" in unknown.output
    untrained = CliRunner().invoke(cli, ["report", "--output", str(output), "--series", UNTRAINED])
    assert untrained.exit_code == 1 and "fraudcast train" in untrained.output


@pytest.mark.parametrize(
    ("params", "code", "words"),
    [
        ({"series": "nope"}, 404, "unknown series 'nope'"),
        ({"series": f"{CYBER},{UNTRAINED}"}, 409, "has no champion"),
        ({"horizon": 31}, 422, "horizon must be between 1 and 30"),
        ({"levels": "80,100"}, 422, "strictly between 0 and 100"),
        ({"series": ",".join(TRAINED)}, 422, "at most 2 series and this one would have 3"),
    ],
)
def test_a_brief_that_cannot_be_made_says_why(
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    params: dict[str, Any],
    code: int,
    words: str,
) -> None:
    monkeypatch.setattr(report, "MAX_SERIES", 2)
    answer = client.get("/v1/report.pdf", params=params)
    assert answer.status_code == code, answer.text
    assert words in answer.json()["detail"]


def test_cjk_titles_and_sources_are_drawn_where_a_cjk_font_is_installed(
    client: TestClient, tmp_path: Path
) -> None:
    if not chart_fonts().has_cjk:
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk): nothing to draw")
    pages = pdf_pages(brief(client, series=CYBER), tmp_path)
    assert "Cybercrime cases cleared by police (サイバー犯罪 検挙件数)" in pages[1]
    assert "National Police Agency (警察庁)" in pages[1]


def test_without_a_cjk_font_the_brief_falls_back_to_english_with_no_missing_glyph(
    state: ServiceState, tmp_path: Path
) -> None:
    state.board.refresh()
    outlook = build_outlook(state.store, state.board, horizon=5, levels=(80, 95))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns of every glyph it draws as a box
        body = report.render_pdf(outlook, latin_fonts())
    pages = pdf_pages(body, tmp_path)
    text = "\f".join(pages)
    assert not CJK.findall(text)
    assert "Cybercrime cases cleared by police" in pages[0] and "(サイバー" not in text
    assert "National Police Agency ·" in page_of(pages, CYBER)
    assert "(title in CJK script: no CJK font is installed to draw it here)" in _joined(text)


def test_text_no_font_can_draw_falls_back_to_what_it_can_draw() -> None:
    latin = latin_fonts()
    assert latin.legible("Special fraud losses (特殊詐欺 被害総額)", "x") == "Special fraud losses"
    assert latin.legible("Losses (2024, final)", "x") == "Losses (2024, final)"
    assert latin.legible("破获电信网络诈骗案件", "cn_telecom") == "cn_telecom"
    assert latin.legible("公安部:2019年 (2020-01-18)", "a notice") == "a notice"


def test_a_font_of_placeholder_boxes_is_never_taken_for_a_cjk_font() -> None:
    """matplotlib 3.11 ships Last Resort, which maps every character to a box: taken for a CJK
    font, it drew every Japanese and Chinese title as empty boxes where the README promises an
    English title instead."""
    boxes = [e for e in font_manager.fontManager.ttflist if e.name.startswith("Last Resort")]
    if not boxes:
        pytest.skip("this matplotlib ships no Last Resort font")
    assert first_cjk_font(boxes) is None
    assert not any(family.startswith("Last Resort") for family in chart_fonts().families)


def test_a_series_without_publisher_or_country_has_no_empty_field_under_its_name(
    state: ServiceState, tmp_path: Path
) -> None:
    """A series registered with only an id, title and unit read "uk_fraud_rate · · unit: …"."""
    state.board.refresh()
    outlook = build_outlook(state.store, state.board, [CYBER], horizon=5, levels=(80, 95))
    [page] = outlook.pages
    bare = page.series.model_copy(update={"publisher": "", "country": ""})
    drawn = replace(outlook, pages=[replace(page, series=bare)])
    [_, text] = pdf_pages(report.render_pdf(drawn), tmp_path)
    assert f"{CYBER} · unit: {bare.unit}" in text


def test_no_text_runs_past_the_right_margin(client: TestClient, tmp_path: Path) -> None:
    """Text was measured at 72 dpi, where hinting rounds each glyph's advance: the PDF drew it
    up to 16% wider, and the cover's table ran its columns into each other and off the page."""
    path = tmp_path / "outlook.pdf"
    path.write_bytes(brief(client))
    boxes = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    right = (PAGE_WIDTH - MARGIN) * 72 + 1.0  # points, a point of slack for rounding
    words = re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)"[^>]*>([^<]*)<', boxes
    )
    assert words
    beyond = [(text, float(x_max)) for _, _, x_max, text in words if float(x_max) > right]
    assert not beyond, beyond
    # and no two words of a line overlap (columns running into each other)
    by_line: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for page, block in enumerate(boxes.split("<page ")[1:]):
        for x_min, y_min, x_max, _ in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)"[^>]*>([^<]*)<', block
        ):
            by_line.setdefault((page, f"{float(y_min):.0f}"), []).append(
                (float(x_min), float(x_max))
            )
    for spans in by_line.values():
        spans.sort()
        assert all(left[1] <= after[0] + 0.5 for left, after in itertools.pairwise(spans)), spans


def test_a_note_that_only_gives_the_status_is_not_said_twice(
    state: ServiceState, tmp_path: Path
) -> None:
    """A preliminary figure read "(preliminary)" and then "preliminary" again on the line
    below, its note."""
    latest = int(state.store.values(YEN).index.max())
    state.store.add_figures(
        pd.DataFrame([yen_figure(2026, 9.1e9, note="preliminary")]), source="test"
    )
    state.store.add_figures(
        pd.DataFrame([yen_figure(latest, 9.3e9, note="preliminary: revised in June")]),
        source="t",
    )
    state.board.refresh()
    outlook = build_outlook(state.store, state.board, [YEN], horizon=3, levels=(80, 95))
    page = _joined(pdf_pages(report.render_pdf(outlook), tmp_path)[1])
    latest_figures = page.split("Latest figures")[1].split("The model")[0]
    assert "2026: ¥9.1B (preliminary). Source:" in latest_figures
    # 2026's status, the other year's status and its note, which says more than the status
    assert latest_figures.count("preliminary") == 3, latest_figures
    assert "preliminary: revised in June" in latest_figures


def test_the_projected_figures_keep_a_decimal_in_units_other_than_counts_and_yen() -> None:
    """A share of 99.94 percent had been printed as 100, a rate of 3.4 per 100,000 as 3."""
    from serving.report import _table_value

    assert _table_value(99.94, "percent") == "99.9"
    assert _table_value(3.4, "per 100,000") == "3.4"
    assert _table_value(15812.4, "count") == "15,812"
    assert _table_value(8.73e9, "JPY") == "8,730"


def test_a_unit_in_cjk_script_is_never_drawn_as_empty_boxes(
    state: ServiceState, tmp_path: Path
) -> None:
    """A series in "百万円" had its chart's y label drawn as empty boxes, with a CJK font
    installed or not."""
    state.board.refresh()
    outlook = build_outlook(state.store, state.board, [CYBER], horizon=5, levels=(80, 95))
    [page] = outlook.pages
    drawn = replace(
        outlook,
        pages=[
            replace(
                page,
                series=page.series.model_copy(update={"unit": "百万円"}),
                forecast=page.forecast.model_copy(update={"unit": "百万円"}),
                figures=[figure.model_copy(update={"unit": "百万円"}) for figure in page.figures],
            )
        ],
    )
    for fonts in {latin_fonts(), chart_fonts()}:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # matplotlib warns of every glyph it draws as a box
            body = report.render_pdf(drawn, fonts)
        [_, text] = pdf_pages(body, tmp_path)
        assert ("百万円" in text) == fonts.has_cjk


def test_a_title_with_no_english_words_is_drawn_in_cjk_or_named_by_its_id(
    state: ServiceState, tmp_path: Path
) -> None:
    """A series titled "2点系列" was "2" in the cover's table and in its outlook sentence
    ("2: likely 125–240 in 2025")."""
    state.board.refresh()
    outlook = build_outlook(state.store, state.board, [CYBER], horizon=5, levels=(80, 95))
    [page] = outlook.pages
    titled = page.series.model_copy(update={"title": "2点系列"})
    drawn = replace(outlook, pages=[replace(page, series=titled)])
    for fonts in {latin_fonts(), chart_fonts()}:
        name = "2点系列" if fonts.has_cjk else CYBER
        cover, text = pdf_pages(report.render_pdf(drawn, fonts), tmp_path)
        assert re.search(rf"^\s*{name}\s+\S", cover, flags=re.MULTILINE), cover
        assert f"{name}: " in text, text
        assert not re.search(r"^\s*2\s", cover, flags=re.MULTILINE)


def test_a_cjk_font_installed_while_the_service_runs_is_used_within_a_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The search for a CJK font was cached for the life of the process: a service started
    before fonts-noto-cjk was installed went on saying "no CJK font is installed" until
    restarted, while the CLI run afterwards drew the titles."""
    dejavu = font_manager.findfont("DejaVu Sans")
    installed: list[tuple[str, str]] = []
    monkeypatch.setattr(font_search, "_cjk_font", lambda: installed[0] if installed else None)
    monkeypatch.setattr(font_search, "_found", None)
    assert not chart_fonts().has_cjk
    installed.append(("Noto Sans CJK JP", dejavu))  # apt-get install fonts-noto-cjk
    assert not chart_fonts().has_cjk  # not looked for again at once: it lists the font files
    monkeypatch.setattr(
        font_search, "_checked_at", font_search._checked_at - font_search._RECHECK_SECONDS
    )
    assert chart_fonts().has_cjk
    installed.clear()  # a font found is kept: no further searches
    monkeypatch.setattr(
        font_search, "_checked_at", font_search._checked_at - font_search._RECHECK_SECONDS
    )
    assert chart_fonts().has_cjk


def test_the_cover_names_a_dropped_file_not_the_servers_folder(
    state: ServiceState, tmp_path: Path
) -> None:
    """The cover read "Data revision 10 … (dropped into /tmp/walk62/data/incoming)": a brief
    meant for forwarding gave away the server's paths (revisions stored so still do not)."""
    state.board.refresh()
    outlook = build_outlook(state.store, state.board, [CYBER], horizon=5, levels=(80, 95))
    assert outlook.revision is not None
    dropped = replace(
        outlook.revision,
        source="incoming/npa-2025.csv",
        message="dropped into /tmp/walk62/data/incoming",
    )
    cover = _joined(pdf_pages(report.render_pdf(replace(outlook, revision=dropped)), tmp_path)[0])
    assert "npa-2025.csv, dropped into the drop folder" in cover
    assert "/tmp/" not in cover


def test_a_projection_ending_earlier_than_the_others_is_explained_under_the_cover_table(
    state: ServiceState,
) -> None:
    """The cover's table read "539 in 2027" for a series whose figures end in 2022 among rows
    "in 2030", unexplained."""
    state.board.refresh()
    outlook = build_outlook(state.store, state.board, [CYBER, YEN], horizon=5, levels=(80, 95))
    assert report._earlier_ends(outlook, latin_fonts()) == ""
    cyber, yen = outlook.pages
    earlier = [point.model_copy(update={"year": point.year - 3}) for point in yen.forecast.forecast]
    stale = replace(yen, forecast=yen.forecast.model_copy(update={"forecast": earlier}))
    said = report._earlier_ends(replace(outlook, pages=[cyber, stale]), latin_fonts())
    name = report.english_name(stale, latin_fonts())
    assert said == (
        " A projection runs 5 years from a series' latest figure, so one whose figures end "
        f"earlier ends earlier: {name} in {earlier[-1].year} (latest figure from "
        f"{earlier[0].year - 1})."
    )
