"""`/pro`'s patient pages over real HTTP, logged in through Pro Santé Connect: a patient found by her
traits through INSi (the hospital wing's client, as a DPI calls it) or by her INS; her DMP read through
the DMP's own functions with the session's Actor (hidden stays hidden, a refusal shows its reason);
bris de glace needs its justification and is recorded as such; a PDF fed as a valid CDA R2 N1. The
searches and the refused feeds, which write nothing, share one house in test_pro_dmp_recherche.py.
Here each test reads, informs or feeds the DMP of a patient of its own (own_patient: the hospital
informed her and fed her two N1s, one masked), so the tests of one backend share one house and its
professionals (module_live)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from maison.core import audit
from maison.etablissement.dmp.producer import Produced
from maison.formats import xmlsafe
from maison.formats.cda.build import PatientIdentity
from maison.formats.cda.document import inspect_cda
from maison.formats.cda.header import embedded_pdf
from maison.formats.pdf import document_pdf
from maison.partage.dmp.model import MASQUE_PS, Access, Who
from maison.portail.pro import PRO
from maison.portail.sessions import Sessions
from tests.partage.world import (
    CABINET,
    CABINET_NAME,
    HOPITAL,
    HOPITAL_NAME,
    PROS,
    SARAH_ID,
    SARAH_NIR,
    World,
    make_world,
    n1,
)
from tests.portail.own_patient import Patient, own_patient
from tests.portail.pro_login import field, log_in

SARAH_FORM = {"nom": "GARCIA-HAMMADI", "prenoms": "SARAH-LOU ANNA", "sexe": "F", "naissance": "1977-01-21", "lieu": ""}


@pytest.fixture
def world(house, live):
    """Sarah's world on a house of the test's own: tests/e2e/test_portail_pro.py's (a browser's journey)."""
    return make(house, live)


def make(house, live):
    """The hospital and the GP, both habilitated to INSi; the hospital informed Sarah and fed two N1s, one
    masked to professionals (test_pro_dmp_recherche.py's world too)."""
    world = professionals(house, live)
    informed_and_fed(world, SARAH_ID)
    return world


def professionals(house, live) -> World:
    """The hospital and the GP in the Annuaire, signed in to PSC, their structures habilitated to INSi."""
    world = make_world(house, live, keys=("hospitalier", "generaliste"))
    house.insi.register_structure(HOPITAL, HOPITAL_NAME)  # habilitated to INSi, as a DPI's structure is
    house.insi.register_structure(CABINET, CABINET_NAME)
    return world


def informed_and_fed(world: World, patient: PatientIdentity) -> None:
    """The hospital informs the patient and feeds her two N1s, one masked to professionals."""
    assert world.inform("hospitalier", patient.ins).status_code == 201
    fed = world.provide(
        "hospitalier",
        [
            Produced(n1(PROS["hospitalier"], patient=patient, title="Lettre de liaison de sortie")),
            Produced(n1(PROS["hospitalier"], patient=patient, title="Compte rendu masqué"), visibility=(MASQUE_PS,)),
        ],
    )
    assert fed.status_code == 200, fed.text


@pytest.fixture(scope="module")
def shared_world(module_live) -> World:
    return professionals(module_live.house, module_live)


@pytest.fixture
def pros(shared_world: World) -> World:
    """The module's world, its professionals' tokens young enough for this test (they last 120 s)."""
    return shared_world.renew()


@pytest.fixture
def own(pros: World) -> Patient:
    """This test's patient: informed by the hospital, two N1s of hers fed, one masked."""
    patient = own_patient(pros.house, account=False)
    informed_and_fed(pros, patient.identity)
    return patient


@contextmanager
def _client(world, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.base, timeout=60) as client:
        done = log_in(client, "/pro", PROS[key].idnatps)
        assert done.status_code == 303 and done.headers["location"] == "/pro/patients", done.text
        yield client


@pytest.fixture
def hospitalier(world):
    """The hospital doctor logged in through PSC, on the requesting module's `world` (test_pro_dmp_recherche.py's)."""
    with _client(world, "hospitalier") as client:
        yield client


def _csrf(client: httpx.Client) -> str:
    return field(client.get("/pro/patients").text, "csrf")


def _actor(world, client: httpx.Client):
    return Sessions(world.house.db, inactivity=3600, lifetime=36000).find(client.cookies.get("maison_pro"), "pro").actor


def _pdf(title: str) -> bytes:
    return document_pdf(title, [("Synthèse", ["Document déposé par le portail professionnel."])])


def test_her_dmp_shows_what_the_rules_let_him_see_and_hidden_stays_hidden(pros, own):
    pros.inform("generaliste", own.ins)
    with _client(pros, "generaliste") as client:
        page = client.get(f"/pro/patients/{own.ins}/dmp")
        assert page.status_code == 200 and "Lettre de liaison de sortie" in page.text
        assert "Compte rendu masqué" not in page.text  # masked to professionals (CSP R.1111-49)
        assert f"Dr Paul DURAND ({HOPITAL_NAME})" in page.text  # the author as the Annuaire names him
        visible = pros.house.dmp.find_documents(Who(_actor(pros, client), Access()), own.ins, ["current"])
        every = pros.house.dmp.find_documents(Who(_patient(own.ins), Access()), own.ins, ["current"])
        hidden = next(e.id for e in every if e.id not in {v.id for v in visible})
        assert client.get(f"/pro/patients/{own.ins}/documents/{hidden}").status_code == 404  # as if absent
        assert client.get(f"/pro/patients/{own.ins}/documents/{hidden}/affichage").status_code == 404
        shown = re.search(r'href="(/pro/patients/[^"]+/documents/[^"]+)"', page.text).group(1)
        document = client.get(shown)
        assert document.status_code == 200 and "Lettre de liaison de sortie" in document.text
        viewer = client.get(shown + "/affichage")
        assert viewer.status_code == 200 and viewer.headers["content-type"] == "application/pdf"
    with pros.house.db.read() as conn:  # audited as the API's caller would be: his structure, the portal's software
        searched = list(audit.events(conn, patient=own.ins, action_prefix="dmp.rechercher"))
        read = list(audit.events(conn, patient=own.ins, action_prefix="dmp.consulter"))
    his = [e for e in searched if e["actor_person"] == PROS["generaliste"].idnatps]
    assert his and his[-1]["actor_software"] == PRO.client_id and his[-1]["actor_structure"] == CABINET
    assert [e for e in read if e["actor_person"] == PROS["generaliste"].idnatps]


def _patient(ins: str):
    from maison.core.authz import patient_actor

    return patient_actor(ins, ins)


def test_a_refusal_shows_its_reason_and_the_information_opens_the_dossier(pros, own):
    with _client(pros, "generaliste") as client:  # his cabinet never informed her (seed 002 L561)
        refused = client.get(f"/pro/patients/{own.ins}/dmp")
        assert refused.status_code == 403 and "pas été informé" in refused.text and "002 L535-540" in refused.text
        assert "Lettre de liaison" not in refused.text
        token = field(refused.text, "csrf")
        unchecked = client.post(f"/pro/patients/{own.ins}/information", data={"csrf": token})
        assert unchecked.status_code == 400
        informed = client.post(f"/pro/patients/{own.ins}/information", data={"csrf": token, "informee": "oui"})
        assert informed.status_code == 303
        page = client.get(informed.headers["location"])
        assert page.status_code == 200 and "Information de la patiente enregistrée" in page.text
        assert "Lettre de liaison de sortie" in page.text


def test_bris_de_glace_requires_its_justification_and_is_recorded_as_such(pros, own):
    with _client(pros, "generaliste") as client:
        refused = client.get(f"/pro/patients/{own.ins}/dmp")
        token = field(refused.text, "csrf")
        path = f"/pro/patients/{own.ins}/dmp/bris-de-glace"
        unjustified = client.post(path, data={"csrf": token, "motif": "  "})
        assert unjustified.status_code == 403 and "doit être justifié" in unjustified.text
        assert "Lettre de liaison" not in unjustified.text
        motif = "Patiente inconsciente aux urgences"
        opened = client.post(path, data={"csrf": token, "motif": motif})
        assert opened.status_code == 200 and "Accès en bris de glace" in opened.text and motif in opened.text
        assert "Lettre de liaison de sortie" in opened.text and "Compte rendu masqué" not in opened.text
        link = re.search(r'href="(/pro/patients/[^"]+/documents/[^"?]+\?urgence=[^"]+)"', opened.text).group(1)
        document = client.get(link.replace("&amp;", "&"))
        assert document.status_code == 200 and "bris de glace" in document.text
        forged = client.get(re.sub(r"urgence=[^.]+\.", "urgence=e30.", link))
        assert forged.status_code == 403  # a justification not MAC'd for this session
    with pros.house.db.read() as conn:
        emergencies = list(audit.events(conn, patient=own.ins, action_prefix="securite.bris-de-glace"))
        refusals = list(audit.events(conn, patient=own.ins, action_prefix="dmp.rechercher"))
    assert emergencies and emergencies[-1]["actor_person"] == PROS["generaliste"].idnatps
    assert motif in str(emergencies[-1]["detail"]) and emergencies[-1]["actor_software"] == PRO.client_id
    assert any(e["outcome"] != "success" for e in refusals)  # the unjustified attempt, refused and recorded


def _feed(
    client: httpx.Client, token: str, pdf: bytes, ins: str = SARAH_NIR, traits: dict | None = None, **fields: str
) -> httpx.Response:
    """The feed form posted for the patient `ins` with her `traits` (Sarah's by default)."""
    data = {"csrf": token, **(traits or SARAH_FORM), "titre": "Compte rendu du portail", "type": "11488-4"}
    data.update({"verifie": "oui", **fields})
    data = {k: v for k, v in data.items() if v is not None}
    files = {"fichier": ("compte-rendu.pdf", pdf, "application/pdf")}
    return client.post(f"/pro/patients/{ins}/documents", data=data, files=files)


def test_a_pdf_is_fed_as_a_valid_n1_with_her_ins(pros, own, reference_path):
    with _client(pros, "hospitalier") as hospitalier:
        pdf = _pdf("Compte rendu du portail")
        fed = _feed(hospitalier, _csrf(hospitalier), pdf, own.ins, own.form)
        assert fed.status_code == 303 and fed.headers["location"] == f"/pro/patients/{own.ins}/dmp?depose=1", fed.text
        page = hospitalier.get(fed.headers["location"])
        assert "Document déposé dans le DMP" in page.text and "Compte rendu du portail" in page.text
        who = Who(_actor(pros, hospitalier), Access())
        entry = next(e for e in pros.house.dmp.find_documents(who, own.ins, ["current"]) if e.type_code == "11488-4")
        _, cda = pros.house.dmp.retrieve(who, entry.id)
        report = inspect_cda(cda, pros.house.terminology, reference_path, max_bytes=len(cda) + 1)
        assert report.valid, report.findings
        assert report.header.level == "N1" and embedded_pdf(xmlsafe.parse(cda, max_bytes=len(cda) + 1)) == pdf
        assert entry.author == PROS["hospitalier"].idnatps and entry.author_structure == HOPITAL
        assert own.ins.encode() in cda and own.family.encode() in cda
        with pros.house.db.read() as conn:
            fed_events = list(audit.events(conn, patient=own.ins, action_prefix="dmp.alimenter"))
        assert fed_events[-1]["actor_software"] == PRO.client_id and fed_events[-1]["outcome"] == "success"
