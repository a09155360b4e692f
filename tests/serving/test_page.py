"""The planner page and its assets, through the test client (no browser, no trained models)."""

from __future__ import annotations

import re
from pathlib import Path

import plotly
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.routes.page import STATIC_DIR

PLOTLY_FILE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
OWN_ASSETS = sorted(p for p in STATIC_DIR.iterdir() if p.suffix in {".html", ".css", ".js"})
# Anything a browser could fetch from elsewhere: absolute or protocol-relative URLs, CSS imports.
EXTERNAL = re.compile(r"""(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|cdn\.""", re.IGNORECASE)


@pytest.fixture(scope="module")
def page_client() -> TestClient:
    # The page and its assets need no store or champions, so the app's lifespan is not started.
    return TestClient(create_app())


def test_root_serves_the_planner_page(page_client: TestClient) -> None:
    response = page_client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "<title>fraudcast" in html
    assert 'id="horizon"' in html and 'min="1"' in html and 'max="15"' in html
    assert 'name="level"' in html
    assert f'src="/static/plotly.min.js?v={plotly.__version__}"' in html
    assert "{{" not in html  # every placeholder was filled


def test_page_and_its_own_assets_reference_nothing_outside_the_app(page_client: TestClient) -> None:
    html = page_client.get("/").text
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    for asset in OWN_ASSETS:
        body = page_client.get(f"/static/{asset.name}").text if asset.name != "index.html" else html
        assert not EXTERNAL.search(body), (asset.name, EXTERNAL.search(body))


def test_page_forbids_the_browser_to_load_from_elsewhere(page_client: TestClient) -> None:
    policy = page_client.get("/").headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy


def test_every_asset_the_page_links_to_is_served(page_client: TestClient) -> None:
    html = page_client.get("/").text
    linked = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html))
    assert {"/static/page.css", "/static/page.js", "/static/favicon.svg"} <= {
        url.split("?")[0] for url in linked
    }
    scripts = [path for path in STATIC_DIR.glob("*.js")]
    for script in scripts:  # ES module imports resolve to files the app serves
        linked |= {
            f"/static/{name}" for name in re.findall(r'from "\./([^"]+)"', script.read_text())
        }
    for url in sorted(linked):
        response = page_client.get(url)
        assert response.status_code == 200, url
        assert response.content, url


def test_plotly_is_served_from_the_installed_package_with_long_caching(
    page_client: TestClient,
) -> None:
    response = page_client.get("/static/plotly.min.js", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert response.content == PLOTLY_FILE.read_bytes()
    cache = response.headers["cache-control"]
    assert "immutable" in cache
    max_age = int(re.search(r"max-age=(\d+)", cache).group(1))  # type: ignore[union-attr]
    assert max_age >= 365 * 24 * 3600


def test_plotly_is_gzipped_for_browsers_that_accept_it(page_client: TestClient) -> None:
    response = page_client.get("/static/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) < PLOTLY_FILE.stat().st_size / 2
    assert response.content == PLOTLY_FILE.read_bytes()  # the client decodes it


def test_unchanged_assets_answer_not_modified(page_client: TestClient) -> None:
    for url in ("/static/plotly.min.js", "/static/page.js", "/"):
        first = page_client.get(url)
        again = page_client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304, url
        assert again.content == b""


@pytest.mark.parametrize(
    "url", ["/static/nothing.js", "/static/index.html", "/static/..%2Fapp.py", "/static/%2e%2e"]
)
def test_only_shipped_assets_are_served(page_client: TestClient, url: str) -> None:
    assert page_client.get(url).status_code == 404


def test_page_routes_stay_out_of_the_api_schema(page_client: TestClient) -> None:
    paths = page_client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not any(path.startswith("/static") for path in paths)
