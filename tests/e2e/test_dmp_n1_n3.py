"""N1 / N3 (seed 002 L403-413, L775-805) and the producer's metadata actions, fed with the official
CI-SIS examples (reference/cisis/ExemplesCDA) of the patient PAT-TROIS, paired with an N1 we build."""

from pathlib import Path

import httpx
import orjson
import pytest

from maison.core.identifiers.nir import OID_INS_NIR_TEST
from maison.core.ins_traits import Traits
from maison.etablissement.dmp.producer import Produced, provide_bundle
from maison.formats.cda.build import LOINC, PatientIdentity
from maison.formats.cda.header import Code
from tests.partage.world import PROS, make_world, n1

PAT_TROIS_INS = "279035121518989"
PAT_TROIS = PatientIdentity(
    PAT_TROIS_INS, OID_INS_NIR_TEST, "PAT-TROIS", "DOMINIQUE MARIE-LOUISE", "F", "1979-03-28", "51215"
)
BIO = Code("11502-2", LOINC, "CR d'examens biologiques")


@pytest.fixture
def world(house, live, reference_path: Path):
    house.insi.referential.register(
        Traits.of("PAT-TROIS", "DOMINIQUE MARIE-LOUISE", "F", "1979-03-28", "51215"), PAT_TROIS_INS
    )
    w = make_world(house, live, ("hospitalier", "generaliste"))
    w.examples = reference_path / "cisis" / "ExemplesCDA"
    w.inform("hospitalier", PAT_TROIS_INS)
    return w


def _code(response: httpx.Response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


def _search(world, key: str, **params: str) -> dict:
    return world.search(key, PAT_TROIS_INS, **params).json()


def _patch(world, key: str, uid: str, ops: list) -> httpx.Response:
    return world.client(key).patch(
        "/DocumentReference",
        params={"identifier": uid},
        content=orjson.dumps(ops),
        headers={"Content-Type": "application/json-patch+json"},
    )


def test_n3_alone_refused_except_the_two_exceptions(world):
    glycemie = (world.examples / "BIO-CR-BIO_2024.01_Glycémie_mole.xml").read_bytes()
    alone = world.provide("hospitalier", [Produced(glycemie)])
    assert alone.status_code == 422 and "qu'avec son N1" in alone.text  # 002 L791
    note = (world.examples / "VAC-NOTE_2023.01.xml").read_bytes()
    assert world.provide("hospitalier", [Produced(note)]).status_code == 200  # 002 L413: note de vaccination


def test_n1_with_its_n3_then_actions_from_the_n1_only_and_the_cascade(world):
    glycemie = (world.examples / "BIO-CR-BIO_2024.01_Glycémie_mole.xml").read_bytes()
    pair = world.provide(
        "hospitalier",
        [
            Produced(n1(PROS["hospitalier"], patient=PAT_TROIS, type_=BIO, title="CR de biologie")),
            Produced(glycemie, transforms=0),
        ],
    )
    assert pair.status_code == 200, pair.text
    found = _search(world, "hospitalier")["entry"]
    assert len(found) == 2
    by_level = {e["resource"]["content"][0]["format"]["code"]: e["resource"] for e in found}
    n1_doc, n3_doc = by_level["urn:ihe:iti:xds-sd:pdf:2008"], by_level["urn:ihe:lab:xd-lab:2008"]
    assert n3_doc["relatesTo"] == [{"code": "transforms", "target": {"reference": f"DocumentReference/{n1_doc['id']}"}}]
    n1_uid, n3_uid = n1_doc["masterIdentifier"]["value"], n3_doc["masterIdentifier"]["value"]
    # actions only from the N1 (002 L799-803)
    on_n3 = _patch(world, "hospitalier", n3_uid, [{"op": "add", "path": "/extension/0/valueBoolean", "value": True}])
    assert on_n3.status_code == 422 and _code(on_n3) == "action-sur-n3"
    assert world.client("hospitalier").delete(f"/DocumentReference/{n3_doc['id']}").status_code == 422
    # the producer archives the N1: both are archived
    archive = [
        {"op": "replace", "path": f"/extension/{i}/valueBoolean", "value": True}
        for i, e in enumerate(n1_doc["extension"])
        if e["url"].endswith("pdsm-ext-is-archived")
    ]
    done = _patch(world, "hospitalier", n1_uid, archive)
    assert done.status_code == 200, done.text
    assert done.headers["etag"] == 'W/"2"'
    assert len(_search(world, "hospitalier", isArchived="true")["entry"]) == 2
    # any other element: 405 (PDSm st_maj.md L59); another structure: as if there were no such fiche (issue 18 §2.2)
    title = _patch(world, "hospitalier", n1_uid, [{"op": "add", "path": "/description", "value": "x"}])
    assert title.status_code == 405
    assert _patch(world, "generaliste", n1_uid, archive).status_code == 404
    # withdrawing the N1 withdraws its N3 (002 L805)
    assert world.client("hospitalier").delete(f"/DocumentReference/{n1_doc['id']}").status_code == 204
    assert _search(world, "hospitalier")["total"] == 0
    assert world.client("hospitalier").get(f"/Binary/{n3_doc['id']}").status_code == 404


def test_an_n3_links_to_an_n1_of_its_own_lot(world):
    first = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"], patient=PAT_TROIS, type_=BIO))])
    stored = first.json()["entry"][1]["response"]["location"]
    tsh = (world.examples / "BIO-CR-BIO_2024.01_TSH_1.xml").read_bytes()
    bundle = provide_bundle([Produced(tsh)])
    bundle["entry"][1]["resource"]["relatesTo"] = [{"code": "transforms", "target": {"reference": stored}}]
    refused = world.client("hospitalier").post("", json=bundle, headers={"Content-Type": "application/fhir+json"})
    assert refused.status_code == 422 and "même lot" in refused.text  # 002 L790


def test_identifiers_longer_than_the_registry_keeps_are_refused(world):
    bundle = provide_bundle([Produced(n1(PROS["hospitalier"]))], submission_id="urn:oid:1." + "2" * 200)
    refused = world.client("hospitalier").post("", json=bundle, headers={"Content-Type": "application/fhir+json"})
    assert refused.status_code == 422 and "trop long" in refused.text
