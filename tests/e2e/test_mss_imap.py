"""IMAP access to MSSanté mailboxes with standard clients (imaplib, curl): STARTTLS, password for an
applicative mailbox, XOAUTH2 with a Pro Santé Connect token, byte-exact FETCH, flags, audit.

The tests of one backend share one house and one trust space of operators (tests/e2e/mss_shared.py):
each opens mailboxes of its own (an empty INBOX, UIDs from 1) and reads the trail from its own mark."""

from __future__ import annotations

import imaplib
import json
import re
import shutil
import ssl
import subprocess
import time
import uuid

import pytest

from maison.core.audit import SYSTEM
from maison.etablissement.pfi.mailbox import ImapAccount, ImapMailbox
from maison.partage.mss import imap as mss_imap
from maison.partage.mss import imap_guard as guard
from maison.partage.mss import store, trace
from maison.partage.mss.delivery import Delivery
from tests.e2e import mss_shared
from tests.e2e.mss_shared import Trail, own_gp, own_pfi
from tests.e2e.test_mss_smtp import _client, _delivered, _letter
from tests.partage.mss_world import GP, PFI_PASSWORD
from tests.partage.world import PROS

mss, house, module_pros, pros = mss_shared.mss, mss_shared.house, mss_shared.module_pros, mss_shared.pros


def _imap(mss, operator: str) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", mss.endpoints(operator).imap, timeout=20)
    client.starttls(ssl_context=ssl.create_default_context(cafile=str(mss.mss.authority.cert_path)))
    return client


def _send_to_gp(mss, house, gp: str) -> bytes:
    """A letter from a new PFI mailbox to the GP's mailbox `gp`, delivered: the bytes sent."""
    pfi = own_pfi(mss)
    raw = _letter(sender=pfi, to=gp)
    with _client(mss, "chu-test") as client:
        client.login(pfi, PFI_PASSWORD)
        client.sendmail(pfi, [gp], raw)
    assert _delivered(house, gp)
    return raw


def test_the_gp_reads_his_mailbox_with_his_psc_token(mss, house, pros):
    gp, trail = own_gp(mss), Trail(house)
    raw = _send_to_gp(mss, house, gp)
    client = _imap(mss, "medecins")
    token = pros.tokens["generaliste"]
    typ, _ = client.authenticate("XOAUTH2", lambda _c: f"user={gp}\x01auth=Bearer {token}\x01\x01".encode())
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
    assert trace.content(data[0][1]) == raw  # byte for byte what was sent, under the trace fields
    typ, data = client.fetch("1", "(FLAGS)")
    assert b"\\Seen" in data[0]  # BODY[] set \Seen (RFC 3501 §6.4.5)
    client.store("1", "+FLAGS", "\\Flagged")
    assert client.search(None, "FLAGGED")[1] == [b"1"]
    client.logout()
    reads = trail.since("mss.lire")
    assert reads and reads[-1]["actor_person"] == PROS["generaliste"].idnatps


def test_login_requires_starttls_and_the_right_password(mss):
    pfi = own_pfi(mss)
    plain = imaplib.IMAP4("127.0.0.1", mss.endpoints("chu-test").imap, timeout=20)
    assert "LOGINDISABLED" in plain.capabilities
    with pytest.raises(imaplib.IMAP4.error):
        plain.login(pfi, PFI_PASSWORD)
    client = _imap(mss, "chu-test")
    with pytest.raises(imaplib.IMAP4.error):
        client.login(pfi, "pas-le-bon-mot-de-passe")
    client = _imap(mss, "chu-test")
    assert client.login(pfi, PFI_PASSWORD)[0] == "OK"
    assert client.select("INBOX")[1] == [b"0"]


def test_a_token_for_someone_elses_mailbox_is_refused(mss, pros):
    gp = own_gp(mss)
    client = _imap(mss, "medecins")
    token = pros.tokens["infirmier"]  # a valid PSC token, but not a holder of the GP's mailbox
    with pytest.raises(imaplib.IMAP4.error):
        client.authenticate(
            "XOAUTH2", lambda _c: f"user={gp}\x01auth=Bearer {token}\x01\x01".encode() if _c == b"" else b""
        )


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl absent")
def test_curl_reads_the_applicative_mailbox(mss, house):
    pfi = own_pfi(mss)
    raw = _letter(sender=pfi, to=pfi)
    with _client(mss, "chu-test") as client:
        client.login(pfi, PFI_PASSWORD)
        client.sendmail(pfi, [pfi], raw)
    assert _delivered(house, pfi)
    url = f"imap://127.0.0.1:{mss.endpoints('chu-test').imap}/INBOX;UID=1"
    fetched = subprocess.run(
        [
            "curl",
            "-sS",
            "--ssl-reqd",
            "--cacert",
            str(mss.mss.authority.cert_path),
            "--user",
            f"{pfi}:{PFI_PASSWORD}",
            url,
        ],
        capture_output=True,
        timeout=30,
    )
    assert fetched.returncode == 0, fetched.stderr
    assert trace.content(fetched.stdout) == raw and fetched.stdout.startswith(b"Return-Path: <")


def test_fetching_flags_size_and_headers_reads_no_whole_message(mss, house, pros, monkeypatch):
    """FLAGS, UID, RFC822.SIZE and INTERNALDATE come from the message's row, headers from a header-only
    parse: the blob is read once, and only for what needs its bytes (the PFI asks RFC822.SIZE then
    BODY.PEEK[] of each message; parsing each 270 KB mail whole took a third of the operator's time)."""
    gp = own_gp(mss)
    _send_to_gp(mss, house, gp)
    stored = mss.mss.delivery.content(_delivered(house, gp)[0].sha256)  # with its trace fields (RFC 5321 §4.4)
    blobs = mss.mss.runtimes["medecins"].delivery.blobs
    reads: list[str] = []
    real_get = blobs.get
    monkeypatch.setattr(blobs, "get", lambda digest: reads.append(digest) or real_get(digest))
    client = _imap(mss, "medecins")
    token = pros.tokens["generaliste"]
    client.authenticate("XOAUTH2", lambda _c: f"user={gp}\x01auth=Bearer {token}\x01\x01".encode())
    client.select("INBOX")
    typ, data = client.fetch("1", "(UID FLAGS RFC822.SIZE INTERNALDATE)")
    assert typ == "OK" and f"RFC822.SIZE {len(stored)}".encode() in data[0]
    assert reads == []
    typ, data = client.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"XDM/1.0/DDM" in data[0][1] and len(reads) == 1
    typ, data = client.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == stored and len(reads) == 2  # one read per FETCH command that needs the bytes
    client.logout()


# --- sets of messages, selected by the database -------------------------------------------------------


def _to_pfi(mss, house, count: int, pfi: str | None = None) -> str:
    """`count` letters a PFI's mailbox (`pfi`, or a new one) sent itself, delivered; its address."""
    pfi = pfi or own_pfi(mss)
    with _client(mss, "chu-test") as client:
        client.login(pfi, PFI_PASSWORD)
        for _ in range(count):
            client.sendmail(pfi, [pfi], _letter(sender=pfi, to=pfi))
    deadline = time.monotonic() + 15
    while len(_delivered(house, pfi)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return pfi


def _pairs(data: list) -> list[tuple[int, int]]:
    """(sequence number, UID) of each FETCH answer line."""
    out = []
    for line in data:
        head = line[0] if isinstance(line, tuple) else line
        seq, _, rest = head.partition(b" ")
        out.append((int(seq), int(rest.split(b"UID ")[1].split()[0].rstrip(b")"))))
    return out


def test_fetch_and_store_name_their_messages_by_sequence_number_and_uid(mss, house, monkeypatch):
    """RFC 3501 §2.3.1: after an EXPUNGE, sequence numbers close up and UIDs stay; `*` is the last
    message (or the highest UID, also when the range's start is above it, §6.4.8). FETCH and STORE
    read only the rows their set names: none of them reads the whole mailbox (a PFI's mailbox keeps
    every message it integrated, so each command cost grew with it)."""
    pfi = _to_pfi(mss, house, 5)
    client = _imap(mss, "chu-test")
    client.login(pfi, PFI_PASSWORD)
    assert client.select("INBOX")[1] == [b"5"]
    client.store("2", "+FLAGS", "\\Deleted")
    client.expunge()

    def whole_mailbox(*_args):
        raise AssertionError("a FETCH or STORE read every message of the mailbox")

    monkeypatch.setattr(store, "messages_by_uid", whole_mailbox)
    assert _pairs(client.fetch("2:*", "(UID)")[1]) == [(2, 3), (3, 4), (4, 5)]
    assert _pairs(client.fetch("*", "(UID)")[1]) == [(4, 5)]
    assert _pairs(client.fetch("1,3", "(UID)")[1]) == [(1, 1), (3, 4)]
    assert _pairs(client.uid("FETCH", "4:*", "(UID)")[1]) == [(3, 4), (4, 5)]
    assert _pairs(client.uid("FETCH", "9:*", "(UID)")[1]) == [(4, 5)]  # 9:* is 5:9
    assert client.uid("FETCH", "2", "(UID)")[1] == [None]  # expunged: nothing
    client.uid("STORE", "1,5", "+FLAGS", "(\\Flagged)")
    assert client.search(None, "FLAGGED")[1] == [b"1 4"]
    assert client.uid("SEARCH", None, "UNFLAGGED")[1] == [b"3 4"]
    client.logout()


def test_a_set_of_many_ranges_is_answered_too(mss, house):
    """Beyond MAX_RANGES ranges the rows are read and filtered: the same answer."""
    pfi = _to_pfi(mss, house, 3)
    client = _imap(mss, "chu-test")
    client.login(pfi, PFI_PASSWORD)
    client.select("INBOX")
    many = ",".join(["1", "3"] + [str(n) for n in range(10, 10 + 2 * mss_imap.MAX_RANGES, 2)])
    assert _pairs(client.fetch(many, "(UID)")[1]) == [(1, 1), (3, 3)]
    client.logout()


def test_a_search_naming_uids_first_reads_those_messages_only(mss, house, monkeypatch):
    """`UID SEARCH UID n:* UNKEYWORD $Integre` (the PFI's question at every turn) reads the rows the
    UID set names, not every message of the mailbox; `n:*` above the highest UID still names it
    (RFC 3501 §6.4.8), and a search not led by UID still reads them all."""
    pfi = _to_pfi(mss, house, 5)
    client = _imap(mss, "chu-test")
    client.login(pfi, PFI_PASSWORD)
    client.select("INBOX")
    client.uid("STORE", "2", "+FLAGS", "($Integre)")
    client.store("1", "+FLAGS", "\\Deleted")
    client.expunge()  # sequence numbers 1..4 are UIDs 2..5

    def whole_mailbox(*_args):
        raise AssertionError("a search led by a UID set read every message of the mailbox")

    with monkeypatch.context() as patched:
        patched.setattr(store, "flags_by_uid", whole_mailbox)
        assert client.uid("SEARCH", None, "UID", "3:*", "UNKEYWORD", "$Integre")[1] == [b"3 4 5"]
        assert client.search(None, "UID", "2:3", "UNKEYWORD", "$Integre")[1] == [b"2"]  # UID 3 is message 2
        assert client.uid("SEARCH", None, "UID", "9:*")[1] == [b"5"]  # 9:* is 5:9
    assert client.uid("SEARCH", None, "UNKEYWORD", "$Integre")[1] == [b"3 4 5"]
    client.logout()
    mailbox = ImapMailbox(
        ImapAccount("127.0.0.1", mss.endpoints("chu-test").imap, pfi, PFI_PASSWORD, str(mss.mss.authority.cert_path))
    )
    try:
        assert mailbox.unhandled(3) == [4, 5] and mailbox.unhandled(5) == []  # the PFI keeps its cursor
    finally:
        mailbox.close()


def test_the_pfi_reads_over_implicit_tls_too(mss, house):
    """`maison pfi --imap-tls`: the PFI's mailbox client speaks TLS from the first byte (RFC 8314 §3.3)
    to the operator's implicit-TLS port."""
    pfi = _to_pfi(mss, house, 2)
    endpoints = mss.endpoints("chu-test")
    account = ImapAccount(
        "127.0.0.1", endpoints.imaps, pfi, PFI_PASSWORD, str(mss.mss.authority.cert_path), implicit_tls=True
    )
    mailbox = ImapMailbox(account)
    try:
        assert mailbox.unhandled() == [1, 2] and set(mailbox.fetch([1, 2])) == {1, 2}
    finally:
        mailbox.close()


def test_answers_leave_without_waiting_for_the_clients_ack(mss):
    """TCP_NODELAY on every IMAP connection: with Nagle's algorithm a FETCH answer written in pieces
    waited for the client's delayed ACK (40 ms) before its last piece (Dovecot sets it too)."""
    import socket

    from twisted.internet import reactor, tcp

    client = _imap(mss, "chu-test")
    port = mss.endpoints("chu-test").imap

    async def server_sides() -> list[int]:
        return [
            r.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            for r in reactor.getReaders()  # type: ignore[attr-defined]
            if isinstance(r, tcp.Server) and r.getHost().port == port
        ]

    flags = mss.run(server_sides())
    client.logout()
    assert flags and all(flags), flags


# --- what a mail client reads (issue 20 §5.1, §5.4) ---------------------------------------------------


def _utf8_mail(pfi: str) -> bytes:
    return (
        f"From: Hôpital Émile Roux <{pfi}>\r\nTo: Dr Müller <{pfi}>\r\nSubject: Compte rendu — échographie\r\n"
        "Message-ID: <utf8-1@chu-test.mssante.fr>\r\nDate: Mon, 07 Dec 2026 08:00:00 +0100\r\n\r\n"
        "Corps du message, sans Content-Type : text/plain; charset=us-ascii par défaut.\r\n"
    ).encode()


ATTACHED_BODY = (
    b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="Frontiere;42"\r\n\r\n'
    b"preambule\r\n--Frontiere;42\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nLettre.\r\n"
    b'--Frontiere;42\r\nContent-Type: application/pdf; name="Compte rendu; V2.pdf"\r\n'
    b'Content-Disposition: attachment; filename="Compte rendu; V2.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    b"JVBERi0xLjQ=\r\n--Frontiere;42--\r\n"
)


def _attached(pfi: str) -> bytes:
    head = f"From: {pfi}\r\nTo: {pfi}\r\nSubject: pieces jointes\r\nMessage-ID: <multi-1@chu-test.mssante.fr>\r\n"
    return head.encode() + ATTACHED_BODY


def _submitted(mss, house, pfi: str, *raws: bytes) -> imaplib.IMAP4:
    """The messages submitted by the PFI's mailbox `pfi` to itself (SMTPUTF8), then its INBOX selected
    over IMAP."""
    with _client(mss, "chu-test") as client:
        client.login(pfi, PFI_PASSWORD)
        for raw in raws:
            client.sendmail(pfi, [pfi], raw, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    deadline = time.monotonic() + 15
    while len(_delivered(house, pfi)) < len(raws) and time.monotonic() < deadline:
        time.sleep(0.05)
    client = _imap(mss, "chu-test")
    client.login(pfi, PFI_PASSWORD)
    client.select("INBOX")
    return client


def test_a_message_with_utf8_headers_is_read_by_envelope_header_fields_and_structure(mss, house):
    """SMTPUTF8 is accepted, so IMAP serves such a message: 8-bit strings go out as literals, the
    header fields as they arrived (RFC 6532); Twisted closed the connection (neomutt could not open
    the mailbox)."""
    pfi = own_pfi(mss)
    client = _submitted(mss, house, pfi, _utf8_mail(pfi))
    envelope = client.fetch("1", "(ENVELOPE)")[1]
    flat = b"".join(p for item in envelope for p in (item if isinstance(item, tuple) else (item,)))
    assert "Compte rendu — échographie".encode() in flat and "Hôpital Émile Roux".encode() in flat
    local = pfi.partition("@")[0].encode()
    assert b'"%s" "chu-test.mssante.fr"' % local in flat and b'"<utf8-1@chu-test.mssante.fr>"' in flat
    fields = client.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT TO)])")[1][0][1]
    assert fields == f"To: Dr Müller <{pfi}>\r\nSubject: Compte rendu — échographie\r\n\r\n".encode()
    structure = client.fetch("1", "(BODYSTRUCTURE)")[1][0]
    # no Content-Type: text/plain; charset=us-ascii (RFC 2045 §5.2), 7BIT, its octets and lines
    body = _utf8_mail(pfi).split(b"\r\n\r\n", 1)[1]
    assert b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" %d 1 ' % len(body) in structure
    assert client.noop()[0] == "OK"  # the session goes on
    client.logout()


def test_select_tells_uidnext_uidvalidity_and_permanent_flags(mss, house):
    """RFC 3501 §6.3.1 / RFC 9051 §6.3.2: what a client needs to keep its cache by UID."""
    pfi = own_pfi(mss)
    client = _submitted(mss, house, pfi, _utf8_mail(pfi))
    assert client.select("INBOX")[0] == "OK"
    answers = client.untagged_responses
    assert answers["UIDNEXT"] == [b"2"] and int(answers["UIDVALIDITY"][0]) > 0
    assert answers["PERMANENTFLAGS"] == [b"(\\Seen \\Answered \\Flagged \\Deleted \\Draft \\*)"]
    client.logout()


def test_body_structure_and_sections_are_the_bytes_of_each_part(mss, house):
    """Parameter values as they are quoted (`;` and capitals kept), each part's octets (the line
    break before a delimiter belongs to the delimiter, RFC 2046 §5.1.1), BODY[n],
    BODY[n.MIME] and a partial fetch answered with the octets asked for (`BODY[1]<2>`)."""
    pfi = own_pfi(mss)
    client = _submitted(mss, house, pfi, _attached(pfi))
    structure = client.fetch("1", "(BODYSTRUCTURE)")[1][0]
    assert b'("TEXT" "PLAIN" ("CHARSET" "UTF-8") NIL NIL "7BIT" 7 1 ' in structure
    assert b'("APPLICATION" "PDF" ("NAME" "Compte rendu; V2.pdf") NIL NIL "BASE64" 12 NIL ' in structure
    assert b'("ATTACHMENT" ("FILENAME" "Compte rendu; V2.pdf"))' in structure
    assert b' "MIXED" ("BOUNDARY" "Frontiere;42") NIL NIL NIL)' in structure
    assert client.fetch("1", "(BODY.PEEK[2])")[1][0][1] == b"JVBERi0xLjQ="
    assert client.fetch("1", "(BODY.PEEK[1.MIME])")[1][0][1] == b"Content-Type: text/plain; charset=UTF-8\r\n\r\n"
    partial = client.fetch("1", "(BODY.PEEK[1]<2.3>)")[1][0]
    assert partial[0].endswith(b"BODY[1]<2> {3}") and partial[1] == b"ttr"
    client.logout()


def test_no_answer_carries_python_error_text_and_the_greeting_names_no_software(mss, house, monkeypatch):
    """A malformed command is the client's error (BAD [CLIENTBUG]); a failure of the server's own
    (here the database) is NO [SERVERBUG]; neither repeats an exception's text, and the session
    goes on (Twisted answered `Server error: Unhandled section contents: b'xyz])'`)."""
    pfi = own_pfi(mss)
    client = _submitted(mss, house, pfi, _utf8_mail(pfi))
    assert b"Twisted" not in client.welcome and b"twisted" not in client.welcome.lower()

    def answer(command: str) -> bytes:
        tag = client._new_tag()
        client.send(tag + b" " + command.encode() + b"\r\n")
        while not (line := client.readline()).startswith(tag):
            pass
        return line

    for command in ("FETCH 1 (BODY[XYZ])", "FETCH abc (UID)", "FETCH 1:x (UID)", "LIST", "STORE 1 +FLAGS (\\x"):
        line = answer(command)
        assert b" BAD " in line and b"Server error" not in line and b"invalid literal" not in line, (command, line)

    def broken(*_args, **_kwargs):
        raise RuntimeError("sqlite3.OperationalError: database is locked (secret detail)")

    monkeypatch.setattr(store, "messages_in", broken)
    line = answer("FETCH 1 (UID)")
    assert b" NO " in line and b"[SERVERBUG]" in line and b"secret" not in line and b"sqlite" not in line
    monkeypatch.undo()
    assert client.noop()[0] == "OK"
    client.logout()


def _untagged(client: imaplib.IMAP4, command: str) -> tuple[list[bytes], bytes]:
    """The untagged lines and the tagged answer of one raw command."""
    tag = client._new_tag()
    client.send(tag + b" " + command.encode() + b"\r\n")
    lines = []
    while not (line := client.readline()).startswith(tag):
        lines.append(line.rstrip())
    return lines, line.rstrip()


def test_folders_are_made_listed_renamed_and_deleted_with_non_ascii_names(mss, house):
    """CREATE (levels above made too), LIST with mailbox attributes (children, \\Sent of RFC 6154;
    Twisted listed the message flags), RENAME with the levels below, DELETE; names in modified
    UTF-7 (RFC 3501 §5.1.3): `R&AOk-sultats` is « Résultats »."""
    pfi, trail = own_pfi(mss), Trail(house)
    client = _submitted(mss, house, pfi, _utf8_mail(pfi))
    capabilities = client.capability()[1][0].split()
    assert b"MOVE" in capabilities and b"SPECIAL-USE" in capabilities
    assert client.create("Archives/2026")[0] == "OK"
    assert client.create("R&AOk-sultats")[0] == "OK"
    assert client.create("Archives")[1][0].startswith(b"[ALREADYEXISTS]")
    assert client.create("bad*name")[1][0].startswith(b"[CANNOT]")
    listed = client.list()[1]
    assert listed == [
        b'(\\HasNoChildren) "/" "INBOX"',
        b'(\\HasChildren) "/" "Archives"',
        b'(\\HasNoChildren) "/" "Archives/2026"',
        b'(\\HasNoChildren) "/" "R&AOk-sultats"',
        b'(\\HasNoChildren \\Sent) "/" "Sent"',
    ]
    assert client.list('""', "%")[1] == [listed[0], listed[1], listed[3], listed[4]]
    assert client.delete("Archives")[1][0].startswith(b"[CANNOT]")  # folders below it
    assert client.rename("Archives", "Classement")[0] == "OK"
    assert [line.split(b'"/" ')[1] for line in client.list()[1]] == [
        b'"INBOX"',
        b'"Classement"',
        b'"Classement/2026"',
        b'"R&AOk-sultats"',
        b'"Sent"',
    ]
    assert client.delete("Classement/2026")[0] == "OK" and client.delete("Classement")[0] == "OK"
    assert client.delete("INBOX")[0] == "NO" and client.rename("INBOX", "Ailleurs")[0] == "NO"
    assert client.select("R&AOk-sultats")[0] == "OK" and client.untagged_responses["UIDNEXT"] == [b"1"]
    made = [
        json.loads(e["detail"]) if isinstance(e["detail"], str) else e["detail"]
        for e in trail.since("mss.dossier.creer")
    ]
    assert [m["dossiers"] for m in made] == [["Archives", "Archives/2026"], ["R\u00e9sultats"]]
    client.logout()


def test_append_copy_and_move_fill_the_owners_folders_never_the_inbox(mss, house):
    """A mail client files its sent copy with APPEND into Sent (made at its first message), COPY and
    MOVE (RFC 6851: the source's EXPUNGE told at once) file what was received; the INBOX holds only
    what the trust space delivered, so nothing is appended, copied or moved into it; each act is
    in the trail."""
    pfi, trail = own_pfi(mss), Trail(house)
    attached = _attached(pfi)
    client = _submitted(mss, house, pfi, _utf8_mail(pfi), attached)
    sent = f"From: {pfi}\r\nTo: {GP}\r\nSubject: envoi\r\nMessage-ID: <envoi-1@x>\r\n\r\ncopie\r\n".encode()
    assert client.append("Sent", "(\\Seen)", None, sent)[0] == "OK"
    assert client.append("INBOX", None, None, sent)[1][0].startswith(b"[CANNOT]")
    assert client.append("Nulle-part", None, None, sent)[1][0].startswith(b"[TRYCREATE]")
    client.create('"Dossiers patients"')
    assert client.copy("1", '"Dossiers patients"')[0] == "OK"
    assert client.copy("1", '"Dossiers patients"')[0] == "OK"  # twice: the same Message-ID twice, as a client may
    assert client.copy("1", "Nulle-part")[1][0].startswith(b"[TRYCREATE]")
    lines, done = _untagged(client, 'UID MOVE 2 "Dossiers patients"')
    assert lines == [b"* 2 EXPUNGE"] and b"OK" in done
    assert client.select("INBOX")[1] == [b"1"]
    assert client.select('"Dossiers patients"')[1] == [b"3"]
    assert _pairs(client.fetch("1:*", "(UID)")[1]) == [(1, 1), (2, 2), (3, 3)]
    assert client.fetch("3", "(BODY.PEEK[])")[1][0][1].endswith(attached)
    assert client.copy("1", "INBOX")[1][0].startswith(b"[CANNOT]")
    assert client.select("Sent")[1] == [b"1"]
    [(head, body), _] = client.fetch("1", "(FLAGS BODY.PEEK[])")[1]
    assert body == sent and b"\\Seen" in head
    acts = [e["action"] for e in trail.since("mss.")]
    assert acts.count("mss.copier") == 2 and "mss.deplacer" in acts and "mss.deposer" in acts
    client.logout()


def test_pipelined_commands_are_answered_one_after_the_other(mss, house, monkeypatch):
    """RFC 3501 §5.5: two FETCHes, a STORE and a NOOP sent before any answer get their answers whole and
    in order (Twisted ran the second FETCH while the first waited on the database: the session was
    cut); past MAX_PIPELINED waiting lines the session ends with BYE."""
    pfi = own_pfi(mss)
    client = _submitted(mss, house, pfi, _utf8_mail(pfi), _attached(pfi))
    client.send(
        b"Z1 UID FETCH 1 (BODY.PEEK[])\r\nZ2 UID FETCH 2 (BODY.PEEK[])\r\n"
        b"Z3 UID STORE 1 +FLAGS.SILENT (\\Seen)\r\nZ4 NOOP\r\n"
    )
    tagged = []
    while len(tagged) < 4:
        line = client.readline()
        if re.match(rb"Z\d (OK|NO|BAD) ", line):
            tagged.append(line.split()[:2])
    assert tagged == [[b"Z1", b"OK"], [b"Z2", b"OK"], [b"Z3", b"OK"], [b"Z4", b"OK"]]
    assert b"\\Seen" in client.fetch("1", "(FLAGS)")[1][0]
    monkeypatch.setattr(guard, "MAX_PIPELINED", 3)
    # one write: the FETCH runs (off the loop) while the NOOPs behind it wait, the fourth too many
    client.send(b"q0 UID FETCH 1:2 (BODY.PEEK[])\r\n" + b"".join(b"q%d NOOP\r\n" % n for n in range(1, 6)))
    answers = b""
    while not answers.endswith(b"\r\n") or b"BYE" not in answers:
        chunk = client.readline()
        if not chunk:
            break
        answers += chunk
    assert b"* BYE [LIMIT]" in answers


# --- IDLE (RFC 2177) ----------------------------------------------------------------------------------


def _idle(client: imaplib.IMAP4) -> bytes:
    tag = client._new_tag()
    client.send(tag + b" IDLE\r\n")
    assert client.readline().startswith(b"+")
    return tag


def _next_line(client: imaplib.IMAP4, timeout: float) -> tuple[bytes, float]:
    started = time.monotonic()
    client.sock.settimeout(timeout)
    try:
        return client.readline(), time.monotonic() - started
    finally:
        client.sock.settimeout(20)


def _told_in_idle(mss, pfi: str, deliver) -> None:
    """A session selects the PFI's empty INBOX (`pfi`) and enters IDLE; `deliver()` brings one message;
    the session hears `* 1 EXISTS` within 5 s, then DONE ends IDLE with OK."""
    client = _imap(mss, "chu-test")
    client.login(pfi, PFI_PASSWORD)
    assert client.select("INBOX")[1] == [b"0"]
    tag = _idle(client)
    deliver()
    line, waited = _next_line(client, 10)
    assert line.strip() == b"* 1 EXISTS" and waited < 5
    client.send(b"DONE\r\n")
    assert client.readline().startswith(tag + b" OK")
    client.logout()


def test_idle_tells_of_mail_delivered_over_smtp_at_once(mss, house, monkeypatch):
    """A session in IDLE hears `* n EXISTS` as soon as the operator's SMTP delivers (the PFI, or a
    practice's mail client, waits on IDLE rather than asking again and again)."""
    monkeypatch.setattr(mss_imap, "IDLE_CHECK_S", 60.0)  # only the delivery itself can tell it
    pfi = own_pfi(mss)

    def over_smtp() -> None:
        with _client(mss, "chu-test") as smtp:
            smtp.login(pfi, PFI_PASSWORD)
            smtp.sendmail(pfi, [pfi], _letter(sender=pfi, to=pfi))

    _told_in_idle(mss, pfi, over_smtp)


def test_idle_tells_of_mail_another_process_delivered(mss, house, monkeypatch):
    """Mail written by another process (the HTTP workers' Mon espace santé messaging) reaches the
    session in IDLE within IDLE_CHECK_S: the server reads the mailbox's count again meanwhile."""
    monkeypatch.setattr(mss_imap, "IDLE_CHECK_S", 0.5)
    elsewhere = Delivery(house.db, mss.mss.runtimes["chu-test"].delivery.blobs)  # observed by nobody
    pfi = own_pfi(mss)
    _told_in_idle(
        mss,
        pfi,
        lambda: elsewhere.deliver(
            SYSTEM, pfi, _letter(sender=pfi, to=pfi), "autre@chu-test.mssante.fr", f"{uuid.uuid4()}@test"
        ),
    )


def test_the_pfi_does_not_wait_for_mail_delivered_before_its_idle(mss, house, monkeypatch):
    """Mail delivered between two of the PFI's commands is told as IDLE starts (the server counts
    again then), so the PFI does not wait out its IDLE, and keeps its session (its client also takes
    an EXISTS that a server sends before IDLE's continuation as news: it took it for a refusal and
    dropped the connection)."""
    monkeypatch.setattr(mss_imap, "IDLE_CHECK_S", 60.0)
    endpoints, pfi = mss.endpoints("chu-test"), own_pfi(mss)
    mailbox = ImapMailbox(ImapAccount("127.0.0.1", endpoints.imap, pfi, PFI_PASSWORD, str(mss.mss.authority.cert_path)))
    assert mailbox.unhandled() == []
    session = mailbox._conn
    _to_pfi(mss, house, 1, pfi)
    time.sleep(0.5)  # the EXISTS is on its way, between commands
    started = time.monotonic()
    mailbox.wait(0.2, idle=30)
    assert time.monotonic() - started < 5
    assert mailbox._conn is session  # the same session
    assert mailbox.unhandled() == [1]
    mailbox.close()
