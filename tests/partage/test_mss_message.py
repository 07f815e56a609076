"""The MSSanté message, its MDN and DSN: composed, parsed back, hostile MIME refused precisely."""

from __future__ import annotations

import email
import email.policy
from datetime import date

import pytest

from maison.partage.mss import mdn, message, xdm
from maison.partage.mss.codes import error_codes
from tests.partage.world import PROS, n1

HOSPITAL = "service.cardio@chu-test.mssante.fr"
GP = "claire.martin@medecin.mssante.fr"


def _outgoing(**extra) -> message.Outgoing:  # type: ignore[no-untyped-def]
    archive = xdm.build([xdm.XdmDocument(n1(PROS["hospitalier"]))], source_id="1.2.250.1.213.4.1.9.1")
    return message.Outgoing(
        HOSPITAL, [GP], message.subject("Lettre de liaison", "Garcia-Hammadi", "Sarah-Lou", date(1977, 1, 21)),
        "Madame, Monsieur, veuillez trouver la lettre de liaison de votre patiente.",
        [message.Attachment("IHE_XDM.ZIP", "application/zip", archive),
         message.Attachment("20261121_Lettre_de_liaison_GARCIA-HAMMADI_Sarah-Lou.pdf", "application/pdf", b"%PDF-1.4")],
        **extra)


def test_subject_convention():
    # struct-msg-mdn.md:31-33
    assert message.subject("Lettre de liaison", "Garcia-Hammadi", "Sarah-Lou", date(1977, 1, 21)) == \
        "XDM/1.0/DDM+Lettre de liaison GARCIA-HAMMADI Sarah-Lou 21/01/1977"
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
    asked = message.as_bytes(message.compose(_outgoing(notification_to="autre@ailleurs.mssante.fr"),
                                             domain="chu-test.mssante.fr"))
    assert not message.parse(b"Return-Path: <" + HOSPITAL.encode() + b">\r\n" + asked, max_bytes=10_000_000).wants_mdn()


def test_mdn_error_902_as_the_guide_writes_it(reference_path):
    raw = message.as_bytes(message.compose(_outgoing(notification_to=HOSPITAL), domain="chu-test.mssante.fr"))
    received = message.parse(raw, max_bytes=10_000_000)
    report = mdn.mdn(received, reporter="pfi@cabinet.mssante.fr", domain="cabinet.mssante.fr",
                     error=error_codes(reference_path)["902"], detail="patient inconnu de l'index")
    wire = message.as_bytes(report)
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/report"
    assert parsed.get_param("report-type") == "disposition-notification"
    assert str(parsed["Subject"]).startswith("[KO Intégration système !][902] XDM/1.0/DDM+Lettre de liaison")
    assert str(parsed["To"]) == HOSPITAL and str(parsed["Auto-Submitted"]) == "auto-replied"
    assert b"Disposition: automatic-action/MDN-sent-automatically; processed/Error: " \
           b"902^Identifiant patient inconnu^applicationErrorCode" in wire
    names = [p.get_filename() for p in parsed.walk() if p.get_filename()]
    assert "IHE_XDM.ZIP" in names and any(n.endswith(".pdf") for n in names)  # re-attached
    disposition = mdn.read_mdn(wire)
    assert disposition == mdn.Disposition(received.message_id, True, "902",
                                          "902^Identifiant patient inconnu^applicationErrorCode")


def test_mdn_success_and_the_guides_other_spelling():
    raw = message.as_bytes(message.compose(_outgoing(notification_to=HOSPITAL), domain="chu-test.mssante.fr"))
    received = message.parse(raw, max_bytes=10_000_000)
    ok = message.as_bytes(mdn.mdn(received, reporter="pfi@cabinet.mssante.fr", domain="cabinet.mssante.fr"))
    assert mdn.read_mdn(ok) == mdn.Disposition(received.message_id, True, None, "")
    # the guide's example labels 902 differently; the code is what counts
    other = ok.replace(b"MDN-sent-automatically; processed\r\n", b"MDN-sent-automatically; processed/Error: 902^Identifiant de patient inconnu^messageErrorCondition"
                                                                    b"\r\n", 1)
    assert mdn.read_mdn(other).error_code == "902"


def test_dsn_reports_each_failed_recipient():
    raw = message.as_bytes(message.compose(_outgoing(), domain="chu-test.mssante.fr"))
    report = message.as_bytes(mdn.dsn(raw, [(GP, "5.1.1", "550 5.1.1 boîte inconnue")],
                                      reporting_mta="mss.chu-test.fr", postmaster="postmaster@chu-test.mssante.fr",
                                      to=HOSPITAL))
    parsed = email.message_from_bytes(report, policy=email.policy.default)
    assert parsed.get_param("report-type") == "delivery-status"
    assert b"Final-Recipient: rfc822; " + GP.encode() in report and b"Status: 5.1.1" in report
    assert b"Action: failed" in report and b"Diagnostic-Code: smtp; 550 5.1.1 boite inconnue" in report


@pytest.mark.parametrize("raw, code", [
    (b"From: a@b.fr\r\nSubject: x\r\n\r\nbody", "message-id"),  # no Message-ID
    (b"Message-ID: <1@b.fr>\r\nSubject: x\r\n\r\nbody", "message-mal-forme"),  # no From
    (b"Message-ID: <1@b.fr>\r\nFrom: a@b.fr\r\n" + b"X" * 2000, "message-trop-grand"),
])
def test_malformed_messages_refused(raw, code):
    with pytest.raises(message.MalformedMessage) as refused:
        message.parse(raw, max_bytes=1000)
    assert refused.value.code == code


def test_too_many_mime_parts_refused():
    parts = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(100))
    raw = (b"Message-ID: <1@b.fr>\r\nFrom: a@b.fr\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B"
           b"\r\n\r\n" + parts + b"--B--\r\n")
    with pytest.raises(message.MalformedMessage, match="parties MIME"):
        message.parse(raw, max_bytes=1_000_000)
