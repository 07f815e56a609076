"""Every fullUrl a base gives is where the resource is read (issue 20 §4.2, R4 Bundle §2.36.4): an
absolute URL that a GET with the same credentials answers with that very resource — or a urn:uuid
for what the base serves only inside a Bundle."""

import httpx

from maison.core.auth import issue_key
from maison.etablissement.dmp.producer import Produced
from maison.seeding.directory import seed_directory
from tests.e2e.test_fhir_transitions import _admit
from tests.e2e.test_ordonnance_api import envelope, executer, line
from tests.identite.helpers import IDAM, STRUCTURE
from tests.partage.world import OID_INS_NIR_TEST, PROS, SARAH_NIR, make_world, n1


def _resolve_all(client: httpx.Client, bundle: dict) -> int:
    """GET each entry's fullUrl; the number of entries so resolved (urn:uuid ones are not)."""
    resolved = 0
    for entry in bundle.get("entry", []):
        url, resource = entry.get("fullUrl"), entry["resource"]
        if url is None or url.startswith("urn:uuid:"):
            continue
        read = client.get(url)
        assert read.status_code == 200, f"{url}: {read.status_code} {read.text[:200]}"
        assert (read.json()["resourceType"], read.json()["id"]) == (resource["resourceType"], resource["id"])
        # a version claimed is read back by vread (the DMP's fiche, PDSm); elsewhere none is claimed
        version = read.json().get("meta", {}).get("versionId")
        if version is None:
            assert "versionId" not in resource.get("meta", {})
        else:
            vread = client.get(f"{url}/_history/{version}")
            assert vread.status_code == 200 and vread.json() == read.json()
            assert vread.headers["etag"] == read.headers["etag"] == f'W/"{version}"'
            assert client.get(f"{url}/_history/{int(version) + 1}").status_code == 404
            assert read.json()["resourceType"] == "DocumentReference"
        resolved += 1
    return resolved


def test_dmp_ordonnance_and_the_patient_index(house, live):
    world = make_world(house, live, ("hospitalier", "generaliste", "pharmacien"))
    documents = [Produced(n1(PROS["hospitalier"], title=t)) for t in ("Lettre de liaison", "Compte rendu")]
    assert world.provide("hospitalier", documents).status_code == 200
    assert world.inform("generaliste").status_code == 201
    dmp = world.client("generaliste")
    patient = f"urn:oid:{OID_INS_NIR_TEST}|{SARAH_NIR}"
    found = dmp.get("/DocumentReference", params={"patient.identifier": patient, "status": "current"}).json()
    assert _resolve_all(dmp, found) == 2
    lots = dmp.get(
        "/List",
        params={
            "patient.identifier": patient,
            "status": "current",
            "code": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|submissionset",
        },
    ).json()
    assert _resolve_all(dmp, lots) == 1
    assert dmp.get("/List/00000000-0000-0000-0000-000000000000").status_code == 404

    gp = httpx.Client(base_url=f"{world.base}/ordonnance", headers=world.headers("generaliste"), timeout=30)
    pharmacy = httpx.Client(base_url=f"{world.base}/ordonnance", headers=world.headers("pharmacien"), timeout=30)
    number = gp.post("/RequestGroup", json=envelope()).json()["entry"][0]["resource"]["id"]
    assert pharmacy.post(f"/RequestGroup/{number}/$executer", json=executer(line(1, "delivre"))).status_code == 201
    assert _resolve_all(gp, gp.get("/RequestGroup").json()) == 1
    whole = gp.get(f"/RequestGroup/{number}/$enveloppe").json()
    assert _resolve_all(gp, whole) == 5  # the group and its four lines; the dispense by its urn:uuid
    assert any(e["fullUrl"].startswith("urn:uuid:") for e in whole["entry"])

    key = issue_key(house.db, STRUCTURE, IDAM, "801234567897", "accueil")
    index = httpx.Client(base_url=f"{live.url}/fhir", headers={"Authorization": f"Bearer {key}"})
    _admit(index, "F1", "Durand", "Marc", "male", "1970-03-03")
    assert _resolve_all(index, index.get("/Patient", params={"family": "DURAND"}).json()) == 1


def test_annuaire(house, live):
    seed_directory(house.db, 40, seed=5)
    http = httpx.Client(
        base_url=f"{live.url}/annuaire", headers={"ESANTE-API-KEY": issue_key(house.db, "1750000019", "t", "t")}
    )
    page = http.get(
        "/PractitionerRole", params={"_include": "PractitionerRole:practitioner", "_count": "3", "active": "true"}
    ).json()
    assert _resolve_all(http, page) >= 4
