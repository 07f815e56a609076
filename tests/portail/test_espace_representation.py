"""`/mon-espace/espaces` over real HTTP: a legal representative, logged in as himself, opens the espace
of the minor he represents through `PatientLogin.act_for` (what `POST /mes/representation` calls): the
session's subject is then the minor's INS and its actor the representative — every page's header says
so, and the services record him as "representant-legal" on the minor's dossier. A person he does not
represent is refused (403 in French); the previous session ends; CSRF on the form. The tests share one
house and world per backend (module_live), each with a session of its own: choosing an espace ends
the session it was made in."""

from __future__ import annotations

import json
from datetime import date
from html import unescape

import httpx
import pytest

from tests.identite.helpers import SARAH_NIR, nir
from tests.partage.world import CHILD
from tests.portail import espace_world
from tests.portail.espace_world import logged_in, post, records, refused_without_token
from tests.portail.test_patient import log_in

PAGE = "/mon-espace/espaces"


shared_world = espace_world.shared_world  # one house per module


@pytest.fixture
def world(shared_world):
    return shared_world


@pytest.fixture
def client(world):
    """Sarah logged in, a session per test."""
    with logged_in(world) as client:
        yield client


def _header(client) -> str:
    page = unescape(client.get("/mon-espace/dossier").text)
    return page[page.index('class="pour-qui"') : page.index("</p>", page.index('class="pour-qui"'))]


def test_the_representative_chooses_the_minors_espace_and_every_page_says_so(client, world):
    own = _header(client)
    assert "Espace santé de <strong>Sarah-Lou GARCIA-HAMMADI</strong>" in own and "représentant" not in own
    assert "Changer d'espace" in own
    choice = unescape(client.get(PAGE).text)
    assert "Mon espace (Sarah-Lou GARCIA-HAMMADI)" in choice and "L'espace de Lea GARCIA-HAMMADI" in choice
    assert f'value="{SARAH_NIR}" checked' in choice
    before = client.cookies.get("maison_mon_espace")
    opened = post(client, PAGE, PAGE, ins=CHILD)
    assert opened.status_code == 303 and opened.headers["location"] == "/mon-espace/dossier"
    for page in ("/mon-espace/dossier", "/mon-espace/profil", "/mon-espace/mesures", "/mon-espace/agenda"):
        text = unescape(client.get(page).text)
        assert "Espace santé de <strong>Lea GARCIA-HAMMADI</strong>" in text, page
        assert "vous agissez en tant que représentant légal" in text, page
    added = post(
        client, "/mon-espace/mesures", "/mon-espace/mesures", mesure="taille:cm", valeur="130", date=str(date.today())
    )
    assert added.status_code == 303
    (record,) = records(world.house, "espace.mesure.ajouter", CHILD)
    assert record["actor_person"] == SARAH_NIR and record["patient"] == CHILD
    assert json.loads(record["detail"])["actor"]["role"] == "representant-legal"
    assert not records(world.house, "espace.mesure.ajouter", SARAH_NIR)  # on the minor's espace, not hers
    with httpx.Client(base_url=world.base, cookies={"maison_mon_espace": before}) as old:
        assert old.get("/mon-espace/dossier").status_code == 401  # the previous session ended
    back = post(client, PAGE, PAGE, ins=SARAH_NIR)
    assert back.status_code == 303
    assert "Sarah-Lou GARCIA-HAMMADI" in _header(client) and "représentant" not in _header(client)


def test_someone_he_does_not_represent_is_refused(client, world):
    stranger = nir("2150375056029")
    refused = post(client, PAGE, PAGE, ins=stranger)
    assert refused.status_code == 403 and "pas de représentation légale" in unescape(refused.text)
    assert '<html lang="fr">' in refused.text
    malformed = post(client, PAGE, PAGE, ins="pas-un-ins")
    assert malformed.status_code == 400 and '<html lang="fr">' in malformed.text
    missing = post(client, PAGE, PAGE, ins="")
    assert missing.status_code == 400 and "choisissez" in unescape(missing.text)
    assert "Sarah-Lou GARCIA-HAMMADI" in _header(client)  # still her own espace


def test_the_minor_herself_has_no_other_espace(world):
    with httpx.Client(base_url=world.base, timeout=60) as client:
        assert log_in(world, client, "lea.garcia", "+33612345678").status_code == 303
        header = _header(client)
        assert "Lea GARCIA-HAMMADI" in header and "Changer d'espace" not in header
        choice = unescape(client.get(PAGE).text)
        assert "L'espace de" not in choice
        refused = post(client, PAGE, PAGE, ins=SARAH_NIR)  # a minor does not represent her mother
        assert refused.status_code == 403


def test_the_form_refuses_a_missing_or_wrong_token(client):
    refused_without_token(client, PAGE, ins=CHILD)
    assert "Sarah-Lou GARCIA-HAMMADI" in _header(client)
