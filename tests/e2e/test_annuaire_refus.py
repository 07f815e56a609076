"""The Annuaire Santé over HTTP: searches and PATCH bodies refused, the directory left untouched.

Every case here is refused (each PATCH case checks the practitioner is untouched), so the cases of one
backend share one house, one seeded directory of 400 entries and one operator (`module_live`): a case
costs its request, not a house, a server and a seeding. The reads and writes accepted are in
`test_annuaire.py`."""

import httpx
import orjson
import pytest

from maison.core.auth import issue_key
from maison.identite.annuaire import resources as build
from maison.seeding.directory import seed_directory
from tests.e2e.test_annuaire import _one, _operation, with_operator


@pytest.fixture(scope="module")
def ann(module_live):
    house = module_live.house
    seed_directory(house.db, 400, seed=7)
    key = issue_key(house.db, "1750000019", "maison-tests", "tests")
    return house, httpx.Client(base_url=f"{module_live.url}/annuaire", headers={"ESANTE-API-KEY": key})


@pytest.fixture(scope="module")
def operator(ann):
    return with_operator(*ann)


@pytest.mark.parametrize(
    "path,params,code",
    [
        ("/HealthcareService", {"mailbox-mss": "x@y.fr"}, "parametre-inconnu"),
        ("/HealthcareService", {"_include": "PractitionerRole:organization"}, "include-inconnu"),
        ("/Practitioner", {"famly": "MARTIN"}, "parametre-inconnu"),
        ("/Practitioner", {"family:sounds": "MARTIN"}, "modificateur-inconnu"),
        ("/Practitioner", {"_include": "PractitionerRole:organization"}, "include-inconnu"),
        ("/Organization", {"_revinclude": "Device:organization"}, "include-inconnu"),
        ("/Practitioner", {"_count": "1001"}, "parametre-invalide"),
        ("/Practitioner", {"_lastUpdated": "ge2026-13-45"}, "date-invalide"),
        ("/Practitioner", {"active": "oui"}, "parametre-invalide"),
        ("/Practitioner", {"_sort": "family"}, "parametre-non-supporte"),
        ("/Patient", {"name": "x"}, "type-inconnu"),
    ],
)
def test_bad_searches_are_refused(ann, path, params, code):
    _, http = ann
    response = http.get(path, params=params)
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["details"]["coding"][0]["code"] == code


@pytest.mark.parametrize(
    "body",
    [
        {"resourceType": "Parameters", "parameter": "not a list"},
        {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": "x"}]},
        {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [1, 2]}]},
        {
            "resourceType": "Parameters",
            "parameter": [_operation("insert", "Practitioner.telecom", valueContactPoint="x@y.mssante.fr")],
        },
        {
            "resourceType": "Parameters",
            "parameter": [
                _operation(
                    "insert",
                    "Practitioner.telecom",
                    valueContactPoint={"system": "email", "value": "a@b.mssante.fr", "extension": "not a list"},
                )
            ],
        },
        {
            "resourceType": "Parameters",
            "parameter": [
                {
                    "name": "operation",
                    "part": [{"name": "type", "valueCode": "insert"}, {"name": "path", "valueString": 7}],
                }
            ],
        },
        {
            "resourceType": "Parameters",
            "parameter": [
                {
                    "name": "operation",
                    "part": [
                        {"name": "type", "valueCode": "insert"},
                        {"name": "path", "valueString": "Practitioner.telecom"},
                        {"name": "index", "valueInteger": "premier"},
                        {"name": "value", "valueContactPoint": build.mailbox("z@b.mssante.fr", "PER")},
                    ],
                }
            ],
        },
    ],
)
def test_hostile_patch_bodies_are_refused_not_crashed(operator, body):
    house, _, op = operator
    prac = _one(house, "select id from ann_practitioner limit 1").id
    before = _one(house, f"select resource from ann_practitioner where id = '{prac}'").resource
    response = op.patch(
        f"/Practitioner/{prac}", content=orjson.dumps(body), headers={"Content-Type": "application/fhir+json"}
    )
    assert response.status_code in (400, 422) and response.json()["resourceType"] == "OperationOutcome"
    assert _one(house, f"select resource from ann_practitioner where id = '{prac}'").resource == before  # untouched
