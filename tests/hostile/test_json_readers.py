"""Wrong JSON types in the bodies the pentest named (issue 18 §2.4) are 400 OperationOutcomes naming
the member's FHIRPath, never a 500: /fhir/Patient, /dmp/Consent, /insi/json/*, $rpps-plus, the DMP's
conditional PATCH; and a JSON integer no column holds is refused by the body reader itself."""

from __future__ import annotations

import httpx
import orjson
import pytest

from maison.core.identifiers.nir import OID_INS_NIR_TEST
from maison.etablissement.dmp.producer import Produced
from tests.hostile.world import Callers
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import PROS, n1

PI = {"type": {"coding": [{"code": "PI"}]}, "value": "IPP1"}
INS = {"system": f"urn:oid:{OID_INS_NIR_TEST}", "value": SARAH_NIR}
PARAMS = [{"name": n, "valueString": "x"} for n in ("nom", "prenom", "dateNaissance", "civilite", "role")]
CASES = [  # (caller, path, body, FHIRPath the answer names)
    ("hospitalier", "/fhir/Patient", {"resourceType": "Patient", "identifier": 1}, "Patient.identifier"),
    ("hospitalier", "/fhir/Patient", {"resourceType": "Patient", "identifier": [1]}, "Patient.identifier[0]"),
    (
        "hospitalier",
        "/fhir/Patient",
        {"resourceType": "Patient", "identifier": [{"type": []}]},
        "Patient.identifier[0].type",
    ),
    (
        "hospitalier",
        "/fhir/Patient",
        {"resourceType": "Patient", "identifier": [PI], "name": [{"use": "official", "family": ["X"]}]},
        "Patient.name[0].family",
    ),
    (
        "hospitalier",
        "/fhir/Patient",
        {"resourceType": "Patient", "identifier": [PI], "name": [{"use": "official", "given": [1]}]},
        "Patient.name[0].given[0]",
    ),
    (
        "hospitalier",
        "/fhir/Patient",
        {
            "resourceType": "Patient",
            "identifier": [PI],
            "name": [{"use": "official", "family": "X"}],
            "birthDate": 19770121,
        },
        "Patient.birthDate",
    ),
    (
        "professionnel",
        "/dmp/Consent",
        {"resourceType": "Consent", "patient": {"identifier": 1}},
        "Consent.patient.identifier",
    ),
    (
        "professionnel",
        "/dmp/Consent",
        {"resourceType": "Consent", "patient": {"identifier": {**INS, "value": []}}},
        "Consent.patient.identifier.value",
    ),
    (
        "professionnel",
        "/dmp/Consent",
        {"resourceType": "Consent", "patient": {"identifier": INS}, "provision": {"provision": [{"action": 1}]}},
        "Consent.provision.provision[0].action",
    ),
    (
        "professionnel",
        "/dmp/Consent",
        {"resourceType": "Consent", "patient": {"identifier": INS}, "extension": [{"url": "x", "valueString": {}}, 2]},
        "Consent.extension[1]",
    ),
    ("aucun", "/insi/json/rechercherInsAvecTraitsIdentite", {"prenoms": 1}, "rechercherInsAvecTraitsIdentite.prenoms"),
    (
        "aucun",
        "/insi/json/rechercherInsAvecTraitsIdentite",
        {"prenoms": ["A", {}]},
        "rechercherInsAvecTraitsIdentite.prenoms[1]",
    ),
    (
        "aucun",
        "/insi/json/rechercherInsAvecTraitsIdentite",
        {"lieuNaissance": 75056},
        "rechercherInsAvecTraitsIdentite.lieuNaissance",
    ),
    (
        "aucun",
        "/insi/json/rechercherInsAvecCarteVitale",
        {"matriculeIndividu": 1},
        "rechercherInsAvecCarteVitale.matriculeIndividu",
    ),
    (
        "aucun",
        "/insi/json/rechercherInsAvecCarteVitale",
        {"rangNaissance": "1"},
        "rechercherInsAvecCarteVitale.rangNaissance",
    ),
    (
        "cle-administrateur-structure",
        "/annuaire/$rpps-plus",
        {"resourceType": "Parameters", "parameter": [{"name": [], "valueString": "x"}]},
        "Parameters.parameter[0].name",
    ),
    (
        "cle-administrateur-structure",
        "/annuaire/$rpps-plus",
        {"resourceType": "Parameters", "parameter": 1},
        "Parameters.parameter",
    ),
    (
        "cle-administrateur-structure",
        "/annuaire/$rpps-plus",
        {"resourceType": "Parameters", "parameter": [[]]},
        "Parameters.parameter",
    ),
    ("hospitalier", "/fhir/Patient", {"resourceType": "Patient", "x": [{"y": 2**64 - 1}]}, "$.x[0].y"),
]


# Every case is refused (400 or another 4xx), so the cases of one backend share one house, its
# callers and its document (module_live): a case costs its request, not a house and its logins.
@pytest.fixture(scope="module")
def shared_callers(module_live) -> Callers:
    return Callers(module_live.house, module_live)


@pytest.fixture
def callers(shared_callers: Callers) -> dict[str, dict[str, str]]:
    return shared_callers.now()


@pytest.mark.parametrize("caller,path,body,expression", CASES, ids=[f"{c[1]}:{c[3]}" for c in CASES])
def test_a_wrong_json_type_is_a_400_naming_its_path(module_live, callers, caller, path, body, expression):
    answer = httpx.post(
        f"{module_live.url}{path}",
        content=orjson.dumps(body),
        headers={**callers[caller], "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    issue = answer.json()["issue"][0]
    assert issue["expression"] == [expression], issue


@pytest.fixture(scope="module")
def fed(shared_callers: Callers):
    world = shared_callers.world.renew()
    fed = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"]))])
    assert fed.status_code == 200, fed.text
    assert world.inform("hospitalier").status_code == 201
    return world, world.search("hospitalier").json()["entry"][0]["resource"]["masterIdentifier"]["value"]


@pytest.fixture
def document(fed):
    world, uid = fed
    return world.renew(), uid


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "replace", "path": "/securityLabel", "value": [{"coding": [{"code": ["N"]}]}]}],
        [{"op": "replace", "path": "/securityLabel", "value": [{"coding": 1}]}],
        [{"op": "replace", "path": "/securityLabel", "value": 7}],
        [{"op": "add", "path": "/extension", "value": 1}],
        [{"op": "replace", "path": "/status", "value": {"a": 1}}],
        [{"op": "replace", "path": "/securityLabel/²/coding", "value": []}],
        [{"op": "add", "path": "/content/٣", "value": {}}],
        [{"op": "replace", "path": "/securityLabel/0", "value": {"coding": [{"code": 2**64 - 1}]}}],
    ],
    ids=lambda ops: orjson.dumps(ops).decode()[:60],
)
def test_the_dmp_conditional_patch_refuses_wrong_types(document, operations):
    world, uid = document
    answer = world.client("hospitalier").patch(
        "/DocumentReference",
        params={"identifier": uid},
        content=orjson.dumps(operations),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"
