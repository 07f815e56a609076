"""Who may see what in the DMP, over HTTP: information and opposition (seed 002 L535-565), dossier states,
the matrix, the patient's controls (masking, blocks, médecin traitant, codes), emergencies, the
secretariat, connexion secrète, and the patient's access history."""

import httpx
import orjson
import pytest

from maison.core import audit
from maison.etablissement.dmp.producer import Produced
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import CHILD, CHILD_ID, PROS, make_world, n1


@pytest.fixture
def world(house, live):
    w = make_world(house, live)
    fed = w.provide("hospitalier", [Produced(n1(PROS["hospitalier"]))])
    assert fed.status_code == 200, fed.text
    w.doc = fed.json()["entry"][1]["response"]["location"]
    return w


def _code(response: httpx.Response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


def _patient(world, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"{world.base}/dmp", headers={"Authorization": f"Bearer {token}"})


def test_information_and_opposition_states(world):
    # not informed: may feed (the hospital just did), may not consult (002 L557, L561)
    refused = world.search("generaliste")
    assert refused.status_code == 403 and _code(refused) == "patient-non-informe"
    found = world.client("generaliste").get("/Consent", params={"patient.identifier": SARAH_NIR}).json()
    [status] = [e["resource"] for e in found["entry"]]  # a search: a searchset of the one Consent (issue 20 §4)
    flags = {e["url"].rsplit("/", 1)[-1]: e.get("valueBoolean") for e in status["extension"]}
    assert flags["dmp-peut-alimenter"] is True and flags["dmp-peut-consulter"] is False
    # informed, not opposed: both (002 L563)
    assert world.inform("generaliste").status_code == 201
    assert world.search("generaliste").json()["total"] == 1
    # informed and opposed to consultation, no reason needed (002 L551, L565)
    assert world.inform("generaliste", consultation="deny").status_code == 201
    assert _code(world.search("generaliste")) == "opposition-consultation"
    # opposing feeding needs a legitimate reason (002 L551; R.1111-47)
    no_reason = world.inform("hospitalier", alimentation="deny")
    assert no_reason.status_code == 400 and _code(no_reason) == "motif-legitime-absent"
    assert world.inform("hospitalier", alimentation="deny", motif="séjour confidentiel").status_code == 201
    blocked = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"]))])
    assert blocked.status_code == 403 and _code(blocked) == "opposition-alimentation"
    # the choice is per structure: the GP's cabinet is not bound by the hospital's record
    assert world.provide("generaliste", [Produced(n1(PROS["generaliste"]))]).status_code == 200


def test_dossier_closed_then_reopened_by_the_patient(world):
    patient = _patient(world, world.patient_token())
    world.inform("generaliste")
    assert patient.put("/espace/etat", json={"etat": "closed"}).status_code == 204
    assert _code(world.search("generaliste")) == "dossier-ferme"
    assert _code(world.provide("hospitalier", [Produced(n1(PROS["hospitalier"]))])) == "XDSUnknownPatientId"
    assert patient.put("/espace/etat", json={"etat": "active"}).status_code == 204
    assert world.search("generaliste").json()["total"] == 1


def test_matrix_masking_traitant_and_blocks(world):
    for key in ("generaliste", "infirmier", "dentiste", "pharmacien"):
        world.inform(key)
    # the lettre de liaison: médecin (inferred S-23), infirmier (class row), pharmacien (class row) read it
    assert world.search("infirmier").json()["total"] == 1
    assert world.search("pharmacien").json()["total"] == 1
    assert world.search("dentiste").json()["total"] == 1  # class 10 row inferred for dentists
    patient = _patient(world, world.patient_token())
    # the patient masks the document from professionals (000 L253; R.1111-49)
    uid = world.search("generaliste").json()["entry"][0]["resource"]["masterIdentifier"]["value"]
    labels = [{"coding": [{"code": "N"}]}, {"coding": [{"code": "MASQUE_PS"}]}]
    masked = patient.patch(
        "/DocumentReference",
        params={"identifier": uid},
        headers={"Content-Type": "application/json-patch+json"},
        content=orjson.dumps([{"op": "replace", "path": "/securityLabel", "value": labels}]),
    )
    assert masked.status_code == 200, masked.text
    assert world.search("generaliste").json()["total"] == 0
    doc_id = world.doc.split("/")[1]
    assert world.client("generaliste").get(f"/Binary/{doc_id}").status_code == 404  # its existence not revealed
    assert _code(world.search("hospitalier")) == "patient-non-informe"  # its structure has not informed her
    world.inform("hospitalier")
    assert world.search("hospitalier").json()["total"] == 1  # the author still sees it (R.1111-49)
    # the patient may not touch anything else
    other = patient.patch(
        "/DocumentReference",
        params={"identifier": uid},
        headers={"Content-Type": "application/json-patch+json"},
        content=orjson.dumps([{"op": "replace", "path": "/status", "value": "superseded"}]),
    )
    assert other.status_code == 403
    # the médecin traitant sees masked documents (CSP L.1111-16) and cannot be blocked
    assert patient.put("/espace/preferences", json={"medecinTraitant": PROS["generaliste"].idnatps}).status_code == 204
    assert world.search("generaliste").json()["total"] == 1
    assert patient.put(f"/espace/regles/{PROS['infirmier'].idnatps}", json={"regle": "bloque"}).status_code == 204
    assert _code(world.search("infirmier")) == "bloque-par-patient"
    assert patient.put(f"/espace/regles/{PROS['generaliste'].idnatps}", json={"regle": "bloque"}).status_code == 204
    assert world.search("generaliste").json()["total"] == 1


def test_emergency_access_code_and_secretariat(world):
    headers = {"X-Mode-Acces": "bris_de_glace"}
    no_reason = world.search("urgentiste", **headers)
    assert no_reason.status_code == 403 and _code(no_reason) == "bris-de-glace-sans-motif"
    found = world.search("urgentiste", **headers, **{"X-Motif-Acces": "patiente inconsciente"})
    assert found.status_code == 200 and found.json()["total"] == 1
    doc_id = world.doc.split("/")[1]
    read = world.client("urgentiste", **headers, **{"X-Motif-Acces": "patiente inconsciente"}).get(f"/Binary/{doc_id}")
    assert read.status_code == 200
    # R.1111-48: the patient is told afterwards
    assert any("urgence" in m["subject"] for m in world.house.patient_login.outbox("sarah@example.fr"))
    patient = _patient(world, world.patient_token())
    patient.put("/espace/preferences", json={"opposeBrisDeGlace": True, "opposeCentre15": True})
    assert _code(world.search("urgentiste", **headers, **{"X-Motif-Acces": "x"})) == "bris-de-glace-oppose"
    assert _code(world.search("urgentiste", **{"X-Mode-Acces": "centre_15"})) == "centre-15-oppose"
    assert _code(world.search("infirmier", **{"X-Mode-Acces": "centre_15"})) == "centre-15-profession"
    # a code chosen by the patient for one professional, the DMP rubrique (000 L3369-3376)
    created = patient.post(
        "/espace/codes", json={"professionnel": PROS["pharmacien"].idnatps, "rubriques": ["dmp"], "jours": 2}
    )
    code = created.json()["code"]
    assert world.search("pharmacien", **{"X-Code-Acces": code}).json()["total"] == 1
    assert _code(world.search("pharmacien", **{"X-Code-Acces": "0000-0000-0000"})) == "code-invalide"
    assert _code(world.search("dentiste", **{"X-Code-Acces": code})) == "code-invalide"
    patient.delete(f"/espace/codes/{PROS['pharmacien'].idnatps}")
    assert _code(world.search("pharmacien", **{"X-Code-Acces": code})) == "code-invalide"
    # a secretary has no column of her own; under the doctor's delegation she acts with his rights
    world.inform("generaliste")
    assert world.search("secretaire").json()["total"] == 0  # no column of her own in the matrix
    sec = PROS["secretaire"].idnatps
    under = {"X-Pour-Le-Compte-De": PROS["generaliste"].idnatps}
    assert _code(world.search("secretaire", **under)) == "sans-delegation"
    assert world.client("generaliste").put(f"/secretariat/{sec}").status_code == 204
    assert world.search("secretaire", **under).json()["total"] == 1
    assert world.client("infirmier").put(f"/secretariat/{sec}").status_code == 403  # only a doctor delegates


def test_access_history_and_connexion_secrete(world):
    world.inform("generaliste")
    world.search("generaliste")
    # connexion secrète for a minor: only documents invisible to the legal representatives (EX_2.1-1050)
    plain = world.provide(
        "hospitalier", [Produced(n1(PROS["hospitalier"], patient=CHILD_ID))], **{"X-Connexion-Secrete": "oui"}
    )
    assert plain.status_code == 422 and "connexion secrète" in plain.text
    secret = world.provide(
        "hospitalier",
        [Produced(n1(PROS["hospitalier"], patient=CHILD_ID), visibility=("INVISIBLE_REPRESENTANTS_LEGAUX",))],
        **{"X-Connexion-Secrete": "oui"},
    )
    assert secret.status_code == 200, secret.text
    sarah = world.patient_token()
    history = _patient(world, sarah).get("/espace/historique").json()
    actions = [
        (e["type"]["code"], e["agent"][0]["who"]["identifier"]["value"])
        for e in (x["resource"] for x in history["entry"])
    ]
    assert ("dmp.alimenter", PROS["hospitalier"].idnatps) in actions
    assert ("dmp.rechercher", PROS["generaliste"].idnatps) in actions
    # the parent acting for the child sees neither the secret document nor the secret feeding
    acting = httpx.post(
        f"{world.base}/mes/representation", json={"ins": CHILD}, headers={"Authorization": f"Bearer {sarah}"}
    ).json()["access_token"]
    parent = _patient(world, acting)
    docs = parent.get("/DocumentReference", params={"patient.identifier": CHILD, "status": "current"})
    assert docs.status_code == 200 and docs.json()["total"] == 0
    seen = [
        x["resource"]["agent"][0]["who"]["identifier"]["value"]
        for x in parent.get("/espace/historique").json()["entry"]
    ]
    assert seen and PROS["hospitalier"].idnatps not in seen  # only the parent's own reading
    # the patient does not see a document awaiting its consultation d'annonce (R.1111-53)
    world.provide("hospitalier", [Produced(n1(PROS["hospitalier"]), visibility=("INVISIBLE_PATIENT",))])
    mine = (
        _patient(world, sarah)
        .get("/DocumentReference", params={"patient.identifier": SARAH_NIR, "status": "current"})
        .json()
    )
    assert mine["total"] == 1
    assert (
        _patient(world, sarah)
        .get("/DocumentReference", params={"patient.identifier": CHILD, "status": "current"})
        .status_code
        == 403
    )


def _trail(world, prefix: str) -> list[dict]:
    with world.house.db.read() as conn:
        return [e | {"d": audit.detail_of(e)} for e in audit.events(conn, action_prefix=prefix)]


def test_emergency_modes_are_not_self_declared(world):
    """Issue 18 §2.1: each mode for the professions and structures the matrix file gives, a blocked
    professional stays blocked, the patient's two oppositions kept, each use a security event."""
    bdg = {"X-Mode-Acces": "bris_de_glace", "X-Motif-Acces": "patiente inconsciente"}
    c15 = {"X-Mode-Acces": "centre_15"}
    # pharmacists and nurses do not break the glass (professions médicales only, matrice.toml [[mode]])
    assert _code(world.search("pharmacien", **bdg)) == "bris-de-glace-profession"
    assert _code(world.search("infirmier", **bdg)) == "bris-de-glace-profession"
    # the centre 15 mode is the SAMU's médecin régulateur's: not from a private practice (SA07)
    refused = world.search("generaliste", **c15)
    assert refused.status_code == 403 and _code(refused) == "centre-15-structure"
    # a secretary does not break the glass under her doctor's delegation
    world.client("generaliste").put(f"/secretariat/{PROS['secretaire'].idnatps}")
    under = {"X-Pour-Le-Compte-De": PROS["generaliste"].idnatps}
    assert _code(world.search("secretaire", **under, **bdg)) == "mode-urgence-personnel"
    # a hospital doctor in an emergency, and the SAMU's regulator (a health establishment, SA01)
    assert world.search("urgentiste", **bdg).json()["total"] == 1
    assert world.search("urgentiste", **c15).json()["total"] == 1
    # a professional the patient blocked stays blocked in an emergency (seed 000 L253; the real DMP)
    patient = _patient(world, world.patient_token())
    assert patient.put(f"/espace/regles/{PROS['urgentiste'].idnatps}", json={"regle": "bloque"}).status_code == 204
    for mode in (bdg, c15):
        blocked = world.search("urgentiste", **mode)
        assert blocked.status_code == 403 and _code(blocked) == "bloque-par-patient"
    doc_id = world.doc.split("/")[1]
    assert world.client("urgentiste", **bdg).get(f"/Binary/{doc_id}").status_code in (403, 404)
    # each mode keeps its own opposition: opposing centre 15 leaves bris de glace open (REG-2)
    patient.delete(f"/espace/regles/{PROS['urgentiste'].idnatps}")
    assert patient.put("/espace/preferences", json={"opposeCentre15": True}).status_code == 204
    assert _code(world.search("urgentiste", **c15)) == "centre-15-oppose"
    assert world.search("urgentiste", **bdg).status_code == 200
    # a structure's software or a patient cannot claim an emergency either
    claimed = patient.get(
        "/DocumentReference", params={"patient.identifier": SARAH_NIR, "status": "current"}, headers=bdg
    )
    assert claimed.status_code == 403 and _code(claimed) == "mode-urgence-personnel"
    # every emergency use is a security event; every refusal is in the trail with its reason
    uses = _trail(world, "securite.bris-de-glace")
    assert [(e["actor_person"], e["d"]["mode"], e["patient"]) for e in uses] == [
        (PROS["urgentiste"].idnatps, "bris_de_glace", SARAH_NIR),
        (PROS["urgentiste"].idnatps, "centre_15", SARAH_NIR),
        (PROS["urgentiste"].idnatps, "bris_de_glace", SARAH_NIR),
    ]
    refusals = [e["d"]["code"] for e in _trail(world, "dmp.rechercher") if e["outcome"] == "failure"]
    assert refusals == [
        "bris-de-glace-profession",
        "bris-de-glace-profession",
        "centre-15-structure",
        "mode-urgence-personnel",
        "bloque-par-patient",
        "bloque-par-patient",
        "centre-15-oppose",
        "mode-urgence-personnel",
    ]
