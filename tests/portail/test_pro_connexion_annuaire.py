"""`/pro`'s login through Pro Santé Connect when the Annuaire changes: a professional with several
situations d'exercice chooses his structure; one no longer active is refused in French and his
session ends. Each test writes the Annuaire, so each has a house of its own; the rest of the login's
tests share one house per backend in test_pro_connexion.py."""

from __future__ import annotations

import httpx
import pytest

from maison.identite.annuaire import resources as build
from maison.identite.annuaire.index import put
from maison.portail.sessions import Sessions
from maison.portail.web import CSP
from tests.partage.world import HOPITAL, HOPITAL_NAME, NOW, PROS, make_world
from tests.portail import test_pro_connexion
from tests.portail.pro_login import field, to_callback


@pytest.fixture
def world(house, live):
    return make_world(house, live, keys=("hospitalier", "generaliste"))


pro = test_pro_connexion.pro  # the hospital doctor logged in, on this module's per-test world


def test_several_situations_let_him_choose_the_structure(world):
    generaliste = PROS["generaliste"]
    with world.house.db.write() as conn:
        put(conn, [build.practitioner_role("2000000099", generaliste.idnatps, HOPITAL, NOW, fonction=None, mode="S")])
    with httpx.Client(base_url=world.base, timeout=30) as client:
        back = to_callback(client, "/pro", generaliste.idnatps)
        choice = client.get(back.headers["location"])
        assert choice.status_code == 200 and HOPITAL_NAME in choice.text and generaliste.structure_name in choice.text
        form = {"choix": field(choice.text, "choix"), "structure": HOPITAL}
        assert client.post("/pro/connexion/structure", data=form).status_code == 403  # no CSRF token
        token = field(choice.text, "csrf")
        other = client.post("/pro/connexion/structure", data={**form, "csrf": token, "structure": "1234"})
        assert other.status_code == 403 and "exerce pas dans la structure 1234" in other.text
        forged = {**form, "csrf": token, "choix": form["choix"][:-3] + "abc"}
        assert client.post("/pro/connexion/structure", data=forged).status_code == 403
        done = client.post("/pro/connexion/structure", data={**form, "csrf": token})
        assert done.status_code == 303 and done.headers["location"] == "/pro/patients"
        page = client.get("/pro/patients")
        assert page.status_code == 200 and f"au titre de <strong>{HOPITAL_NAME}" in page.text


def test_a_professional_no_longer_active_in_the_annuaire_is_refused_in_french(pro, world):
    client, _ = pro
    hospitalier = PROS["hospitalier"]
    with world.house.db.write() as conn:
        put(conn, [build.practitioner(hospitalier.rpps, "DURAND", "Paul", "DR", "10", "C", None, NOW, active=False)])
    refused = client.get("/pro/patients")
    assert refused.status_code == 403 and "actif de l&#39;Annuaire" in refused.text
    assert refused.headers["content-security-policy"] == CSP
    # his session ended with the refusal: active again, he is not let back in without signing in again
    with world.house.db.write() as conn:
        put(conn, [build.practitioner(hospitalier.rpps, "DURAND", "Paul", "DR", "10", "C", None, NOW)])
    again = client.get("/pro/patients", follow_redirects=False)
    assert again.status_code in (303, 401) and "Paul DURAND" not in again.text
    assert (
        Sessions(world.house.db, inactivity=3600, lifetime=36000).find(client.cookies.get("maison_pro"), "pro") is None
    )
