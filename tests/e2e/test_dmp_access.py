"""Who may see what in the DMP, over HTTP: information and opposition (seed 002 L535-565), dossier states,
the matrix, the patient's controls (masking, blocks, médecin traitant, codes), emergencies, the
secretariat, connexion secrète, and the patient's access history.

The tests of one backend share one house and its world of professionals signed in to Pro Santé Connect
(`module_live`): each test has a patient of its own (tests/portail/own_patient.py), with a letter the
hospital fed to her DMP, so that her information, oppositions, masks, rules, codes and history are
nobody else's; the trail is read from a mark taken before the test acts. The one thing the
professionals carry from test to test, the GP's delegation to her secretary, is withdrawn after each
test that gives it (`delegation_withdrawn`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import orjson
import pytest

from maison.core import audit
from maison.core.identifiers.nir import OID_INS_NIR_TEST
from maison.core.ins_traits import Traits
from maison.etablissement.dmp.producer import Produced
from maison.formats.cda.build import PatientIdentity
from tests.e2e.mss_shared import Trail
from tests.identite.helpers import nir
from tests.partage.world import PASSWORD, PROS, World, make_world, n1
from tests.portail.own_patient import Patient, own_patient

_children = itertools.count(1)


@dataclass
class Case:
    """One test's patient in the module's world: her letter fed by the hospital (`doc`), her minor
    child (`child`, for the connexion secrète), and the world's calls made about her."""

    world: World
    patient: Patient
    child: PatientIdentity
    doc: str = ""

    @property
    def house(self):
        return self.world.house

    @property
    def base(self) -> str:
        return self.world.base

    def letter(self, key: str, *, child: bool = False) -> bytes:
        """An N1 by `key` about her (or her child)."""
        return n1(PROS[key], patient=self.child if child else self.patient.identity)

    def client(self, key: str, **extra: str) -> httpx.Client:
        return self.world.client(key, **extra)

    def provide(self, key: str, documents: list[Produced], **extra: str) -> httpx.Response:
        return self.world.provide(key, documents, **extra)

    def inform(self, key: str, **kw: str) -> httpx.Response:
        return self.world.inform(key, self.patient.ins, **kw)

    def search(self, key: str, **params: str) -> httpx.Response:
        return self.world.search(key, self.patient.ins, **params)

    def patient_token(self) -> str:
        return self.world.patient_token(self.patient.login, self.patient.email)


@pytest.fixture(scope="module")
def module_world(module_live) -> World:
    return make_world(module_live.house, module_live)


def _own_child(house, mother: Patient) -> PatientIdentity:
    """A girl born in Lyon in March 2015 (her NIR agrees), in the referential, with her login, her
    mother declared her representative."""
    n = next(_children)
    child = PatientIdentity(
        nir(f"2150369382{n:03d}"), OID_INS_NIR_TEST, mother.family, "LEA", "F", "2015-03-03", "69382"
    )
    house.insi.referential.register(
        Traits.of(child.birth_family, child.birth_givens, child.gender, child.birth_date, child.birthplace_cog),
        child.ins,
    )
    login = house.patient_login
    login.open_account(f"lea.{n}.{mother.login}", child.ins, child.birth_date, PASSWORD, phone=f"+33698{n:06d}")
    login.declare_representative(mother.ins, child.ins, "parent")
    return child


@pytest.fixture
def world(module_world: World) -> Case:
    """The module's world, its tokens young enough, about this test's own patient, her letter fed."""
    world = module_world.renew()
    patient = own_patient(world.house)
    case = Case(world, patient, _own_child(world.house, patient))
    fed = case.provide("hospitalier", [Produced(case.letter("hospitalier"))])
    assert fed.status_code == 200, fed.text
    case.doc = fed.json()["entry"][1]["response"]["location"]
    return case


@pytest.fixture
def delegation_withdrawn(module_world: World) -> Iterator[None]:
    """The GP's delegation to her secretary, which the test gives, withdrawn after it."""
    yield
    withdrawn = module_world.client("generaliste").delete(f"/secretariat/{PROS['secretaire'].idnatps}")
    assert withdrawn.status_code in (204, 404), withdrawn.text


def _code(response: httpx.Response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


def _patient(world, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"{world.base}/dmp", headers={"Authorization": f"Bearer {token}"})


def test_information_and_opposition_states(world):
    # not informed: may feed (the hospital just did), may not consult (002 L557, L561)
    refused = world.search("generaliste")
    assert refused.status_code == 403 and _code(refused) == "patient-non-informe"
    found = world.client("generaliste").get("/Consent", params={"patient.identifier": world.patient.ins}).json()
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
    blocked = world.provide("hospitalier", [Produced(world.letter("hospitalier"))])
    assert blocked.status_code == 403 and _code(blocked) == "opposition-alimentation"
    # the choice is per structure: the GP's cabinet is not bound by the hospital's record
    assert world.provide("generaliste", [Produced(world.letter("generaliste"))]).status_code == 200


def test_dossier_closed_then_reopened_by_the_patient(world):
    patient = _patient(world, world.patient_token())
    world.inform("generaliste")
    assert patient.put("/espace/etat", json={"etat": "closed"}).status_code == 204
    assert _code(world.search("generaliste")) == "dossier-ferme"
    assert _code(world.provide("hospitalier", [Produced(world.letter("hospitalier"))])) == "XDSUnknownPatientId"
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


def test_emergency_access_code_and_secretariat(world, delegation_withdrawn):
    headers = {"X-Mode-Acces": "bris_de_glace"}
    no_reason = world.search("urgentiste", **headers)
    assert no_reason.status_code == 403 and _code(no_reason) == "bris-de-glace-sans-motif"
    found = world.search("urgentiste", **headers, **{"X-Motif-Acces": "patiente inconsciente"})
    assert found.status_code == 200 and found.json()["total"] == 1
    doc_id = world.doc.split("/")[1]
    read = world.client("urgentiste", **headers, **{"X-Motif-Acces": "patiente inconsciente"}).get(f"/Binary/{doc_id}")
    assert read.status_code == 200
    # R.1111-48: the patient is told afterwards
    assert any("urgence" in m["subject"] for m in world.house.patient_login.outbox(world.patient.email))
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
        "hospitalier", [Produced(world.letter("hospitalier", child=True))], **{"X-Connexion-Secrete": "oui"}
    )
    assert plain.status_code == 422 and "connexion secrète" in plain.text
    secret = world.provide(
        "hospitalier",
        [Produced(world.letter("hospitalier", child=True), visibility=("INVISIBLE_REPRESENTANTS_LEGAUX",))],
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
        f"{world.base}/mes/representation",
        json={"ins": world.child.ins},
        headers={"Authorization": f"Bearer {sarah}"},
    ).json()["access_token"]
    parent = _patient(world, acting)
    docs = parent.get("/DocumentReference", params={"patient.identifier": world.child.ins, "status": "current"})
    assert docs.status_code == 200 and docs.json()["total"] == 0
    seen = [
        x["resource"]["agent"][0]["who"]["identifier"]["value"]
        for x in parent.get("/espace/historique").json()["entry"]
    ]
    assert seen and PROS["hospitalier"].idnatps not in seen  # only the parent's own reading
    # the patient does not see a document awaiting its consultation d'annonce (R.1111-53)
    world.provide("hospitalier", [Produced(world.letter("hospitalier"), visibility=("INVISIBLE_PATIENT",))])
    mine = (
        _patient(world, sarah)
        .get("/DocumentReference", params={"patient.identifier": world.patient.ins, "status": "current"})
        .json()
    )
    assert mine["total"] == 1
    assert (
        _patient(world, sarah)
        .get("/DocumentReference", params={"patient.identifier": world.child.ins, "status": "current"})
        .status_code
        == 403
    )


def _trail(trail: Trail, prefix: str) -> list[dict]:
    return [e | {"d": audit.detail_of(e)} for e in trail.since(prefix)]


def test_emergency_modes_are_not_self_declared(world, delegation_withdrawn):
    """Issue 18 §2.1: each mode for the professions and structures the matrix file gives, a blocked
    professional stays blocked, the patient's two oppositions kept, each use a security event."""
    trail = Trail(world.house)
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
        "/DocumentReference", params={"patient.identifier": world.patient.ins, "status": "current"}, headers=bdg
    )
    assert claimed.status_code == 403 and _code(claimed) == "mode-urgence-personnel"
    # every emergency use is a security event; every refusal is in the trail with its reason
    uses = _trail(trail, "securite.bris-de-glace")
    assert [(e["actor_person"], e["d"]["mode"], e["patient"]) for e in uses] == [
        (PROS["urgentiste"].idnatps, "bris_de_glace", world.patient.ins),
        (PROS["urgentiste"].idnatps, "centre_15", world.patient.ins),
        (PROS["urgentiste"].idnatps, "bris_de_glace", world.patient.ins),
    ]
    refusals = [e["d"]["code"] for e in _trail(trail, "dmp.rechercher") if e["outcome"] == "failure"]
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
