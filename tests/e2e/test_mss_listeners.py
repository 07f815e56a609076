"""Every MSSanté listener holds a burst of connections (issue 18 §3: the SMTP listen backlog under
500 simultaneous connections): the kernel queue is deep enough and each connection is greeted. The
users' submission and IMAP are served with STARTTLS and with TLS from the first byte (RFC 8314 §3.3,
issue 20 §5.2)."""

from __future__ import annotations

import imaplib
import smtplib
import socket
import ssl
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from maison.identite.psc.api import issuer_for
from maison.partage.mss import store
from maison.partage.mss.smtp import LISTEN_BACKLOG
from tests.partage.mss_world import PFI, PFI_PASSWORD, start_world


@pytest.fixture
def mss(house, live, tmp_path):
    world = start_world(house, tmp_path, issuer_for(live.url))
    yield world
    world.close()


def _backlog(port: int) -> int:
    """The listening socket's queue length, as the kernel reports it (`ss`: Send-Q of a listener)."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[2])


def test_every_listener_queues_at_least_500_connections(mss):
    endpoints = mss.endpoints("chu-test")
    for port in (endpoints.submission, endpoints.relay, endpoints.imap, endpoints.submissions, endpoints.imaps):
        assert _backlog(port) >= min(LISTEN_BACKLOG, 500) + 1, port


@pytest.mark.parametrize("listener", ["submission", "imap", "submissions", "imaps"])
def test_500_simultaneous_connections_are_all_greeted(mss, listener):
    port = getattr(mss.endpoints("chu-test"), listener)
    sockets = []
    try:
        for _ in range(500):  # all connected before any is read: the queue, not the loop, holds them
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=30))
        with ThreadPoolExecutor(32) as pool:
            greetings = list(pool.map(lambda s: _greeting(s, listener.endswith("s"), mss), sockets))
    finally:
        for s in sockets:
            s.close()
    expected = b"220" if listener.startswith("submission") else b"* OK"
    assert all(g.startswith(expected) for g in greetings), {g[:20] for g in greetings}


def _greeting(sock: socket.socket, implicit_tls: bool, mss) -> bytes:
    if not implicit_tls:
        return sock.recv(64)
    context = ssl.create_default_context(cafile=str(mss.mss.authority.cert_path))
    with context.wrap_socket(sock, server_hostname="127.0.0.1") as tls:  # TLS first: the greeting comes under it
        return tls.recv(64)


def test_submission_over_implicit_tls(mss, house):
    """Port 465's role (RFC 8314 §3.3): TLS from the first byte, AUTH offered at once (no STARTTLS
    to offer), the same rules as the STARTTLS port: a wrong password 535, the sender checked, the
    message accepted and delivered."""
    port = mss.endpoints("chu-test").submissions
    trusted = ssl.create_default_context(cafile=str(mss.mss.authority.cert_path))
    with smtplib.SMTP_SSL("127.0.0.1", port, context=trusted, timeout=20) as client:
        client.ehlo()
        assert not client.has_extn("starttls") and {"PLAIN", "LOGIN", "XOAUTH2"} <= set(
            client.esmtp_features["auth"].split()
        )
        assert client.mail(PFI)[0] == 530  # authentication first
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login(PFI, "pas-le-bon-mot-de-passe")
        assert refused.value.smtp_code == 535
    raw = f"From: {PFI}\r\nTo: {PFI}\r\nSubject: TLS implicite\r\nMessage-ID: <tls-465@test>\r\n\r\nok\r\n".encode()
    with smtplib.SMTP_SSL("127.0.0.1", port, context=trusted, timeout=20) as client:
        client.login(PFI, PFI_PASSWORD)
        assert client.mail(f"directeur@{PFI.rpartition('@')[2]}")[0] == 553
        client.rset()
        assert client.sendmail(PFI, [PFI], raw) == {}
    with house.db.read() as conn:
        [row] = conn.execute(sa.select(store.mss_message).where(store.mss_message.c.address == PFI)).all()
    stored = mss.mss.delivery.content(row.sha256)
    assert stored.endswith(raw) and b" with ESMTPSA id " in stored  # TLS and AUTH, RFC 3848


def test_no_cleartext_on_the_implicit_tls_ports(mss):
    """A client speaking in clear to an implicit-TLS port gets no greeting: the handshake fails."""
    for port in (mss.endpoints("chu-test").submissions, mss.endpoints("chu-test").imaps):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"EHLO x\r\n")
            sock.settimeout(10)
            try:
                answer = sock.recv(64)
            except ConnectionResetError:
                answer = b""
            assert not answer.startswith((b"220", b"* OK"))


def test_imap_over_implicit_tls(mss, house):
    """Port 993's role (RFC 8314 §3.3): TLS from the first byte, LOGIN allowed at once (no
    LOGINDISABLED, no STARTTLS), the mailbox served as over STARTTLS."""
    trusted = ssl.create_default_context(cafile=str(mss.mss.authority.cert_path))
    client = imaplib.IMAP4_SSL("127.0.0.1", mss.endpoints("chu-test").imaps, ssl_context=trusted, timeout=20)
    assert "LOGINDISABLED" not in client.capabilities and "STARTTLS" not in client.capabilities
    with pytest.raises(imaplib.IMAP4.error):
        client.login(PFI, "pas-le-bon-mot-de-passe")
    assert client.login(PFI, PFI_PASSWORD)[0] == "OK"
    assert client.select("INBOX")[0] == "OK"
    client.logout()
