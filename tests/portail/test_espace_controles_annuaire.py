"""`/mon-espace/controles`'s professional picker over real HTTP: Sarah finds the nurse to block and
the doctor to declare as médecin traitant in the Annuaire Santé by name, commune and profession (a
plain GET page without JavaScript, the results' fragment for htmx), each search leaving the Annuaire
API's `annuaire.lire` record with her as actor; a result's choose button posts the RPPS the typed
field would have (the DMP then refuses the blocked nurse); the htmx forms answer their section's
fragment, a refusal told inside it in French with nothing recorded as done. One house and world for
the module: each test undoes what it sets."""

from __future__ import annotations

from collections.abc import Iterator
from html import unescape

import httpx
import pytest

from maison.core import audit
from maison.etablissement.dmp.producer import Produced
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import PROS, World, make_world, n1
from tests.portail.espace_world import post, records
from tests.portail.test_patient import _token, log_in

PAGE, SEARCH = "/mon-espace/controles", "/mon-espace/controles/professionnels"
HX = {"HX-Request": "true"}
NURSE, DOCTOR = PROS["infirmier"].idnatps, PROS["generaliste"].idnatps


@pytest.fixture(scope="module")
def world(module_live) -> World:
    world = make_world(module_live.house, module_live, keys=("hospitalier", "infirmier"))
    assert world.provide("hospitalier", [Produced(n1(PROS["hospitalier"]))]).status_code == 200
    world.inform("infirmier")
    return world


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.base, timeout=60) as client:
        assert log_in(world, client).status_code == 303
        yield client


def _lookups(house) -> list[dict]:
    with house.db.read() as conn:
        return [r for r in audit.events(conn, action_prefix="annuaire.lire") if r["actor_person"] == SARAH_NIR]


def test_the_search_page_without_javascript_lists_the_professionals_to_choose(client, world):
    before = len(_lookups(world.house))
    found = client.get(SEARCH, params={"pour": "regle", "nom": "petit", "commune": "lyon"})
    assert found.status_code == 200 and '<html lang="fr">' in found.text
    text = unescape(found.text)
    assert "Dr Luc PETIT" in text and f"RPPS n° {NURSE}" in text and "CABINET INFIRMIER, 69002 LYON" in text
    assert 'value="petit"' in text  # the form keeps what she typed
    results = text[text.index('id="resultats-regle"') :]
    for choice in ("bloquer", "autoriser"):
        assert f'name="regle" value="{choice}"' in results
    assert f'name="professionnel" value="{NURSE}"' in results and 'hx-target="#controle-regles"' in results
    lookups = _lookups(world.house)[before:]
    assert {audit.detail_of(r)["type"] for r in lookups} == {"Practitioner", "PractitionerRole"}
    assert all(r["actor_software"] == "mon-espace-sante" for r in lookups)


def test_htmx_gets_the_results_fragment_filtered_by_commune_and_profession(client):
    fragment = client.get(SEARCH, params={"pour": "regle", "nom": "luc petit"}, headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.text and "Dr Luc PETIT" in unescape(fragment.text)
    elsewhere = client.get(SEARCH, params={"pour": "regle", "nom": "petit", "commune": "paris"}, headers=HX)
    assert "Aucun professionnel de l'Annuaire Santé" in unescape(elsewhere.text)
    dentists = client.get(SEARCH, params={"pour": "regle", "nom": "petit", "profession": "40"}, headers=HX)
    assert "Dr Luc PETIT" not in unescape(dentists.text)
    nurses = client.get(SEARCH, params={"pour": "regle", "nom": "petit", "profession": "60"}, headers=HX)
    assert "Dr Luc PETIT" in unescape(nurses.text)
    # the médecin traitant's search finds doctors only: the nurse is not offered
    assert "Dr Luc PETIT" not in unescape(client.get(SEARCH, params={"pour": "traitant", "nom": "petit"}).text)
    empty = client.get(SEARCH, params={"pour": "regle", "nom": " ,;, "}, headers=HX)
    assert "Tapez le nom du professionnel" in unescape(empty.text)  # punctuation is no criterion


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"pour": "tout", "nom": "petit"}, "recherche : pour le médecin traitant"),
        ({"pour": "regle", "nom": "petit", "profession": "99"}, "profession : choisissez-la dans la liste"),
        ({"pour": "regle", "nom": "p" * 81}, "nom du professionnel : 80 caractères au plus"),
    ],
)
def test_a_wrong_search_is_refused_in_french(client, params, says):
    refused = client.get(SEARCH, params=params)
    assert refused.status_code == 400 and says in unescape(refused.text) and '<html lang="fr">' in refused.text


def test_the_choose_button_blocks_the_nurse_with_htmx_then_the_dmp_refuses_him(client, world):
    page = client.get(PAGE).text
    blocked = post_hx(client, page, "/mon-espace/controles/regles", professionnel=NURSE, regle="bloquer")
    assert blocked.status_code == 200 and blocked.text.lstrip().startswith('<section id="controle-regles"')
    text = unescape(blocked.text)
    assert "Votre choix pour ce professionnel a été enregistré." in text and "<strong>Bloqué</strong>" in text
    assert "Dr Luc PETIT" in text
    refused = world.search("infirmier")
    assert refused.status_code == 403 and "bloque-par-patient" in refused.text
    assert audit.detail_of(records(world.house, "dmp.patient.regle")[-1])["regle"] == "bloque"
    lifted = post_hx(client, page, "/mon-espace/controles/regles", professionnel=NURSE, regle="retirer")
    assert "Vous n'avez bloqué ni autorisé aucun professionnel." in unescape(lifted.text)
    assert world.search("infirmier").status_code == 200


def test_htmx_refusals_come_inside_the_fragment_in_french(client, world):
    page = client.get(PAGE).text
    before = len(records(world.house, "dmp.patient.regle"))
    unknown = post_hx(client, page, "/mon-espace/controles/regles", professionnel="81234567890", regle="bloquer")
    assert unknown.status_code == 200 and 'role="alert"' in unknown.text
    assert "aucun professionnel de l'Annuaire Santé n'a le numéro 81234567890" in unescape(unknown.text)
    wrong = post_hx(client, page, "/mon-espace/controles/urgence", bris_de_glace="peut-etre")
    assert wrong.text.lstrip().startswith('<section id="controle-urgence"') and "oui ou non" in wrong.text
    assert len(records(world.house, "dmp.patient.regle")) == before  # nothing done
    without_js = post(client, PAGE, "/mon-espace/controles/regles", professionnel="81234567890", regle="bloquer")
    assert without_js.status_code == 404 and '<html lang="fr">' in without_js.text
    forged = client.post("/mon-espace/controles/regles", data={"professionnel": NURSE, "regle": "bloquer"}, headers=HX)
    assert forged.status_code == 403 and "CSRF" in forged.text  # htmx or not, the token first


def test_the_medecin_traitant_chosen_from_the_search(client, world):
    found = unescape(client.get(SEARCH, params={"pour": "traitant", "nom": "claire martin"}, headers=HX).text)
    assert "Dr Claire MARTIN" in found and "Choisir comme médecin traitant" in found
    assert f'name="professionnel" value="{DOCTOR}"' in found
    page = client.get(PAGE).text
    chosen = post_hx(client, page, "/mon-espace/controles/medecin-traitant", action="definir", professionnel=DOCTOR)
    text = unescape(chosen.text)
    assert "Votre médecin traitant a été enregistré." in text and f"Dr Claire MARTIN</strong> (n° {DOCTOR})" in text
    assert {"medecin_traitant": DOCTOR} in [
        {k: v for k, v in audit.detail_of(r).items() if k != "actor"}
        for r in records(world.house, "dmp.patient.preferences")
    ]
    removed = client.post(  # without JavaScript: PRG
        "/mon-espace/controles/medecin-traitant", data={"csrf": _token(page), "action": "retirer"}
    )
    assert removed.status_code == 303 and removed.headers["location"] == f"{PAGE}?fait=traitant-retire"


def post_hx(client: httpx.Client, page: str, path: str, **data: str) -> httpx.Response:
    """A form of the page as htmx sends it: its fields, the token in the header as base.html sets it."""
    return client.post(path, data=data, headers={**HX, "X-CSRF-Token": _token(page)})
