"""IMAP and SMTP of an MSSanté operator under attack, over real sockets (issue 18 §1.5, §2.8, §3):
nothing authenticates before TLS on any listener, plaintext pipelined behind STARTTLS is dropped,
APPEND literals are bounded before they are read and released on disconnect. Hostile SEARCH and
FETCH (BAD/NO, the session goes on) are in test_mss_imap_hostile.py.

Nothing here is delivered and no mailbox changes: the tests of one backend share one house and one
trust space of operators (tests/e2e/mss_shared.py), each in sessions of its own, and read the trail
from their own mark."""

from __future__ import annotations

import base64
import os
import re
import smtplib
import socket
import ssl
import time

import pytest

from tests.e2e import mss_shared
from tests.e2e.mss_shared import Trail
from tests.partage.mss_world import GP, PFI, PFI_PASSWORD

mss, house, module_pros, pros = mss_shared.mss, mss_shared.house, mss_shared.module_pros, mss_shared.pros


class Raw:
    """A line-level IMAP client over a real socket, TLS after STARTTLS."""

    def __init__(self, mss, operator: str = "chu-test") -> None:
        self.context = ssl.create_default_context(cafile=str(mss.mss.authority.cert_path))
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection(
            ("127.0.0.1", mss.endpoints(operator).imap), timeout=20
        )
        self.buffer = b""
        self.greeting = self.line()

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; had {self.buffer!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def command(self, tag: str, text: bytes | str) -> list[bytes]:
        """Every line up to the tagged answer (or a continuation request)."""
        self.send(f"{tag} ".encode() + (text.encode() if isinstance(text, str) else text) + b"\r\n")
        return self.until(tag)

    def respond(self, data: bytes, tag: str) -> list[bytes]:
        """A SASL response to a continuation request."""
        self.send(data + b"\r\n")
        return self.until(tag)

    def until(self, tag: str) -> list[bytes]:
        lines = []
        while True:
            lines.append(self.line())
            if lines[-1].startswith(tag.encode() + b" ") or lines[-1].startswith(b"+"):
                return lines

    def starttls(self) -> None:
        assert self.command("t", "STARTTLS")[-1].startswith(b"t OK")
        self.sock = self.context.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self.buffer = b""

    def login(self) -> None:
        self.starttls()
        assert self.command("l", f'LOGIN "{PFI}" "{PFI_PASSWORD}"')[-1].startswith(b"l OK")

    def alive(self) -> bool:
        return self.command("z", "NOOP")[-1].startswith(b"z OK")


def _capabilities(lines: list[bytes]) -> set[bytes]:
    found = set()
    for line in lines:
        match = re.search(rb"CAPABILITY ([^\]]*)", line)
        if match:
            found |= set(match.group(1).split())
    return found


def _answer(lines: list[bytes], tag: str) -> bytes:
    return lines[-1][len(tag) + 1 :].split(b" ", 1)[0]


# --- 1.5: no authentication before TLS, on any listener --------------------------------------------


def test_imap_offers_and_accepts_no_authentication_before_starttls(mss, pros):
    token = pros.tokens["generaliste"]
    raw = Raw(mss, "medecins")
    for capabilities in (_capabilities([raw.greeting]), _capabilities(raw.command("c", "CAPABILITY"))):
        assert b"LOGINDISABLED" in capabilities and b"STARTTLS" in capabilities
        assert not [c for c in capabilities if c.startswith(b"AUTH=")]
    xoauth2 = base64.b64encode(f"user={GP}\x01auth=Bearer {token}\x01\x01".encode())
    oauthbearer = base64.b64encode(f"n,a={GP},\x01auth=Bearer {token}\x01\x01".encode())
    plain = base64.b64encode(f"\x00{PFI}\x00{PFI_PASSWORD}".encode())
    for mechanism, response in (
        (b"XOAUTH2", xoauth2),
        (b"OAUTHBEARER", oauthbearer),
        (b"PLAIN", plain),
        (b"LOGIN", base64.b64encode(PFI.encode())),
    ):
        lines = raw.command("a", b"AUTHENTICATE " + mechanism)
        if lines[-1].startswith(b"+"):  # a server that asks for the response has already failed
            lines = raw.respond(response, "a")
        assert _answer(lines, "a") in (b"NO", b"BAD"), lines
    assert _answer(raw.command("b", f'LOGIN "{PFI}" "{PFI_PASSWORD}"'), "b") in (b"NO", b"BAD")
    assert _answer(raw.command("s", "SELECT INBOX"), "s") in (b"NO", b"BAD")
    assert raw.alive()
    # after STARTTLS the same token opens the mailbox
    raw.starttls()
    capabilities = _capabilities(raw.command("c", "CAPABILITY"))
    assert b"AUTH=XOAUTH2" in capabilities and b"LOGINDISABLED" not in capabilities
    assert raw.command("a", b"AUTHENTICATE XOAUTH2")[-1].startswith(b"+")
    assert raw.respond(xoauth2, "a")[-1].startswith(b"a OK")


def test_imap_drops_plaintext_pipelined_behind_starttls(mss):
    # CVE-2011-0411's class: what came in clear with STARTTLS must not run inside the TLS session
    raw = Raw(mss)
    raw.send(f't STARTTLS\r\nx LOGIN "{PFI}" "{PFI_PASSWORD}"\r\n'.encode())
    assert raw.until("t")[-1].startswith(b"t OK")
    raw.sock = raw.context.wrap_socket(raw.sock, server_hostname="127.0.0.1")
    raw.buffer = b""
    lines = raw.command("n", "NOOP")
    assert not any(line.startswith(b"x ") for line in lines), lines
    assert _answer(raw.command("s", "SELECT INBOX"), "s") in (b"NO", b"BAD")  # not logged in


def _smtp_plain(port: int) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", port, timeout=20)
    client.ehlo()
    return client


@pytest.mark.parametrize("listener", ["submission", "relay"])
def test_smtp_listeners_offer_and_accept_no_authentication_before_starttls(mss, listener):
    client = _smtp_plain(getattr(mss.endpoints("chu-test"), listener))
    assert "auth" not in client.esmtp_features and "starttls" in client.esmtp_features
    plain = base64.b64encode(f"\x00{PFI}\x00{PFI_PASSWORD}".encode()).decode()
    for command in (f"AUTH PLAIN {plain}", "AUTH LOGIN", "AUTH XOAUTH2 eA==", "MAIL FROM:<" + PFI + ">"):
        code, _text = client.docmd(command)
        assert code == 530, (command, code)
    client.close()


def test_smtp_drops_plaintext_pipelined_behind_starttls(mss):
    sock = socket.create_connection(("127.0.0.1", mss.endpoints("chu-test").submission), timeout=20)
    reader = sock.makefile("rb")
    assert reader.readline().startswith(b"220")
    plain = base64.b64encode(f"\x00{PFI}\x00{PFI_PASSWORD}".encode())
    sock.sendall(b"EHLO test\r\n")
    while not reader.readline().startswith(b"250 "):
        pass
    sock.sendall(b"STARTTLS\r\nAUTH PLAIN " + plain + b"\r\n")
    assert reader.readline().startswith(b"220")
    context = ssl.create_default_context(cafile=str(mss.mss.authority.cert_path))
    tls = context.wrap_socket(sock, server_hostname="127.0.0.1")
    secure = tls.makefile("rb")
    tls.sendall(b"EHLO test\r\n")
    answer = secure.readline()
    assert answer.startswith(b"250"), answer  # the pipelined AUTH was not answered inside TLS
    while not answer.startswith(b"250 "):
        answer = secure.readline()
    tls.sendall(b"MAIL FROM:<" + PFI.encode() + b">\r\n")
    assert secure.readline().startswith(b"530")  # and did not authenticate the session
    tls.close()


# --- 2.8: APPEND literals bounded before they are read, released on disconnect ----------------------


def test_append_beyond_the_limit_is_refused_before_its_literal_and_the_session_goes_on(mss):
    raw = Raw(mss)
    raw.login()
    limit = mss.mss.runtimes["chu-test"].max_message_bytes
    assert f"APPENDLIMIT={limit}".encode() in _capabilities(raw.command("c", "CAPABILITY"))
    lines = raw.command("a", "APPEND INBOX {300000000}")
    assert lines[-1].startswith(b"a NO [TOOBIG]"), lines  # no continuation: nothing was read
    lines = raw.command("b", f"APPEND INBOX (\\Seen) {{{limit + 1}}}")
    assert lines[-1].startswith(b"b NO [TOOBIG]"), lines
    assert raw.alive()


def _spooled_files() -> int:
    """Deleted temporary files this process holds open (a spooled literal)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += target.endswith("(deleted)") and "/tmp" in target or target.startswith("/tmp/tmp")
    return count


def test_a_literal_cut_short_by_a_disconnect_is_released(mss):
    before = _spooled_files()
    for _ in range(3):
        raw = Raw(mss)
        raw.login()
        lines = raw.command("a", "APPEND INBOX {1900000}")
        assert lines[-1].startswith(b"+"), lines
        raw.send(b"x" * 1_500_000)  # then the client vanishes
        raw.sock.close()
    deadline = time.monotonic() + 10
    while _spooled_files() > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _spooled_files() <= before


def test_an_append_within_the_limit_is_answered_no_and_leaves_nothing_open(mss):
    before = _spooled_files()
    raw = Raw(mss)
    raw.login()
    message = b"Subject: x\r\n\r\n" + b"y" * 1_500_000
    assert raw.command("a", f"APPEND INBOX {{{len(message)}}}")[-1].startswith(b"+")
    raw.send(message + b"\r\n")
    assert _answer(raw.until("a"), "a") == b"NO"  # MSSanté mail is sent by SMTP
    assert raw.alive()
    assert _spooled_files() <= before


# --- 2.5: token logins are security events (password logins: the throttle's, maison.core.lockout) ---


def test_token_logins_over_imap_and_smtp_are_security_events(mss, house, pros):
    token, trail = pros.tokens["generaliste"], Trail(house)
    good = base64.b64encode(f"user={GP}\x01auth=Bearer {token}\x01\x01".encode())
    forged = base64.b64encode(f"user={GP}\x01auth=Bearer {token[:-4]}AAAA\x01\x01".encode())
    raw = Raw(mss, "medecins")
    raw.starttls()
    assert raw.command("a", "AUTHENTICATE XOAUTH2")[-1].startswith(b"+")
    lines = raw.respond(forged, "a")
    if lines[-1].startswith(b"+"):  # the JSON error challenge, answered empty (RFC 7628 §3.2.3)
        lines = raw.respond(b"", "a")
    assert _answer(lines, "a") == b"NO"
    assert raw.command("b", "AUTHENTICATE XOAUTH2")[-1].startswith(b"+")
    assert raw.respond(good, "b")[-1].startswith(b"b OK")
    endpoints = mss.endpoints("medecins")
    client = smtplib.SMTP("127.0.0.1", endpoints.submission, timeout=20)
    client.starttls(context=ssl.create_default_context(cafile=str(mss.mss.authority.cert_path)))
    client.ehlo()
    assert client.docmd("AUTH", "XOAUTH2 " + good.decode())[0] == 235
    client.close()
    events = [(e["action"], e["outcome"], e["actor_software"]) for e in trail.since("securite.connexion")]
    assert ("securite.connexion-echec", "failure", "imap") in events
    assert ("securite.connexion", "success", "imap") in events
    assert ("securite.connexion", "success", "smtp") in events
