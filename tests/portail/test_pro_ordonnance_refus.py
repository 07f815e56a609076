"""`/pro/ordonnances`'s form refused: each wrong line a French 4xx page naming it, as the API's
refusal. Every case is refused, so the cases of one backend share one house and its world
(module_live; World.renew keeps the GP's PSC token fresh for the session each case opens). What the
form makes is tested in test_pro_ordonnance.py, a house per test."""

from __future__ import annotations

import pytest

from tests.partage.world import make_world
from tests.portail.pro_session import french_error, pro_client
from tests.portail.test_pro_ordonnance import form


@pytest.fixture(scope="module")
def shared_world(module_live):
    return make_world(module_live.house, module_live, keys=("generaliste", "pharmacien", "hospitalier"))


@pytest.fixture
def gp(shared_world):
    with pro_client(shared_world.renew(), "generaliste") as client:
        yield client


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
