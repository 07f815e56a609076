"""`GET /sandbox` (issue 21 §2): the catalogue as a French page or as JSON, by content negotiation or
`?_format=json`, with the house's own URL; a house not built by `maison sandbox` answers 404."""

from __future__ import annotations

import httpx
import orjson
import pytest

from maison.identite.ins.model import Environment
from maison.sandbox.api import FILE
from maison.sandbox.catalogue import catalogue


def test_a_house_that_is_no_sandbox_has_no_catalogue(live) -> None:
    answer = httpx.get(f"{live.url}/sandbox")
    assert answer.status_code == 404
    assert answer.json()["issue"][0]["details"]["coding"][0]["code"] == "bac-a-sable-absent"


@pytest.fixture
def sandbox(house, live):
    content = catalogue(Environment(house.settings.ins_environment))
    (house.settings.data_dir / FILE).write_bytes(content.as_json())
    return live, content


def test_json_by_format_or_accept(sandbox) -> None:
    live, content = sandbox
    for answer in (
        httpx.get(f"{live.url}/sandbox", params={"_format": "json"}),
        httpx.get(f"{live.url}/sandbox", headers={"Accept": "application/json"}),
        httpx.get(f"{live.url}/sandbox", headers={"Accept": "text/html;q=0.5, application/json"}),
    ):
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        body = answer.json()
        assert body["urlBase"].startswith("http") and body["version"] == content.version
        assert {k: v for k, v in body.items() if k != "urlBase"} == orjson.loads(content.as_json())


def test_an_html_page_in_french_for_a_browser(sandbox) -> None:
    live, content = sandbox
    page = httpx.get(f"{live.url}/sandbox", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in page.text and "Bac à sable" in page.text
    for item in (content.insi[0].nomNaissance, content.structures[0].cleApi, content.professionnels[0].idnatps):
        assert item in page.text
    assert httpx.get(f"{live.url}/sandbox").headers["content-type"].startswith("text/html")  # no Accept: the page


def test_an_unknown_format_is_refused_in_the_protocol_s_terms(sandbox) -> None:
    live, _ = sandbox
    answer = httpx.get(f"{live.url}/sandbox", params={"_format": "xml"})
    assert answer.status_code == 400
    assert answer.json()["issue"][0]["details"]["coding"][0]["code"] == "format-inconnu"
    assert httpx.get(f"{live.url}/sandbox", params={"_format": "html"}).headers["content-type"].startswith("text/html")
