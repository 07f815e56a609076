"""Mon espace santé over HTTP: what the patient's entries, measures, deposits and bodies are refused for.

Every case here is refused and keeps nothing (the deposits' case checks it), so the cases of one
backend share one house and one patient (`module_live`): a case costs its request, not a house, a
server and a login. The accepted entries and their effects are in `test_espace.py`."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.test_espace import _upload, issue_code, observation
from tests.partage.world import SARAH_NIR, make_world


@pytest.fixture(scope="module")
def world(module_live):
    return make_world(module_live.house, module_live, ())


@pytest.fixture(scope="module")
def sarah(world):
    return httpx.Client(
        base_url=f"{world.base}/espace", headers={"Authorization": f"Bearer {world.patient_token()}"}, timeout=30
    )


@pytest.mark.parametrize(
    ("rubrique", "body", "code"),
    [
        ("maladies", {"resourceType": "Condition"}, "texte-obligatoire"),
        ("maladies", {"resourceType": "AllergyIntolerance", "code": {"text": "x"}}, "type-ressource"),
        (
            "contacts-urgence",
            {"resourceType": "RelatedPerson", "name": [{"family": "X"}], "telecom": []},
            "contact-injoignable",
        ),
        (
            "contacts-urgence",
            {
                "resourceType": "RelatedPerson",
                "name": [{"family": "X"}],
                "telecom": [{"system": "email", "value": "pas-un-mail"}],
            },
            "contact-invalide",
        ),
        (
            "traitements",
            {
                "resourceType": "MedicationStatement",
                "medicationCodeableConcept": {"text": "x"},
                "effectivePeriod": {"start": "2024-05-01", "end": "2024-01-01"},
            },
            "periode-invalide",
        ),
        ("vaccinations", {"resourceType": "Immunization", "vaccineCode": {"text": "x"}}, "date-invalide"),
        (
            "vaccinations",
            {"resourceType": "Immunization", "vaccineCode": {"text": "x"}, "occurrenceDateTime": "2999-01-01"},
            "date-future",
        ),
        ("inconnue", {"resourceType": "Condition"}, "rubrique-inconnue"),
    ],
)
def test_a_bad_profile_entry_is_refused_with_its_element(sarah, rubrique, body, code) -> None:
    response = sarah.post(f"/profil/{rubrique}", json=body)
    assert response.status_code == 400 and issue_code(response) == code, response.text


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (observation("39156-5", 22, "kg/m2"), "mesure-calculee"),  # 000 L3309: the BMI is computed
        (observation("29463-7", 70, "lb"), "unite-invalide"),
        (observation("29463-7", 700, "kg"), "valeur-improbable"),
        (observation("8310-5", 20, "Cel"), "valeur-improbable"),
        (observation("72514-3", 4.5, "{score}"), "valeur-invalide"),
        (observation("1234-5", 1, "kg"), "mesure-inconnue"),
        (observation("29463-7", 70, "kg", "2999-01-01T00:00:00Z"), "date-future"),
        ({**observation("29463-7", 70, "kg"), "valueQuantity": {"value": "70", "code": "kg"}}, "valeur-invalide"),
    ],
)
def test_a_bad_measure_is_refused(sarah, body, code) -> None:
    response = sarah.post("/mesures", json=body)
    assert response.status_code == 400 and issue_code(response) == code, response.text


@pytest.mark.parametrize(
    ("category", "data", "content_type", "status", "code"),
    [
        ("DOCPAT99", b"%PDF-1.4 x", "application/pdf", 400, "categorie-inconnue"),
        ("11490-0", b"%PDF-1.4 x", "application/pdf", 400, "categorie-inconnue"),  # a professional's type
        ("DOCPAT08", b"%PDF-1.4 x", "application/pdf", 400, "categorie-reservee"),
        ("DOCPAT03", b"MZ\x90\x00 not a pdf", "application/pdf", 400, "contenu-incoherent"),
        ("DOCPAT03", b"<html></html>", "text/html", 400, "format-non-accepte"),
        ("DOCPAT04", b"\x89PNG\r\n\x1a\n" + b"\0" * 5_000_001, "image/png", 413, "document-trop-gros"),
    ],
)
def test_a_bad_deposit_is_refused_and_nothing_is_kept(world, sarah, category, data, content_type, status, code) -> None:
    response = sarah.post("/documents", json=_upload(category, data, content_type))
    assert response.status_code == status and issue_code(response) == code, response.text
    found = httpx.get(
        f"{world.base}/dmp/DocumentReference",
        headers=sarah.headers,
        params={"patient.identifier": SARAH_NIR, "status": "current"},
    ).json()
    assert found["total"] == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/mesures", {"resourceType": "Observation", "code": "poids", "valueQuantity": {"value": 1, "code": "kg"}}),
        ("/mesures", {**observation("29463-7", 70, "kg"), "note": "pas une liste"}),
        ("/mesures", {**observation("29463-7", 70, "kg"), "valueQuantity": {"value": 70, "code": ["kg"]}}),
        (
            "/agenda",
            {"resourceType": "Appointment", "description": "x", "start": "2026-12-01T10:00:00Z", "participant": 3},
        ),
        ("/agenda", {"resourceType": "Appointment", "description": "x", "start": 20261201}),
        ("/documents", {"resourceType": "DocumentReference", "type": "DOCPAT03", "content": {"attachment": {}}}),
        (
            "/documents",
            {
                "resourceType": "DocumentReference",
                "type": {"coding": "DOCPAT03"},
                "content": [{"attachment": {"data": "JVBERi0=", "contentType": "application/pdf"}}],
            },
        ),
        (
            "/profil/traitements",
            {
                "resourceType": "MedicationStatement",
                "medicationCodeableConcept": {"text": "x"},
                "effectivePeriod": {"start": "2024-01-01", "end": 20240101},
            },
        ),
        ("/profil/maladies", {"resourceType": "Condition", "code": {"coding": "x"}}),
    ],
)
def test_malformed_bodies_get_a_precise_400_not_a_500(sarah, path, body) -> None:
    response = sarah.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
