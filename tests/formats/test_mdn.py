"""Reading a DSN (RFC 3464): each recipient's action, status and SMTP reply, and the Message-ID of the
message reported on — what the PFI turns into a ZAM^Z02 (issue 22 §2.2)."""

from __future__ import annotations

from maison.formats import mdn


def test_a_dsn_is_read_back_per_recipient_with_the_original_message_id():
    original = b"Message-ID: <lettre-1@chu-test.mssante.fr>\r\nFrom: pfi@chu-test.mssante.fr\r\n\r\ncorps"
    report = mdn.dsn(
        original,
        [("a@medecin.mssante.fr", "5.1.1", "550 5.1.1 boîte inconnue"), ("b@medecin.mssante.fr", "4.2.2", "452 plein")],
        reporting_mta="mx.medecin.mssante.fr",
        postmaster="postmaster@medecin.mssante.fr",
        to="pfi@chu-test.mssante.fr",
    )
    lines = mdn.read_dsn(report.as_bytes())
    assert [(d.original_message_id, d.recipient, d.action, d.status, d.smtp_code) for d in lines] == [
        ("<lettre-1@chu-test.mssante.fr>", "a@medecin.mssante.fr", "failed", "5.1.1", "550"),
        ("<lettre-1@chu-test.mssante.fr>", "b@medecin.mssante.fr", "failed", "4.2.2", "452"),
    ]


def test_what_is_not_a_dsn_reads_as_nothing():
    assert mdn.read_dsn(b"From: x@y.fr\r\nSubject: bonjour\r\n\r\ntexte") == []
    mdn_report = b"Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b--\r\n"
    assert mdn.read_dsn(mdn_report) == []
