"""The result parameters of FHIR search on every base (issue 20 §4.3, R4 search.html §3.1.1.5):
`_count=0` and `_summary=count` answer the total alone; `_summary`'s other values, `_elements` where
the base does not serve it and `_sort` (no guide lists it) are refused with a 400 OperationOutcome
naming the parameter, never ignored."""

import httpx
import pytest

from maison.core.auth import issue_key
from maison.etablissement.dmp.producer import Produced
from maison.seeding.directory import seed_directory
from tests.e2e.test_fhir_transitions import _admit
from tests.e2e.test_ordonnance_api import envelope
from tests.identite.helpers import IDAM, STRUCTURE
from tests.partage.world import OID_INS_NIR_TEST, PROS, SARAH_NIR, make_world, n1

REFUSED = ({"_sort": "_id"}, {"_summary": "text"}, {"_summary": "data"})


def _count_only(answer: httpx.Response, total: int | None = None) -> int:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["resourceType"] == "Bundle" and "entry" not in body, body
    assert total is None or body["total"] == total
    return body["total"]


def _refused(answer: httpx.Response, parameter: str) -> None:
    assert answer.status_code == 400, answer.text
    issue = answer.json()["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "parametre-non-supporte" and issue["expression"] == [parameter]


def test_annuaire(house, live):
    seed_directory(house.db, 60, seed=3)
    http = httpx.Client(
        base_url=f"{live.url}/annuaire", headers={"ESANTE-API-KEY": issue_key(house.db, "1750000019", "t", "t")}
    )
    total = http.get("/Organization", params={"_total": "accurate"}).json()["total"]
    assert _count_only(http.get("/Organization", params={"_summary": "count"})) == total > 0
    _count_only(http.get("/Organization", params={"_count": "0"}), total)
    _count_only(http.get("/Organization", params={"_summary": "count", "active": "true"}))
    for params in REFUSED:
        _refused(http.get("/Organization", params=params), next(iter(params)))
    assert http.get("/Organization", params={"_elements": "name", "_count": "2"}).status_code == 200  # the IG's


def test_patient_index(house, live):
    from tests.identite.helpers import seed_referential

    seed_referential(house.insi)
    key = issue_key(house.db, STRUCTURE, IDAM, "801234567897", "accueil")
    http = httpx.Client(base_url=f"{live.url}/fhir", headers={"Authorization": f"Bearer {key}"})
    for n in range(3):
        _admit(http, f"C{n}", "Martin", f"Paul{n}", "male", "1980-01-0" + str(n + 1))
    page = http.get("/Patient", params={"family": "MARTIN", "_count": "1"}).json()
    assert len(page["entry"]) == 1 and page["total"] == 3  # the total of all matches, not of the page
    _count_only(http.get("/Patient", params={"family": "MARTIN", "_summary": "count"}), 3)
    _count_only(http.get("/Patient", params={"family": "MARTIN", "_count": "0"}), 3)
    for params in (*REFUSED, {"_elements": "name"}):
        _refused(http.get("/Patient", params={"family": "MARTIN", **params}), next(iter(params)))


def test_ordonnance_and_dmp(house, live):
    world = make_world(house, live, ("generaliste", "hospitalier"))
    gp = httpx.Client(base_url=f"{world.base}/ordonnance", headers=world.headers("generaliste"), timeout=30)
    for _ in range(2):
        assert gp.post("/RequestGroup", json=envelope()).status_code == 201
    page = gp.get("/RequestGroup", params={"_count": "1"}).json()
    assert len(page["entry"]) == 1 and page["total"] == 2
    _count_only(gp.get("/RequestGroup", params={"_summary": "count"}), 2)
    _count_only(gp.get("/RequestGroup", params={"_count": "0"}), 2)
    for params in (*REFUSED, {"_elements": "status"}):
        _refused(gp.get("/RequestGroup", params=params), next(iter(params)))

    documents = [Produced(n1(PROS["hospitalier"], title=t)) for t in ("Lettre de liaison", "Compte rendu")]
    assert world.provide("hospitalier", documents).status_code == 200
    assert world.inform("generaliste").status_code == 201
    dmp = world.client("generaliste")
    query = {"patient.identifier": f"urn:oid:{OID_INS_NIR_TEST}|{SARAH_NIR}", "status": "current"}
    _count_only(dmp.get("/DocumentReference", params={**query, "_summary": "count"}), 2)
    _count_only(dmp.get("/DocumentReference", params={**query, "_count": "0"}), 2)
    cut = dmp.get("/DocumentReference", params={**query, "_count": "1"}).json()
    assert cut["total"] == 2 and [e["search"]["mode"] for e in cut["entry"]] == ["match", "outcome"]
    for params in (*REFUSED, {"_elements": "status"}):
        _refused(dmp.get("/DocumentReference", params={**query, **params}), next(iter(params)))
    # the information state is searched (search-type): a searchset, not a bare Consent
    consent = dmp.get("/Consent", params={"patient.identifier": SARAH_NIR})
    assert (
        consent.json()["resourceType"] == "Bundle"
        and consent.json()["entry"][0]["resource"]["resourceType"] == "Consent"
    )
    _count_only(dmp.get("/Consent", params={"patient.identifier": SARAH_NIR, "_summary": "count"}), 1)


@pytest.mark.parametrize("value", ["-1", "x", "100001"])
def test_a_bad_count_is_refused(house, live, value):
    http = httpx.Client(
        base_url=f"{live.url}/annuaire", headers={"ESANTE-API-KEY": issue_key(house.db, "1750000019", "t", "t")}
    )
    assert http.get("/Organization", params={"_count": value}).status_code == 400


def test_mon_espace_sante_lists(house, live):
    """The patient's lists in Mon espace santé are FHIR searchsets too: the same result parameters."""
    from tests.e2e.test_espace import observation

    world = make_world(house, live, ("generaliste",))
    sarah = httpx.Client(
        base_url=f"{world.base}/espace", headers={"Authorization": f"Bearer {world.patient_token()}"}, timeout=30
    )
    for when in ("2026-10-01T08:00:00Z", "2026-10-02T08:00:00Z"):
        assert sarah.post("/mesures", json=observation("29463-7", 70, "kg", when)).status_code == 201
    _count_only(sarah.get("/mesures", params={"_summary": "count"}), 2)
    page = sarah.get("/mesures", params={"_count": "1"}).json()
    assert len(page["entry"]) == 1 and page["total"] == 2
    for params in (*REFUSED, {"_elements": "code"}):
        _refused(sarah.get("/mesures", params=params), next(iter(params)))
        _refused(sarah.get("/agenda", params=params), next(iter(params)))
        _refused(sarah.get("/profil/allergies", params=params), next(iter(params)))
