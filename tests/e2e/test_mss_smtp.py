"""Two operators of the trust space exchange mail over SMTP: submission (STARTTLS + AUTH), relay with
mutual TLS, delivery; what is refused at SMTP time with a precise reply (SPEC §4) once something was
delivered. The tests of one backend share one house and one trust space of operators
(tests/e2e/mss_shared.py), each sending from and to mailboxes of its own. The refusals that deliver
nothing are in test_mss_smtp_refus.py."""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
import smtplib
import ssl
import time
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from maison.formats import mime as message
from maison.formats import xdm
from maison.partage.mss import smtp, store, trace
from tests.e2e import mss_shared
from tests.e2e.mss_shared import own_gp, own_pfi
from tests.partage.mss_world import GP, HOPITAL_DOMAIN, MEDECIN_DOMAIN, PFI, PFI_PASSWORD
from tests.partage.world import PROS, n1

mss, house, module_pros, pros = mss_shared.mss, mss_shared.house, mss_shared.module_pros, mss_shared.pros


def _letter(sender: str = PFI, to: str = GP, cda: bytes | None = None, **extra) -> bytes:
    archive = xdm.build([xdm.XdmDocument(cda or n1(PROS["hospitalier"]))], source_id="1.2.250.1.213.4.1.9.1")
    out = message.Outgoing(
        sender,
        [to],
        message.subject("Lettre de liaison", "Garcia-Hammadi", "Sarah", date(1977, 1, 21)),
        "Lettre de liaison de votre patiente.",
        [
            message.Attachment("IHE_XDM.ZIP", "application/zip", archive),
            message.Attachment(
                "20261121_Lettre_de_liaison_GARCIA-HAMMADI.pdf",
                "application/pdf",
                b"%PDF-1.4 la version lisible de la lettre",
            ),
        ],
        **extra,
    )
    return message.as_bytes(message.compose(out, domain=sender.rpartition("@")[2]))


def _client(mss, operator: str, local_hostname: str | None = None) -> smtplib.SMTP:
    endpoints = mss.endpoints(operator)
    client = smtplib.SMTP("127.0.0.1", endpoints.submission, timeout=20, local_hostname=local_hostname)
    client.starttls(context=ssl.create_default_context(cafile=str(mss.mss.authority.cert_path)))
    client.ehlo()  # RFC 3207: the session starts again after STARTTLS
    return client


def _as_the_hospital_relay(mss) -> smtplib.SMTP:
    """A connection to the GP's operator's relay port, presenting the hospital operator's certificate."""
    runtime = mss.mss.runtimes["chu-test"]
    context = ssl.create_default_context(cafile=str(runtime.ca))
    context.load_cert_chain(str(runtime.issued.cert), str(runtime.issued.key))
    relay = smtplib.SMTP("127.0.0.1", mss.endpoints("medecins").relay, timeout=20)
    relay.starttls(context=context)
    relay.ehlo()
    return relay


def _delivered(house, address: str, timeout: float = 15) -> list[sa.Row]:
    deadline = time.monotonic() + timeout
    while True:
        with house.db.read() as conn:
            rows = conn.execute(sa.select(store.mss_message).where(store.mss_message.c.address == address)).all()
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_two_operators_exchange_a_message_over_mutual_tls(mss, house):
    pfi, gp = own_pfi(mss), own_gp(mss)
    raw = _letter(sender=pfi, to=gp)
    with _client(mss, "chu-test") as client:
        client.login(pfi, PFI_PASSWORD)
        assert client.sendmail(pfi, [gp], raw) == {}
    [row] = _delivered(house, gp)
    stored = mss.mss.delivery.content(row.sha256)
    assert trace.content(stored) == raw and stored.endswith(raw) and row.sender == pfi and row.uid == 1
    # the relay records "sent" once the receiver's 250 is in: that may come just after the receiver
    # stored the message, so the outbox is read until it says so (or the deadline passes)
    deadline = time.monotonic() + 15
    while True:
        with house.db.read() as conn:
            outbox = conn.execute(sa.select(store.mss_outbox).where(store.mss_outbox.c.sender == pfi)).one()
        if outbox.status == "sent" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert outbox.status == "sent" and outbox.destination == "medecins"


def test_lines_starting_with_a_dot_cross_both_hops_unchanged(mss, house):
    """RFC 5321 §4.5.2: the relay dot-stuffs what it sends; a lone "." line must not end the message."""
    pfi, gp = own_pfi(mss), own_gp(mss)
    raw = (
        f"From: {pfi}\r\nTo: {gp}\r\nSubject: points\r\nMessage-ID: <points@{HOPITAL_DOMAIN}>\r\n\r\n"
        ".premiere ligne\r\n.\r\n..deux points\r\nfin\r\n"
    ).encode()
    with _client(mss, "chu-test") as client:
        client.login(pfi, PFI_PASSWORD)
        assert client.sendmail(pfi, [gp], raw) == {}
    [row] = _delivered(house, gp)
    assert mss.mss.delivery.content(row.sha256).endswith(raw)  # under the trace fields (RFC 5321 §4.4)


def test_a_mailbox_closed_meanwhile_is_refused_at_data_then_at_rcpt(mss, house):
    """RCPT answers for an open local mailbox are kept RECIPIENT_CACHE_SECONDS; a mailbox closed in
    that time is refused at DATA by the delivery, which reads it under lock, and nothing is stored."""
    pfi, desk = own_pfi(mss), own_pfi(mss, "secretariat")
    with _client(mss, "chu-test") as client:
        client.login(pfi, PFI_PASSWORD)
        assert client.sendmail(pfi, [desk], _letter(sender=pfi, to=desk)) == {}
        with house.db.write() as conn:
            conn.execute(store.mss_mailbox.update().where(store.mss_mailbox.c.address == desk).values(active=False))
        client.mail(pfi)
        assert client.rcpt(desk)[0] == 250  # still the answer kept from the first message
        code, text = client.data(_letter(sender=pfi, to=desk))
        assert code == 550 and b"5.1.1" in text
        time.sleep(smtp.RECIPIENT_CACHE_SECONDS + 0.1)
        client.rset()
        client.mail(pfi)
        code, text = client.rcpt(desk)
        assert code == 550 and b"5.1.1" in text
    assert len(_delivered(house, desk)) == 1


def test_unknown_recipient_at_the_other_operator_comes_back_as_a_dsn(mss, house):
    pfi = own_pfi(mss)
    with _client(mss, "chu-test") as client:
        client.login(pfi, PFI_PASSWORD)
        client.sendmail(pfi, [f"personne@{MEDECIN_DOMAIN}"], _letter(sender=pfi, to=f"personne@{MEDECIN_DOMAIN}"))
    [bounce] = _delivered(house, pfi)
    report = mss.mss.delivery.content(bounce.sha256)
    parsed = email.message_from_bytes(report, policy=email.policy.default)
    assert parsed.get_param("report-type") == "delivery-status" and b"Status: 5.1.1" in report
    assert f"personne@{MEDECIN_DOMAIN}".encode() in report
    assert report.startswith(b"Return-Path: <>\r\n")  # the null reverse-path of a report (RFC 5321 §4.5.5)


def test_duplicate_message_id_delivered_once_and_a_reuse_refused(mss, house):
    pfi, gp = own_pfi(mss), own_gp(mss)
    raw = _letter(sender=pfi, to=gp)
    with _client(mss, "chu-test") as client:
        client.login(pfi, PFI_PASSWORD)
        client.sendmail(pfi, [gp], raw)
        client.sendmail(pfi, [gp], raw)  # a retry after a lost answer: accepted, not stored twice
    time.sleep(1.0)
    assert len(_delivered(house, gp)) == 1
    reused = raw.replace(b"Lettre de liaison de votre patiente.", b"Un autre message, meme Message-ID.")
    with _as_the_hospital_relay(mss) as relay:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            relay.sendmail(pfi, [gp], reused)
        assert refused.value.smtp_code == 554 and b"5.6.0" in refused.value.smtp_error


def test_a_professional_authenticates_with_his_psc_token(mss, house, pros):
    pfi, gp = own_pfi(mss), own_gp(mss)
    token = pros.tokens["generaliste"]

    def xoauth2(challenge=None):
        return f"user={gp}\x01auth=Bearer {token}\x01\x01" if not challenge else ""

    with _client(mss, "medecins") as client:
        client.ehlo()
        code, _ = client.auth("XOAUTH2", xoauth2)
        assert code == 235
        reply = _letter(sender=gp, to=pfi)
        assert client.sendmail(gp, [pfi], reply) == {}
    assert len(_delivered(house, pfi)) == 1

    def forged(challenge=None):
        return f"user={gp}\x01auth=Bearer {token[:-4]}AAAA\x01\x01" if not challenge else ""

    with _client(mss, "medecins") as client:
        client.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.auth("XOAUTH2", forged)
        assert refused.value.smtp_code == 535


# --- trace fields: a Received line per hop, Return-Path at delivery (RFC 5321 §4.4) -------------------

_RECEIVED = re.compile(
    rb"Received: from (?P<helo>\S+) \(\[127\.0\.0\.1\]\)\r\n"
    rb"\tby (?P<by>\S+) with (?P<with>[A-Z0-9]+) id (?P<id>[0-9A-F]{16})"
    rb"(?:\r\n\tfor <(?P<for>[^>\r\n]+)>; |;\r\n\t)(?P<date>[^\r\n]+)\r\n"
)


def _trace(stored: bytes) -> tuple[bytes, list[dict[str, bytes]], bytes]:
    """(the Return-Path field, each Received line's parts top first, the rest of the message)."""
    assert stored.startswith(b"Return-Path: <"), stored[:200]
    return_path, _, rest = stored.partition(b"\r\n")
    hops = []
    while (found := _RECEIVED.match(rest)) is not None:
        hops.append(found.groupdict())
        rest = rest[found.end() :]
    return return_path, hops, rest


def _recent(when: bytes) -> bool:
    moment = email.utils.parsedate_to_datetime(when.decode())  # RFC 5322 §3.3 date-time
    return moment.utcoffset() is not None and abs((datetime.now(UTC) - moment).total_seconds()) < 120


def test_each_hop_prepends_its_received_line_and_delivery_the_return_path(mss, house):
    """The hospital's submission (ESMTPSA: TLS and AUTH, RFC 3848) then the GP's operator's relay
    (ESMTPS) each put one Received line on top, the GP's mailbox the Return-Path of the envelope; the
    message under them is byte for byte what the client sent, and nothing names the software or
    the login."""
    pfi, gp = own_pfi(mss), own_gp(mss)
    raw = _letter(sender=pfi, to=gp)
    with _client(mss, "chu-test", local_hostname="poste-accueil.chu-test.fr") as client:
        client.login(pfi, PFI_PASSWORD)
        assert client.sendmail(pfi, [gp], raw) == {}
    [row] = _delivered(house, gp)
    stored = mss.mss.delivery.content(row.sha256)
    return_path, hops, rest = _trace(stored)
    assert return_path == f"Return-Path: <{pfi}>".encode() and rest == raw
    relay, submission = hops
    assert (relay["helo"], relay["by"], relay["with"], relay["for"]) == (
        HOPITAL_DOMAIN.encode(),
        MEDECIN_DOMAIN.encode(),
        b"ESMTPS",
        gp.encode(),
    )
    assert (submission["helo"], submission["by"], submission["with"], submission["for"]) == (
        b"poste-accueil.chu-test.fr",
        HOPITAL_DOMAIN.encode(),
        b"ESMTPSA",
        gp.encode(),
    )
    assert relay["id"] != submission["id"] and _recent(relay["date"]) and _recent(submission["date"])
    head = stored[: len(stored) - len(raw)].lower()
    assert not any(word in head for word in (b"maison", b"aiosmtpd", b"python", PFI_PASSWORD.encode(), b"auth"))
    parsed = email.message_from_bytes(stored, policy=email.policy.default)  # an RFC 5322 reader agrees
    assert parsed["Return-Path"] == f"<{pfi}>" and len(parsed.get_all("Received")) == 2


def test_smtputf8_and_several_recipients_show_in_the_received_line(mss, house):
    """SMTPUTF8 asked: `with UTF8SMTPSA` (RFC 6531 §3.7.3); two recipients: no `for` (it would show
    each one the other), and one blob for both mailboxes; a HELO name that is no domain is replaced
    by the client's address literal (RFC 5321 §4.4 Extended-Domain)."""
    pfi, desk = own_pfi(mss), own_pfi(mss, "secretariat")
    raw = (
        f"From: {pfi}\r\nTo: {desk}\r\nSubject: Compte rendu de Zoé Hélène\r\n"
        f"Message-ID: <utf8-trace@{HOPITAL_DOMAIN}>\r\n\r\ncorps\r\n"
    ).encode()
    with _client(mss, "chu-test") as client:
        client.ehlo("pas_un_nom")
        client.login(pfi, PFI_PASSWORD)
        assert client.sendmail(pfi, [pfi, desk], raw, mail_options=["SMTPUTF8"]) == {}
    [to_desk], [to_pfi] = _delivered(house, desk), _delivered(house, pfi)
    assert to_desk.sha256 == to_pfi.sha256
    return_path, [hop], rest = _trace(mss.mss.delivery.content(to_desk.sha256))
    assert return_path == f"Return-Path: <{pfi}>".encode() and rest == raw
    assert (hop["helo"], hop["with"], hop["for"]) == (b"[127.0.0.1]", b"UTF8SMTPSA", None)


def test_the_relay_asks_smtputf8_for_a_message_with_utf8_headers(mss, house):
    """RFC 6531 §3.4: the relay hop carries a message with UTF-8 header fields under SMTPUTF8, so the
    next operator's Received line says UTF8SMTPS (it said ESMTPS: the relay never asked)."""
    pfi, gp = own_pfi(mss), own_gp(mss)
    raw = (
        f"From: {pfi}\r\nTo: {gp}\r\nSubject: Compte rendu de Zoé Hélène\r\n"
        f"Message-ID: <utf8-relay@{HOPITAL_DOMAIN}>\r\n\r\ncorps\r\n"
    ).encode()
    with _client(mss, "chu-test") as client:
        client.login(pfi, PFI_PASSWORD)
        assert client.sendmail(pfi, [gp], raw, mail_options=["SMTPUTF8"]) == {}
    [row] = _delivered(house, gp)
    _return_path, [relay, submission], rest = _trace(mss.mss.delivery.content(row.sha256))
    assert (relay["with"], submission["with"], rest) == (b"UTF8SMTPS", b"UTF8SMTPSA", raw)


def test_a_relay_retry_under_a_new_received_line_is_a_replay(mss, house):
    """A relay whose 250 was lost sends the same bytes again; this operator stamps them with another
    Received line (another id and date), and still answers the retry as delivered without storing it
    twice (the Message-ID's message is compared without its trace fields); another message under
    that Message-ID is still refused."""
    pfi, gp = own_pfi(mss), own_gp(mss)
    raw = _letter(sender=pfi, to=gp)
    with _as_the_hospital_relay(mss) as relay:
        assert relay.sendmail(pfi, [gp], raw) == {}
        time.sleep(1.1)  # the second Received line cannot have the first one's date
        assert relay.sendmail(pfi, [gp], raw) == {}
        stamped = b"Received: from elsewhere.example ([192.0.2.1])\r\n\tby x with ESMTPS id 1; date\r\n" + raw
        assert relay.sendmail(pfi, [gp], stamped) == {}  # the same message after one more hop
        with pytest.raises(smtplib.SMTPDataError) as refused:
            relay.sendmail(pfi, [gp], raw.replace(b"Lettre de liaison de votre patiente.", b"Autre chose."))
        assert refused.value.smtp_code == 554
    [row] = _delivered(house, gp)
    assert trace.content(mss.mss.delivery.content(row.sha256)) == raw
