"""`/mon-espace/agenda` over real HTTP: appointments through `Espace.events`, `put_event` and
`delete_event` (what `/espace/agenda` calls), in Paris time, coming and past apart; the service's
refusals as French 4xx pages; another patient's appointment refused; CSRF; the audit records."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from maison.portail.espace_agenda import appointment_of
from maison.portail.espace_mesures import PARIS
from maison.portail.web import CSP
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import CHILD
from tests.portail import espace_world
from tests.portail.espace_world import patient_who, post, records, refused_without_token

PAGE = "/mon-espace/agenda"


world, client = espace_world.world, espace_world.client  # the shared fixtures


def _add(client, day: date, start: str = "09:00", end: str = "09:30", description: str = "Consultation", avec=""):
    data = dict(date=day.isoformat(), debut=start, fin=end, description=description, avec=avec)
    return post(client, PAGE, PAGE, **data)


def test_add_list_coming_and_past(client, world):
    page = client.get(PAGE)
    assert page.status_code == 200 and "Aucun rendez-vous à venir." in page.text
    assert page.headers["content-security-policy"] == CSP
    soon = date.today() + timedelta(days=10)
    assert _add(client, soon, "14:15", "14:45", "Ophtalmologie", "Dr Martin").status_code == 303
    assert _add(client, date.today() - timedelta(days=40), description="Bilan sanguin").status_code == 303
    page = client.get(PAGE).text
    coming, past = page[: page.index('id="passes"')], page[page.index('id="passes"') :]
    assert "Ophtalmologie" in coming and "Dr Martin" in coming and "14:15 – 14:45" in coming
    assert soon.strftime("%d/%m/%Y") in coming and "confirmé" in coming
    assert "Bilan sanguin" in past and "Bilan sanguin" not in coming
    assert '<th scope="col">Date</th>' in page
    assert len(records(world.house, "espace.agenda.modifier")) == 2
    assert records(world.house, "espace.agenda.lire")
    stored = [e for e in world.house.espace.events(patient_who(SARAH_NIR)) if e["description"] == "Ophtalmologie"]
    assert datetime.fromisoformat(stored[0]["start"]).astimezone(PARIS).strftime("%H:%M") == "14:15"


def test_delete_own_not_another_patients(client, world):
    _add(client, date.today() + timedelta(days=2))
    id_ = re.search(r'/mon-espace/agenda/([^"/]+)/suppression', client.get(PAGE).text).group(1)
    theirs = world.house.espace.put_event(
        patient_who(CHILD), {"resourceType": "Appointment", "start": "2027-05-01T10:00:00+02:00", "description": "x"}
    )
    other = post(client, PAGE, f"{PAGE}/{theirs['id']}/suppression")
    assert other.status_code == 404 and "inconnu" in other.text
    refusal = [r for r in records(world.house, "espace.agenda.supprimer", CHILD) if r["outcome"] != "success"]
    assert refusal and '"autre-patient":true' in refusal[-1]["detail"]
    assert post(client, PAGE, f"{PAGE}/{id_}/suppression").status_code == 303
    assert "Aucun rendez-vous à venir." in client.get(PAGE).text
    assert len(records(world.house, "espace.agenda.supprimer")) == 1
    assert len(world.house.espace.events(patient_who(CHILD))) == 1


def test_every_form_refuses_a_missing_or_wrong_token(client, world):
    _add(client, date.today() + timedelta(days=2))
    id_ = re.search(r'/mon-espace/agenda/([^"/]+)/suppression', client.get(PAGE).text).group(1)
    refused_without_token(client, PAGE, date="2027-01-01", debut="09:00", description="x")
    refused_without_token(client, f"{PAGE}/{id_}/suppression")
    assert len(records(world.house, "espace.agenda.modifier")) == 1


def test_the_form_becomes_the_apis_appointment():
    a = appointment_of({"date": "2027-07-01", "debut": "09:00", "fin": "", "description": "RDV", "avec": "Dr X"})
    assert a == {
        "resourceType": "Appointment",
        "status": "booked",
        "start": "2027-07-01T09:00:00+02:00",
        "description": "RDV",
        "participant": [{"actor": {"display": "Dr X"}, "status": "accepted"}],
    }
