"""Issue 18 §2.2 and §2.5 over HTTP: a document the caller may not see or change answers exactly like one
that is not there — conditional PATCH (its `test` operations), DELETE, read and Binary — and every such
refusal, the Consent read and the patient's reading of her access history leave their audit record.

The tests of one backend share one house and its world (module_live): each has a patient of its own
(tests/portail/own_patient.py, her login open), her document fed by the hospital, and reads the
trail from a mark taken before its world was made (`Trail`)."""

from dataclasses import replace

import httpx
import orjson
import pytest

from maison.core import audit
from maison.etablissement.dmp.producer import Produced
from tests.e2e.mss_shared import Trail
from tests.e2e.shared_world import shared_world
from tests.partage.world import CHILD, PROS, World, n1
from tests.portail.own_patient import own_patient

module_world = shared_world("hospitalier", "generaliste", "dentiste")[0]  # and Sarah's child: another patient


@pytest.fixture
def world(module_world: World) -> World:
    """The module's world for this test (a copy: the attributes below are this test's): its own
    patient (`.patient`, her login open), the document the hospital fed her DMP (`.doc`, `.uid`),
    the trail's mark taken before (`.trail`)."""
    w = replace(module_world.renew())
    w.patient = own_patient(w.house)
    w.trail = Trail(w.house)
    fed = w.provide("hospitalier", [Produced(n1(PROS["hospitalier"], patient=w.patient.identity))])
    assert fed.status_code == 200, fed.text
    w.doc = fed.json()["entry"][1]["response"]["location"].split("/")[1]
    w.inform("hospitalier", w.patient.ins)
    w.uid = w.search("hospitalier", w.patient.ins).json()["entry"][0]["resource"]["masterIdentifier"]["value"]
    return w


def _own_token(world) -> str:
    """The test's patient's access token (Sarah's in the per-test version of these tests)."""
    return world.patient_token(world.patient.login, world.patient.email)


def _patient(world, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"{world.base}/dmp", headers={"Authorization": f"Bearer {token}"})


def _patch(client: httpx.Client, uid: str, ops: list) -> httpx.Response:
    return client.patch(
        "/DocumentReference",
        params={"identifier": uid},
        content=orjson.dumps(ops),
        headers={"Content-Type": "application/json-patch+json"},
    )


def _answer(response: httpx.Response) -> tuple:
    """What a caller learns: the status and the coded outcome (the text names only what he sent)."""
    body = response.json()
    return response.status_code, body["issue"][0]["code"], body["issue"][0]["details"]["coding"][0]["code"]


def _refusals(world, action: str) -> list[dict]:
    """The refusals of `action` recorded since the test's world was made."""
    return [e | {"d": audit.detail_of(e)} for e in world.trail.since(action) if e["outcome"] == "failure"]


MISSING = (404, "not-found", "document-inconnu")
TYPE_IS = [{"op": "test", "path": "/type/coding/0/code", "value": "11490-0"}]  # the right guess
TYPE_IS_NOT = [{"op": "test", "path": "/type/coding/0/code", "value": "34112-3"}]  # a wrong one


def test_a_conditional_patch_is_no_oracle(world):
    sarah = _patient(world, _own_token(world))
    labels = [{"coding": [{"code": "N"}]}, {"coding": [{"code": "MASQUE_PS"}]}]
    masked = _patch(sarah, world.uid, [{"op": "replace", "path": "/securityLabel", "value": labels}])
    assert masked.status_code == 200, masked.text
    gp = world.client("generaliste")
    # another structure guesses the masked document's type: right, wrong, or no such document — one answer
    assert _answer(_patch(gp, world.uid, TYPE_IS)) == MISSING
    assert _answer(_patch(gp, world.uid, TYPE_IS_NOT)) == MISSING
    assert _answer(_patch(gp, world.uid + ".9", TYPE_IS)) == MISSING
    assert _answer(_patch(gp, world.uid, [{"op": "replace", "path": "/status", "value": "superseded"}])) == MISSING
    # another patient (the child's login) probes Sarah's document the same way
    lea = _patient(world, world.patient_token("lea.garcia", "+33612345678"))
    assert _answer(_patch(lea, world.uid, TYPE_IS)) == _answer(_patch(lea, world.uid, TYPE_IS_NOT)) == MISSING
    # the producer still evaluates its own fiche's test operations
    assert _patch(world.client("hospitalier"), world.uid, TYPE_IS_NOT).status_code == 422
    refused = _refusals(world, "dmp.mettre-a-jour")
    assert [(r["actor_person"], r["patient"], r["d"].get("motif")) for r in refused[:4]] == [
        (PROS["generaliste"].idnatps, world.patient.ins, "non-producteur"),
        (PROS["generaliste"].idnatps, world.patient.ins, "non-producteur"),
        (PROS["generaliste"].idnatps, None, "document-inconnu"),
        (PROS["generaliste"].idnatps, world.patient.ins, "non-producteur"),
    ]
    assert refused[-1]["d"]["code"] == "json-patch-test" and refused[-1]["patient"] == world.patient.ins


def test_a_document_awaiting_its_consultation_d_annonce_is_no_oracle_for_the_patient(world):
    fed = world.provide(
        "hospitalier",
        [Produced(n1(PROS["hospitalier"], patient=world.patient.identity), visibility=("INVISIBLE_PATIENT",))],
    )
    hidden = fed.json()["entry"][1]["response"]["location"].split("/")[1]
    uid = world.client("hospitalier").get(f"/DocumentReference/{hidden}").json()["masterIdentifier"]["value"]
    sarah = _patient(world, _own_token(world))
    mask = [{"op": "replace", "path": "/securityLabel", "value": [{"coding": [{"code": "N"}]}]}]
    assert _answer(_patch(sarah, uid, TYPE_IS)) == _answer(_patch(sarah, uid + ".9", TYPE_IS)) == MISSING
    assert _answer(_patch(sarah, uid, mask)) == MISSING
    assert _answer(sarah.delete(f"/DocumentReference/{hidden}")) == MISSING
    assert _answer(sarah.get(f"/DocumentReference/{hidden}")) == MISSING


def test_delete_read_and_binary_answer_not_yours_like_not_there(world):
    gp, dentist = world.client("generaliste"), world.client("dentiste")
    nowhere = "00000000-0000-4000-8000-000000000000"
    # DELETE by another structure: as for an id that does not exist; nothing withdrawn
    assert _answer(gp.delete(f"/DocumentReference/{world.doc}")) == _answer(gp.delete(f"/DocumentReference/{nowhere}"))
    assert world.search("hospitalier", world.patient.ins).json()["total"] == 1
    # read and Binary by a professional whose structure the patient has not been informed by
    for path in (f"/DocumentReference/{world.doc}", f"/Binary/{world.doc}"):
        assert _answer(dentist.get(path)) == MISSING
    assert _answer(dentist.get(f"/Binary/{nowhere}")) == MISSING
    # another patient's document read by id
    lea = _patient(world, world.patient_token("lea.garcia", "+33612345678"))
    for path in (f"/DocumentReference/{world.doc}", f"/Binary/{world.doc}"):
        assert _answer(lea.get(path)) == MISSING
    # every refusal is in the trail, with the actor and the patient when known (§2.5)
    deleted = _refusals(world, "dmp.supprimer")
    assert [(r["actor_person"], r["patient"], r["d"]["motif"]) for r in deleted] == [
        (PROS["generaliste"].idnatps, world.patient.ins, "non-producteur"),
        (PROS["generaliste"].idnatps, None, "document-inconnu"),
    ]
    reads = [
        (r["actor_person"], r["patient"]) for r in _refusals(world, "dmp.lire") + _refusals(world, "dmp.consulter")
    ]
    assert reads.count((PROS["dentiste"].idnatps, world.patient.ins)) == 2 and (CHILD, world.patient.ins) in reads


def test_consent_state_and_access_history_reads_are_audited(world):
    assert (
        world.client("generaliste").get("/Consent", params={"patient.identifier": world.patient.ins}).status_code == 200
    )
    sarah = _patient(world, _own_token(world))
    # a patient's token does not read another patient's state
    assert sarah.get("/Consent", params={"patient.identifier": CHILD}).status_code == 403
    history = sarah.get("/espace/historique")
    assert history.status_code == 200
    with world.house.db.read() as conn:
        reads = [
            (e["action"], e["actor_person"], e["patient"], e["outcome"])
            for e in audit.events(conn, action_prefix="dmp.information.lire")
        ]
        trail = [(e["action"], e["patient"]) for e in audit.events(conn, action_prefix="dmp.patient.historique")]
    assert ("dmp.information.lire", PROS["generaliste"].idnatps, world.patient.ins, "success") in reads
    assert trail == [("dmp.patient.historique", world.patient.ins)]


def test_a_structures_software_reads_only_its_own_documents_and_others_are_missing(world):
    """Indirect authentication (a structure's key, GI DMP AIR): a cross-structure read by id is a 404, recorded."""
    from maison.core.auth import issue_key
    from tests.partage.world import CABINET

    key = issue_key(world.house.db, CABINET, "LGC de test", "poste-1")
    software = httpx.Client(base_url=f"{world.base}/dmp", headers={"Authorization": f"Bearer {key}"})
    for path in (f"/DocumentReference/{world.doc}", f"/Binary/{world.doc}"):
        assert _answer(software.get(path)) == MISSING
    refused = _refusals(world, "dmp.lire") + _refusals(world, "dmp.consulter")
    assert [(r["actor_structure"], r["patient"], r["d"]["motif"]) for r in refused] == [
        (CABINET, world.patient.ins, "authentification-indirecte")
    ] * 2
