"""`/mon-espace/agenda`'s appointments edited and deleted over real HTTP: the form opened with the
appointment's values (the whole page without JavaScript, the agenda's content with htmx),
`Espace.put_event` with its id (what `PUT /espace/agenda/{id}` calls, its status kept) then
`delete_event`; htmx answers the content with a notice, a refusal as an alert with the form kept open;
another patient's appointment refused and recorded; CSRF on the edit form. The tests share one house
and Sarah's session per backend (module_live): each works on appointments of its own."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from html import unescape

from maison.portail.espace_agenda import appointment_of, form_of
from maison.portail.espace_mesures import PARIS
from maison.portail.web import CSP
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import CHILD
from tests.portail import espace_world
from tests.portail.espace_world import patient_who, post, records, refused_without_token

PAGE = "/mon-espace/agenda"
HX = {"HX-Request": "true"}
SOON = date.today() + timedelta(days=20)
# one house per module: its `world` and `client` are the module's
shared_world, shared_client = espace_world.shared_world, espace_world.shared_client
module_world, module_client = espace_world.module_world, espace_world.module_client


def _add(world, description: str, status: str = "booked") -> str:
    """An appointment of Sarah's, through the service (the page's add form is test_espace_agenda's)."""
    start = datetime.combine(SOON, datetime.min.time().replace(hour=9), PARIS).isoformat()
    appointment = {"resourceType": "Appointment", "status": status, "start": start, "description": description}
    return world.house.espace.put_event(patient_who(SARAH_NIR), appointment)["id"]


def _stored(world, id_: str, patient: str = SARAH_NIR) -> dict:
    [found] = [e for e in world.house.espace.events(patient_who(patient)) if e["id"] == id_]
    return found


def _changes(world, id_: str, action: str = "espace.agenda.modifier", patient: str = SARAH_NIR) -> list[dict]:
    return [r for r in records(world.house, action, patient) if id_ in r["detail"]]


def _csrf(client) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(PAGE).text).group(1)


def test_an_appointment_is_edited_without_javascript(client, world):
    id_ = _add(world, "Kinésithérapie", status="pending")
    listed = client.get(PAGE).text
    assert f'href="{PAGE}/{id_}/modification#rdv-description"' in listed
    opened = client.get(f"{PAGE}/{id_}/modification")
    assert opened.status_code == 200 and '<html lang="fr">' in opened.text
    assert opened.headers["content-security-policy"] == CSP and "Modifier le rendez-vous</h2>" in opened.text
    assert f'action="{PAGE}/{id_}"' in opened.text and 'value="Kinésithérapie"' in unescape(opened.text)
    assert f'value="{SOON.isoformat()}"' in opened.text and 'value="09:00"' in opened.text
    data = dict(date=SOON.isoformat(), debut="10:30", fin="11:00", description="Kinésithérapie du dos", avec="M. Roux")
    edited = post(client, PAGE, f"{PAGE}/{id_}", statut="pending", **data)
    assert edited.status_code == 303 and edited.headers["location"] == PAGE, edited.text
    text = unescape(client.get(PAGE).text)
    assert "Kinésithérapie du dos" in text and "10:30 – 11:00" in text and "M. Roux" in text
    stored = _stored(world, id_)
    assert stored["status"] == "pending" and stored["description"] == "Kinésithérapie du dos"
    assert len(_changes(world, id_)) == 2  # added, then edited


def test_with_htmx_edit_and_delete_answer_the_agenda(client, world):
    id_ = _add(world, "Dentiste")
    opened = client.get(f"{PAGE}/{id_}/modification", headers=HX)
    assert opened.status_code == 200 and "<html" not in opened.text
    assert '<div id="agenda">' in opened.text
    assert f'hx-post="{PAGE}/{id_}" hx-target="#agenda"' in opened.text and 'value="Dentiste"' in opened.text
    wrong = dict(date=SOON.isoformat(), debut="10:00", fin="09:00", description="Dentiste", csrf=_csrf(client))
    refused = client.post(f"{PAGE}/{id_}", data=wrong, headers=HX)
    assert refused.status_code == 200 and 'role="alert"' in refused.text and "end précède start" in refused.text
    assert f'action="{PAGE}/{id_}"' in refused.text  # the form stays open
    right = {**wrong, "fin": "10:30", "description": "Dentiste (détartrage)"}
    edited = client.post(f"{PAGE}/{id_}", data=right, headers=HX)
    assert edited.status_code == 200 and "Rendez-vous modifié." in edited.text
    assert "Dentiste (détartrage)" in unescape(edited.text) and "Ajouter un rendez-vous</h2>" in edited.text
    gone = client.post(f"{PAGE}/{id_}/suppression", data={"csrf": _csrf(client)}, headers=HX)
    assert gone.status_code == 200 and "Rendez-vous supprimé." in gone.text and id_ not in gone.text
    assert gone.headers["content-security-policy"] == CSP
    assert len(_changes(world, id_)) == 2 and len(_changes(world, id_, "espace.agenda.supprimer")) == 1


def test_another_patients_appointment_cannot_be_edited(client, world):
    start = datetime.combine(SOON, datetime.min.time().replace(hour=15), PARIS).isoformat()
    theirs = world.house.espace.put_event(
        patient_who(CHILD), {"resourceType": "Appointment", "start": start, "description": "Pédiatre"}
    )["id"]
    data = dict(date=SOON.isoformat(), debut="16:00", description="Rien")
    refused = post(client, PAGE, f"{PAGE}/{theirs}", **data)
    assert refused.status_code == 404 and "inconnu" in refused.text and '<html lang="fr">' in refused.text
    refusal = [r for r in _changes(world, theirs, patient=CHILD) if r["outcome"] != "success"]
    assert refusal and '"autre-patient":true' in refusal[-1]["detail"]
    assert client.get(f"{PAGE}/{theirs}/modification").status_code == 404
    assert _stored(world, theirs, CHILD)["description"] == "Pédiatre"


def test_the_edit_form_needs_its_token(client, world):
    id_ = _add(world, "Cardiologue")
    refused_without_token(client, f"{PAGE}/{id_}", date=SOON.isoformat(), debut="09:00", description="x")
    assert _stored(world, id_)["description"] == "Cardiologue" and len(_changes(world, id_)) == 1


def test_the_form_reads_back_what_it_wrote():
    form = {"date": "2027-07-01", "debut": "09:00", "fin": "09:45", "description": "RDV", "avec": "Dr X"}
    written = appointment_of(form)
    assert form_of({**written, "id": "x"}) == {**form, "statut": "booked"}
    assert appointment_of({**form, "statut": "pending"})["status"] == "pending"
    assert appointment_of({**form, "statut": "n'importe quoi"})["status"] == "booked"
