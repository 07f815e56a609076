"""The citizen mailboxes of Mon espace santé (000 L2087, L3255) and the SUN-ES PS4.1 test mailbox
(004 L706-712), reached from a hospital's operator over the trust space.

The tests of one backend share one house and one trust space (tests/e2e/mss_shared.py); each sends
from a mailbox of its own at the hospital's operator and writes to a patient of its own, so what comes
back and what is delivered is its own."""

from __future__ import annotations

import email
import email.policy
import time

import pytest
import sqlalchemy as sa

from maison.partage.dmp import store as dmp_store
from maison.partage.mss import store
from maison.partage.mss.citizen import TEST_MAILBOX
from maison.partage.mss.mailboxes import CITIZEN
from tests.e2e import mss_shared
from tests.e2e.mss_people import citizen
from tests.e2e.mss_shared import own_pfi
from tests.e2e.test_mss_smtp import _client, _delivered, _letter
from tests.partage.mss_world import PFI_PASSWORD

mss, house = mss_shared.mss, mss_shared.house


@pytest.fixture
def sender(mss) -> str:
    """The test's own mailbox at the hospital's operator, which its answers and bounces come back to."""
    return own_pfi(mss)


def _send(mss, sender: str, to: str, raw: bytes) -> None:
    with _client(mss, "chu-test") as client:
        client.login(sender, PFI_PASSWORD)
        client.sendmail(sender, [to], raw)


def _text(mss, row) -> str:
    parsed = email.message_from_bytes(mss.mss.delivery.content(row.sha256), policy=email.policy.default)
    return "".join(p.get_content() for p in parsed.walk() if p.get_content_type() == "text/plain")


def test_the_patients_mailbox_is_there_when_a_professional_writes(mss, house, sender):
    patient = citizen(house)
    assert mss.mss.mailboxes.find(patient.box) is None
    _send(mss, sender, patient.box, _letter(sender, to=patient.box))
    [row] = _delivered(house, patient.box)
    box = mss.mss.mailboxes.get(patient.box)
    assert box.kind == CITIZEN and box.owner == patient.ins and row.sender == sender


def test_no_mailbox_without_a_mon_espace_sante(mss, house, sender):
    unknown = "199999999999999@patient.mssante.fr"  # not an INS of the referential
    _send(mss, sender, unknown, _letter(sender, to=unknown))
    [bounce] = _delivered(house, sender)  # refused by the Mon espace santé operator: a DSN comes back
    assert "5.1.1" in mss.mss.delivery.content(bounce.sha256).decode("utf-8", "replace")
    patient = citizen(house)
    with house.db.write() as conn:  # she closes Mon espace santé: nothing reaches her any more
        conn.execute(
            dmp_store.dmp_dossier.insert().values(
                ins=patient.ins, state="closed", created_at="2026-01-01", updated_at="2026-11-01"
            )
        )
    _send(mss, sender, patient.box, _letter(sender, to=patient.box))
    deadline = time.monotonic() + 15
    while len(_delivered(house, sender)) < 2 and time.monotonic() < deadline:  # the second DSN
        time.sleep(0.05)
    assert len(_delivered(house, sender)) == 2
    with house.db.read() as conn:
        query = sa.select(store.mss_message).where(store.mss_message.c.address == patient.box)
        assert conn.execute(query).first() is None


def _verdicts(house, sender: str) -> list[dict]:
    """The verdicts of the test mailbox on what `sender` sent it."""
    from maison.core import audit

    with house.db.read() as conn:
        verdicts = [audit.detail_of(e) for e in audit.events(conn, action_prefix="mss.test-citoyen")]
    return [v for v in verdicts if v["expediteur"] == sender]


def test_sun_es_ps41_test_mailbox_answers_automatically(mss, house, sender):
    _send(mss, sender, TEST_MAILBOX, _letter(sender, to=TEST_MAILBOX))
    [answer] = _delivered(house, sender)
    text = _text(mss, answer)
    assert text.startswith("Test réussi") and "11490-0" in text and "(N1)" in text
    [verdict] = _verdicts(house, sender)  # the proof the observatory's PS4.1 reads (004 L737)
    assert verdict["expediteur"] == sender and verdict["conforme"] is True and verdict["pdf"] is True


def test_sun_es_test_without_the_pdf_is_answered_as_not_conform(mss, house, sender):
    from maison.formats import mime as message

    raw = message.parse(_letter(sender, to=TEST_MAILBOX), max_bytes=10_000_000)
    archive = next(a for a in raw.attachments if a.filename == "IHE_XDM.ZIP")
    without_pdf = message.as_bytes(
        message.compose(
            message.Outgoing(sender, [TEST_MAILBOX], "Test", "Archive seule.", [archive]), domain="chu-test.mssante.fr"
        )
    )
    _send(mss, sender, TEST_MAILBOX, without_pdf)
    [answer] = _delivered(house, sender)
    assert "Test non conforme : aucune pièce jointe PDF" in _text(mss, answer)
    [verdict] = _verdicts(house, sender)
    assert verdict["conforme"] is False and verdict["manques"] == ["aucune pièce jointe PDF"]


def test_sun_es_test_without_an_archive_is_answered_as_not_conform(mss, house, sender):
    from maison.formats import mime as message

    plain = message.as_bytes(
        message.compose(
            message.Outgoing(sender, [TEST_MAILBOX], "Test", "Sans pièce jointe."), domain="chu-test.mssante.fr"
        )
    )
    _send(mss, sender, TEST_MAILBOX, plain)
    [answer] = _delivered(house, sender)
    assert "Test non conforme : aucune pièce jointe IHE_XDM.ZIP" in _text(mss, answer)
