"""The SUN-ES PS4.1 test mailbox's verdict (004 L706-712, L734-737): an IHE_XDM.ZIP holding a CDA R2
N1 and a PDF conform; what is missing named; the verdict recorded in the trail."""

from __future__ import annotations

import pytest

from maison.core import audit
from maison.core.actor import Actor
from maison.formats import mime, xdm
from maison.partage.mss import citizen
from tests.partage.world import PROS, n1

SENDER = "pfi@chu-test.mssante.fr"
PDF = mime.Attachment("lettre.pdf", "application/pdf", b"%PDF-1.4 la version lisible")


def _archive() -> mime.Attachment:
    data = xdm.build([xdm.XdmDocument(n1(PROS["hospitalier"]))], source_id="1.2.250.1.213.4.1.9.1")
    return mime.Attachment("IHE_XDM.ZIP", "application/zip", data)


def _message(*attachments: mime.Attachment) -> mime.Received:
    out = mime.Outgoing(SENDER, [citizen.TEST_MAILBOX], "Test SUN-ES", "Message test.", list(attachments))
    return mime.parse(mime.as_bytes(mime.compose(out, domain="chu-test.mssante.fr")), max_bytes=10_000_000)


def test_an_archive_with_an_n1_and_a_pdf_conforms():
    verdict = citizen.judge_test(_message(_archive(), PDF))
    assert verdict.conform and verdict.n1 == 1 and verdict.pdf
    answer = mime.parse(citizen.test_answer(_message(_archive(), PDF), verdict), max_bytes=1_000_000)
    assert answer.body.startswith("Test réussi") and "(N1)" in answer.body


@pytest.mark.parametrize(
    ("attachments", "missing"),
    [
        ((), ["aucune pièce jointe IHE_XDM.ZIP", "aucune pièce jointe PDF"]),
        (("archive",), ["aucune pièce jointe PDF"]),  # 004 L734: the XDM archive *and* a PDF
        (("pdf",), ["aucune pièce jointe IHE_XDM.ZIP"]),
        # named .pdf and typed application/pdf, but not a PDF: the bytes decide
        (("archive", "fake-pdf"), ["aucune pièce jointe PDF"]),
    ],
)
def test_what_is_missing_is_named(attachments, missing):
    parts = {
        "archive": _archive(),
        "pdf": PDF,
        "fake-pdf": mime.Attachment("lettre.pdf", "application/pdf", b"<html>pas un PDF</html>"),
    }
    verdict = citizen.judge_test(_message(*(parts[a] for a in attachments)))
    assert not verdict.conform and list(verdict.missing) == missing


def test_a_broken_archive_is_named():
    broken = mime.Attachment("IHE_XDM.ZIP", "application/zip", b"PK\x03\x04 pas une archive")
    verdict = citizen.judge_test(_message(broken, PDF))
    assert not verdict.conform and verdict.missing[0].startswith("archive IHE_XDM.ZIP refusée")


def test_the_verdict_is_recorded(db):
    operator = Actor(person="operateur:mes", structure="mes", software="maison-mss")
    received = _message(_archive())
    citizen.record_test(db, operator, received, citizen.judge_test(received), "<reponse@patient.mssante.fr>")
    with db.read() as conn:
        [record] = list(audit.events(conn, action_prefix="mss.test-citoyen"))
    assert audit.detail_of(record) | {"actor": None} == {
        "actor": None,
        "expediteur": SENDER,
        "message_id": received.message_id,
        "reponse": "<reponse@patient.mssante.fr>",
        "conforme": False,
        "documents_n1": 1,
        "pdf": False,
        "manques": ["aucune pièce jointe PDF"],
    }
