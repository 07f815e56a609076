"""Mon espace santé's forms refused by the service (profil, mesures, agenda, dépôt): each wrong input a
French 4xx page naming what is wrong, and nothing recorded. Every case is refused, so the cases of one
backend share one house, Sarah's world and her logged-in session (module_live, espace_world's
shared_world and shared_client): a case costs its two requests, not a house, a feed and a login.
What the pages accept is tested in test_espace_profil.py, test_espace_mesures.py,
test_espace_agenda.py and test_espace_depot.py, a house per test."""

from __future__ import annotations

from datetime import date, timedelta
from html import unescape

import pytest

from maison.portail.web import CSP
from tests.portail import espace_world
from tests.portail.espace_world import post, records
from tests.portail.test_espace_depot import PNG, _send

PROFIL, MESURES, AGENDA = "/mon-espace/profil", "/mon-espace/mesures", "/mon-espace/agenda"

# one house per module: its `world` and `client` are the module's
shared_world, shared_client = espace_world.shared_world, espace_world.shared_client
module_world, module_client = espace_world.module_world, espace_world.module_client


@pytest.mark.parametrize(
    ("action", "fields", "status", "words"),
    [
        ("maladies", {"libelle": ""}, 400, "un texte est attendu"),
        ("maladies", {"libelle": "Asthme", "debut": "2999-01-01"}, 400, "dans le futur"),
        ("traitements", {"libelle": "X", "debut": "2020-02-01", "fin": "2020-01-01"}, 400, "la fin précède le début"),
        ("contacts-urgence", {"nom": "Sans moyen"}, 400, "un moyen de joindre"),
        ("contacts-urgence", {"nom": "X", "telephone": "pas un numéro"}, 400, "n'est pas un phone valide"),
        ("vaccinations", {"libelle": "Tétanos", "date": ""}, 400, "une date AAAA-MM-JJ"),
        ("inconnue", {"libelle": "x"}, 404, "rubrique"),
        ("coordonnees", {"code_postal": "7500"}, 400, "cinq chiffres"),
        ("coordonnees", {"email": "pas une adresse"}, 400, "n'est pas un email valide"),
        ("volontes", {"directives": "peut-être", "don": "favorable"}, 400, "oui ou non"),
        ("volontes", {"directives": "non", "don": "sans avis"}, 400, "donOrganes"),
    ],
)
def test_profil_wrong_input_is_a_french_4xx_page(client, world, action, fields, status, words):
    answer = post(client, PROFIL, f"{PROFIL}/{action}", **fields)
    assert answer.status_code == status, answer.text
    assert words in unescape(answer.text) and '<html lang="fr">' in answer.text
    assert answer.headers["content-security-policy"] == CSP
    assert not records(world.house, "espace.profil.modifier")


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"mesure": "poids:kg", "valeur": "beaucoup"}, 400, "un nombre est attendu"),
        ({"mesure": "poids:kg", "valeur": "900"}, 400, "hors des valeurs possibles"),
        ({"mesure": "imc:kg/m2", "valeur": "22"}, 400, "choisissez une mesure"),
        ({"mesure": "poids:lb", "valeur": "150"}, 400, "choisissez une mesure"),
        ({"mesure": "douleur:{score}", "valeur": "3,5"}, 400, "un nombre entier"),
        ({"mesure": "poids:kg", "valeur": "70", "date": "2999-01-01"}, 400, "dans le futur"),
        ({"mesure": "poids:kg", "valeur": "70", "date": "hier"}, 400, "date"),
    ],
)
def test_mesures_wrong_input_is_a_french_4xx_page(client, world, fields, status, words):
    data = {"date": date.today().isoformat(), **fields}
    answer = post(client, MESURES, MESURES, **data)
    assert answer.status_code == status, answer.text
    assert words in answer.text and '<html lang="fr">' in answer.text
    assert answer.headers["content-security-policy"] == CSP
    assert not records(world.house, "espace.mesure.ajouter")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"description": ""}, "un texte est attendu"),
        ({"debut": "10:00", "fin": "09:00"}, "end précède start"),
        ({"debut": "midi"}, "heures HH:MM"),
        ({"date": "31/02/2027"}, "date"),
    ],
)
def test_agenda_wrong_input_is_a_french_400_page(client, world, fields, words):
    data = {"date": (date.today() + timedelta(days=3)).isoformat(), "debut": "09:00", "description": "RDV", **fields}
    answer = post(client, AGENDA, AGENDA, **data)
    assert answer.status_code == 400 and words in answer.text, answer.text
    assert '<html lang="fr">' in answer.text and answer.headers["content-security-policy"] == CSP
    assert not records(world.house, "espace.agenda.modifier")


@pytest.mark.parametrize(
    ("data", "kind", "categorie", "titre", "status", "words"),
    [
        (b"bonjour", "text/plain", "DOCPAT05", "T", 400, "type 'text/plain'"),
        (b"pas un pdf", "application/pdf", "DOCPAT05", "T", 400, "le contenu n'est pas un application/pdf"),
        (PNG, "image/png", "DOCPAT08", "T", 400, "produite par Mon espace santé"),
        (PNG, "image/png", "LOINC-X", "T", 400, "catégorie 'LOINC-X'"),
        (PNG, "image/png", "DOCPAT04", "", 400, "titre du document"),
    ],
)
def test_depot_services_refusals_are_french_4xx_pages(client, world, data, kind, categorie, titre, status, words):
    answer = _send(client, data, kind, categorie, titre)
    assert answer.status_code == status, answer.text
    assert words in answer.text.replace("&#39;", "'") and '<html lang="fr">' in answer.text
    assert not records(world.house, "espace.document.deposer")
