"""The DMP over PDSm, against the running server: the IHE MHD test plan's scenarios (publish one
document, two documents, replacement, the negative cases) plus the French rules (INS, N1/N3)."""

import base64
import hashlib

import httpx
import pytest

from maison.core import audit
from maison.etablissement.dmp.producer import Produced, provide_bundle
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import PROS, make_world, n1


@pytest.fixture
def world(house, live):
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


def test_publish_two_documents_in_one_lot_and_find_the_lot(world):
    answer = world.provide(
        "hospitalier",
        [
            Produced(n1(PROS["hospitalier"], title="Lettre de liaison")),
            Produced(n1(PROS["hospitalier"], title="Ordonnance de sortie")),
        ],
    )
    assert answer.status_code == 200, answer.text
    lot = _locations(answer)[0].split("/")[1]
    world.inform("generaliste")
    assert len(world.search("generaliste").json()["entry"]) == 2
    lists = world.client("generaliste").get(
        "/List",
        params={
            "patient.identifier": f"urn:oid:1.2.250.1.213.1.4.10|{SARAH_NIR}",
            "status": "current",
            "code": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|submissionset",
        },
    )
    assert lists.status_code == 200 and [e["resource"]["id"] for e in lists.json()["entry"]] == [lot]
    # required parameters (PDSm st_recherche_lot.md L41, st_recherche_fiche.md L40)
    assert world.client("generaliste").get("/List", params={"status": "current"}).status_code == 400
    no_status = world.client("generaliste").get(
        "/DocumentReference", params={"patient.identifier": f"urn:oid:1.2.250.1.213.1.4.10|{SARAH_NIR}"}
    )
    assert no_status.status_code == 400 and _code(no_status) == "statut-obligatoire"


def test_replacement_supersedes_and_keeps_the_chain(world):
    first = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"]))])
    old = _locations(first)[1]
    with world.house.db.read() as conn:  # the CDA RPLC names the replaced document's id
        import sqlalchemy as sa

        from maison.partage.dmp.store import dmp_document

        old_uid = conn.execute(
            sa.select(dmp_document.c.unique_id).where(dmp_document.c.id == old.split("/")[1])
        ).scalar_one()
    second = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"], replaces=old_uid), replaces=old)])
    assert second.status_code == 200, second.text
    new = _locations(second)[1]
    world.inform("generaliste")
    current = world.search("generaliste").json()["entry"]
    assert [e["resource"]["id"] for e in current] == [new.split("/")[1]]
    assert current[0]["resource"]["relatesTo"] == [{"code": "replaces", "target": {"reference": old}}]
    superseded = world.search("generaliste", status="superseded").json()["entry"]
    assert [e["resource"]["status"] for e in superseded] == ["superseded"]
    # a superseded document cannot be replaced again; another structure cannot replace
    again = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"]), replaces=old)])
    assert again.status_code == 422 and "n'est plus courant" in again.text
    # …nor learn that it exists: answered like a document that is not there (issue 18 §2.2)
    other = world.provide("generaliste", [Produced(n1(PROS["generaliste"]), replaces=new)])
    assert other.status_code == 422 and "inconnu pour ce patient" in other.text
    nowhere = world.provide(
        "generaliste",
        [Produced(n1(PROS["generaliste"]), replaces="DocumentReference/00000000-0000-4000-8000-000000000000")],
    )
    assert nowhere.json()["issue"][0]["details"]["coding"] == other.json()["issue"][0]["details"]["coding"]


def test_replayed_submission_is_idempotent(world):
    bundle = provide_bundle([Produced(n1(PROS["hospitalier"]))])
    client = world.client("hospitalier")
    first = client.post("", json=bundle, headers={"Content-Type": "application/fhir+json"})
    again = client.post("", json=bundle, headers={"Content-Type": "application/fhir+json"})
    assert first.status_code == again.status_code == 200
    assert _locations(first) == _locations(again)
    assert [e["response"]["status"] for e in again.json()["entry"]] == ["200 OK"] * 3
    with world.house.db.read() as conn:  # stored once, but the replay is in the trail too
        actions = [e["action"] for e in audit.events(conn, action_prefix="dmp.alimenter")]
    assert actions == ["dmp.alimenter", "dmp.alimenter.rejeu"]
    world.inform("generaliste")
    assert len(world.search("generaliste").json()["entry"]) == 1
    # the same uniqueId with other bytes is refused (XDSNonIdenticalHash)
    changed = provide_bundle([Produced(n1(PROS["hospitalier"]))])
    changed["entry"][1]["resource"]["masterIdentifier"] = bundle["entry"][1]["resource"]["masterIdentifier"]
    clash = client.post("", json=changed, headers={"Content-Type": "application/fhir+json"})
    assert clash.status_code in (409, 422)


@pytest.mark.parametrize(
    "override, code, words",
    [
        ({"content.0.attachment.hash": base64.b64encode(b"x" * 20).decode()}, "XDSRepositoryMetadataError", "SHA-1"),
        ({"content.0.attachment.size": 12}, "XDSRepositoryMetadataError", "taille"),
        ({"content.0.format.code": "urn:maison:inconnu"}, "XDSRegistryMetadataError", "formatCode"),
        ({"type.coding.0.code": "34112-3"}, "XDSRegistryMetadataError", "type"),
        ({"content.0.attachment.creation": "2020-01-01T00:00:00Z"}, "XDSRegistryMetadataError", "date de création"),
        (
            {
                "securityLabel": [
                    {"coding": [{"code": "N"}]},
                    {"coding": [{"code": "MASQUE_PS"}]},
                    {"coding": [{"code": "INVISIBLE_PATIENT"}]},
                ]
            },
            "XDSRegistryMetadataError",
            "à la fois",
        ),
        ({"subject.identifier.value": "279035121518989"}, "XDSPatientIdDoesNotMatch", "patient"),
    ],
)
def test_negative_cases_are_refused_precisely_and_nothing_is_kept(world, override, code, words):
    answer = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"]), overrides=override)])
    assert answer.status_code == 422, answer.text
    assert _code(answer) == code and words in answer.json()["issue"][0]["diagnostics"]
    world.inform("generaliste")
    assert world.search("generaliste").json()["total"] == 0
    from maison.core import audit

    with world.house.db.read() as conn:
        [refused] = list(audit.events(conn, action_prefix="dmp.alimenter"))
    assert refused["outcome"] == "failure" and audit.detail_of(refused)["code"] == code


def test_hostile_cda_and_bundles(world):
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        b'<ClinicalDocument xmlns="urn:hl7-org:v3">&lol2;</ClinicalDocument>'
    )
    bundle = provide_bundle([Produced(n1(PROS["hospitalier"]))])
    bundle["entry"][2]["resource"]["data"] = base64.b64encode(bomb).decode()
    bundle["entry"][1]["resource"]["content"][0]["attachment"].update(
        size=len(bomb), hash=base64.b64encode(hashlib.sha1(bomb).digest()).decode()
    )
    client = world.client("hospitalier")
    refused = client.post("", json=bundle, headers={"Content-Type": "application/fhir+json"})
    assert refused.status_code == 400 and _code(refused) == "xml-dtd-interdit"
    # a Binary that no fiche describes, a fiche whose url names nothing
    orphan = provide_bundle([Produced(n1(PROS["hospitalier"]))])
    orphan["entry"][1]["resource"]["content"][0]["attachment"]["url"] = "urn:uuid:nulle-part"
    missing = client.post("", json=orphan, headers={"Content-Type": "application/fhir+json"})
    assert missing.status_code == 422 and _code(missing) == "XDSMissingDocument"
    assert client.post("", content=b"{", headers={"Content-Type": "application/fhir+json"}).status_code == 400
    assert (
        client.post(
            "", json={"resourceType": "Bundle", "type": "batch"}, headers={"Content-Type": "application/fhir+json"}
        ).status_code
        == 400
    )


def test_a_100_mb_document_is_refused_before_it_is_read(world, house):
    """A declared 100 MB body is refused at once (413); one streamed without a length is cut at the limit."""
    import socket
    from urllib.parse import urlsplit

    assert house.settings.dmp_max_document_bytes * 2 + 1_000_000 < 100_000_000
    host, port = urlsplit(world.base).hostname, urlsplit(world.base).port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            f"POST /dmp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/fhir+json\r\n"
            f"Authorization: Bearer {world.tokens['hospitalier']}\r\n"
            f"Content-Length: 100000000\r\n\r\n{{".encode()
        )
        assert sock.recv(65536).split(b"\r\n")[0].endswith(b"413 Request Entity Too Large")

    def stream():  # 100 MB, chunked: the server stops reading past its limit
        for _ in range(100):
            yield b" " * 1_000_000

    streamed = httpx.post(
        f"{world.base}/dmp",
        content=stream(),
        timeout=60,
        headers={**world.headers("hospitalier"), "Content-Type": "application/fhir+json"},
    )
    assert streamed.status_code == 413


def test_unknown_patient_and_missing_token(world):
    assert httpx.post(f"{world.base}/dmp", json={}).status_code == 401
    from tests.partage.world import PatientIdentity

    stranger = PatientIdentity("180057511500165", "1.2.250.1.213.1.4.10", "INCONNU", "JEAN", "M", "1980-05-10", "75115")
    refused = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"], patient=stranger))])
    assert refused.status_code == 422 and _code(refused) == "XDSUnknownPatientId"
