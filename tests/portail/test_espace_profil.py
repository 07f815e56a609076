"""`/mon-espace/profil` over real HTTP: every rubrique of the profil médical through the functions the
`/espace/profil` routes call (`profile`, `volontes`, `set_profile_part`, `put_item`, `delete_item`,
`share_profile`); the identity is the INS one; the service's refusals as French 4xx pages; another
patient's entry refused; CSRF on every form; the audit records. The tests share one house and world
per backend (module_live): what only reads or is refused runs in Sarah's session (one for the module),
her profile left empty; a test that writes a profile has a patient of its own (`patient`, `her`: her session)
and counts only her records."""

from __future__ import annotations

import re
from html import unescape

from maison.portail.espace_profil import contact_details_of, resource_of, wishes_of
from maison.portail.web import CSP
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import CHILD
from tests.portail import espace_world
from tests.portail.espace_world import patient_who, post, records, refused_without_token

PAGE = "/mon-espace/profil"
ENTRIES = {
    "contacts-urgence": {"nom": "Karim Garcia", "lien": "frère", "telephone": "06 11 22 33 44"},
    "maladies": {"libelle": "Asthme", "debut": "2001-05-01", "precisions": "à l'effort"},
    "traitements": {"libelle": "Ventoline", "debut": "2020-01-01", "fin": "2030-01-01"},
    "allergies": {"libelle": "Pénicilline"},
    "vaccinations": {"libelle": "Tétanos", "date": "2019-03-04"},
}


shared_world, client = espace_world.shared_world, espace_world.shared_client  # one house per module
world, patient, her = espace_world.renewed_world, espace_world.new_patient, espace_world.her  # a test's own patient


def _text(client) -> str:
    return unescape(client.get(PAGE).text)


def test_the_page_shows_the_ins_identity_and_every_rubrique(client, world):
    page = client.get(PAGE)
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    text = unescape(page.text)
    assert "GARCIA-HAMMADI" in text and SARAH_NIR in text and "21/01/1977" in text
    for heading in ("Coordonnées", "Volontés et droits", "Contacts d'urgence", "Maladies et sujets de santé"):
        assert heading in text
    assert text.count("Rien de renseigné.") == 5
    assert records(world.house, "espace.profil.lire") and records(world.house, "espace.volontes.lire")


def test_an_entry_is_added_to_each_rubrique_and_removed(her, patient, world):
    client = her
    for rubrique, fields in ENTRIES.items():
        added = post(client, PAGE, f"{PAGE}/{rubrique}", **fields)
        assert added.status_code == 303 and added.headers["location"] == f"{PAGE}#{rubrique}", added.text
    text = _text(client)
    assert "Karim Garcia" in text and "frère — 06 11 22 33 44" in text
    assert "Asthme" in text and "depuis le 01/05/2001; à l'effort" in text
    assert "Ventoline" in text and "du 01/01/2020 au 01/01/2030" in text
    assert "Pénicilline" in text and "Tétanos" in text and "le 04/03/2019 (saisie par vous)" in text
    assert len(records(world.house, "espace.profil.modifier", patient.ins)) == 5
    kinds = {e["resource"]["resourceType"] for e in world.house.espace.profile(patient_who(patient.ins))["entry"][1:]}
    assert kinds == {"RelatedPerson", "Condition", "MedicationStatement", "AllergyIntolerance", "Immunization"}
    id_ = re.search(r'/mon-espace/profil/allergies/([^"/]+)/suppression', client.get(PAGE).text).group(1)
    assert post(client, PAGE, f"{PAGE}/allergies/{id_}/suppression").status_code == 303
    assert "Pénicilline" not in _text(client)
    assert len(records(world.house, "espace.profil.supprimer", patient.ins)) == 1


def test_wishes_and_contact_details_are_replaced_whole(her, patient, world):
    client = her
    data = dict(directives="oui", lieu="chez mon notaire", don="favorable", confiance_nom="Karim Garcia")
    assert post(client, PAGE, f"{PAGE}/volontes", confiance_telephone="0611223344", **data).status_code == 303
    contact = dict(telephone="06 12 34 56 78", email="sarah@example.fr", adresse="3 rue des Lilas")
    assert post(client, PAGE, f"{PAGE}/coordonnees", code_postal="75013", ville="Paris", **contact).status_code == 303
    text = _text(client)
    assert 'value="favorable" selected' in text and 'id="directives-oui" name="directives" value="oui" checked' in text
    assert 'value="chez mon notaire"' in text and 'value="Karim Garcia"' in text
    assert 'value="3 rue des Lilas"' in text and 'value="75013"' in text and 'value="06 12 34 56 78"' in text
    wishes = world.house.espace.volontes(patient_who(patient.ins))
    assert wishes["donOrganes"] == "favorable" and wishes["directivesAnticipees"]["redigees"] is True
    assert records(world.house, "espace.volontes.modifier", patient.ins)
    assert records(world.house, "espace.coordonnees.modifier", patient.ins)


def test_another_patients_entry_is_refused_as_missing(client, world):
    theirs = world.house.espace.put_item(
        patient_who(CHILD), "allergies", {"resourceType": "AllergyIntolerance", "code": {"text": "Arachide"}}
    )
    answer = post(client, PAGE, f"{PAGE}/allergies/{theirs['id']}/suppression")
    assert answer.status_code == 404 and "inconnu" in answer.text
    refusal = [r for r in records(world.house, "espace.profil.supprimer", CHILD) if r["outcome"] != "success"]
    assert refusal and '"autre-patient":true' in refusal[-1]["detail"]
    assert len(world.house.espace.items(patient_who(CHILD), "allergies")) == 1


def test_sharing_the_profile_files_the_synthesis_in_the_dmp(her, patient, world):
    client = her
    post(client, PAGE, f"{PAGE}/allergies", libelle="Pénicilline")
    shared = post(client, PAGE, f"{PAGE}/partage")
    assert shared.status_code == 303 and shared.headers["location"].startswith("/mon-espace/documents/")
    document = client.get(shared.headers["location"])
    assert document.status_code == 200 and "Profil médical Mon espace santé" in document.text
    assert records(world.house, "espace.document.deposer", patient.ins)


def test_every_form_refuses_a_missing_or_wrong_token(her, patient, world):
    client = her
    post(client, PAGE, f"{PAGE}/allergies", libelle="Pénicilline")
    id_ = re.search(r'/mon-espace/profil/allergies/([^"/]+)/suppression', client.get(PAGE).text).group(1)
    for action in ("coordonnees", "volontes", "partage", "maladies", f"allergies/{id_}/suppression"):
        refused_without_token(client, f"{PAGE}/{action}", libelle="x", directives="non", don="favorable")
    assert len(records(world.house, "espace.profil.modifier", patient.ins)) == 1


def test_the_forms_become_the_apis_resources():
    assert resource_of("allergies", {"libelle": " Pollen ", "precisions": ""}) == {
        "resourceType": "AllergyIntolerance",
        "code": {"text": "Pollen"},
    }
    assert wishes_of({"directives": "non", "don": "opposition"}) == {
        "donOrganes": "opposition",
        "directivesAnticipees": {"redigees": False, "lieu": None},
    }
    assert contact_details_of({"telephone": "", "email": "", "adresse": "", "code_postal": "", "ville": ""}) == {
        "telecom": [],
        "address": [],
    }
