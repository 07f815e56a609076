"""The access history page with the Annuaire's names: who (the professional's name, his IdNatPS
beside it), which structure (its name), what, when, why — and an emergency access told loudly: a
banner with its own heading and words, not a colour alone. Each test reads the history of a patient
of its own (espace_world's `patient`: one N1 of hers fed by the hospital), so the tests of one backend
share one house and its professionals (module_live)."""

from __future__ import annotations

from html import unescape

import httpx
import orjson
import pytest

from maison.core import audit
from maison.portail.history import Names, in_french
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import CABINET, CABINET_NAME, CHILD, HOPITAL_NAME, PROS, World, make_world
from tests.portail import espace_world
from tests.portail.own_patient import Patient
from tests.portail.test_patient import log_in


@pytest.fixture(scope="module")
def shared_world(module_live) -> World:
    return make_world(module_live.house, module_live, keys=("hospitalier", "generaliste", "urgentiste"))


world, own = espace_world.renewed_world, espace_world.patient  # tokens renewed; a patient of the test's own


def _history(world, own: Patient) -> str:
    with httpx.Client(base_url=world.base, timeout=60) as client:
        assert log_in(world, client, own.login, own.email).status_code == 303
        page = client.get("/mon-espace/historique")
    assert page.status_code == 200
    return unescape(page.text)


def test_professionals_and_structures_are_named_from_the_annuaire(world, own):
    world.inform("generaliste", own.ins)
    assert world.search("generaliste", own.ins).status_code == 200
    page = _history(world, own)
    assert "Dr Claire MARTIN" in page and f"n° {PROS['generaliste'].idnatps}" in page and CABINET_NAME in page
    assert "Dr Paul DURAND" in page and HOPITAL_NAME in page  # the author who fed the document
    assert "a consulté la liste de vos documents" in page and "a ajouté un document" in page
    assert "Accès en urgence à votre dossier" not in page  # no banner without an emergency


def test_a_bris_de_glace_is_shown_in_a_banner_of_its_own(world, own):
    motif = {"X-Mode-Acces": "bris_de_glace", "X-Motif-Acces": "patiente inconsciente aux urgences"}
    assert world.search("urgentiste", own.ins, **motif).status_code == 200
    page = _history(world, own)
    banner = page[page.index('<section class="bandeau-urgence"') : page.index("</section>")]
    assert "Accès en urgence à votre dossier (1)" in banner and "sans votre accord préalable" in banner
    assert "Dr Nina FAURE" in banner and HOPITAL_NAME in banner and "bris de glace" in banner
    assert "« patiente inconsciente aux urgences »" in banner
    assert '<tr class="urgence">' in page and "Accès en urgence (bris de glace)" in page


def test_a_representative_reads_the_minors_history_as_such():
    """Read by her mother acting for her: the mother's acts are hers ("Vous"), the minor's are the
    holder's, a professional is named by the Annuaire with his structure."""

    def row(person: str, kind: str, structure: str = "") -> dict:
        detail = {"actor": {"kind": kind, "mode": "normal"}}
        return {
            "recorded_at": "2026-12-07T13:05:00Z",
            "actor_person": person,
            "actor_structure": structure,
            "action": "dmp.consulter",
            "purpose": "TREAT",
            "outcome": "success",
            "detail": orjson.dumps(detail).decode(),
        }

    names = Names({PROS["generaliste"].idnatps: "Dr Claire MARTIN"}, {CABINET: CABINET_NAME})
    rows = [row(CHILD, "patient"), row(SARAH_NIR, "patient"), row(PROS["generaliste"].idnatps, "professional", CABINET)]
    doctor, mother, minor = in_french(rows, SARAH_NIR, names, holder=CHILD)
    assert (mother.who, minor.who) == ("Vous", "Titulaire du dossier")
    assert (doctor.who, doctor.who_id, doctor.structure) == (
        "Dr Claire MARTIN",
        PROS["generaliste"].idnatps,
        CABINET_NAME,
    )
    assert doctor.when == "le 07/12/2026 à 14:05" and doctor.why == "soins"


def test_the_history_is_paged_newest_first_and_every_emergency_stays_in_the_banner(world, own):
    """50 records a page, read in SQL (Dmp.history_page); links to the older and newer pages work
    without JavaScript; a bris de glace on an older page is still in the banner of the first."""
    motif = {"X-Mode-Acces": "bris_de_glace", "X-Motif-Acces": "patiente inconsciente aux urgences"}
    assert world.search("urgentiste", own.ins, **motif).status_code == 200  # among the oldest records
    world.inform("generaliste", own.ins)
    for _ in range(55):
        assert world.search("generaliste", own.ins).status_code == 200
    with httpx.Client(base_url=world.base, timeout=60) as client:
        assert log_in(world, client, own.login, own.email).status_code == 303
        first, second = client.get("/mon-espace/historique"), client.get("/mon-espace/historique?page=2")
        beyond, wrong = client.get("/mon-espace/historique?page=9"), client.get("/mon-espace/historique?page=zéro")
    assert first.status_code == second.status_code == beyond.status_code == 200
    first_page, second_page = unescape(first.text), unescape(second.text)
    assert first_page.count("<tr") - 1 == 50 and "(page 1)" in first_page  # the header row, then 50
    assert 'href="/mon-espace/historique?page=2" rel="next"' in first_page and 'rel="prev"' not in first_page
    banner = first_page[first_page.index('<section class="bandeau-urgence"') : first_page.index("</section>")]
    assert "Accès en urgence à votre dossier (1)" in banner and "Dr Nina FAURE" in banner
    assert '<tr class="urgence">' not in first_page  # its row is on an older page
    assert 'href="/mon-espace/historique" rel="prev"' in second_page and 'rel="next"' not in second_page
    assert '<tr class="urgence">' in second_page and "Accès en urgence à votre dossier (1)" in second_page
    assert 0 < second_page.count("<tr") - 1 < 50
    assert "Aucun accès sur cette page." in unescape(beyond.text)
    assert wrong.status_code == 400 and "numéro de page" in unescape(wrong.text)
    with world.house.db.read() as conn:
        reads = list(audit.events(conn, patient=own.ins, action_prefix="dmp.patient.historique"))
    assert [audit.detail_of(r)["page"] for r in reads] == [1, 2, 9]  # each page read is audited
    assert [audit.detail_of(r)["evenements"] for r in reads][::2] == [50, 0]
