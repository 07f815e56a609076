"""`/pro/annuaire` over real HTTP: the search of professionals and structures runs the FHIR Annuaire's
own search and leaves its record (`annuaire.lire`, the professional as actor); a professional's page
shows his situations d'exercice and his MSSanté addresses (liste rouge left out); a wrong criterion is
a French 400 page; without a /pro session, the French 401 page."""

from __future__ import annotations

import json

import httpx
import pytest

from maison.core import audit
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.index import put
from maison.portail.sessions import Sessions
from maison.portail.web import CSP
from tests.partage.world import CABINET, CABINET_NAME, NOW, PROS, make_world
from tests.portail.pro_session import french_error, pro_client

GP = PROS["generaliste"]
GP_BOX, GP_ROLE_BOX, RED_BOX = (
    "claire.martin@medecin.mssante.fr",
    "cabinet.martin@medecin.mssante.fr",
    "secret@medecin.mssante.fr",
)


# Every test only reads (searches, pages) or is refused, so the tests of one backend share one house and
# its directory (module_live); what they count is the GP's reads since the test began.
@pytest.fixture(scope="module")
def shared_world(module_live):
    house = module_live.house
    world = make_world(house, module_live, keys=("generaliste", "pharmacien"))
    with house.db.write() as conn:  # the GP publishes a personal mailbox, one on the liste rouge, one of her practice
        put(
            conn,
            [
                build.practitioner(
                    GP.rpps,
                    GP.family,
                    GP.given,
                    "DR",
                    "10",
                    "C",
                    None,
                    NOW,
                    mailboxes=[build.mailbox(GP_BOX, "PER"), build.mailbox(RED_BOX, "PER", liste_rouge=True)],
                )
            ],
        )
        role = build.practitioner_role(
            "2000000001",
            GP.idnatps,
            CABINET,
            NOW,
            fonction=None,
            mode="L",
            mailboxes=[build.mailbox(GP_ROLE_BOX, "CAB")],
        )
        put(conn, [role])
    return world


@pytest.fixture
def world(shared_world):
    return shared_world.renew()  # PSC tokens last 120 s; the gp's session is opened with a fresh one


@pytest.fixture
def gp(world):
    with pro_client(world, "generaliste") as client:
        yield client


def _reads(house, person: str) -> list[dict]:
    with house.db.read() as conn:
        found = [e for e in audit.events(conn, action_prefix="annuaire.lire") if e["actor_person"] == person]
    return [{**e, "detail": json.loads(e["detail"]) if isinstance(e["detail"], str) else e["detail"]} for e in found]


def test_a_search_of_professionals_runs_the_api_s_search_and_is_recorded(gp, world):
    before = len(_reads(world.house, GP.idnatps))
    found = gp.get("/pro/annuaire", params={"quoi": "professionnel", "nom": "mart"})
    assert found.status_code == 200, found.text
    assert f'href="/pro/annuaire/professionnels/{GP.idnatps}"' in found.text and "Claire MARTIN" in found.text
    assert "Médecin" in found.text and "Résultats (1)" in found.text
    assert found.headers["content-security-policy"] == CSP and found.headers["cache-control"] == "no-store"
    reads = _reads(world.house, GP.idnatps)
    assert len(reads) == before + 1 and reads[-1]["detail"]["type"] == "Practitioner"
    assert reads[-1]["detail"]["operation"] == "search-type"
    by_id = gp.get("/pro/annuaire", params={"identifiant": PROS["pharmacien"].rpps})
    assert "Anne LEROY" in by_id.text and "Pharmacien" in by_id.text
    nothing = gp.get("/pro/annuaire", params={"nom": "zzzz"})
    assert nothing.status_code == 200 and "Aucun résultat." in nothing.text


def test_the_form_alone_searches_nothing(gp, world):
    before = len(_reads(world.house, GP.idnatps))
    empty = gp.get("/pro/annuaire")
    assert empty.status_code == 200 and '<label for="nom">' in empty.text and "Résultats" not in empty.text
    assert len(_reads(world.house, GP.idnatps)) == before


def test_a_professional_s_page_shows_his_situations_and_mssante_addresses(gp, world):
    shown = gp.get(f"/pro/annuaire/professionnels/{GP.idnatps}")
    assert shown.status_code == 200, shown.text
    assert "<h1>Dr Claire MARTIN</h1>" in shown.text
    assert GP_BOX in shown.text and GP_ROLE_BOX in shown.text and "(boîte de cabinet)" in shown.text
    assert RED_BOX not in shown.text  # liste rouge: the public directory does not show it
    assert CABINET_NAME in shown.text and "libéral" in shown.text
    assert f'href="/pro/annuaire/structures/{CABINET}"' in shown.text
    reads = _reads(world.house, GP.idnatps)
    assert {r["detail"]["type"] for r in reads[-2:]} == {"Practitioner", "PractitionerRole"}


def test_structures_are_searched_by_city_and_list_their_professionals(gp):
    found = gp.get("/pro/annuaire", params={"quoi": "structure", "ville": "lyon", "nom": "cabinet dr"})
    assert found.status_code == 200 and CABINET_NAME in found.text and "69002 LYON" in found.text
    shown = gp.get(f"/pro/annuaire/structures/{CABINET}")
    assert shown.status_code == 200 and f"<h1>{CABINET_NAME}</h1>" in shown.text
    assert f'href="/pro/annuaire/professionnels/{GP.idnatps}"' in shown.text
    assert "Claire MARTIN" in shown.text and "Médecin" in shown.text


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"quoi": "patient"}, "professionnel ou structure"),
        ({"nom": "x", "couleur": "bleu"}, "champ de recherche inconnu : couleur"),
        ({"quoi": "structure", "prenom": "Claire"}, "prenom : critère sans objet"),
        ({"quoi": "professionnel", "ville": "Lyon"}, "ville : critère sans objet"),
        ({"nom": "a,,b"}, "valeur vide"),
    ],
)
def test_a_wrong_criterion_is_a_french_400_page(gp, params, says):
    answer = gp.get("/pro/annuaire", params=params)
    french_error(answer, 400)
    assert says in answer.text


def test_an_unknown_entry_is_a_french_404_page(gp):
    french_error(gp.get("/pro/annuaire/professionnels/810000099999"), 404)
    french_error(gp.get("/pro/annuaire/structures/inconnue"), 404)
    french_error(gp.get("/pro/annuaire/professionnels/a%20b"), 400)  # not an id: the path's type refuses it


def test_without_a_pro_session_the_pages_answer_the_french_401(world):
    with httpx.Client(base_url=world.base, timeout=30) as anonymous:
        french_error(anonymous.get("/pro/annuaire"), 401)
        french_error(anonymous.get(f"/pro/annuaire/professionnels/{GP.idnatps}"), 401)
    patient_raw, _ = Sessions(world.house.db, inactivity=900, lifetime=3600).open(
        "patient", "277010115400329", "277010115400329"
    )
    with httpx.Client(base_url=world.base, timeout=30, cookies={"maison_pro": patient_raw}) as patient:
        french_error(patient.get("/pro/annuaire"), 401)  # a patient's session opens no professional page
