"""The DMP over PDSm, against the running server: the IHE MHD test plan's scenarios (publish one
document, two documents, replacement, the negative cases) plus the French rules (INS, N1/N3)."""

import base64
import hashlib

import httpx
import pytest

from maison.partage.dmp.producer import Produced, provide_bundle
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import PROS, make_world, n1


@pytest.fixture
def world(house, live):  # type: ignore[no-untyped-def]
    return make_world(house, live, ("hospitalier", "generaliste", "infirmier"))


def _locations(response: httpx.Response) -> list[str]:
    return [e["response"]["location"] for e in response.json()["entry"]]


def _code(response: httpx.Response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


def test_publish_one_document_then_find_and_retrieve_it(world):
    cda = n1(PROS["hospitalier"])
    answer = world.provide("hospitalier", [Produced(cda)])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["type"] == "transaction-response"
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created"] * 3
    lot, docref, binary = _locations(answer)
    assert lot.startswith("List/") and docref.startswith("DocumentReference/") and binary.startswith("Binary/")
    assert world.inform("generaliste").status_code == 201
    found = world.search("generaliste")
    assert found.status_code == 200, found.text
    [entry] = found.json()["entry"]
    resource = entry["resource"]
    assert resource["id"] == docref.split("/")[1] and resource["status"] == "current"
    assert resource["content"][0]["attachment"]["hash"] == base64.b64encode(hashlib.sha1(cda).digest()).decode()
    got = httpx.get(resource["content"][0]["attachment"]["url"], headers=world.headers("generaliste"))
    assert got.status_code == 200 and got.content == cda and got.headers["content-type"].startswith("text/xml")
