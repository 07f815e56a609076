"""`POST /dmp/Consent`, the patient's information and opposition, by every kind of caller (seed 002
L555-559, "Le ES/PS peut alimenter"): a professional of the structure, and the structure's own software
with the key it feeds the DMP with (scope logiciel), record it for their structure; another structure
named in the Consent, a key of another scope, a patient are refused with the DMP's 403 and its code."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from maison.core import audit
from maison.core.actor import KeyScope
from maison.core.auth import issue_key
from maison.core.identifiers.nir import OID_INS_NIR_TEST
from maison.etablissement.sejours.dmp_information import consent
from tests.partage.world import CABINET, HOPITAL, SARAH_NIR, make_world

# what the hospital's GAM announced (ZFA-9 IO, ZFA-11 IC), as its flows post it (sejours.dmp_information)
OPPOSED_FEEDING = consent(
    {"feeding": "IO", "consultation": "IC"},
    SARAH_NIR,
    OID_INS_NIR_TEST,
    "urn:maison:dmp:motif-opposition-alimentation",
)


@pytest.fixture
def world(house, live):
    return make_world(house, live, keys=("hospitalier",))


def post(world, headers: dict[str, str], body: dict = OPPOSED_FEEDING) -> httpx.Response:
    return httpx.post(
        f"{world.base}/dmp/Consent",
        content=orjson.dumps(body),
        headers={"Content-Type": "application/fhir+json", **headers},
        timeout=30,
    )


def key_of(house, structure: str, scope: KeyScope | None = None) -> dict[str, str]:
    return {"ESANTE-API-KEY": issue_key(house.db, structure, "gam-chu", "system:gam", scope=scope)}


def code(answer: httpx.Response) -> str:
    return answer.json()["issue"][0]["details"]["coding"][0]["code"]


def feeding(world) -> str:
    """The hospital's information state for Sarah's feeding, as its professional reads it."""
    found = httpx.get(
        f"{world.base}/dmp/Consent", params={"patient.identifier": SARAH_NIR}, headers=world.headers("hospitalier")
    ).json()
    provisions = found["entry"][0]["resource"]["provision"]["provision"]
    [axis] = [p for p in provisions if p["action"][0]["coding"][0]["code"] == "alimentation"]
    return axis["extension"][0]["valueCode"]


def refusals(house, count: int) -> list[dict]:
    """The DMP's records of refused information recordings (written through the trail's journal)."""
    deadline = time.monotonic() + 10
    while True:
        with house.db.read() as conn:
            found = [
                e
                for e in audit.events(conn, patient=SARAH_NIR, action_prefix="dmp.information")
                if e["action"] == "dmp.information" and e["outcome"] != "success"
            ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_the_structure_s_software_records_the_information_for_its_own_structure(house, world):
    answer = post(
        world, key_of(house, HOPITAL), OPPOSED_FEEDING | {"organization": [{"identifier": {"value": HOPITAL}}]}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["organization"] == [{"identifier": {"value": HOPITAL}}]
    assert feeding(world) == "informe-oppose"  # the hospital's record: its professionals see it
    with house.db.read() as conn:
        [record] = [
            e
            for e in audit.events(conn, patient=SARAH_NIR, action_prefix="dmp.information")
            if e["action"] == "dmp.information"
        ]
    assert (record["outcome"], record["actor_person"], record["actor_structure"], record["actor_software"]) == (
        "success",
        "system:gam",
        HOPITAL,
        "gam-chu",
    )
    assert orjson.loads(record["detail"])["actor"]["kind"] == "software"
    # a professional of the structure still records it too
    assert (
        post(world, world.headers("hospitalier"), OPPOSED_FEEDING | {"provision": {"type": "permit"}}).status_code
        == 201
    )


def test_every_other_caller_is_refused_with_the_dmp_s_code(house, world):
    other = {"organization": [{"identifier": {"value": CABINET}}]}
    refused = {
        "a key for another structure than its own": (key_of(house, HOPITAL), other, "information-autre-structure"),
        "another structure's key for the hospital": (
            key_of(house, CABINET),
            {"organization": [{"identifier": {"value": HOPITAL}}]},
            "information-autre-structure",
        ),
        "a professional for another structure": (world.headers("hospitalier"), other, "information-autre-structure"),
        "a front desk key": (key_of(house, HOPITAL, KeyScope.ACCUEIL), {}, "appelant-non-admis"),
        "an administrator's key": (key_of(house, HOPITAL, KeyScope.ADMINISTRATEUR_STRUCTURE), {}, "appelant-non-admis"),
        "an MSSanté operator's key": (key_of(house, HOPITAL, KeyScope.OPERATEUR_MSS), {}, "appelant-non-admis"),
        "the patient": ({"Authorization": f"Bearer {world.patient_token()}"}, {}, "appelant-non-admis"),
    }
    for why, (headers, extra, expected) in refused.items():
        answer = post(world, headers, OPPOSED_FEEDING | extra)
        assert (answer.status_code, code(answer)) == (403, expected), (why, answer.text)
    assert post(world, {}).status_code == 401
    assert feeding(world) == "non-informe"  # nothing recorded for the hospital
    assert {(e["actor_structure"], orjson.loads(e["detail"])["code"]) for e in refusals(house, 3)} == {
        (HOPITAL, "information-autre-structure"),
        (CABINET, "information-autre-structure"),
    }


def test_the_openapi_states_who_records_and_the_structure_named(house):
    from fastapi.testclient import TestClient

    from maison.openapi_document import PSC, STRUCTURE_KEY

    operation = TestClient(house.app()).get("/openapi.json").json()["paths"]["/dmp/Consent"]["post"]
    schemes = {name for requirement in operation["security"] for name in requirement}
    assert {PSC, STRUCTURE_KEY} <= schemes and "403" in operation["responses"]
    assert "seed 002 L555-559" in operation["description"] and "information-autre-structure" in operation["description"]
    body = operation["requestBody"]["content"]["application/fhir+json"]["schema"]
    assert "organization" in body["properties"]
