"""`/pro/ordonnances` over real HTTP: the prescriber's form goes through the API's own path (the FHIR
envelope read by `draft_from_fhir`, then `Base.create` — the same audit record, the same refusals as
French pages); the paper copy is the service's PDF whose QR code scans back to the number; what was
executed is shown with the patient's OUI and the NON is said as such; CSRF on every form; a
pharmacist is refused prescribing (French 403); each wrong line of the form a French 4xx page naming
it, as the API's refusal. Each test makes its own prescriptions and reads them by their number (the
trail: the records naming it, or counted from a mark), so the tests of one backend share one house
and its professionals (module_live; World.renew keeps their PSC tokens fresh for the sessions each
test opens)."""

from __future__ import annotations

import re

import httpx
import pytest

from maison.etablissement.ordonnance.papier import number_from_pdf
from maison.formats.ordonnance import SYS_CIP
from tests.e2e.mss_shared import Trail
from tests.partage.world import PROS, World, make_world
from tests.portail.pro_login import log_in
from tests.portail.pro_session import csrf, french_error, pro_client

PARACETAMOL, GENERIQUE = "3400930000014", "3400930000021"
GP = PROS["generaliste"]


@pytest.fixture(scope="module")
def shared_world(module_live) -> World:
    return make_world(module_live.house, module_live, keys=("generaliste", "pharmacien", "hospitalier"))


@pytest.fixture
def world(shared_world: World) -> World:
    """The module's world, its professionals' tokens young enough for this test (they last 120 s)."""
    return shared_world.renew()


@pytest.fixture
def gp(world):
    with pro_client(world, "generaliste") as client:
        yield client


def form(page: str, accord: str = "oui", **more: str) -> dict[str, str]:
    """The new-ordonnance form filled in: a medicine by its CIP13 and a nursing act."""
    return {
        "csrf": csrf(page),
        "cle": re.search(r'name="cle" value="([^"]+)"', page).group(1),
        "accord": accord,
        "type_1": "medicament",
        "libelle_1": "Paracétamol 1 000 mg comprimé",
        "code_1": PARACETAMOL,
        "posologie_1": "1 comprimé si fièvre, 3 par jour au plus",
        "quantite_1": "1",
        "renouvellements_1": "2",
        "type_2": "acte",
        "libelle_2": "Soins infirmiers : prise de sang à domicile",
        **more,
    }


def prescribe(client: httpx.Client, accord: str = "oui", **more: str) -> str:
    page = client.get("/pro/ordonnances/nouvelle")
    assert page.status_code == 200, page.text
    made = client.post("/pro/ordonnances", data=form(page.text, accord, **more))
    assert made.status_code == 303, made.text
    return made.headers["location"].rsplit("/", 1)[1]


def dispense(world, number: str) -> None:
    """The pharmacist scans and delivers line 1 (a generic in its place) through the base's API."""
    with httpx.Client(base_url=f"{world.base}/ordonnance", headers=world.headers("pharmacien"), timeout=30) as lgo:
        assert lgo.get(f"/RequestGroup/{number}/$dispensation").status_code == 200
        done = lgo.post(
            f"/RequestGroup/{number}/$executer",
            json={
                "resourceType": "Parameters",
                "parameter": [
                    {
                        "name": "ligne",
                        "part": [
                            {"name": "numero", "valueInteger": 1},
                            {"name": "resultat", "valueCode": "substitue"},
                            {
                                "name": "produit",
                                "valueCoding": {
                                    "system": SYS_CIP,
                                    "code": GENERIQUE,
                                    "display": "Paracétamol générique",
                                },
                            },
                        ],
                    }
                ],
            },
        )
        assert done.status_code == 201, done.text


def test_the_gp_prescribes_through_the_api_s_path_and_it_is_recorded(gp, world):
    trail = Trail(world.house)  # the module's other tests prescribe, list and read too
    number = prescribe(gp)
    shown = gp.get(f"/pro/ordonnances/{number}")
    assert shown.status_code == 200 and f"<h1>Ordonnance N°{number}</h1>" in shown.text
    assert "Paracétamol 1 000 mg comprimé" in shown.text and PARACETAMOL in shown.text
    assert "Soins infirmiers : prise de sang à domicile" in shown.text
    assert "Rien n'a encore été délivré" in shown.text
    [created] = [e for e in trail.since("ordonnance.creer") if number in str(e["detail"])]
    assert created["actor_person"] == GP.idnatps and created["outcome"] in ("success", "0")
    listing = gp.get("/pro/ordonnances")
    assert listing.status_code == 200 and f'href="/pro/ordonnances/{number}"' in listing.text
    assert trail.since("ordonnance.rechercher")[-1]["actor_person"] == GP.idnatps
    assert trail.since("ordonnance.consulter.prescripteur")[-1]["actor_person"] == GP.idnatps


def test_the_same_form_posted_twice_makes_one_prescription(gp):
    page = gp.get("/pro/ordonnances/nouvelle").text
    first = gp.post("/pro/ordonnances", data=form(page))
    again = gp.post("/pro/ordonnances", data=form(page))
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]  # the form's key: Idempotency-Key


def test_every_form_refuses_a_missing_or_wrong_csrf_token(gp, world):
    number = prescribe(gp)
    page = gp.get("/pro/ordonnances/nouvelle").text
    trail = Trail(world.house)
    for path, data in (
        ("/pro/ordonnances", form(page)),
        (f"/pro/ordonnances/{number}/impression", {"nom": "GARCIA", "prenom": "Sarah", "naissance": "1977-01-21"}),
        (f"/pro/ordonnances/{number}/annulation", {"confirmer": "oui"}),
    ):
        for token in ({}, {"csrf": "pas-le-bon"}):
            data = {k: v for k, v in data.items() if k != "csrf"} | token
            refused = gp.post(path, data=data)
            french_error(refused, 403)
            assert "CSRF" in refused.text
    assert trail.since("ordonnance.creer") == []  # nothing was made
    assert "active" in gp.get(f"/pro/ordonnances/{number}").text  # nor cancelled


def test_the_printed_pdf_carries_the_qr_code_of_its_number(gp, world):
    number = prescribe(gp)
    page = gp.get(f"/pro/ordonnances/{number}").text
    printed = gp.post(
        f"/pro/ordonnances/{number}/impression",
        data={
            "csrf": csrf(page),
            "nom": "GARCIA-HAMMADI",
            "prenom": "Sarah",
            "naissance": "1977-01-21",
            "poids": "64,5",
        },
    )
    assert printed.status_code == 200, printed.text
    assert printed.headers["content-type"] == "application/pdf" and printed.content.startswith(b"%PDF")
    assert printed.headers["content-disposition"] == f'attachment; filename="ordonnance-{number}.pdf"'
    assert number_from_pdf(printed.content) == number  # the pharmacist's scanner finds the prescription
    for wrong, says in (
        ({"naissance": "21/01/1977"}, "AAAA-MM-JJ"),
        ({"nom": ""}, "nom et prénom du patient"),
        ({"poids": "lourd"}, "poids du patient"),
        ({"am": "12"}, "N° AM"),
    ):
        data = {"csrf": csrf(page), "nom": "GARCIA", "prenom": "Sarah", "naissance": "1977-01-21"} | wrong
        refused = gp.post(f"/pro/ordonnances/{number}/impression", data=data)
        french_error(refused, 400)
        assert says in refused.text


def test_with_the_oui_the_gp_sees_what_was_delivered(gp, world):
    number = prescribe(gp, "oui")
    dispense(world, number)
    shown = gp.get(f"/pro/ordonnances/{number}")
    assert "substitué" in shown.text and "Paracétamol générique" in shown.text
    assert PROS["pharmacien"].idnatps in shown.text and "Pharmacien" in shown.text
    assert "Annuler l'ordonnance" not in shown.text  # executed: no longer cancellable


def test_with_the_non_the_page_says_so_and_shows_nothing_delivered(gp, world):
    number = prescribe(gp, "non")
    dispense(world, number)
    shown = gp.get(f"/pro/ordonnances/{number}")
    assert shown.status_code == 200 and "Le patient a répondu <strong>NON</strong>" in shown.text
    assert "Paracétamol générique" not in shown.text and "substitué" not in shown.text


def test_cancelling_an_unexecuted_prescription(gp, world):
    number = prescribe(gp)
    page = gp.get(f"/pro/ordonnances/{number}").text
    trail = Trail(world.house)
    done = gp.post(f"/pro/ordonnances/{number}/annulation", data={"csrf": csrf(page)})
    assert done.status_code == 303
    assert "<dd>annulée</dd>" in gp.get(f"/pro/ordonnances/{number}").text
    assert trail.since("ordonnance.annuler")[-1]["actor_person"] == GP.idnatps


def test_a_pharmacist_may_not_prescribe_and_another_prescriber_s_ordonnance_is_unknown(gp, world):
    number = prescribe(gp)
    with pro_client(world, "pharmacien") as pharmacist:
        refused = pharmacist.get("/pro/ordonnances")
        french_error(refused, 403)
        assert "pas de prescription dans la base" in refused.text
    with pro_client(world, "hospitalier") as other:
        french_error(other.get(f"/pro/ordonnances/{number}"), 404)  # not his: answered like a missing one
    french_error(gp.get("/pro/ordonnances/PASUNNUMERO"), 400)
    with httpx.Client(base_url=world.base, timeout=30) as anonymous:
        french_error(anonymous.get("/pro/ordonnances"), 401)


def test_after_the_pro_sante_connect_login_the_gp_prescribes(world):
    trail = Trail(world.house)
    with httpx.Client(timeout=60) as browser:
        done = log_in(browser, f"{world.base}/pro", GP.idnatps)
        assert done.status_code == 303 and done.headers["location"].endswith("/pro/patients"), done.text
        number = prescribe(httpx.Client(base_url=world.base, cookies=browser.cookies, timeout=60))
    created = [e for e in trail.since("ordonnance.creer") if number in str(e["detail"])]
    assert created and created[-1]["actor_person"] == GP.idnatps


@pytest.mark.parametrize(
    ("more", "status", "says"),
    [
        ({"code_1": ""}, 400, "un médicament est prescrit codé"),
        ({"code_1": "3400930000015"}, 400, "code CIP13"),
        ({"quantite_1": "beaucoup"}, 400, "ligne 1 : la quantité"),
        ({"accord": ""}, 400, "accord du patient"),
        ({"type_3": "radiologie"}, 400, "ligne 3 : type"),
        ({"libelle_4": "sans type"}, 400, "ligne 4 : choisir le type"),
        ({"type_2": "acte", "libelle_2": "Transport sanitaire en ambulance"}, 400, "transports sanitaires"),
        ({"date": "2026-13-45"}, 400, "date de la prescription"),
    ],
)
def test_a_wrong_form_is_a_french_4xx_page_naming_the_line(gp, more, status, says):
    page = gp.get("/pro/ordonnances/nouvelle").text
    refused = gp.post("/pro/ordonnances", data=form(page, **more))
    french_error(refused, status)
    assert says in refused.text
