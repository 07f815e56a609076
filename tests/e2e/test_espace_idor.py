"""Mon espace santé and the ordonnance base over HTTP, issue 18 §2.2 and §2.5: another patient's entry
(profile, measure, appointment, document) answers exactly like a missing one, and every attempt is in
the audit trail with the entry's owner as the patient."""

from __future__ import annotations

import uuid

import httpx
import pytest

from maison.core import audit
from maison.etablissement.dmp.producer import Produced
from tests.partage.world import CHILD, PROS, SARAH_NIR, make_world, n1


@pytest.fixture
def world(house, live):
    return make_world(house, live, ("hospitalier",))


def _espace(world, user: str, recipient: str) -> httpx.Client:
    token = world.patient_token(user, recipient)
    return httpx.Client(base_url=f"{world.base}/espace", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _answer(response: httpx.Response) -> tuple:
    body = response.json()
    return response.status_code, body["issue"][0]["code"], body["issue"][0]["details"]["coding"][0]["code"]


def test_another_patients_entries_answer_like_missing_ones_and_are_audited(world):
    sarah, lea = _espace(world, "sarah.garcia", "sarah@example.fr"), _espace(world, "lea.garcia", "+33612345678")
    condition = {"resourceType": "Condition", "code": {"text": "Asthme"}}
    item = sarah.post("/profil/maladies", json=condition).json()["id"]
    measure = sarah.post(
        "/mesures",
        json={
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "valueQuantity": {"value": 60, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
            "effectiveDateTime": "2026-10-01T08:00:00Z",
        },
    ).json()["id"]
    event = {
        "resourceType": "Appointment",
        "status": "booked",
        "description": "Consultation",
        "start": "2026-12-03T09:30:00+00:00",
    }
    appointment = sarah.post("/agenda", json=event).json()["id"]
    fed = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"]))])
    document = fed.json()["entry"][1]["response"]["location"].split("/")[1]
    nowhere = str(uuid.uuid4())
    attempts = [
        (lambda i: lea.put(f"/profil/maladies/{i}", json=condition), item),
        (lambda i: lea.delete(f"/profil/maladies/{i}"), item),
        (lambda i: lea.delete(f"/mesures/{i}"), measure),
        (lambda i: lea.put(f"/agenda/{i}", json=event), appointment),
        (lambda i: lea.delete(f"/agenda/{i}"), appointment),
        (lambda i: lea.delete(f"/documents/{i}"), document),
    ]
    for attempt, theirs in attempts:
        assert _answer(attempt(theirs)) == _answer(attempt(nowhere))
        assert attempt(theirs).status_code == 404
    # nothing of Sarah's changed
    assert sarah.get("/profil/maladies").json()["total"] == 1 and sarah.get("/agenda").json()["total"] == 1
    with world.house.db.read() as conn:
        refused = [
            (e["actor_person"], e["patient"], audit.detail_of(e).get("autre-patient", False))
            for e in audit.events(conn, action_prefix="espace.")
            if e["outcome"] == "failure"
        ]
    # each attempt thrice (theirs, nowhere, theirs): on Sarah's entries the record names Sarah
    assert len(refused) == 3 * len(attempts)
    assert refused.count((CHILD, SARAH_NIR, True)) == 2 * len(attempts)
    assert refused.count((CHILD, CHILD, False)) == len(attempts)


def test_a_document_awaiting_its_announcement_cannot_be_named_by_the_patient(world):
    sarah = _espace(world, "sarah.garcia", "sarah@example.fr")
    fed = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"]), visibility=("INVISIBLE_PATIENT",))])
    hidden = fed.json()["entry"][1]["response"]["location"].split("/")[1]
    assert _answer(sarah.delete(f"/documents/{hidden}")) == _answer(sarah.delete(f"/documents/{uuid.uuid4()}"))
