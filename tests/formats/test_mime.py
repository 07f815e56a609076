"""The MSSanté message, its MDN and DSN: composed, parsed back, hostile MIME refused precisely."""

from __future__ import annotations

import email
import email.policy
from datetime import date

import pytest

from maison.formats import mdn, xdm
from maison.formats import mime as message
from maison.formats.mss_codes import error_codes
from tests.partage.world import PROS, n1

HOSPITAL = "service.cardio@chu-test.mssante.fr"
GP = "claire.martin@medecin.mssante.fr"


def _outgoing(**extra) -> message.Outgoing:
    archive = xdm.build([xdm.XdmDocument(n1(PROS["hospitalier"]))], source_id="1.2.250.1.213.4.1.9.1")
    return message.Outgoing(
        HOSPITAL,
        [GP],
        message.subject("Lettre de liaison", "Garcia-Hammadi", "Sarah-Lou", date(1977, 1, 21)),
        "Madame, Monsieur, veuillez trouver la lettre de liaison de votre patiente.",
        [
            message.Attachment("IHE_XDM.ZIP", "application/zip", archive),
            message.Attachment(
                "20261121_Lettre_de_liaison_GARCIA-HAMMADI_Sarah-Lou.pdf", "application/pdf", b"%PDF-1.4"
            ),
        ],
        **extra,
    )


def test_subject_convention():
    # struct-msg-mdn.md:31-33
    assert (
        message.subject("Lettre de liaison", "Garcia-Hammadi", "Sarah-Lou", date(1977, 1, 21))
        == "XDM/1.0/DDM+Lettre de liaison GARCIA-HAMMADI Sarah-Lou 21/01/1977"
    )
    assert message.ko_subject("902", "Re: XDM/1.0/DDM+CR X Y") == "[KO Intégration système !][902] XDM/1.0/DDM+CR X Y"


def test_compose_and_parse_round_trip():
    raw = message.as_bytes(message.compose(_outgoing(notification_to=HOSPITAL), domain="chu-test.mssante.fr"))
    got = message.parse(raw, max_bytes=10_000_000)
    assert got.sender == HOSPITAL and got.to == [GP] and got.is_xdm
    assert got.subject.startswith("XDM/1.0/DDM+Lettre de liaison GARCIA-HAMMADI")  # RFC 2047 decoded
    assert "lettre de liaison" in got.body
    assert xdm.read(got.xdm).documents[0].type_code == "11490-0"
    assert [a.content_type for a in got.attachments] == ["application/zip", "application/pdf"]
    assert got.wants_mdn() and got.message_id.endswith("@chu-test.mssante.fr>")
    assert not got.end_of_exchange


def test_mdn_only_when_asked_and_to_the_return_path():
    raw = message.as_bytes(message.compose(_outgoing(), domain="chu-test.mssante.fr"))
    assert not message.parse(raw, max_bytes=10_000_000).wants_mdn()
    asked = message.as_bytes(
        message.compose(_outgoing(notification_to="autre@ailleurs.mssante.fr"), domain="chu-test.mssante.fr")
    )
    assert not message.parse(b"Return-Path: <" + HOSPITAL.encode() + b">\r\n" + asked, max_bytes=10_000_000).wants_mdn()


def test_mdn_error_902_as_the_guide_writes_it(reference_path):
    raw = message.as_bytes(message.compose(_outgoing(notification_to=HOSPITAL), domain="chu-test.mssante.fr"))
    received = message.parse(raw, max_bytes=10_000_000)
    report = mdn.mdn(
        received,
        reporter="pfi@cabinet.mssante.fr",
        domain="cabinet.mssante.fr",
        error=error_codes(reference_path)["902"],
        detail="patient inconnu de l'index",
    )
    wire = message.as_bytes(report)
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/report"
    assert parsed.get_param("report-type") == "disposition-notification"
    assert str(parsed["Subject"]).startswith("[KO Intégration système !][902] XDM/1.0/DDM+Lettre de liaison")
    assert str(parsed["To"]) == HOSPITAL and str(parsed["Auto-Submitted"]) == "auto-replied"
    assert (
        b"Disposition: automatic-action/MDN-sent-automatically; processed/Error: "
        b"902^Identifiant patient inconnu^applicationErrorCode" in wire
    )
    names = [p.get_filename() for p in parsed.walk() if p.get_filename()]
    assert "IHE_XDM.ZIP" in names and any(n.endswith(".pdf") for n in names)  # re-attached
    disposition = mdn.read_mdn(wire)
    assert disposition == mdn.Disposition(
        received.message_id, True, "902", "902^Identifiant patient inconnu^applicationErrorCode"
    )


def test_mdn_success_and_the_guides_other_spelling():
    raw = message.as_bytes(message.compose(_outgoing(notification_to=HOSPITAL), domain="chu-test.mssante.fr"))
    received = message.parse(raw, max_bytes=10_000_000)
    ok = message.as_bytes(mdn.mdn(received, reporter="pfi@cabinet.mssante.fr", domain="cabinet.mssante.fr"))
    assert mdn.read_mdn(ok) == mdn.Disposition(received.message_id, True, None, "")
    # the guide's example labels 902 differently; the code is what counts
    other = ok.replace(
        b"MDN-sent-automatically; processed\r\n",
        b"MDN-sent-automatically; processed/Error: 902^Identifiant de patient inconnu^messageErrorCondition\r\n",
        1,
    )
    assert mdn.read_mdn(other).error_code == "902"


def test_dsn_reports_each_failed_recipient():
    raw = message.as_bytes(message.compose(_outgoing(), domain="chu-test.mssante.fr"))
    report = message.as_bytes(
        mdn.dsn(
            raw,
            [(GP, "5.1.1", "550 5.1.1 boîte inconnue")],
            reporting_mta="mss.chu-test.fr",
            postmaster="postmaster@chu-test.mssante.fr",
            to=HOSPITAL,
        )
    )
    parsed = email.message_from_bytes(report, policy=email.policy.default)
    assert parsed.get_param("report-type") == "delivery-status"
    assert b"Final-Recipient: rfc822; " + GP.encode() in report and b"Status: 5.1.1" in report
    assert b"Action: failed" in report and b"Diagnostic-Code: smtp; 550 5.1.1 boite inconnue" in report


@pytest.mark.parametrize(
    "raw, code",
    [
        (b"From: a@b.fr\r\nSubject: x\r\n\r\nbody", "message-id"),  # no Message-ID
        (b"Message-ID: <1@b.fr>\r\nSubject: x\r\n\r\nbody", "message-mal-forme"),  # no From
        (b"Message-ID: <1@b.fr>\r\nFrom: a@b.fr\r\n" + b"X" * 2000, "message-trop-grand"),
    ],
)
def test_malformed_messages_refused(raw, code):
    with pytest.raises(message.MalformedMessage) as refused:
        message.parse(raw, max_bytes=1000)
    assert refused.value.code == code


def test_too_many_mime_parts_refused():
    parts = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(100))
    raw = (
        b"Message-ID: <1@b.fr>\r\nFrom: a@b.fr\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B"
        b"\r\n\r\n" + parts + b"--B--\r\n"
    )
    with pytest.raises(message.MalformedMessage, match="parties MIME"):
        message.parse(raw, max_bytes=1_000_000)


def _stdlib_view(raw: bytes) -> tuple[str, list[tuple[str, str, bytes]]]:
    """What the standard library's full parser reads: the first text/plain body and the attachments."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body, attachments = "", []
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_filename():
            attachments.append((part.get_filename(), part.get_content_type(), part.get_payload(decode=True)))
        elif part.get_content_type() == "text/plain" and not body:
            body = part.get_content()
    return body, attachments


def _nested() -> bytes:
    """A mail client's message: multipart/mixed holding multipart/alternative (text + HTML), a
    quoted-printable body with accents, attachments named in RFC 2231 and RFC 2047."""
    msg = email.message.EmailMessage(policy=email.policy.SMTP)
    msg["From"], msg["To"] = HOSPITAL, GP
    msg["Subject"] = "Résultats — Mme Garcia-Hammadi " + "(créatininémie, ionogramme, NFS) " * 4  # folded
    msg["Message-ID"] = "<nested.1@chu-test.mssante.fr>"
    msg.set_content("Bonjour Docteur, voici les résultats (créatininémie élevée).\n" * 20, cte="quoted-printable")
    msg.add_alternative("<p>Bonjour Docteur, voici les r&eacute;sultats.</p>", subtype="html")
    msg.add_attachment(bytes(range(256)) * 300, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    msg.add_attachment(
        b"%PDF-1.4 compte rendu", maintype="application", subtype="pdf", filename="Compte rendu d'échographie.pdf"
    )
    return msg.as_bytes()


@pytest.mark.parametrize("variant", ["crlf", "lf", "no-close-delimiter", "preamble-epilogue", "rfc2047-filename"])
def test_fast_mime_reading_agrees_with_the_standard_library(variant):
    """The parts are cut at their delimiters rather than read line by line (what makes a 20 MB
    attachment cheap): on every shape a mail client produces, the result is the standard library's."""
    raw = _nested()
    if variant == "lf":
        raw = raw.replace(b"\r\n", b"\n")
    elif variant == "no-close-delimiter":
        raw = raw[: raw.rindex(b"--", 0, len(raw) - 4)].rstrip(b"-\r\n") + b"\r\n"
    elif variant == "preamble-epilogue":
        head, _, body = raw.partition(b"\r\n\r\n")
        raw = head + b"\r\n\r\nThis is a multi-part message in MIME format.\r\n" + body + b"\r\nepilogue\r\n"
    elif variant == "rfc2047-filename":
        raw = raw.replace(
            b"filename*=utf-8''Compte%20rendu%20d%27%C3%A9chographie.pdf",
            b'filename="=?utf-8?q?Compte_rendu_d=27=C3=A9chographie=2Epdf?="',
        )
        assert b"=?utf-8?q?Compte" in raw
    got = message.parse(raw, max_bytes=10_000_000)
    body, attachments = _stdlib_view(raw)
    assert got.body == body and "créatininémie" in got.body
    whole = email.message_from_bytes(raw, policy=email.policy.default)  # the header fields, read alike
    assert (got.subject, got.message_id, got.sender, got.to) == (
        whole["Subject"],
        whole["Message-ID"],
        whole["From"].addresses[0].addr_spec,
        [GP],
    )
    assert got.subject.startswith("Résultats — Mme Garcia-Hammadi")
    assert [(a.filename, a.content_type, a.data) for a in got.attachments] == attachments
    assert got.xdm == bytes(range(256)) * 300


@pytest.mark.parametrize(
    "raw",
    [
        b"Message-ID: <1@b.fr>\r\nFrom: a@b.fr\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n",
        b"Message-ID: <1@b.fr>\r\nFrom: a@b.fr\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\nno delimiter\r\n",
        b"Message-ID: <1@b.fr>\r\nFrom: a@b.fr\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        + b"--B\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" * 12,  # nested beyond the depth limit
    ],
)
def test_broken_multiparts_refused(raw):
    with pytest.raises(message.MalformedMessage) as refused:
        message.parse(raw, max_bytes=1_000_000)
    assert refused.value.code == "message-mal-forme"
