"""The Annuaire Santé over HTTP, what writes nothing: reads and the IG's search parameters, paging
with includes, totals; searches and PATCH bodies refused (each PATCH case checks the practitioner is
untouched).

So the tests of one backend share one house, one seeded directory of 400 entries and one operator
(`module_live`): a test costs its requests, not a house, a server and a seeding. What writes (the liste
rouge, paging while the directory changes, exports, RPPS+, the operator's PATCH) is in
`test_annuaire.py`."""

import httpx
import orjson
import pytest
import sqlalchemy as sa

from maison.core.auth import issue_key
from maison.identite.annuaire import resources as build
from maison.identite.annuaire import store
from maison.identite.annuaire.vocabulary import CS_AUTORITE, CS_PROFESSION, CS_TYPE_CARTE, SYS_IDNATPS, SYS_RPPS
from maison.seeding.directory import seed_directory
from tests.e2e.test_annuaire import _ids, _one, _operation, _walk, with_operator


@pytest.fixture(scope="module")
def ann(module_live):
    house = module_live.house
    seed_directory(house.db, 400, seed=7)
    key = issue_key(house.db, "1750000019", "maison-tests", "tests")
    return house, httpx.Client(base_url=f"{module_live.url}/annuaire", headers={"ESANTE-API-KEY": key})


@pytest.fixture(scope="module")
def operator(ann):
    return with_operator(*ann)


def test_read_and_identifier_search(ann):
    house, http = ann
    row = _one(house, "select id, resource from ann_practitioner order by id limit 1")
    rpps = row.id[1:]
    read = http.get(f"/Practitioner/{row.id}")
    assert read.status_code == 200 and read.json()["identifier"][1] == {
        "use": "official",
        "system": SYS_RPPS,
        "value": rpps,
        "type": {"coding": [{"system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203", "code": "RPPS"}]},
    }
    for value in (f"{SYS_RPPS}|{rpps}", f"{SYS_IDNATPS}|{row.id}", rpps):
        assert _ids(http.get("/Practitioner", params={"identifier": value}).json()) == [row.id]
    assert http.get("/Practitioner", params={"identifier": f"{SYS_IDNATPS}|{rpps}"}).json()["total"] == 0
    missing = http.get("/Practitioner/800000000000")
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"


def test_names_are_case_and_accent_insensitive_prefixes(ann):
    house, http = ann
    family = _one(house, "select family_exact from ann_practitioner where length(family_exact) > 5 limit 1")[0]
    found = http.get("/Practitioner", params={"family": family[:4].lower()}).json()
    assert found["total"] >= 1 and all(
        e["resource"]["name"][0]["family"].upper().startswith(family[:4].upper()) for e in found["entry"]
    )
    exact = http.get("/Practitioner", params={"family:exact": family}).json()
    assert exact["total"] >= 1 and all(e["resource"]["name"][0]["family"] == family for e in exact["entry"])
    assert http.get("/Practitioner", params={"family:exact": family.lower()}).json()["total"] == 0
    assert http.get("/Practitioner", params={"family:contains": family[2:5]}).json()["total"] >= 1


def test_ig_search_parameters(ann):
    house, http = ann
    prac = orjson.loads(
        _one(house, "select resource from ann_practitioner where resource like '%as-ext-smartcard%' limit 1")[0]
    )
    card = {e["url"]: e for e in prac["extension"][0]["extension"]}
    number = card["number"]["valueString"]
    assert _ids(http.get("/Practitioner", params={"number-smartcard": number}).json()) == [prac["id"]]
    assert (
        http.get("/Practitioner", params={"type-smartcard": f"{CS_TYPE_CARTE}|CPS", "_total": "accurate"}).json()[
            "total"
        ]
        >= 1
    )
    doctors = http.get("/Practitioner", params={"qualification-code": f"{CS_PROFESSION}|10", "_count": 1000}).json()
    assert doctors["total"] >= 1 and all(
        any(c["code"] == "10" for q in e["resource"]["qualification"] for c in q["code"]["coding"])
        for e in doctors["entry"]
    )
    org = _one(house, "select id, city, insee, postal_code from ann_organization where insee != '' limit 1")
    for params in (
        {"address-city": org.city},
        {"address-insee": org.insee},
        {"address-postalcode": org.postal_code},
        {"address": org.city},
    ):
        assert org.id in _ids(http.get("/Organization", params={**params, "_count": 1000}).json())
    assert http.get("/Organization", params={"type": "SA33"}).json()["total"] >= 1  # pharmacies d'officine
    et = _one(house, "select id, partof from ann_organization where partof is not null limit 1")
    assert et.id in _ids(http.get("/Organization", params={"partof": f"Organization/{et.partof}"}).json())
    assert http.get("/Organization", params={"pharmacy-licence": "123"}).json()["total"] == 0
    assert http.get("/PractitionerRole", params={"role": "L"}).json()["total"] >= 1
    assert http.get("/Practitioner", params={"_lastUpdated": "ge2026-01-01"}).json()["total"] >= 1
    assert http.get("/Practitioner", params={"_lastUpdated": "lt2026-01-01"}).json()["total"] == 0


def test_data_trace_search_parameters(ann):
    """as-sp-data-information-system / as-sp-data-registration-authority over the data trace that
    rs-as-core puts in meta.extension (rulesets.fsh L5)."""
    house, http = ann
    doctors = http.get("/Practitioner", params={"qualification-code": f"{CS_PROFESSION}|10", "_count": 1000}).json()
    by_cnom = http.get(
        "/Practitioner", params={"data-registration-authority": f"{CS_AUTORITE}|CNOM", "_count": 1000}
    ).json()
    assert by_cnom["total"] == doctors["total"] > 0 and set(_ids(by_cnom)) == set(_ids(doctors))
    pharmacists = http.get("/Practitioner", params={"qualification-code": f"{CS_PROFESSION}|21"}).json()["total"]
    assert http.get("/Practitioner", params={"data-registration-authority": "CNOP"}).json()["total"] == pharmacists
    for rtype, system in (("Practitioner", "RPPS"), ("PractitionerRole", "RPPS"), ("HealthcareService", "FINESS")):
        with house.db.read() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(store.TABLES[rtype])).scalar_one()
        assert http.get(f"/{rtype}", params={"data-information-system": system}).json()["total"] == count, rtype
    finess = http.get("/Organization", params={"data-information-system": "FINESS", "_count": 1000}).json()
    cabinets = http.get("/Organization", params={"data-information-system": "CG", "_count": 1000}).json()
    assert finess["total"] > 0 and cabinets["total"] > 0
    assert all(
        any(i["system"] == "https://finess.esante.gouv.fr" for i in e["resource"]["identifier"])
        for e in finess["entry"]
    )
    assert not set(_ids(finess)) & set(_ids(cabinets))


def test_paging_with_filters_and_include_returns_every_match_once(ann):
    house, http = ann
    params = {"role": "S", "_include": "PractitionerRole:organization"}
    everything = http.get("/PractitionerRole", params={**params, "_count": 1000}).json()
    expected = _ids(everything)
    assert len(expected) > 20 and everything["total"] == len(expected)
    matches, includes = _walk(http, "/PractitionerRole", {**params, "_count": 7})
    assert matches == expected  # every match exactly once, in order
    assert set(includes) == set(_ids(everything, "include"))
    organizations = {
        e["resource"]["organization"]["reference"].split("/")[1]
        for e in everything["entry"]
        if e["search"]["mode"] == "match"
    }
    assert set(includes) == organizations


def test_revinclude_and_post_search(ann):
    house, http = ann
    prac = _one(house, "select practitioner from ann_role group by practitioner having count(*) > 1 limit 1")[0]
    bundle = http.get("/Practitioner", params={"_id": prac, "_revinclude": "PractitionerRole:practitioner"}).json()
    roles = _ids(bundle, "include")
    assert _ids(bundle) == [prac] and len(roles) >= 2
    posted = http.post("/Practitioner/_search", data={"_id": prac, "_revinclude": "PractitionerRole:practitioner"})
    assert _ids(posted.json()) == [prac] and _ids(posted.json(), "include") == roles
    assert http.post("/Practitioner/_search", json={"_id": prac}).status_code == 415


def test_totals(ann):
    _, http = ann
    assert "total" not in http.get("/Organization").json()  # a walk of the whole type: not counted
    assert http.get("/Organization", params={"_total": "accurate"}).json()["total"] > 0
    assert "total" not in http.get("/Organization", params={"active": "true", "_total": "none"}).json()


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
