"""The result parameters of FHIR search on every base (issue 20 §4.3, R4 search.html §3.1.1.5):
`_count=0` and `_summary=count` answer the total alone; `_summary`'s other values, `_elements` where
the base does not serve it and `_sort` (no guide lists it) are refused with a 400 OperationOutcome
naming the parameter, never ignored.

The tests of one backend share one house and its world (module_live): each counts what it alone wrote
(its own patients, its own structure's index, the GP's prescriptions, a directory it seeds and counts
itself)."""

import httpx
import pytest

from maison.core.auth import issue_key
from maison.etablissement.dmp.producer import Produced
from maison.seeding.directory import seed_directory
from tests.e2e.shared_world import shared_house, shared_world
from tests.e2e.test_fhir_transitions import _admit
from tests.e2e.test_ordonnance_api import envelope
from tests.identite.helpers import IDAM, STRUCTURE
from tests.partage.world import OID_INS_NIR_TEST, PROS, n1
from tests.portail.own_patient import own_patient

REFUSED = ({"_sort": "_id"}, {"_summary": "text"}, {"_summary": "data"})


module_world, world = shared_world("generaliste", "hospitalier")
house, live = shared_house()


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
    # the DPI's software and structure (seed_referential's; its people are not searched here, and
    # Sarah is the world's already)
    house.insi.register_software(IDAM, "Maison DPI", "Maison")
    house.insi.register_structure(STRUCTURE, "Hôpital de test")
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


def test_ordonnance_and_dmp(world):
    patient = own_patient(world.house, account=False)
    gp = httpx.Client(base_url=f"{world.base}/ordonnance", headers=world.headers("generaliste"), timeout=30)
    for _ in range(2):
        assert gp.post("/RequestGroup", json=envelope()).status_code == 201
    page = gp.get("/RequestGroup", params={"_count": "1"}).json()
    assert len(page["entry"]) == 1 and page["total"] == 2
    _count_only(gp.get("/RequestGroup", params={"_summary": "count"}), 2)
    _count_only(gp.get("/RequestGroup", params={"_count": "0"}), 2)
    for params in (*REFUSED, {"_elements": "status"}):
        _refused(gp.get("/RequestGroup", params=params), next(iter(params)))

    documents = [
        Produced(n1(PROS["hospitalier"], patient=patient.identity, title=t))
        for t in ("Lettre de liaison", "Compte rendu")
    ]
    assert world.provide("hospitalier", documents).status_code == 200
    assert world.inform("generaliste", patient.ins).status_code == 201
    dmp = world.client("generaliste")
    query = {"patient.identifier": f"urn:oid:{OID_INS_NIR_TEST}|{patient.ins}", "status": "current"}
    _count_only(dmp.get("/DocumentReference", params={**query, "_summary": "count"}), 2)
    _count_only(dmp.get("/DocumentReference", params={**query, "_count": "0"}), 2)
    cut = dmp.get("/DocumentReference", params={**query, "_count": "1"}).json()
    assert cut["total"] == 2 and [e["search"]["mode"] for e in cut["entry"]] == ["match", "outcome"]
    for params in (*REFUSED, {"_elements": "status"}):
        _refused(dmp.get("/DocumentReference", params={**query, **params}), next(iter(params)))
    # the information state is searched (search-type): a searchset, not a bare Consent
    consent = dmp.get("/Consent", params={"patient.identifier": patient.ins})
    assert (
        consent.json()["resourceType"] == "Bundle"
        and consent.json()["entry"][0]["resource"]["resourceType"] == "Consent"
    )
    _count_only(dmp.get("/Consent", params={"patient.identifier": patient.ins, "_summary": "count"}), 1)


@pytest.mark.parametrize("value", ["-1", "x", "100001"])
def test_a_bad_count_is_refused(house, live, value):
    http = httpx.Client(
        base_url=f"{live.url}/annuaire", headers={"ESANTE-API-KEY": issue_key(house.db, "1750000019", "t", "t")}
    )
    assert http.get("/Organization", params={"_count": value}).status_code == 400


def test_mon_espace_sante_lists(world):
    """The patient's lists in Mon espace santé are FHIR searchsets too: the same result parameters."""
    from tests.e2e.test_espace import observation

    patient = own_patient(world.house)
    token = world.patient_token(patient.login, patient.email)
    alice = httpx.Client(base_url=f"{world.base}/espace", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    for when in ("2026-10-01T08:00:00Z", "2026-10-02T08:00:00Z"):
        assert alice.post("/mesures", json=observation("29463-7", 70, "kg", when)).status_code == 201
    _count_only(alice.get("/mesures", params={"_summary": "count"}), 2)
    page = alice.get("/mesures", params={"_count": "1"}).json()
    assert len(page["entry"]) == 1 and page["total"] == 2
    for params in (*REFUSED, {"_elements": "code"}):
        _refused(alice.get("/mesures", params=params), next(iter(params)))
        _refused(alice.get("/agenda", params=params), next(iter(params)))
        _refused(alice.get("/profil/allergies", params=params), next(iter(params)))
