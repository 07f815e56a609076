"""Stays as FHIR Encounter at the hospital wing's FHIR base (issue 22 §1.3): read, and search by
patient, date, status, class and service; another structure's stays unseen."""

import httpx
import pytest

from maison.core import audit
from maison.core.auth import issue_key
from maison.formats.hl7v2 import pam
from maison.formats.hl7v2.listener import parse
from tests.e2e.fhir_r4 import problems
from tests.etablissement.sejours.messages import FINESS, adt


@pytest.fixture
def stays(house):
    for text in (
        adt("A01", "1", stay="S1", unit="6268", at="20240306110000"),
        adt("A02", "2", stay="S1", movement="M2", unit="7000", at="20240306120000"),
        adt("A04", "3", stay="S2", unit="8782", at="20240310090000", patient_class="E"),
        adt("A03", "4", stay="S2", movement="M3", unit="8782", at="20240310100000", patient_class="E"),
    ):
        house.sejours.receive(pam.read(parse(text)))
    return house


@pytest.fixture
def client(stays, live):
    key = issue_key(stays.db, FINESS, "maison-tests", "tests")
    with httpx.Client(base_url=f"{live.url}/fhir", headers={"ESANTE-API-KEY": key}) as c:
        yield c


def _numbers(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    assert not problems(answer.json())
    return sorted(e["resource"]["identifier"][0]["value"] for e in answer.json().get("entry", []))


def test_an_encounter_reads_as_fr_core(client):
    (entry,) = client.get("/Encounter", params={"status": "in-progress"}).json()["entry"]
    encounter = client.get(f"/Encounter/{entry['resource']['id']}").json()
    assert not problems(encounter)
    assert encounter["class"]["code"] == "IMP"
    assert encounter["period"] == {"start": "2024-03-06T11:00:00+01:00"}
    assert [loc["location"]["identifier"]["value"] for loc in encounter["location"]] == ["6268", "7000"]
    assert [loc["status"] for loc in encounter["location"]] == ["completed", "active"]
    assert encounter["serviceProvider"]["identifier"]["value"] == FINESS
    assert client.get(encounter["subject"]["reference"].replace("Patient/", "/Patient/")).status_code == 200


def test_search_by_patient_date_status_class_service(client):
    patient = client.get("/Encounter").json()["entry"][0]["resource"]["subject"]["reference"]
    assert _numbers(client.get("/Encounter", params={"patient": patient})) == ["S1", "S2"]
    assert _numbers(client.get("/Encounter", params={"date": "2024-03-06"})) == ["S1"]
    assert _numbers(client.get("/Encounter", params={"date": "2024-03-08"})) == ["S1"]  # still in progress
    in_march = [("date", "ge2024-03-07"), ("date", "lt2024-04-01")]
    assert _numbers(client.get("/Encounter", params=in_march)) == ["S1", "S2"]  # S1 still in progress
    assert _numbers(client.get("/Encounter", params={"date": "lt2024-03-09"})) == ["S1"]
    assert _numbers(client.get("/Encounter", params={"date": "2024-03-11"})) == ["S1"]  # S2 ended on the 10th
    assert _numbers(client.get("/Encounter", params={"status": "finished"})) == ["S2"]
    assert _numbers(client.get("/Encounter", params={"class": "EMER"})) == ["S2"]
    assert _numbers(client.get("/Encounter", params={"service": "7000"})) == ["S1"]
    # a unit the patient passed through (S1's admission unit, before its transfer to 7000)
    assert _numbers(client.get("/Encounter", params={"service": "6268"})) == ["S1"]
    assert client.get("/Encounter", params={"_summary": "count"}).json()["total"] == 2


def test_bad_parameters_are_400_and_other_structures_see_nothing(client, stays, live):
    assert client.get("/Encounter", params={"class": "XYZ"}).status_code == 400
    assert client.get("/Encounter", params={"date": "hier"}).status_code == 400
    assert client.get("/Encounter", params={"ward": "1"}).status_code == 400
    assert client.get("/Encounter", params={"patient": "Patient/١"}).status_code == 400  # Unicode digit
    assert client.get("/Encounter", params={"patient": "Patient/" + "9" * 30}).status_code == 400  # > BIGINT
    first = client.get("/Encounter").json()["entry"][0]["resource"]["id"]
    other = issue_key(stays.db, "1750000019", "maison-tests", "tests")
    with httpx.Client(base_url=f"{live.url}/fhir", headers={"ESANTE-API-KEY": other}) as outsider:
        assert outsider.get(f"/Encounter/{first}").status_code == 404
        assert "entry" not in outsider.get("/Encounter").json()
    stays.sejours.trail.close()  # the journal's records reach the table
    with stays.db.read() as conn:
        refusals = [r for r in audit.events(conn, structure="1750000019") if r["action"] == "sejours.read"]
    assert [r["outcome"] for r in refusals] == ["failure"]  # the refused read is audited, not only the allowed
    assert httpx.get(f"{live.url}/fhir/Encounter").status_code == 401
