"""`/docs` works offline: the page and every file it loads are served by the house (issue 21 §3.2)."""

from __future__ import annotations

import re

import httpx


def test_the_documentation_page_loads_nothing_from_another_host(live):
    page = httpx.get(f"{live.url}/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    html = page.text
    # FastAPI's own page loaded Swagger UI from cdn.jsdelivr.net and its favicon from fastapi.tiangolo.com
    assert "cdn.jsdelivr.net" not in html and "tiangolo" not in html
    loaded = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) + re.findall(r"url: ?['\"]([^'\"]+)['\"]", html)
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/openapi.json"} <= set(loaded)
    for path in loaded:
        assert path.startswith("/"), path  # no other host
        answer = httpx.get(f"{live.url}{path}")
        assert answer.status_code == 200 and answer.content, path
    assert "javascript" in httpx.get(f"{live.url}/docs/assets/swagger-ui-bundle.js").headers["content-type"]
    assert httpx.get(f"{live.url}/docs/oauth2-redirect").status_code == 200
    assert httpx.get(f"{live.url}/docs/assets/%2e%2e/%2e%2e/etc/passwd").status_code == 404
