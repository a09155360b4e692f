"""The API docs load nothing from outside the app: they work offline."""

from __future__ import annotations


def test_docs_load_nothing_from_outside_the_app(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assets = [part.split('"')[1] for part in html.split("src=")[1:] + html.split("href=")[1:]]
    assert len(assets) >= 3, html
    for asset in assets:
        assert asset.startswith("/"), asset
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        assert len(answer.content) > 0
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    # the page's one inline script runs by its hash; no other inline script could
    assert (
        policy["script-src"].startswith("'self' 'sha256-") and "unsafe" not in policy["script-src"]
    )
    assert client.get("/redoc").status_code == 404
