"""The PFI works with any operator (issue 19 §1.1): its applicative mailbox hosted by a Dovecot the
test starts (dovecot.py), read over IMAP (STARTTLS, LOGIN or AUTHENTICATE PLAIN, IDLE), each XDM
integrated by qualified INS and flagged `$Integre` once its outcome is committed — never twice,
across restarts and a crash between the commit and the flag."""

from __future__ import annotations

import imaplib
import ssl
import threading
import time

import pytest
import sqlalchemy as sa

from maison.core import audit
from maison.core.actor import Actor
from maison.etablissement.pfi import store as pfi_store
from maison.etablissement.pfi.mailbox import HANDLED, ImapAccount, ImapMailbox, MailboxError
from maison.etablissement.pfi.service import Pfi
from maison.formats import mdn
from tests.e2e import dovecot
from tests.e2e.test_mss_pfi import _qualified_sarah
from tests.e2e.test_mss_smtp import _letter
from tests.partage.mss_world import GP, HOPITAL_DOMAIN, PFI, PFI_PASSWORD
from tests.partage.world import CHILD_ID, HOPITAL, PROS, SARAH, SARAH_NIR, n1

pytestmark = pytest.mark.skipif(dovecot.DOVECOT is None, reason="dovecot-imapd missing (./dev test installs it)")
VIGILANCE = Actor(person="cellule-iv", structure=HOPITAL, software="dpi")


@pytest.fixture
def server():
    running = dovecot.start(PFI, PFI_PASSWORD)
    yield running
    running.stop()


def _session(server) -> imaplib.IMAP4:
    """A mail client of the test's own, to deliver (APPEND) and to look at the flags."""
    client = imaplib.IMAP4(server.host, server.port)
    client.starttls(ssl.create_default_context(cafile=server.cafile))
    client.login(server.user, server.password)
    client.select("INBOX")
    return client


def _deliver(server, raw: bytes) -> None:
    client = _session(server)
    assert client.append("INBOX", None, None, raw)[0] == "OK"
    client.logout()


def _flags(server) -> list[bytes]:
    client = _session(server)
    _typ, data = client.uid("FETCH", "1:*", "(FLAGS)")
    client.logout()
    return [d for d in data if d]


def _pfi(house, server, reference_path, sent: list, mechanism: str = "LOGIN") -> Pfi:
    imap = ImapMailbox(ImapAccount(server.host, server.port, server.user, server.password, server.cafile, mechanism))
    return Pfi(
        house.db,
        house.mss.blobs,
        reference_path,
        HOPITAL,
        imap,
        lambda raw, sender, to: sent.append((raw, sender, to)),
        address=PFI,
        domain=HOPITAL_DOMAIN,
        patients=house.patients,
    )


def test_no_login_before_starttls(server):
    client = imaplib.IMAP4(server.host, server.port)
    with pytest.raises(imaplib.IMAP4.error):
        client.login(server.user, server.password)
    client.shutdown()


def test_the_pfi_integrates_from_a_dovecot_mailbox_and_sets_its_keyword(server, house, reference_path):
    house.insi.referential.register(SARAH, SARAH_NIR)
    patient = _qualified_sarah(house)
    _deliver(server, _letter(sender=GP, to=PFI, cda=n1(PROS["generaliste"]), notification_to=GP))
    sent: list = []
    pfi = _pfi(house, server, reference_path, sent, mechanism="PLAIN")
    [outcome] = pfi.run_once()
    [document] = outcome.documents
    assert document.code is None and document.patient_id == patient  # found by qualified INS
    with house.db.read() as conn:
        [row] = conn.execute(sa.select(pfi_store.pfi_document)).all()
        [integrated] = audit.events(conn, action_prefix="mss.pfi.integrer")
    assert row.patient_id == patient and row.how == "automatique" and house.mss.blobs.get(row.sha256)
    assert integrated["patient"] == "277010115400329"
    [(answer, sender, to)] = sent  # the MDN, for the operator's submission
    assert sender == PFI and to == [GP] and mdn.read_mdn(answer).processed
    [flags] = _flags(server)
    assert HANDLED.encode() in flags and b"\\Seen" in flags
    pfi.imap.close()
    again = _pfi(house, server, reference_path, [])  # a restart: the mailbox says what is done
    assert again.pending() == [] and again.run_once() == []
    again.imap.close()


def test_a_crash_between_commit_and_flag_integrates_once(server, house, reference_path, monkeypatch):
    house.insi.referential.register(SARAH, SARAH_NIR)
    _qualified_sarah(house)
    _deliver(server, _letter(sender=GP, to=PFI, cda=n1(PROS["generaliste"])))
    pfi = _pfi(house, server, reference_path, [])
    monkeypatch.setattr(pfi.imap, "flag_handled", lambda uids: (_ for _ in ()).throw(MailboxError("coupure")))
    with pytest.raises(MailboxError):
        pfi.run_once()  # committed, not flagged: as if the PFI died right after the commit
    restarted = _pfi(house, server, reference_path, [])
    assert restarted.pending() == [1]
    [outcome] = restarted.run_once()
    assert outcome.documents[0].code is None
    with house.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(pfi_store.pfi_document)).scalar() == 1
        assert len(list(audit.events(conn, action_prefix="mss.pfi.integrer"))) == 1
    assert restarted.pending() == []
    restarted.imap.close()


def test_the_watching_pfi_waits_on_idle_and_handles_new_mail(server, house, reference_path):
    pfi = _pfi(house, server, reference_path, [])
    stopping = threading.Event()
    watcher = threading.Thread(target=pfi.watch, args=(stopping,), kwargs={"interval": 5.0})
    watcher.start()
    try:
        time.sleep(0.5)  # the PFI is in IDLE by now (Dovecot offers it)
        _deliver(server, _letter(sender=GP, to=PFI, cda=n1(PROS["generaliste"], patient=CHILD_ID)))
        deadline = time.monotonic() + 4  # well under the 5 s a poll would wait
        while not pfi.worklist(VIGILANCE) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stopping.set()
        watcher.join(15)
    [waiting] = pfi.worklist(VIGILANCE)
    assert waiting.code == "902" and waiting.ins == CHILD_ID.ins  # Léa is not in the index
    assert all(HANDLED.encode() in f for f in _flags(server))
    pfi.imap.close()
