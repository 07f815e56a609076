"""The base R4 check every end-to-end FHIR body goes through (conftest.py, fhir_r4.py) finds the
defects third-party R4 clients found in Maison's answers (issue 20 §4.2), and passes a valid body."""

from tests.e2e.fhir_r4 import problems

PATIENT = {
    "resourceType": "Patient",
    "id": "1",
    "name": [{"family": "DUPONT", "given": ["JEANNE"]}],
    "gender": "female",
    "birthDate": "1980-02-29",
}


def _searchset(*entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": list(entries)}


def test_a_valid_body_passes() -> None:
    assert problems(PATIENT) == []
    good = {"fullUrl": "https://maison.example/fhir/Patient/1", "resource": PATIENT, "search": {"mode": "match"}}
    assert problems(_searchset(good)) == []
    assert problems({"resourceType": "Bundle", "type": "searchset", "total": 0}) == []


def test_empty_arrays_strings_and_objects_are_faults() -> None:
    address = {**PATIENT, "address": [{"line": [], "city": "PARIS"}]}
    assert problems(address) and any("address[0].line: empty list" in p for p in problems(address))
    assert any("system: empty str" in p for p in problems({**PATIENT, "identifier": [{"system": "", "value": "1"}]}))
    assert any(
        "$.entry: empty list" in p for p in problems({"resourceType": "Bundle", "type": "searchset", "entry": []})
    )
    assert problems({**PATIENT, "meta": {}})


def test_elements_r4_does_not_have_are_faults() -> None:
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-07",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{"mode": "server", "resource": [{"type": "Practitioner", "conditionalPatch": True}]}],
    }
    assert any("conditionalPatch" in p for p in problems(statement))  # R5
    request = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "subject": {"display": "patient"},
        "groupIdentifier": {"value": "1"},  # MedicationRequest has one, ServiceRequest not
    }
    assert any("groupIdentifier" in p for p in problems(request))
    assert any("is not an R4 resource type" in p for p in problems({"resourceType": "SubscriptionTopic"}))  # R4B/R5


def test_required_elements_and_primitive_formats() -> None:
    assert any("status" in p for p in problems({"resourceType": "RequestGroup", "intent": "order"}))
    assert any("birthDate" in p for p in problems({**PATIENT, "birthDate": "29/02/1980"}))


def test_full_urls_absolute_and_naming_their_resource() -> None:
    def entry(url: str) -> dict:
        return {"fullUrl": url, "resource": PATIENT}

    assert problems(_searchset(entry("Patient/1")))  # relative
    assert problems(_searchset(entry("urn:maison:espace:Patient/1")))  # neither URL nor urn:uuid
    assert problems(_searchset(entry("https://maison.example/dmp/Patient/Patient/1")))  # type twice
    assert problems(_searchset(entry("https://maison.example/fhir/Patient/2")))  # another resource
    assert problems(_searchset(entry("urn:uuid:0b0c9e52-0b45-4f8e-9a36-1b5f0a3c2d11"))) == []
