"""MSSanté's SMTP and IMAP driven by mail clients this house did not write (issue 20 §5.5): `swaks`
submits (STARTTLS and implicit TLS, AUTH LOGIN and PLAIN with a mailbox's password), `mbsync`
(isync) synchronises the mailbox into a Maildir over IMAP (STARTTLS and implicit TLS). Both come
from Debian packages that `./dev test` installs; each test is skipped, saying so, only when the
program is not installed. The tests of one backend share one house and one trust space of operators
(tests/e2e/mss_shared.py), each submitting from, and synchronising, mailboxes of its own."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from maison.partage.mss import store, trace
from tests.e2e import mss_shared
from tests.e2e.mss_shared import own_gp, own_pfi
from tests.e2e.test_mss_smtp import _client, _delivered
from tests.partage.mss_world import HOPITAL_DOMAIN, PFI_PASSWORD

SWAKS = shutil.which("swaks")
MBSYNC = shutil.which("mbsync")
needs_swaks = pytest.mark.skipif(SWAKS is None, reason="swaks absent (Debian package swaks; ./dev test installs it)")
needs_mbsync = pytest.mark.skipif(MBSYNC is None, reason="mbsync absent (Debian package isync; ./dev test installs it)")

mss, house = mss_shared.mss, mss_shared.house


# --- swaks: submission --------------------------------------------------------------------------------


def _swaks(
    mss, pfi: str, *args: str, implicit_tls: bool = False, password: str = PFI_PASSWORD
) -> subprocess.CompletedProcess:
    endpoints = mss.endpoints("chu-test")
    port = endpoints.submissions if implicit_tls else endpoints.submission
    return subprocess.run(
        [
            str(SWAKS),
            "--server",
            "127.0.0.1",
            "--port",
            str(port),
            "--tlsc" if implicit_tls else "--tls",
            "--tls-verify",  # the operator's certificate, checked against the trust space's authority
            "--tls-ca-path",
            str(mss.mss.authority.cert_path),
            "--auth-user",
            pfi,
            "--auth-password",
            password,
            "--helo",
            "poste-accueil.chu-test.fr",
            "--from",
            pfi,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_swaks
def test_swaks_submits_over_starttls_across_two_operators(mss, house):
    """STARTTLS then AUTH LOGIN (swaks's dialogue, not smtplib's): the message crosses the relay into
    the GP's mailbox, under the Received lines of both hops and the Return-Path."""
    pfi, gp = own_pfi(mss), own_gp(mss)
    sent = _swaks(mss, pfi, "--auth", "LOGIN", "--to", gp, "--header", "Subject: Compte rendu (swaks)")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "250 2.0.0 Message" in sent.stdout and "STARTTLS" in sent.stdout
    [row] = _delivered(house, gp)
    stored = mss.mss.delivery.content(row.sha256)
    assert stored.startswith(f"Return-Path: <{pfi}>\r\nReceived: from {HOPITAL_DOMAIN} ([127.0.0.1])".encode())
    assert b"Received: from poste-accueil.chu-test.fr ([127.0.0.1])\r\n\tby chu-test.mssante.fr with ESMTPSA" in stored
    assert b"Subject: Compte rendu (swaks)" in trace.content(stored) and b"X-Mailer: swaks" in trace.content(stored)


@needs_swaks
def test_swaks_submits_over_implicit_tls_with_auth_plain(mss, house):
    pfi = own_pfi(mss)
    sent = _swaks(mss, pfi, "--auth", "PLAIN", "--to", pfi, "--body", "Corps du message.", implicit_tls=True)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "250 2.0.0 Message" in sent.stdout and "STARTTLS" not in sent.stdout
    [row] = _delivered(house, pfi)
    stored = mss.mss.delivery.content(row.sha256)
    assert b"by chu-test.mssante.fr with ESMTPSA id " in stored and b"Corps du message." in stored


@needs_swaks
@pytest.mark.parametrize("implicit_tls", [False, True])
def test_swaks_with_a_wrong_password_is_refused(mss, house, implicit_tls):
    pfi = own_pfi(mss)
    before = _message_count(house)
    refused = _swaks(mss, pfi, "--auth", "PLAIN", "--to", pfi, implicit_tls=implicit_tls, password="pas-le-bon")
    assert refused.returncode != 0 and "535 5.7.8" in refused.stdout, refused.stdout
    assert _message_count(house) == before and not _delivered(house, pfi, timeout=0)


def _message_count(house) -> int:
    """Every mailbox's messages: the shared house holds the other tests' too, so a test compares."""
    with house.db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(store.mss_message)).scalar()


@needs_swaks
def test_swaks_cannot_authenticate_in_clear(mss):
    """Without STARTTLS the submission port offers no AUTH: swaks gives up before any password."""
    pfi = own_pfi(mss)
    port = mss.endpoints("chu-test").submission
    plain = subprocess.run(
        [str(SWAKS), "--server", "127.0.0.1", "--port", str(port), "--auth", "PLAIN", "--auth-user", pfi]
        + ["--auth-password", PFI_PASSWORD, "--from", pfi, "--to", pfi],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plain.returncode != 0 and "did not advertise authentication" in plain.stderr, plain.stderr
    assert "-> AUTH" not in plain.stdout and "250-AUTH" not in plain.stdout  # no password sent in clear


# --- mbsync (isync): IMAP -----------------------------------------------------------------------------


def _mbsync(
    mss,
    pfi: str,
    tmp_path: Path,
    ssl_type: str,
    *,
    password: str = PFI_PASSWORD,
    pipeline: bool = True,
    timeout: float = 60,
) -> subprocess.CompletedProcess:
    """`mbsync` pulling and pushing the INBOX of `pfi` (the test's own PFI mailbox) to a Maildir, over STARTTLS or
    IMAPS, LOGIN with the mailbox's password. isync matches the host name against the certificate's DNS names
    only, and the test operator is reached at 127.0.0.1 (an IP address name): its certificate is pinned in
    CertificateFile, which isync trusts as it is (mbsync(1), CertificateFile) — the trust space knows its
    operators by their certificates' fingerprints the same way. `pipeline=False`: one command at a time
    (PipelineDepth 1); by default mbsync sends several before the answers come (RFC 3501 §5.5)."""
    endpoints = mss.endpoints("chu-test")
    pinned = tmp_path / "operateur.pem"
    pinned.write_bytes(mss.mss.runtimes["chu-test"].issued.cert.read_bytes())
    port = endpoints.imaps if ssl_type == "IMAPS" else endpoints.imap
    maildir = tmp_path / "Mail"
    maildir.mkdir(exist_ok=True)
    config = tmp_path / "mbsyncrc"
    config.write_text(
        f"""IMAPAccount chu
Host 127.0.0.1
Port {port}
User {pfi}
Pass {password}
SSLType {ssl_type}
CertificateFile {pinned}
AuthMechs LOGIN
{"" if pipeline else "PipelineDepth 1"}

IMAPStore chu-distant
Account chu

MaildirStore chu-local
Path {maildir}/
Inbox {maildir}/INBOX

Channel chu
Far :chu-distant:
Near :chu-local:
Patterns INBOX
Create Near
Sync All
SyncState *
"""
    )
    config.chmod(0o600)
    return subprocess.run([str(MBSYNC), "-c", str(config), "chu"], capture_output=True, text=True, timeout=timeout)


def _maildir_messages(tmp_path: Path) -> list[Path]:
    inbox = tmp_path / "Mail" / "INBOX"
    return sorted(p for sub in ("new", "cur") for p in (inbox / sub).glob("*") if p.is_file())


def _submit(mss, house, pfi: str, count: int) -> list[bytes]:
    raws = [
        (
            f"From: {pfi}\r\nTo: {pfi}\r\nSubject: Compte rendu {n} de Zoé\r\nMessage-ID: <mbsync-{n}@test>\r\n"
            f"\r\nLigne {n}.\r\n.ligne commencant par un point\r\n"
        ).encode()
        for n in range(count)
    ]
    with _client(mss, "chu-test") as client:
        client.login(pfi, PFI_PASSWORD)
        for raw in raws:
            assert client.sendmail(pfi, [pfi], raw, mail_options=["SMTPUTF8"]) == {}
    _delivered(house, pfi)
    return raws


def _stored(mss, house, pfi: str) -> list[tuple[bytes, str]]:
    with house.db.read() as conn:
        rows = conn.execute(
            sa.select(store.mss_message.c.sha256, store.mss_message.c.flags)
            .where(store.mss_message.c.address == pfi)
            .order_by(store.mss_message.c.uid)
        ).all()
    return [(mss.mss.delivery.content(row.sha256), row.flags) for row in rows]


def _synchronised_both_ways(mss, house, tmp_path: Path, ssl_type: str, *, pipeline: bool) -> None:
    pfi = own_pfi(mss)
    _submit(mss, house, pfi, 3)
    timeout = 60 if not pipeline else 15  # a session stuck on an answer that does not come: not a minute
    pulled = _mbsync(mss, pfi, tmp_path, ssl_type, pipeline=pipeline, timeout=timeout)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    local = _maildir_messages(tmp_path)
    stored = _stored(mss, house, pfi)
    assert len(local) == 3 == len(stored)
    fetched = sorted(re.sub(rb"(?m)^X-TUID: \S+\n", b"", p.read_bytes()) for p in local)  # isync's tracking header
    assert fetched == sorted(raw.replace(b"\r\n", b"\n") for raw, _ in stored)
    first = next(p for p in local if b"Compte rendu 0" in p.read_bytes())
    first.rename(first.parent.parent / "cur" / (first.name.split(":", 1)[0] + ":2,S"))
    pushed = _mbsync(mss, pfi, tmp_path, ssl_type, pipeline=pipeline, timeout=timeout)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    deadline = time.monotonic() + 10
    while "\\Seen" not in _stored(mss, house, pfi)[0][1] and time.monotonic() < deadline:
        time.sleep(0.1)
    flags = [f for _, f in _stored(mss, house, pfi)]
    assert "\\Seen" in flags[0] and not any("\\Seen" in f for f in flags[1:]), flags


@needs_mbsync
@pytest.mark.parametrize("ssl_type", ["STARTTLS", "IMAPS"])
def test_mbsync_synchronises_the_mailbox_both_ways(mss, house, tmp_path, ssl_type):
    """mbsync fetches every message into the Maildir byte for byte (isync writes LF line ends and adds
    its X-TUID tracking header), then a message read in the Maildir is \\Seen on the server after
    the next run — one command at a time."""
    _synchronised_both_ways(mss, house, tmp_path, ssl_type, pipeline=False)


@needs_mbsync
def test_mbsync_pipelining_its_commands(mss, house, tmp_path):
    """mbsync as configured by default: several commands sent before their answers (RFC 3501 §5.5)."""
    _synchronised_both_ways(mss, house, tmp_path, "IMAPS", pipeline=True)


@needs_mbsync
def test_mbsync_with_a_wrong_password_gets_nothing(mss, house, tmp_path):
    pfi = own_pfi(mss)
    _submit(mss, house, pfi, 1)
    refused = _mbsync(mss, pfi, tmp_path, "IMAPS", password="pas-le-bon")
    assert refused.returncode != 0 and not _maildir_messages(tmp_path)
    assert "LOGIN" in refused.stderr or "authenticat" in refused.stderr.lower(), refused.stderr
