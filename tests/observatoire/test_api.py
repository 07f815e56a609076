"""`/observatoire` over HTTP (issue 23 §4): each report as signed JSON, the explanations, the HTML
report, FHIR Measure / MeasureReport — read by an ARS agent (a key the administrator issued with the
role) and by a structure for itself only; another structure, the house's administrator are refused
with an OperationOutcome 403; a bad period 400, an unknown structure 404. Every read audited once and
one audit row tampered (no report signs itself): test_api_audit.py."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient
from lxml import etree, html

from maison.core import audit
from maison.core.actor import KeyScope
from maison.core.auth import issue_key
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.index import put
from maison.observatoire.signature import Seal, verify

HOPITAL, CABINET = "1750000019", "399999999900019"
NOW = "2026-11-01T08:00:00+00:00"
S1 = {"structure": HOPITAL, "periode": "2026-S1"}


def app_with_structures(house) -> TestClient:
    """The house's app with the two structures the reports name in the directory."""
    with house.db.write() as conn:
        put(conn, [build.organization(HOPITAL, "CHU DE TEST", NOW, secteur="SA01")])
        put(conn, [build.organization(CABINET, "CABINET", NOW, siret=CABINET[1:], entity="LEGAL-ENTITY")])
    return TestClient(house.app())


def callers(house) -> dict[str, dict[str, str]]:
    def key(structure: str, role: str = "", scope: KeyScope = KeyScope.LOGICIEL) -> dict[str, str]:
        return {"ESANTE-API-KEY": issue_key(house.db, structure, "logiciel-test", "porteur", role, scope)}

    return {
        "ars": key("ARS-IDF", "agent-ars"),
        "ans": key("ANS", "agent-ans"),
        "hopital": key(HOPITAL),
        "hopital-dsi": key(HOPITAL, scope=KeyScope.ADMINISTRATEUR_STRUCTURE),
        "cabinet": key(CABINET),
        "administrateur": key("maison", scope=KeyScope.ADMINISTRATEUR_MAISON),
        "accueil": key(HOPITAL, scope=KeyScope.ACCUEIL),
    }


# Every test here reads (its reads audited, which no test of this module counts): one house per
# backend serves them all (module_house). The tests that count the audit records or break the chain
# have a house each, in test_api_audit.py.
@pytest.fixture(scope="module")
def client(module_house) -> TestClient:
    return app_with_structures(module_house)


@pytest.fixture(scope="module")
def keys(module_house) -> dict[str, dict[str, str]]:
    return callers(module_house)


def code(answer) -> str:
    assert answer.headers["content-type"].startswith("application/fhir+json"), answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return outcome["issue"][0]["details"]["coding"][0]["code"]


def reads(house, action: str) -> list[dict]:
    with house.db.read() as conn:
        return [e for e in audit.events(conn, action_prefix=action) if e["action"] == action]


ROUTES = {
    "sunes": ("/observatoire/sunes", S1),
    "explication": ("/observatoire/sunes/explication/DS1.1", S1),
    "prerequis": ("/observatoire/prerequis", S1),
    "maturin": ("/observatoire/maturin", S1),
    "national": ("/observatoire/national", {"periode": "2026-05"}),
    "conformite": ("/observatoire/conformite", {"periode": "2026-S1"}),
    "measurereport": ("/observatoire/fhir/MeasureReport", S1),
    "html": ("/observatoire/rapport.html", S1),
    "national-html": ("/observatoire/national.html", {"periode": "2026-05"}),
    "conformite-html": ("/observatoire/conformite.html", {"periode": "2026-S1"}),
}
AGENTS_ONLY = {"national", "conformite", "national-html", "conformite-html"}


@pytest.mark.parametrize("name", list(ROUTES))
def test_every_route_by_every_caller(client, keys, name):
    path, params = ROUTES[name]
    for caller in ("ars", "ans"):
        assert client.get(path, params=params, headers=keys[caller]).status_code == 200, caller
    for caller in ("hopital", "hopital-dsi"):  # the structure itself: its software's key, its administrator's
        answer = client.get(path, params=params, headers=keys[caller])
        if name in AGENTS_ONLY:
            assert answer.status_code == 403 and code(answer) == "observatoire-interdit"
        else:
            assert answer.status_code == 200, answer.text
    refused = client.get(path, params=params, headers=keys["cabinet"])  # another structure
    assert refused.status_code == 403 and code(refused) == "observatoire-interdit"
    for caller in ("administrateur", "accueil"):  # kinds of caller the door does not admit
        answer = client.get(path, params=params, headers=keys[caller])
        assert answer.status_code == 403 and code(answer) == "appelant-non-admis"
    assert client.get(path, params=params).status_code == 401


def test_the_sunes_report_is_signed_and_verifiable_with_the_published_key(client, keys):
    answer = client.get("/observatoire/sunes", params=S1, headers=keys["ars"])
    served = answer.json()
    assert served["rapport"] == "sunes"
    assert [i["indicateur"] for i in served["contenu"]["indicateurs"]][:2] == ["DS1.1", "DS1.2"]
    signature = served["signature"]
    assert signature["signe"] is True and signature["motif"] is None
    jwk = client.get("/observatoire/cle").json()
    seal = Seal(signature["audit"]["seq"], signature["audit"]["hash"], signature["jws"], signature["cle"])
    assert verify(seal, "sunes", served["contenu"], jwk)
    assert not verify(seal, "sunes", {**served["contenu"], "periode": "2026-S2"}, jwk)


@pytest.mark.parametrize(
    ("params", "status", "wanted"),
    [
        ({"structure": HOPITAL, "periode": "2026-S3"}, 400, "periode-invalide"),
        ({"structure": HOPITAL, "periode": "2026-13"}, 400, "periode-invalide"),
        ({"structure": HOPITAL, "ght": "GHT-X"}, 400, "perimetre"),
        ({"periode": "2026-S1"}, 400, "perimetre"),
        ({"structure": "pas-un-finess"}, 400, "perimetre-invalide"),
        ({"structure": "1999999998"}, 404, "structure-inconnue"),
        ({"ght": "GHT-INCONNU"}, 404, "ght-inconnu"),
    ],
)
def test_errors_are_operation_outcomes_never_500(client, keys, params, status, wanted):
    answer = client.get("/observatoire/sunes", params=params, headers=keys["ars"])
    assert answer.status_code == status and code(answer) == wanted


def test_an_unknown_indicator_is_a_400(client, keys):
    answer = client.get("/observatoire/sunes/explication/DS9.9", params=S1, headers=keys["ars"])
    assert answer.status_code == 400 and code(answer) == "indicateur"


def test_an_explanation_is_served_by_pages_with_its_totals(client, keys):
    """`page`, `taille`, `filtre`: one page and the whole explanation's totals, signed; without them
    the full export. The stays and reasons of a page: tests/observatoire/sunes/test_service.py."""
    url = "/observatoire/sunes/explication/DS1.1"
    answer = client.get(url, params={**S1, "page": "1", "taille": "20", "filtre": "non-comptes"}, headers=keys["ars"])
    assert answer.status_code == 200
    served = answer.json()
    assert served["rapport"] == "sunes-explication-page"
    content = served["contenu"]
    assert {k: content[k] for k in ("indicateur", "periode", "filtre", "page", "taille", "pages")} == {
        "indicateur": "DS1.1",
        "periode": "2026-S1",
        "filtre": "non-comptes",
        "page": 1,
        "taille": 20,
        "pages": 1,
    }
    assert set(content["totaux"]) == {"elements", "denominateur", "numerateur", "non_comptes", "hors_denominateur"}
    assert content["selection"] == content["totaux"]["non_comptes"] == len(content["elements"])
    full = client.get(url, params=S1, headers=keys["ars"]).json()
    assert full["rapport"] == "sunes-explication" and "totaux" not in full["contenu"]


@pytest.mark.parametrize(
    ("params", "wanted"),
    [
        ({"page": "0"}, "page-invalide"),
        ({"page": "x"}, "page-invalide"),
        ({"page": "2"}, "page-invalide"),  # past the last page
        ({"taille": "501"}, "taille-invalide"),
        ({"taille": "-1"}, "taille-invalide"),
        ({"filtre": "tout"}, "filtre-invalide"),
    ],
)
def test_a_bad_page_is_a_400(client, keys, params, wanted):
    answer = client.get("/observatoire/sunes/explication/DS1.1", params={**S1, **params}, headers=keys["ars"])
    assert answer.status_code == 400 and code(answer) == wanted


def test_the_measures_are_public_one_per_indicator(client):
    found = client.get("/observatoire/fhir/Measure").json()
    ids = [e["resource"]["id"] for e in found["entry"]]
    assert ids == [f"sunes-ds{n}" for n in ("1-1", "1-2", "1-3", "1-4", "2-1", "3-1", "4-1", "4-2")]
    one = client.get("/observatoire/fhir/Measure/sunes-ds2-1").json()
    assert one["scoring"]["coding"][0]["code"] == "proportion"
    numerator = one["group"][0]["population"][0]
    assert "N3" in numerator["criteria"]["expression"] and "seed 004 L195" in numerator["description"]
    missing = client.get("/observatoire/fhir/Measure/sunes-ds9")
    assert missing.status_code == 404 and code(missing) == "measure-inconnue"


def test_the_measure_reports_are_a_signed_bundle(client, keys):
    found = client.get("/observatoire/fhir/MeasureReport", params=S1, headers=keys["hopital"]).json()
    assert found["resourceType"] == "Bundle" and found["type"] == "collection"
    reports = [e["resource"] for e in found["entry"]]
    assert len(reports) == 8
    first = reports[0]
    assert first["type"] == "summary" and first["status"] == "complete"
    assert first["period"] == {"start": "2026-01-01", "end": "2026-06-30"}
    assert first["subject"]["identifier"]["value"] == HOPITAL
    assert first["measure"].endswith("/fhir/Measure/sunes-ds1-1")
    populations = {p["code"]["coding"][0]["code"]: p["count"] for p in first["group"][0]["population"]}
    assert populations == {"numerator": 0, "denominator": 0} and "measureScore" not in first["group"][0]
    assert found["signature"]["sigFormat"] == "application/jose"
    jws = base64.b64decode(found["signature"]["data"]).decode()
    assert jws.count(".") == 2 and ".." in jws


def test_the_html_report_is_a_parsed_accessible_page(client, keys):
    answer = client.get("/observatoire/rapport.html", params=S1, headers=keys["hopital"])
    assert answer.headers["content-type"].startswith("text/html")
    page = html.fromstring(answer.content)
    assert page.get("lang") == "fr"
    assert len(page.findall(".//h1")) == 1
    titles = [h.text_content() for h in page.iter("h2")]
    assert any(t.startswith("Indicateurs SUN-ES") for t in titles) and any(t.startswith("MATURIN-H") for t in titles)
    assert titles[-1] == f"Séries SUN-ES — structure {HOPITAL} — 2026-S1"  # rates per month and service, sealed too
    assert answer.text.count("Rapport signé") == len(titles)
    assert not page.findall(".//script") and len(page.findall(".//style")) == 1
    assert "Rapport signé" in answer.text
    for figure in page.iter("figure"):  # every chart followed by its table
        assert figure.getnext() is not None and figure.getnext().tag == "table"
    charts = [etree.fromstring(etree.tostring(s)) for s in page.iter("{http://www.w3.org/2000/svg}svg", "svg")]
    assert charts and all(c.find("{*}title") is not None or c.find("title") is not None for c in charts)


def test_the_agents_pages_draw_their_series(client, keys):
    page = html.fromstring(
        client.get("/observatoire/national.html", params={"periode": "2026-S1"}, headers=keys["ars"]).content
    )
    headings = [h.text_content() for h in page.iter("h2")]
    assert headings == ["Statistiques nationales — 2026-S1"]
    assert list(page.iter("figure")) and all(f.getnext().tag == "table" for f in page.iter("figure"))
