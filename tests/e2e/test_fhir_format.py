"""Content negotiation on the FHIR bases (issue 20 §4.3): FHIR XML asked is answered 406 with an
OperationOutcome, never JSON with 200; JSON asked, or anything, gets JSON."""

import httpx
import pytest

from maison.core.auth import issue_key


@pytest.fixture
def reader(house, live):
    key = issue_key(house.db, "1750000019", "maison-tests", "tests")
    return httpx.Client(base_url=live.url, headers={"ESANTE-API-KEY": key})


@pytest.mark.parametrize("base", ["/fhir", "/annuaire", "/dmp", "/ordonnance"])
def test_fhir_xml_is_not_acceptable(reader, base):
    for ask in ({"headers": {"Accept": "application/fhir+xml"}}, {"params": {"_format": "xml"}}):
        answer = reader.get(f"{base}/metadata", **ask)
        assert answer.status_code == 406 and answer.headers["content-type"].startswith("application/fhir+json")
        issue = answer.json()["issue"][0]
        assert issue["code"] == "not-supported" and issue["details"]["coding"][0]["code"] == "format-non-servi"
    for accept in ("application/fhir+json", "application/json", "*/*", "application/fhir+xml;q=0.9, */*;q=0.1", ""):
        headers = {"Accept": accept} if accept else {}
        assert reader.get(f"{base}/metadata", headers=headers).status_code == 200, accept
    assert reader.get(f"{base}/metadata", params={"_format": "json"}).status_code == 200


def test_a_search_asked_in_plain_xml_is_not_acceptable_either(reader):
    """`Accept: application/xml` alone: the FHIR JSON the route would send is turned into a 406."""
    answer = reader.get("/annuaire/Organization", params={"_count": "1"}, headers={"Accept": "application/xml"})
    assert answer.status_code == 406 and answer.json()["resourceType"] == "OperationOutcome"
    # nothing created for a client that cannot read the answer: refused before the route runs
    posted = reader.post("/fhir/Patient", json={"resourceType": "Patient"}, headers={"Accept": "application/fhir+xml"})
    assert posted.status_code == 406
