"""`/mon-espace/profil`'s entries edited and deleted over real HTTP: the edit form opened in the page
(without JavaScript) or in its rubrique's section (htmx), `Espace.put_item` with the entry's id (what
`PUT /espace/profil/{rubrique}/{id}` calls) then `delete_item`; htmx answers the section with a notice,
the service's refusal as an alert with the form kept open; another patient's entry refused and
recorded; CSRF on the edit form. The tests share one house and Sarah's session per backend
(module_live): each works on entries of its own and counts only their records."""

from __future__ import annotations

import re
from html import unescape

import pytest

from maison.portail.espace_profil import form_of, resource_of
from maison.portail.web import CSP
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import CHILD
from tests.portail import espace_world
from tests.portail.espace_world import patient_who, post, records, refused_without_token
from tests.portail.test_espace_profil import ENTRIES

PAGE = "/mon-espace/profil"
HX = {"HX-Request": "true"}
# one house per module: its `world` and `client` are the module's
shared_world, shared_client = espace_world.shared_world, espace_world.shared_client
module_world, module_client = espace_world.module_world, espace_world.module_client


def _add(client, rubrique: str, **fields: str) -> str:
    """Add an entry through the page; its id, read from the page's links."""
    assert post(client, PAGE, f"{PAGE}/{rubrique}", **fields).status_code == 303
    label = re.escape(next(iter(fields.values())))
    section = client.get(PAGE).text
    return re.findall(
        rf"<strong>{label}</strong>.*?/mon-espace/profil/{rubrique}/([^\"/]+)/modification", section, re.S
    )[-1]


def _changes(world, id_: str, action: str = "espace.profil.modifier", patient: str = SARAH_NIR) -> list[dict]:
    return [r for r in records(world.house, action, patient) if id_ in r["detail"]]


def test_an_entry_is_edited_without_javascript(client, world):
    id_ = _add(client, "traitements", libelle="Doliprane", debut="2024-01-01", precisions="si douleur")
    opened = client.get(f"{PAGE}/traitements/{id_}/modification")
    assert opened.status_code == 200 and '<html lang="fr">' in opened.text
    assert opened.headers["content-security-policy"] == CSP
    assert (
        f'action="{PAGE}/traitements/{id_}"' in opened.text and "<legend>Modifier : Doliprane</legend>" in opened.text
    )
    assert (
        'value="Doliprane"' in opened.text
        and 'value="2024-01-01"' in opened.text
        and 'value="si douleur"' in opened.text
    )
    edited = post(
        client, PAGE, f"{PAGE}/traitements/{id_}", libelle="Paracétamol", debut="2024-01-01", fin="2024-02-01"
    )
    assert edited.status_code == 303 and edited.headers["location"] == f"{PAGE}#traitements", edited.text
    text = unescape(client.get(PAGE).text)
    assert "Paracétamol" in text and "du 01/01/2024 au 01/02/2024" in text and "Doliprane" not in text
    assert [r["outcome"] for r in _changes(world, id_)] == ["success", "success"]  # added, then edited
    [stored] = [i for i in world.house.espace.items(patient_who(SARAH_NIR), "traitements") if i["id"] == id_]
    assert stored["medicationCodeableConcept"] == {"text": "Paracétamol"} and "note" not in stored


def test_with_htmx_add_edit_and_delete_answer_the_section(client, world):
    added = client.post(f"{PAGE}/maladies", data={"csrf": _csrf(client), "libelle": "Migraine"}, headers=HX)
    assert added.status_code == 200 and "<html" not in added.text and added.headers["content-security-policy"] == CSP
    assert added.text.lstrip().startswith('<section id="rub-maladies"') and "Entrée ajoutée." in added.text
    id_ = re.search(rf"{PAGE}/maladies/([^\"/]+)/modification", added.text).group(1)
    opened = client.get(f"{PAGE}/maladies/{id_}/modification", headers=HX)
    assert opened.status_code == 200 and "<html" not in opened.text and 'value="Migraine"' in opened.text
    assert f'hx-post="{PAGE}/maladies/{id_}" hx-target="#rub-maladies"' in opened.text
    refused = client.post(f"{PAGE}/maladies/{id_}", data={"csrf": _csrf(client), "libelle": ""}, headers=HX)
    assert refused.status_code == 200 and 'role="alert"' in refused.text and "un texte est attendu" in refused.text
    assert f'action="{PAGE}/maladies/{id_}"' in refused.text  # the form stays open
    edited = client.post(
        f"{PAGE}/maladies/{id_}", data={"csrf": _csrf(client), "libelle": "Migraine ophtalmique"}, headers=HX
    )
    assert edited.status_code == 200 and "Entrée modifiée." in edited.text and "Migraine ophtalmique" in edited.text
    gone = client.post(f"{PAGE}/maladies/{id_}/suppression", data={"csrf": _csrf(client)}, headers=HX)
    assert gone.status_code == 200 and "Entrée supprimée." in gone.text and "Migraine" not in gone.text
    assert len(_changes(world, id_)) == 2 and len(_changes(world, id_, "espace.profil.supprimer")) == 1


def _csrf(client) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(PAGE).text).group(1)


def test_another_patients_entry_cannot_be_edited(client, world):
    theirs = world.house.espace.put_item(
        patient_who(CHILD), "allergies", {"resourceType": "AllergyIntolerance", "code": {"text": "Kiwi"}}
    )
    refused = post(client, PAGE, f"{PAGE}/allergies/{theirs['id']}", libelle="Rien")
    assert refused.status_code == 404 and "inconnu" in refused.text and '<html lang="fr">' in refused.text
    refusal = [r for r in _changes(world, theirs["id"], patient=CHILD) if r["outcome"] != "success"]
    assert refusal and '"autre-patient":true' in refusal[-1]["detail"]
    assert client.get(f"{PAGE}/allergies/{theirs['id']}/modification").status_code == 404
    [kept] = [i for i in world.house.espace.items(patient_who(CHILD), "allergies") if i["id"] == theirs["id"]]
    assert kept["code"] == {"text": "Kiwi"}


def test_the_edit_form_needs_its_token(client, world):
    id_ = _add(client, "allergies", libelle="Acariens")
    refused_without_token(client, f"{PAGE}/allergies/{id_}", libelle="x")
    assert len(_changes(world, id_)) == 1 and "Acariens" in client.get(PAGE).text


@pytest.mark.parametrize("rubrique", list(ENTRIES))
def test_an_entrys_form_reads_back_what_it_wrote(rubrique):
    written = resource_of(rubrique, ENTRIES[rubrique])
    assert resource_of(rubrique, form_of(written)) == written
