"""The base ordonnance numérique over HTTP (FHIR R4), driven as a LAP and a LGO would: a GP creates,
a pharmacist scans, reads and dispenses, the GP consults; every refusal an OperationOutcome.

The tests of one backend share one house and its world of signed-in professionals (`module_live`):
each reads, executes and is refused on prescriptions it created itself. The whole circuit, whose
search lists the GP's prescriptions of the last days, and the published counters, which count the
whole base, keep a house each in test_ordonnance_circuit.py."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest

from maison.formats.namespace import LEGACY_BASE
from maison.formats.ordonnance import ALPHABET, CONSENT_PATH, SYS_CIP, SYS_LOINC, SYS_UCUM
from tests.partage.world import OID_INS_NIR_TEST, SARAH_NIR, World, make_world

# The envelopes here name the consent extension as Maison did before issue 21 §3.3: a LAP written then
# is still understood (tests/e2e/test_namespace.py sends it under the house's own namespace).
OLD_CONSENT = f"{LEGACY_BASE}/{CONSENT_PATH}"


KEYS = ("generaliste", "pharmacien", "infirmier", "dentiste", "hospitalier")


@pytest.fixture(scope="module")
def module_world(module_live) -> World:
    return make_world(module_live.house, module_live, KEYS)


@pytest.fixture
def world(module_world: World) -> World:
    """The module's world, its professionals' tokens young enough for this test."""
    return module_world.renew()


def _client(world, key: str) -> httpx.Client:
    return httpx.Client(base_url=f"{world.base}/ordonnance", headers=world.headers(key), timeout=30)


def envelope(*, consent: bool = True, on: date | None = None, extra: list[dict] | None = None) -> dict:
    """A GP's envelope: a medicine, a device in free text, a biology request and a nursing act."""
    requests = [
        {
            "resourceType": "MedicationRequest",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [{"system": SYS_CIP, "code": "3400930000014"}],
                "text": "Paracétamol 1 000 mg comprimé",
            },
            "dosageInstruction": [{"text": "1 comprimé si fièvre, 3 par jour au plus"}],
            "dispenseRequest": {"quantity": {"value": 1, "unit": "boîte"}},
        },
        {"resourceType": "DeviceRequest", "intent": "order", "codeCodeableConcept": {"text": "Thermomètre"}},
        {
            "resourceType": "ServiceRequest",
            "intent": "order",
            "code": {"coding": [{"system": SYS_LOINC, "code": "2345-7"}], "text": "Glycémie à jeun"},
            "quantityQuantity": {"value": 1, "system": SYS_UCUM, "code": "mmol/L"},
        },
        {
            "resourceType": "ServiceRequest",
            "intent": "order",
            "code": {"text": "Soins infirmiers : prise de sang à domicile"},
        },
        *(extra or []),
    ]
    group = {
        "resourceType": "RequestGroup",
        "intent": "order",
        "status": "active",
        "authoredOn": (on or date.today()).isoformat(),
        "extension": [{"url": OLD_CONSENT, "valueBoolean": consent}],
        "action": [{"resource": {"reference": f"urn:uuid:r{i}"}} for i in range(len(requests))],
    }
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:rg", "resource": group}]
        + [{"fullUrl": f"urn:uuid:r{i}", "resource": r} for i, r in enumerate(requests)],
    }


def executer(*lines: dict, ins: tuple[str, str] | None = None, at_delivery: bool = False) -> dict:
    params = [{"name": "ligne", "part": [{"name": k, **v} for k, v in line.items()]} for line in lines]
    if ins:
        params.append(
            {
                "name": "patient",
                "part": [
                    {"name": "ins", "valueIdentifier": {"system": f"urn:oid:{OID_INS_NIR_TEST}", "value": SARAH_NIR}},
                    {"name": "statutIdentite", "valueCode": ins[1]},
                ],
            }
        )
    if at_delivery:
        params.append({"name": "aLaDelivrance", "valueBoolean": True})
    return {"resourceType": "Parameters", "parameter": params}


def line(n: int, outcome: str, **more: dict) -> dict:
    return {"numero": {"valueInteger": n}, "resultat": {"valueCode": outcome}, **more}


def _code(response: httpx.Response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


def _created(world, **kw) -> str:
    with _client(world, "generaliste") as gp:
        r = gp.post("/RequestGroup", json=envelope(**kw))
    assert r.status_code == 201, r.text
    return r.json()["entry"][0]["resource"]["id"]


def _resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_execution_hidden_from_the_prescriber_with_the_patients_non(world):
    number = _created(world, consent=False)
    with _client(world, "generaliste") as gp, _client(world, "pharmacien") as pharmacy:
        assert pharmacy.post(f"/RequestGroup/{number}/$executer", json=executer(line(1, "delivre"))).status_code == 201
        seen = gp.get(f"/RequestGroup/{number}/$enveloppe").json()
        assert _resources(seen, "MedicationDispense") == []
        refused = gp.get(f"/RequestGroup/{number}/$executions")  # seed 001 L408-417
        assert refused.status_code == 403 and _code(refused) == "execution-non-consentie"


def test_each_refusal_is_precise(world):
    number = _created(world)
    typo = number[:3] + ALPHABET[(ALPHABET.index(number[3]) + 7) % 36] + number[4:]
    with (
        _client(world, "generaliste") as gp,
        _client(world, "pharmacien") as pharmacy,
        _client(world, "hospitalier") as colleague,
        _client(world, "dentiste") as dentist,
    ):
        r = pharmacy.get(f"/RequestGroup/{typo}/$dispensation")
        assert r.status_code == 400 and _code(r) == "numero-cle"
        r = colleague.get(f"/RequestGroup/{number}")  # another prescriber's: as if it did not exist (issue 18 §2.2)
        assert r.status_code == 404 and _code(r) == "prescription-inconnue"
        assert pharmacy.post(f"/RequestGroup/{number}/$executer", json=executer(line(1, "delivre"))).status_code == 201
        r = pharmacy.post(f"/RequestGroup/{number}/$executer", json=executer(line(1, "delivre")))
        assert r.status_code == 409 and _code(r) == "ligne-deja-executee"
        r = pharmacy.post(
            f"/RequestGroup/{number}/$executer", json=executer(line(3, "delivre"), ins=(SARAH_NIR, "VALI"))
        )  # seed 000 L3692-3694
        assert r.status_code == 403 and _code(r) == "ins-identite-non-qualifiee"
        r = dentist.get(f"/RequestGroup/{number}/$dispensation")
        assert r.status_code == 403 and _code(r) == "executant-non-habilite"
        r = pharmacy.post("/RequestGroup", json=envelope())
        assert r.status_code == 403 and _code(r) == "prescripteur-non-habilite"

        with_patient = envelope()
        with_patient["entry"].append(
            {
                "fullUrl": "urn:uuid:p",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": f"urn:oid:{OID_INS_NIR_TEST}", "value": SARAH_NIR}],
                },
            }
        )
        r = gp.post("/RequestGroup", json=with_patient)  # seed 000 L3697
        assert r.status_code == 400 and _code(r) == "identite-patient-interdite"
        r = gp.post(
            "/RequestGroup",
            json=envelope(
                extra=[
                    {
                        "resourceType": "ServiceRequest",
                        "intent": "order",
                        "code": {"text": "Transport sanitaire en VSL"},
                    }
                ]
            ),
        )
        assert r.status_code == 400 and _code(r) == "transport-exclu"  # seed 000 L3663
        r = gp.post("/RequestGroup", content=b'{"resourceType": ', headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        r = gp.post(
            "/RequestGroup", content=b"{" + b" " * 3_000_000 + b"}", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413
        assert httpx.get(f"{world.base}/ordonnance/RequestGroup").status_code == 401

    old = _created(world, on=date.today() - timedelta(days=120))
    with _client(world, "pharmacien") as pharmacy:
        r = pharmacy.post(f"/RequestGroup/{old}/$executer", json=executer(line(1, "delivre")))
    assert r.status_code == 422 and _code(r) == "prescription-expiree"  # CSP R.5132-22


def test_a_read_returns_the_resource_it_names(world):
    """Issue 20 §4.4: `GET RequestGroup/{n}` is the RequestGroup; each action's URL is read as its
    request; the envelope is `$enveloppe`; a RequestGroup posted alone (its requests contained) is
    created and answered as the resource; the guide's envelope (searchset, with the prescriber's
    Practitioner) is accepted."""
    number = _created(world)
    with _client(world, "generaliste") as gp, _client(world, "pharmacien") as pharmacy:
        group = gp.get(f"/RequestGroup/{number}")
        assert group.status_code == 200 and group.json()["resourceType"] == "RequestGroup"
        assert group.json()["id"] == number and "versionId" not in group.json().get("meta", {})
        urls = [a["resource"]["reference"] for a in group.json()["action"]]
        kinds = [httpx.get(url, headers=gp.headers).json()["resourceType"] for url in urls]
        assert kinds == ["MedicationRequest", "DeviceRequest", "ServiceRequest", "ServiceRequest"]
        envelope_ = gp.get(f"/RequestGroup/{number}/$enveloppe").json()
        assert [e["fullUrl"] for e in envelope_["entry"][1:]] == urls  # each fullUrl is where it is read
        assert gp.get(f"/MedicationRequest/{number}-9").status_code == 404
        assert gp.get(f"/DeviceRequest/{number}-1").status_code == 404  # line 1 is a MedicationRequest
        assert pharmacy.get(urls[0]).status_code in (403, 404)  # the prescriber's read, not the dispenser's

        alone = dict(envelope()["entry"][0]["resource"])
        requests = [e["resource"] for e in envelope()["entry"][1:]]
        alone["contained"] = [{**r, "id": f"l{n}"} for n, r in enumerate(requests, 1)]
        alone["action"] = [{"resource": {"reference": f"#l{n}"}} for n in range(1, len(requests) + 1)]
        created = gp.post("/RequestGroup", json=alone)
        assert created.status_code == 201, created.text
        assert created.json()["resourceType"] == "RequestGroup" and len(created.json()["action"]) == 4

        practitioner = {"resourceType": "Practitioner", "id": "p1", "identifier": [{"value": "810000000001"}]}
        guide = {**envelope(), "type": "searchset"}
        guide["entry"] = [
            *guide["entry"],
            {"fullUrl": "urn:uuid:7d5b8a3c-1f2e-4a6b-9c0d-1e2f3a4b5c6d", "resource": practitioner},
        ]
        assert gp.post("/RequestGroup", json=guide).status_code == 201


def _measured(unit: str = "kg") -> dict:
    """The envelope with the measures the guide documents (TradPN13FHIR-Presc-UCD-Paracetamol-exemple):
    the patient's weight and height as Observation entries, referenced by the MedicationRequest's
    supportingInformation as `#{id}` (the guide's form), the UF by identifier only."""
    bundle = envelope()

    def measure(rid: str, code: str, value: float, unit: str) -> dict:
        category = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
        return {
            "resource": {
                "resourceType": "Observation",
                "id": rid,
                "status": "final",
                "category": [{"coding": [category]}],
                "code": {"coding": [{"system": SYS_LOINC, "code": code}]},
                "effectiveDateTime": "2026-12-01T10:05:10+01:00",
                "valueQuantity": {"value": value, "unit": unit, "system": SYS_UCUM, "code": unit},
            }
        }

    bundle["entry"][1]["resource"]["supportingInformation"] = [
        {"identifier": {"system": "https://somehospital.fr/UF", "value": "2571"}},
        {"reference": "#observation-1"},
        {"reference": "#observation-2"},
    ]
    bundle["entry"] += [
        measure("observation-1", "8302-2", 112.0, "cm"),
        measure("observation-2", "29463-7", 19.5, unit),
    ]
    return bundle


def test_the_guides_observations_are_accepted_and_given_back(world):
    """Issue 20 §4.4: creation accepts the guide's Observation entries (weight, height for a
    dose-dependent prescription); `$enveloppe` gives them back as R4 Observations referenced by the
    MedicationRequest (supportingInformation), a line read alone carries them contained; an
    Observation the guide does not document, or with a unit that is not UCUM, is refused precisely."""
    with _client(world, "generaliste") as gp:
        created = gp.post("/RequestGroup", json=_measured())
        assert created.status_code == 201, created.text
        number = created.json()["entry"][0]["resource"]["id"]
        bundle = gp.get(f"/RequestGroup/{number}/$enveloppe").json()
        measures = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
        assert [(m["resource"]["code"]["coding"][0]["code"], m["resource"]["valueQuantity"]) for m in measures] == [
            ("8302-2", {"value": 112, "unit": "cm", "system": SYS_UCUM, "code": "cm"}),
            ("29463-7", {"value": 19.5, "unit": "kg", "system": SYS_UCUM, "code": "kg"}),
        ]
        [medicine] = _resources(bundle, "MedicationRequest")
        assert medicine["supportingInformation"] == [{"reference": m["fullUrl"]} for m in measures]
        alone = gp.get(f"/MedicationRequest/{number}-1").json()
        assert [c["resourceType"] for c in alone["contained"]] == ["Observation", "Observation"]
        assert "supportingInfo" not in gp.get(f"/DeviceRequest/{number}-2").json()

        r = gp.post("/RequestGroup", json=_measured(unit="[lb_av]"))  # UCUM, but not a unit of the guide's
        assert r.status_code == 400 and _code(r) == "observation-unite", r.text
        unknown = _measured()
        unknown["entry"][-1]["resource"]["code"]["coding"][0]["code"] = "2345-7"
        r = gp.post("/RequestGroup", json=unknown)
        assert r.status_code == 400 and _code(r) == "observation-code"
        missing = _measured()
        del missing["entry"][-1]["resource"]["valueQuantity"]
        r = gp.post("/RequestGroup", json=missing)
        assert r.status_code == 400 and _code(r) == "observation-valeur"
        local = _measured()
        local["entry"][-1]["resource"]["valueQuantity"]["system"] = "https://somehospital.fr/unites"
        r = gp.post("/RequestGroup", json=local)
        assert r.status_code == 400 and _code(r) == "observation-unite"
