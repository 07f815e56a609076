"""SUN-ES PS3.2 and PS4.1 established over the wire (seed 004 L298, L303, L708-741): the hospital's PFI
sends a test message by SMTP to the citizen test mailbox, whose automatic answer comes back; the
observatory then finds the structure's mailboxes in the trust space, the message sent, the conforming
test, and — once the structure has one — its ORG mailbox for the patients' messages."""

from __future__ import annotations

from maison.core.actor import Actor
from maison.core.audit import SYSTEM
from maison.core.blobs import Blobs
from maison.observatoire.prerequis.model import Prerequisite, Scope
from maison.observatoire.prerequis.service import Prerequis
from maison.observatoire.report import Period
from maison.partage.mss.citizen import TEST_MAILBOX
from tests.e2e import mss_shared
from tests.e2e.mss_shared import own_pfi
from tests.e2e.test_mss_citizen import _send
from tests.e2e.test_mss_smtp import _delivered, _letter
from tests.partage.world import HOPITAL

STAFF = Actor(person="899900038441", structure=HOPITAL, software="DPI")

# The trust space of mss_shared on the module's house (its operators, listeners and PFI mailbox): the
# structure's mailboxes there are this test's own, so what the observatory finds is what it sent.
mss, house = mss_shared.mss, mss_shared.house


def test_ps3_2_and_ps4_1_from_the_flows(mss, house, tmp_path):
    pfi = own_pfi(mss)
    _send(mss, pfi, TEST_MAILBOX, _letter(pfi, to=TEST_MAILBOX))
    assert _delivered(house, pfi)  # the automatic answer is back in the PFI's mailbox
    prerequis = Prerequis(house.db, Blobs(tmp_path / "preuves"))
    period = Period.parse("2026-S2")
    report = prerequis.evaluate(STAFF, Scope.parse(HOPITAL), period)
    assert report.check(Prerequisite.PS3_2).met and report.check(Prerequisite.PS3_2).source == "etabli"
    ps41 = report.check(Prerequisite.PS4_1)
    assert ps41.missing == (
        "aucune BAL organisationnelle (ORG) de la structure pour recevoir les messages des patients",
    )
    assert ps41.proofs[0].endswith(f"test conforme depuis {pfi}, réponse automatique envoyée")
    mss.mss.mailboxes.create(SYSTEM, "accueil@chu-test.mssante.fr", "chu-test", "ORG", HOPITAL, "Accueil")
    assert prerequis.evaluate(STAFF, Scope.parse(HOPITAL), period).check(Prerequisite.PS4_1).met
