"""The citizen mailboxes of Mon espace santé (000 L2087, L3255) and the SUN-ES PS4.1 test mailbox
(004 L706-712), reached from a hospital's operator over the trust space."""

from __future__ import annotations

import email
import email.policy
import time

import pytest
import sqlalchemy as sa

from maison.identite.psc.api import issuer_for
from maison.partage.dmp import store as dmp_store
from maison.partage.mss import store
from maison.partage.mss.citizen import TEST_MAILBOX
from maison.partage.mss.mailboxes import CITIZEN
from tests.e2e.test_mss_smtp import _client, _delivered, _letter
from tests.partage.mss_world import PFI, PFI_PASSWORD, start_world
from tests.partage.world import SARAH_ID, make_world

SARAH_BOX = f"{SARAH_ID.ins}@patient.mssante.fr"


@pytest.fixture
def mss(house, live, tmp_path):
    make_world(house, live, keys=())  # Sarah in the INS referential
    world = start_world(house, tmp_path, issuer_for(live.url))
    yield world
    world.close()


def _send(mss, to: str, raw: bytes) -> None:
    with _client(mss, "chu-test") as client:
        client.login(PFI, PFI_PASSWORD)
        client.sendmail(PFI, [to], raw)


def _text(mss, row) -> str:
    parsed = email.message_from_bytes(mss.mss.delivery.content(row.sha256), policy=email.policy.default)
    return "".join(p.get_content() for p in parsed.walk() if p.get_content_type() == "text/plain")


def test_the_patients_mailbox_is_there_when_a_professional_writes(mss, house):
    assert mss.mss.mailboxes.find(SARAH_BOX) is None
    _send(mss, SARAH_BOX, _letter(to=SARAH_BOX))
    [row] = _delivered(house, SARAH_BOX)
    box = mss.mss.mailboxes.get(SARAH_BOX)
    assert box.kind == CITIZEN and box.owner == SARAH_ID.ins and row.sender == PFI


def test_no_mailbox_without_a_mon_espace_sante(mss, house):
    unknown = "199999999999999@patient.mssante.fr"  # not an INS of the referential
    _send(mss, unknown, _letter(to=unknown))
    [bounce] = _delivered(house, PFI)  # refused by the Mon espace santé operator: a DSN comes back
    assert "5.1.1" in mss.mss.delivery.content(bounce.sha256).decode("utf-8", "replace")
    with house.db.write() as conn:  # Sarah closes Mon espace santé: nothing reaches her any more
        conn.execute(
            dmp_store.dmp_dossier.insert().values(
                ins=SARAH_ID.ins, state="closed", created_at="2026-01-01", updated_at="2026-11-01"
            )
        )
    _send(mss, SARAH_BOX, _letter(to=SARAH_BOX))
    deadline = time.monotonic() + 15
    while len(_delivered(house, PFI)) < 2 and time.monotonic() < deadline:  # the second DSN
        time.sleep(0.05)
    assert len(_delivered(house, PFI)) == 2
    with house.db.read() as conn:
        query = sa.select(store.mss_message).where(store.mss_message.c.address == SARAH_BOX)
        assert conn.execute(query).first() is None


def _verdicts(house) -> list[dict]:
    from maison.core import audit

    with house.db.read() as conn:
        return [audit.detail_of(e) for e in audit.events(conn, action_prefix="mss.test-citoyen")]


def test_sun_es_ps41_test_mailbox_answers_automatically(mss, house):
    _send(mss, TEST_MAILBOX, _letter(to=TEST_MAILBOX))
    [answer] = _delivered(house, PFI)
    text = _text(mss, answer)
    assert text.startswith("Test réussi") and "11490-0" in text and "(N1)" in text
    [verdict] = _verdicts(house)  # the proof the observatory's PS4.1 reads (004 L737)
    assert verdict["expediteur"] == PFI and verdict["conforme"] is True and verdict["pdf"] is True


def test_sun_es_test_without_the_pdf_is_answered_as_not_conform(mss, house):
    from maison.formats import mime as message

    raw = message.parse(_letter(to=TEST_MAILBOX), max_bytes=10_000_000)
    archive = next(a for a in raw.attachments if a.filename == "IHE_XDM.ZIP")
    without_pdf = message.as_bytes(
        message.compose(
            message.Outgoing(PFI, [TEST_MAILBOX], "Test", "Archive seule.", [archive]), domain="chu-test.mssante.fr"
        )
    )
    _send(mss, TEST_MAILBOX, without_pdf)
    [answer] = _delivered(house, PFI)
    assert "Test non conforme : aucune pièce jointe PDF" in _text(mss, answer)
    [verdict] = _verdicts(house)
    assert verdict["conforme"] is False and verdict["manques"] == ["aucune pièce jointe PDF"]


def test_sun_es_test_without_an_archive_is_answered_as_not_conform(mss, house):
    from maison.formats import mime as message

    plain = message.as_bytes(
        message.compose(
            message.Outgoing(PFI, [TEST_MAILBOX], "Test", "Sans pièce jointe."), domain="chu-test.mssante.fr"
        )
    )
    _send(mss, TEST_MAILBOX, plain)
    [answer] = _delivered(house, PFI)
    assert "Test non conforme : aucune pièce jointe IHE_XDM.ZIP" in _text(mss, answer)
