"""The DMP over PDSm, against the running server: the IHE MHD test plan's scenarios (publish one
document, two documents, replacement) plus the French rules (INS, N1/N3); the negative cases and
hostile bodies, all refused, share one house per backend in test_dmp_mhd_refus.py.

The tests of one backend share one house and its world too (module_live): each feeds a patient of its
own (tests/portail/own_patient.py) and reads the trail from a mark taken before it acts."""

import base64
import hashlib

import httpx
import pytest

from maison.etablissement.dmp.producer import Produced, provide_bundle
from tests.e2e.mss_shared import Trail
from tests.e2e.shared_world import shared_world
from tests.partage.world import PROS, n1
from tests.portail.own_patient import Patient, own_patient

module_world, world = shared_world("hospitalier", "generaliste", "infirmier")


@pytest.fixture
def patient(module_live) -> Patient:
    """This test's own patient (in the referential; no login needed)."""
    return own_patient(module_live.house, account=False)


def _locations(response: httpx.Response) -> list[str]:
    return [e["response"]["location"] for e in response.json()["entry"]]


def _code(response: httpx.Response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


def test_publish_one_document_then_find_and_retrieve_it(world, patient):
    cda = n1(PROS["hospitalier"], patient=patient.identity)
    answer = world.provide("hospitalier", [Produced(cda)])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["type"] == "transaction-response"
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created"] * 3
    lot, docref, binary = _locations(answer)
    assert lot.startswith("List/") and docref.startswith("DocumentReference/") and binary.startswith("Binary/")
    assert world.inform("generaliste", patient.ins).status_code == 201
    found = world.search("generaliste", patient.ins)
    assert found.status_code == 200, found.text
    [entry] = found.json()["entry"]
    resource = entry["resource"]
    assert resource["id"] == docref.split("/")[1] and resource["status"] == "current"
    assert resource["content"][0]["attachment"]["hash"] == base64.b64encode(hashlib.sha1(cda).digest()).decode()
    got = httpx.get(resource["content"][0]["attachment"]["url"], headers=world.headers("generaliste"))
    assert got.status_code == 200 and got.content == cda and got.headers["content-type"].startswith("text/xml")


def test_publish_two_documents_in_one_lot_and_find_the_lot(world, patient):
    answer = world.provide(
        "hospitalier",
        [
            Produced(n1(PROS["hospitalier"], patient=patient.identity, title="Lettre de liaison")),
            Produced(n1(PROS["hospitalier"], patient=patient.identity, title="Ordonnance de sortie")),
        ],
    )
    assert answer.status_code == 200, answer.text
    lot = _locations(answer)[0].split("/")[1]
    world.inform("generaliste", patient.ins)
    assert len(world.search("generaliste", patient.ins).json()["entry"]) == 2
    lists = world.client("generaliste").get(
        "/List",
        params={
            "patient.identifier": f"urn:oid:1.2.250.1.213.1.4.10|{patient.ins}",
            "status": "current",
            "code": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|submissionset",
        },
    )
    assert lists.status_code == 200 and [e["resource"]["id"] for e in lists.json()["entry"]] == [lot]
    # required parameters (PDSm st_recherche_lot.md L41, st_recherche_fiche.md L40)
    assert world.client("generaliste").get("/List", params={"status": "current"}).status_code == 400
    no_status = world.client("generaliste").get(
        "/DocumentReference", params={"patient.identifier": f"urn:oid:1.2.250.1.213.1.4.10|{patient.ins}"}
    )
    assert no_status.status_code == 400 and _code(no_status) == "statut-obligatoire"


def test_replacement_supersedes_and_keeps_the_chain(world, patient):
    first = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"], patient=patient.identity))])
    old = _locations(first)[1]
    with world.house.db.read() as conn:  # the CDA RPLC names the replaced document's id
        import sqlalchemy as sa

        from maison.partage.dmp.store import dmp_document

        old_uid = conn.execute(
            sa.select(dmp_document.c.unique_id).where(dmp_document.c.id == old.split("/")[1])
        ).scalar_one()
    second = world.provide(
        "hospitalier", [Produced(n1(PROS["hospitalier"], patient=patient.identity, replaces=old_uid), replaces=old)]
    )
    assert second.status_code == 200, second.text
    new = _locations(second)[1]
    world.inform("generaliste", patient.ins)
    current = world.search("generaliste", patient.ins).json()["entry"]
    assert [e["resource"]["id"] for e in current] == [new.split("/")[1]]
    assert current[0]["resource"]["relatesTo"] == [{"code": "replaces", "target": {"reference": old}}]
    superseded = world.search("generaliste", patient.ins, status="superseded").json()["entry"]
    assert [e["resource"]["status"] for e in superseded] == ["superseded"]
    # a superseded document cannot be replaced again; another structure cannot replace
    again = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"], patient=patient.identity), replaces=old)])
    assert again.status_code == 422 and "n'est plus courant" in again.text
    # …nor learn that it exists: answered like a document that is not there (issue 18 §2.2)
    other = world.provide("generaliste", [Produced(n1(PROS["generaliste"], patient=patient.identity), replaces=new)])
    assert other.status_code == 422 and "inconnu pour ce patient" in other.text
    nowhere = world.provide(
        "generaliste",
        [
            Produced(
                n1(PROS["generaliste"], patient=patient.identity),
                replaces="DocumentReference/00000000-0000-4000-8000-000000000000",
            )
        ],
    )
    assert nowhere.json()["issue"][0]["details"]["coding"] == other.json()["issue"][0]["details"]["coding"]


def test_replayed_submission_is_idempotent(world, patient):
    trail = Trail(world.house)
    bundle = provide_bundle([Produced(n1(PROS["hospitalier"], patient=patient.identity))])
    client = world.client("hospitalier")
    first = client.post("", json=bundle, headers={"Content-Type": "application/fhir+json"})
    again = client.post("", json=bundle, headers={"Content-Type": "application/fhir+json"})
    assert first.status_code == again.status_code == 200
    assert _locations(first) == _locations(again)
    assert [e["response"]["status"] for e in again.json()["entry"]] == ["200 OK"] * 3
    # stored once, but the replay is in the trail too
    actions = [e["action"] for e in trail.since("dmp.alimenter")]
    assert actions == ["dmp.alimenter", "dmp.alimenter.rejeu"]
    world.inform("generaliste", patient.ins)
    assert len(world.search("generaliste", patient.ins).json()["entry"]) == 1
    # the same uniqueId with other bytes is refused (XDSNonIdenticalHash)
    changed = provide_bundle([Produced(n1(PROS["hospitalier"], patient=patient.identity))])
    changed["entry"][1]["resource"]["masterIdentifier"] = bundle["entry"][1]["resource"]["masterIdentifier"]
    clash = client.post("", json=changed, headers={"Content-Type": "application/fhir+json"})
    assert clash.status_code in (409, 422)
