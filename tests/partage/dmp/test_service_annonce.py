"""CSP R.1111-53: a document kept from the patient until the consultation d'annonce — the patient is told
after two weeks, and the document becomes visible on its own one month after it was deposited."""

from datetime import UTC, datetime, timedelta

from maison.core.actor import Actor
from maison.etablissement.dmp.producer import Produced
from maison.partage.dmp import access
from maison.partage.dmp.habilitation import Matrix
from maison.partage.dmp.model import Who
from tests.partage.world import PROS, make_world, n1


def test_invisible_until_announced_then_visible_after_a_month():
    deposited = datetime(2026, 11, 1, tzinfo=UTC)
    doc = access.DocumentView("11502-2", "10", "8x", "S", False, True, False, deposited)
    patient = Who(Actor("277010115400329", "", "", kind="patient", patient="277010115400329"))
    dossier = None
    assert (
        access.may_read(patient, dossier, doc, Matrix.load(), deposited + timedelta(days=29)).reason
        == "invisible-patient"
    )
    assert access.may_read(patient, dossier, doc, Matrix.load(), deposited + timedelta(days=31)).allowed


def test_notice_after_two_weeks_sent_once(house, live):
    world = make_world(house, live, ("hospitalier",))
    fed = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"]), visibility=("INVISIBLE_PATIENT",))])
    assert fed.status_code == 200, fed.text
    now = datetime.now(UTC)
    assert house.dmp.notify_announcements(now + timedelta(days=13)) == 0
    assert house.dmp.notify_announcements(now + timedelta(days=15)) == 1
    assert house.dmp.notify_announcements(now + timedelta(days=16)) == 0  # once
    assert house.dmp.notify_announcements(now + timedelta(days=31)) == 0  # visible by then, nothing to announce
    notices = [m for m in house.patient_login.outbox("sarah@example.fr") if "mis à jour" in m["subject"]]
    assert len(notices) == 1
