"""`/pro/etablissement/{structure}/pfi` over real HTTP, for the hospital's staff: the DPI's documents
with each leg's outcome and the ZAMs, and the MSSanté worklist — read the CDA, attach, reject. Each
action is the service's own (its audit records); every form checks CSRF; a wrong input is a French 4xx
page. A house per test: the worklist's one waiting letter is attached by one test and rejected by
another, and an emptied list is asserted. The identitovigilance desk is tested in
test_pro_etablissement.py, on one house per backend."""

from __future__ import annotations

import json

import httpx
import pytest

from maison.core import audit
from maison.core.identifiers.nir import OID_INS_NIR_TEST
from maison.core.ins_traits import Traits
from maison.etablissement.pfi.hl7_documents import Hl7Documents
from maison.identite.psc.api import issuer_for
from tests.e2e.dpi import Dpi
from tests.e2e.test_mss_pfi import Hospital, _gp_sends, _pfi
from tests.etablissement.pfi.test_hl7_documents import channels_for, settled
from tests.etablissement.pfi.test_hl7_request import message_text, parse
from tests.partage.mss_world import GP, PFI, start_world
from tests.partage.world import CHILD_ID, HOPITAL, PROS, SARAH_ID, make_world, n1
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
    hospital = Hospital(HOPITAL, PFI, GP)  # the world's own PFI and GP mailboxes (start_world's)
    _gp_sends(mss, house, world.tokens["generaliste"], hospital, n1(PROS["generaliste"], patient=CHILD_ID))
    _pfi(mss, house, reference_path, hospital).run_once()
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
