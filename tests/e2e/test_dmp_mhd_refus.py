"""The DMP over PDSm, against the running server: the IHE MHD test plan's negative cases and hostile
bodies, each refused precisely with nothing kept. Every case is refused, so the cases of one backend
share one house and its world (module_live; World.renew keeps the PSC tokens fresh): a case costs its
requests, not a house and three logins. What is published is tested in test_dmp_mhd.py."""

import base64
import hashlib

import httpx
import pytest

from maison.core import audit
from maison.etablissement.dmp.producer import Produced, provide_bundle
from tests.e2e.test_dmp_mhd import _code
from tests.partage.world import PROS, make_world, n1


@pytest.fixture(scope="module")
def shared_world(module_live):
    return make_world(module_live.house, module_live, ("hospitalier", "generaliste", "infirmier"))


@pytest.fixture
def world(shared_world):
    return shared_world.renew()


def _feeds(world) -> list[dict]:
    """The DMP's feed records (dmp.alimenter*), oldest first."""
    with world.house.db.read() as conn:
        return list(audit.events(conn, action_prefix="dmp.alimenter"))


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
    before = _feeds(world)
    answer = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"]), overrides=override)])
    assert answer.status_code == 422, answer.text
    assert _code(answer) == code and words in answer.json()["issue"][0]["diagnostics"]
    world.inform("generaliste")
    assert world.search("generaliste").json()["total"] == 0
    [refused] = _feeds(world)[len(before) :]  # this case's one record (the house is the module's)
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


def test_a_100_mb_document_is_refused_before_it_is_read(world):
    """A declared 100 MB body is refused at once (413); one streamed without a length is cut at the limit."""
    import socket
    from urllib.parse import urlsplit

    assert world.house.settings.dmp_max_document_bytes * 2 + 1_000_000 < 100_000_000
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
