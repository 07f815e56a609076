"""`/pro/etablissement/{structure}` over real HTTP, for the hospital's staff: the PFI page (the DPI's
documents with each leg's outcome and the ZAMs; the MSSanté worklist — read the CDA, attach, reject)
and the identitovigilance desk (statuses, the identity document check, doublons found, merged or
dismissed, the cell's incidents). Each action is the service's own (its audit records); every form
checks CSRF; a wrong input is a French 4xx page; a professional of another structure is refused with
the French 403 page, and the refusal is recorded."""

from __future__ import annotations

import json
from datetime import date, timedelta

import httpx
import pytest

from maison.core import audit
from maison.core.identifiers.nir import OID_INS_NIR_TEST
from maison.core.ins_traits import Traits
from maison.etablissement.pfi.hl7_documents import Hl7Documents
from maison.identite.psc.api import issuer_for
from tests.e2e.dpi import Dpi
from tests.e2e.test_mss_pfi import _gp_sends, _pfi
from tests.etablissement.pfi.test_hl7_documents import channels_for, settled
from tests.etablissement.pfi.test_hl7_request import message_text, parse
from tests.partage.mss_world import start_world
from tests.partage.world import CHILD_ID, HOPITAL, HOPITAL_NAME, PROS, SARAH_ID, make_world, n1
from tests.portail.pro_login import log_in
from tests.portail.pro_session import actor_of, csrf, french_error, pro_client

STAFF = PROS["hospitalier"]
DESK = f"/pro/etablissement/{HOPITAL}"


@pytest.fixture
def world(house, live):
    world = make_world(house, live, keys=("hospitalier", "generaliste"))
    assert world.inform("hospitalier").status_code == 201
    return world


@pytest.fixture
def staff(world):
    with pro_client(world, "hospitalier") as client:
        yield client


@pytest.fixture
def index(world):
    """The hospital's index: two records one keying slip apart (a doublon), and a third."""
    actor, patients = actor_of(world, "hospitalier"), world.house.patients
    return [
        patients.admit(actor, HOPITAL, ipp, Traits.of(*traits)).id
        for ipp, traits in (
            ("IPP-1", ("DUPONT", "Jean", "M", "1960-01-01")),
            ("IPP-2", ("DUPOND", "Jean", "M", "1960-01-01")),
            ("IPP-3", ("LAMBERT", "Alice", "F", "1985-06-15")),
        )
    ]


@pytest.fixture
def pfi(world, house, live, tmp_path, reference_path):
    """The hospital's PFI: a letter from the DPI over HL7 v2 (fed to the DMP, its ZAM back), and a
    letter received by MSSanté about a patient the index does not know (on the worklist, 902)."""
    mss = start_world(house, tmp_path, issuer_for(live.url))
    dpi = Dpi()
    receiver = Hl7Documents(house.db, house.mss.blobs, channels_for(world, mss, dpi))
    message = message_text(
        n1(STAFF, title="Lettre de liaison de sortie"),
        ins=SARAH_ID.ins,
        ins_oid=OID_INS_NIR_TEST,
        stay="24000006",
        stay_authority=f"CHU-X&{HOPITAL}&M",
        control_id="M1",
        flags={"ACK_RECEPTION": "Y"},
    )
    assert receiver.handle(parse(message)) is None
    settled(house, "M1")
    assert dpi.zams("Z01")
    _gp_sends(mss, house, world.tokens["generaliste"], n1(PROS["generaliste"], patient=CHILD_ID))
    _pfi(mss, house, reference_path).run_once()
    yield world
    receiver.close()
    dpi.close()
    mss.close()


def _events(house, action: str) -> list[dict]:
    with house.db.read() as conn:
        return list(audit.events(conn, action_prefix=action))


def _entry(staff: httpx.Client) -> str:
    return staff.get(f"{DESK}/pfi").text.split("/pfi/", 2)[1].split("/")[0]


def test_the_pfi_page_shows_the_dpi_s_documents_their_outcomes_and_the_worklist(pfi, staff, house):
    shown = staff.get(f"{DESK}/pfi")
    assert shown.status_code == 200, shown.text
    assert "Lettre de liaison de sortie" in shown.text and "DMP : <strong>accepté</strong>" in shown.text
    assert "dépôt DMP : AA" in shown.text and f"{SARAH_ID.ins} (QUAL)" in shown.text  # the ZAM the DPI acknowledged
    assert "<dd>902</dd>" in shown.text and CHILD_ID.ins in shown.text  # waiting: unknown to the index
    followed = _events(house, "pfi.hl7.suivi")[-1]
    assert followed["actor_person"] == STAFF.idnatps and followed["patient"] == SARAH_ID.ins
    listed = _events(house, "mss.pfi.liste")[-1]
    assert listed["actor_person"] == STAFF.idnatps and listed["patient"] == CHILD_ID.ins
    cda = staff.get(f"{DESK}/pfi/{_entry(staff)}/document")
    assert cda.status_code == 200 and b"ClinicalDocument" in cda.content
    assert _events(house, "mss.pfi.consulter")[-1]["actor_person"] == STAFF.idnatps


def test_a_waiting_document_is_attached_to_a_patient_of_the_index(pfi, staff, house):
    entry = _entry(staff)
    child = house.patients.admit(
        actor_of(pfi, "hospitalier"), HOPITAL, "IPP-LEA", Traits.of("GARCIA-HAMMADI", "Lea", "F", "2015-03-03")
    )
    page = staff.get(f"{DESK}/pfi").text
    french_error(staff.post(f"{DESK}/pfi/{entry}/rattacher", data={"patient": str(child.id)}), 403)  # no CSRF
    bad = staff.post(f"{DESK}/pfi/{entry}/rattacher", data={"csrf": csrf(page), "patient": "Léa"})
    french_error(bad, 400)
    french_error(staff.post(f"{DESK}/pfi/{entry}/rattacher", data={"csrf": csrf(page), "patient": "999999"}), 404)
    done = staff.post(f"{DESK}/pfi/{entry}/rattacher", data={"csrf": csrf(page), "patient": str(child.id)})
    assert done.status_code == 303 and done.headers["location"] == f"{DESK}/pfi"
    assert "Aucun document dans cet état." in staff.get(f"{DESK}/pfi").text
    assert CHILD_ID.ins in staff.get(f"{DESK}/pfi", params={"etat": "rattache"}).text
    attached = _events(house, "mss.pfi.rattacher")[-1]
    assert attached["actor_person"] == STAFF.idnatps and attached["outcome"] != "failure"


def test_a_waiting_document_is_rejected_with_a_reason(pfi, staff, house):
    entry = _entry(staff)
    page = staff.get(f"{DESK}/pfi").text
    french_error(staff.post(f"{DESK}/pfi/{entry}/rejeter", data={"csrf": "faux", "motif": "x"}), 403)
    french_error(staff.post(f"{DESK}/pfi/{entry}/rejeter", data={"csrf": csrf(page), "motif": " "}), 400)
    done = staff.post(f"{DESK}/pfi/{entry}/rejeter", data={"csrf": csrf(page), "motif": "pas notre patiente"})
    assert done.status_code == 303
    assert CHILD_ID.ins in staff.get(f"{DESK}/pfi", params={"etat": "rejete"}).text
    assert json.loads(_events(house, "mss.pfi.rejeter")[-1]["detail"])["motif"] == "pas notre patiente"
    french_error(staff.get(f"{DESK}/pfi", params={"etat": "perdu"}), 400)


def test_another_structure_s_professional_is_refused_and_the_refusal_recorded(world, index):
    with pro_client(world, "generaliste") as other:
        for path in (DESK, f"{DESK}/pfi", f"{DESK}/identitovigilance"):
            refused = other.get(path)
            french_error(refused, 403)
            assert "exerce pas dans la structure" in refused.text
        own = other.get(f"/pro/etablissement/{PROS['generaliste'].structure}")
        assert own.status_code == 200  # his own practice's desks
        entry = other.get("/pro/etablissement")  # the navigation's entry: the desks of his structure
        assert (
            entry.status_code == 303
            and entry.headers["location"] == f"/pro/etablissement/{PROS['generaliste'].structure}"
        )
        page = other.get("/pro/annuaire").text
        french_error(other.post(f"{DESK}/identitovigilance/detection", data={"csrf": csrf(page)}), 403)
    [*_, last] = [
        e for e in _events(world.house, "portail.etablissement") if e["actor_person"] == PROS["generaliste"].idnatps
    ]
    assert last["outcome"] == "failure" and json.loads(last["detail"])["code"] == "hors-structure"
    with httpx.Client(base_url=world.base, timeout=30) as anonymous:
        french_error(anonymous.get(f"{DESK}/identitovigilance"), 401)


def test_the_desk_checks_an_identity_document(staff, index, house):
    desk = staff.get(f"{DESK}/identitovigilance")
    assert desk.status_code == 200, desk.text
    for href, label in (
        ("/pro/patients", "Patients"),
        ("/pro/annuaire", "Annuaire"),
        ("/pro/ordonnances", "Ordonnances"),
    ):
        assert f'<a href="{href}">{label}</a>' in desk.text  # the portal's one navigation
    assert '<a href="/pro/etablissement" aria-current="page">Établissement</a>' in desk.text
    assert "DUPONT" in desk.text and "3 non qualifiées" in desk.text and "provisoire" in desk.text
    assert _events(house, "identitovigilance.search")[-1]["actor_person"] == STAFF.idnatps
    url = f"{DESK}/identitovigilance/identites/{index[2]}/piece"
    french_error(staff.post(url, data={"piece": "PA"}), 403)
    french_error(staff.post(url, data={"csrf": csrf(desk.text), "piece": "XX"}), 400)
    french_error(staff.post(url, data={"csrf": csrf(desk.text), "piece": "PC"}), 422)  # low trust: refused
    assert staff.post(url, data={"csrf": csrf(desk.text), "piece": "CN"}).status_code == 303
    assert "validée" in staff.get(f"{DESK}/identitovigilance").text
    checked = _events(house, "identitovigilance.document-check") or _events(house, "identitovigilance")
    assert any(e["actor_person"] == STAFF.idnatps for e in checked)
    french_error(
        staff.post(f"{DESK}/identitovigilance/identites/999999/piece", data={"csrf": csrf(desk.text), "piece": "CN"}),
        404,
    )


def test_doublons_are_found_merged_or_dismissed(staff, index, house, world):
    page = staff.get(f"{DESK}/identitovigilance").text
    assert "Aucune alerte ouverte." in page
    french_error(staff.post(f"{DESK}/identitovigilance/detection", data={"csrf": "x"}), 403)
    assert staff.post(f"{DESK}/identitovigilance/detection", data={"csrf": csrf(page)}).status_code == 303
    page = staff.get(f"{DESK}/identitovigilance").text
    alert = int(page.split("/alertes/", 1)[1].split("/", 1)[0])
    assert f"Doublon n°{alert} : dossier {index[0]} et dossier {index[1]}" in page
    merge = f"{DESK}/identitovigilance/alertes/{alert}/fusion"
    french_error(staff.post(merge, data={"csrf": csrf(page), "conserver": str(index[2])}), 400)  # not of the pair
    french_error(
        staff.post(f"{DESK}/identitovigilance/alertes/999999/fusion", data={"csrf": csrf(page), "conserver": "1"}), 404
    )
    assert staff.post(merge, data={"csrf": csrf(page), "conserver": str(index[0])}).status_code == 303
    page = staff.get(f"{DESK}/identitovigilance").text
    assert "Aucune alerte ouverte." in page, page[page.find("<main") :]
    assert "DUPONT" in page and "DUPOND" not in page  # the absorbed record is no longer a live identity
    merged = _events(house, "identitovigilance.merge")
    assert merged and merged[-1]["actor_person"] == STAFF.idnatps
    french_error(staff.post(f"{DESK}/identitovigilance/alertes/{alert}/ecarter", data={"csrf": csrf(page)}), 404)


def test_the_cell_declares_an_incident_that_its_report_shows(staff, index, house):
    page = staff.get(f"{DESK}/identitovigilance").text
    assert "aucune réunion de la cellule au cours du semestre" in page
    url = f"{DESK}/identitovigilance/incidents"
    french_error(staff.post(url, data={"type": "doublon", "description": "x"}), 403)
    french_error(staff.post(url, data={"csrf": csrf(page), "type": "meteo", "description": "x"}), 400)
    french_error(
        staff.post(url, data={"csrf": csrf(page), "type": "doublon", "description": "x", "patient": "abc"}), 400
    )
    done = staff.post(
        url,
        data={"csrf": csrf(page), "type": "doublon", "description": "DUPONT saisi deux fois", "patient": str(index[0])},
    )
    assert done.status_code == 303
    page = staff.get(f"{DESK}/identitovigilance").text
    assert "DUPONT saisi deux fois" in page and "<dt>Incidents déclarés</dt><dd>1</dd>" in page
    assert _events(house, "identitovigilance.incident")[-1]["actor_person"] == STAFF.idnatps
    french_error(staff.get(f"{DESK}/identitovigilance", params={"semestre": "2026-S3"}), 400)


def test_the_cell_records_its_meetings_and_procedures(staff, index, house):
    page = staff.get(f"{DESK}/identitovigilance").text
    meetings, procedures = f"{DESK}/identitovigilance/reunions", f"{DESK}/identitovigilance/procedures"
    today = date.today().isoformat()
    french_error(staff.post(meetings, data={"date": today, "compteRendu": "revue"}), 403)
    french_error(staff.post(meetings, data={"csrf": csrf(page), "date": "hier", "compteRendu": "revue"}), 400)
    future = (date.today() + timedelta(days=3)).isoformat()
    french_error(staff.post(meetings, data={"csrf": csrf(page), "date": future, "compteRendu": "revue"}), 400)
    done = staff.post(
        meetings, data={"csrf": csrf(page), "date": today, "compteRendu": "revue des doublons", "participants": "A, B"}
    )
    assert done.status_code == 303
    french_error(staff.post(procedures, data={"csrf": csrf(page), "type": "accueil", "adopteeLe": today}), 400)
    for kind in ("identification", "rapprochement", "creation", "fusion"):
        assert staff.post(procedures, data={"csrf": csrf(page), "type": kind, "adopteeLe": today}).status_code == 303
    page = staff.get(f"{DESK}/identitovigilance").text
    assert "<dt>Réunions</dt><dd>1</dd>" in page and "fonctionnement conforme" in page
    assert "procédure de fusion d&#39;identités" in page
    assert _events(house, "identitovigilance.meeting")[-1]["actor_person"] == STAFF.idnatps
    assert _events(house, "identitovigilance.procedure")[-1]["actor_person"] == STAFF.idnatps


def test_the_desk_retrieves_an_ins_from_insi_as_the_professional_s_structure(world, house):
    house.insi.register_structure(HOPITAL, HOPITAL_NAME)  # habilitated to INSi, as a DPI's structure is
    actor = actor_of(world, "hospitalier")
    sarah = house.patients.admit(
        actor, HOPITAL, "IPP-SARAH", Traits.of("Garcia-Hammadi", "Sarah-Lou", "F", "1977-01-21")
    )
    nobody = house.patients.admit(actor, HOPITAL, "IPP-X", Traits.of("INCONNU", "Personne", "M", "1950-01-01"))
    with httpx.Client(
        base_url=world.base, timeout=60
    ) as staff:  # signed in on Pro Santé Connect: the portal's software
        assert log_in(staff, "/pro", STAFF.idnatps).status_code == 303
        page = staff.get(f"{DESK}/identitovigilance").text
        url = f"{DESK}/identitovigilance/identites/{sarah.id}/insi"
        french_error(staff.post(url, data={"csrf": "faux"}), 403)
        assert staff.post(url, data={"csrf": csrf(page)}).status_code == 303
        page = staff.get(f"{DESK}/identitovigilance").text
        assert "récupérée" in page and SARAH_ID.ins[:13] in page
        refused = staff.post(f"{DESK}/identitovigilance/identites/{nobody.id}/insi", data={"csrf": csrf(page)})
        assert refused.status_code == 422 and "Impossible d'afficher cette page" in refused.text
    assert house.patients.get(actor, sarah.id).status.value == "RECUP"
