"""IMAP access to MSSanté mailboxes with standard clients (imaplib, curl): STARTTLS, password for an
applicative mailbox, XOAUTH2 with a Pro Santé Connect token, byte-exact FETCH, flags, audit."""

from __future__ import annotations

import imaplib
import shutil
import ssl
import subprocess

import pytest

from maison.core import audit
from maison.identite.psc.api import issuer_for
from tests.e2e.test_mss_smtp import _client, _delivered, _letter
from tests.partage.mss_world import GP, PFI, PFI_PASSWORD, start_world
from tests.partage.world import PROS, make_world


@pytest.fixture
def mss(house, live, tmp_path):
    world = start_world(house, tmp_path, issuer_for(live.url))
    yield world
    world.close()


def _imap(mss, operator: str) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", mss.endpoints(operator).imap, timeout=20)
    client.starttls(ssl_context=ssl.create_default_context(cafile=str(mss.mss.authority.cert_path)))
    return client


def _send_to_gp(mss, house, raw: bytes) -> None:
    with _client(mss, "chu-test") as client:
        client.login(PFI, PFI_PASSWORD)
        client.sendmail(PFI, [GP], raw)
    assert _delivered(house, GP)


def test_the_gp_reads_his_mailbox_with_his_psc_token(mss, house, live):
    world = make_world(house, live, keys=("generaliste",))
    raw = _letter()
    _send_to_gp(mss, house, raw)
    client = _imap(mss, "medecins")
    token = world.tokens["generaliste"]
    typ, _ = client.authenticate("XOAUTH2", lambda _c: f"user={GP}\x01auth=Bearer {token}\x01\x01".encode())
    assert typ == "OK"
    typ, data = client.select("INBOX")
    assert typ == "OK" and data == [b"1"]
    typ, data = client.search(None, "UNSEEN")
    assert data == [b"1"]
    typ, data = client.uid("SEARCH", None, 'SUBJECT "Lettre de liaison"')
    assert data == [b"1"]
    typ, data = client.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"XDM/1.0/DDM" in data[0][1]
    typ, data = client.fetch("1", "(BODY[])")
    assert data[0][1] == raw  # byte for byte what was sent
    typ, data = client.fetch("1", "(FLAGS)")
    assert b"\\Seen" in data[0]  # BODY[] set \Seen (RFC 3501 §6.4.5)
    client.store("1", "+FLAGS", "\\Flagged")
    assert client.search(None, "FLAGGED")[1] == [b"1"]
    client.logout()
    with house.db.read() as conn:
        reads = list(audit.events(conn, action_prefix="mss.lire"))
    assert reads and reads[-1]["actor_person"] == PROS["generaliste"].idnatps


def test_login_requires_starttls_and_the_right_password(mss):
    plain = imaplib.IMAP4("127.0.0.1", mss.endpoints("chu-test").imap, timeout=20)
    assert "LOGINDISABLED" in plain.capabilities
    with pytest.raises(imaplib.IMAP4.error):
        plain.login(PFI, PFI_PASSWORD)
    client = _imap(mss, "chu-test")
    with pytest.raises(imaplib.IMAP4.error):
        client.login(PFI, "pas-le-bon-mot-de-passe")
    client = _imap(mss, "chu-test")
    assert client.login(PFI, PFI_PASSWORD)[0] == "OK"
    assert client.select("INBOX")[1] == [b"0"]


def test_a_token_for_someone_elses_mailbox_is_refused(mss, house, live):
    world = make_world(house, live, keys=("generaliste", "infirmier"))
    client = _imap(mss, "medecins")
    token = world.tokens["infirmier"]  # a valid PSC token, but not a holder of the GP's mailbox
    with pytest.raises(imaplib.IMAP4.error):
        client.authenticate(
            "XOAUTH2", lambda _c: f"user={GP}\x01auth=Bearer {token}\x01\x01".encode() if _c == b"" else b""
        )


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl absent")
def test_curl_reads_the_applicative_mailbox(mss, house):
    raw = _letter(to=PFI)
    with _client(mss, "chu-test") as client:
        client.login(PFI, PFI_PASSWORD)
        client.sendmail(PFI, [PFI], raw)
    assert _delivered(house, PFI)
    url = f"imap://127.0.0.1:{mss.endpoints('chu-test').imap}/INBOX;UID=1"
    fetched = subprocess.run(
        [
            "curl",
            "-sS",
            "--ssl-reqd",
            "--cacert",
            str(mss.mss.authority.cert_path),
            "--user",
            f"{PFI}:{PFI_PASSWORD}",
            url,
        ],
        capture_output=True,
        timeout=30,
    )
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout == raw


def test_fetching_flags_size_and_headers_reads_no_whole_message(mss, house, live, monkeypatch):
    """FLAGS, UID, RFC822.SIZE and INTERNALDATE come from the message's row, headers from a header-only
    parse: the blob is read once, and only for what needs its bytes (the PFI asks RFC822.SIZE then
    BODY.PEEK[] of each message; parsing each 270 KB mail whole took a third of the operator's time)."""
    world = make_world(house, live, keys=("generaliste",))
    raw = _letter()
    _send_to_gp(mss, house, raw)
    blobs = mss.mss.runtimes["medecins"].delivery.blobs
    reads: list[str] = []
    real_get = blobs.get
    monkeypatch.setattr(blobs, "get", lambda digest: reads.append(digest) or real_get(digest))
    client = _imap(mss, "medecins")
    token = world.tokens["generaliste"]
    client.authenticate("XOAUTH2", lambda _c: f"user={GP}\x01auth=Bearer {token}\x01\x01".encode())
    client.select("INBOX")
    typ, data = client.fetch("1", "(UID FLAGS RFC822.SIZE INTERNALDATE)")
    assert typ == "OK" and f"RFC822.SIZE {len(raw)}".encode() in data[0]
    assert reads == []
    typ, data = client.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"XDM/1.0/DDM" in data[0][1] and len(reads) == 1
    typ, data = client.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == raw and len(reads) == 2  # one read per FETCH command that needs the bytes
    client.logout()
