"""One action on the sender's side: the same document to the médecin traitant, the prescriber and the
patient's citizen mailbox by MSSanté, and into the DMP (000 L4121-4125; issue 5 §3.2).

What a hospital's PFI does for its DPI, with standard protocols only: the message (IHE_XDM.ZIP +
the human-readable PDF of the N1, subject `XDM/1.0/DDM+…`, MDN asked) is submitted to the
hospital's operator over SMTP (STARTTLS + AUTH of the applicative mailbox); the DMP is fed over
PDSm (ITI-65) with the structure's credential. Rules the guide's management matrix sets
(xds-cda-metadata regles-gestion-mssante.md; docs/research/mssante-guide-digest.md §10):
- a document invisible to the patient (INVISIBLE_PATIENT) is not sent to the patient;
- the patient's address is built only from a qualified INS (the DMP feed checks it against the
  referential, and the patient's mailbox exists only for an active INS with a Mon espace santé).
Each leg's outcome is reported; one failing does not hide the others.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import unicodedata
from dataclasses import dataclass, field
from datetime import date

import httpx
import orjson

from maison.etablissement.dmp.producer import Produced, provide_bundle
from maison.formats import mime, xdm, xmlsafe
from maison.formats.cda.header import INS_ROOTS, embedded_pdf, read_header


@dataclass(frozen=True)
class Submission:
    """How the PFI reaches its operator: submission endpoint, the trust space's CA, its mailbox."""

    host: str
    port: int
    ca: str
    mailbox: str
    password: str

    def send(self, raw: bytes, sender: str, recipients: list[str]) -> dict[str, str]:
        """Submit a message as the mailbox's software does (STARTTLS, then AUTH PLAIN); the
        recipients refused at RCPT time, with the operator's reply."""
        with smtplib.SMTP(self.host, self.port, timeout=60) as client:
            client.starttls(context=ssl.create_default_context(cafile=self.ca))
            client.ehlo()  # RFC 3207: the session starts again after STARTTLS
            client.login(self.mailbox, self.password)
            try:
                refused = client.sendmail(sender, recipients, raw)
            except smtplib.SMTPRecipientsRefused as exc:
                refused = exc.recipients
        return {r: f"{code} {text.decode('ascii', 'replace')}" for r, (code, text) in refused.items()}


@dataclass
class Dispatch:
    message_id: str | None = None
    sent_to: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # recipient → SMTP reply
    dmp: str = ""  # "201 Created" / "200 OK" (replay) / the refusal


def dispatch(
    cda: bytes,
    *,
    submission: Submission,
    source_oid: str,
    medecin_traitant: str | None = None,
    prescripteur: str | None = None,
    patient: bool = True,
    visibility: tuple[str, ...] = (),
    dmp_url: str | None = None,
    dmp_headers: dict[str, str] | None = None,
    body: str = "",
) -> Dispatch:
    header = read_header(xmlsafe.parse(cda, max_bytes=len(cda) + 1))
    ins = header.patient.ins
    out = Dispatch()
    recipients = [a for a in (medecin_traitant, prescripteur) if a]
    if patient and "INVISIBLE_PATIENT" not in visibility and ins is not None and ins.root in INS_ROOTS:
        recipients.append(f"{ins.extension}@{mime.CITIZEN_DOMAIN}")
    if recipients:
        out.message_id, out.sent_to, out.refused = _send(
            cda, header, recipients, submission, source_oid, visibility, body
        )
    if dmp_url:
        answer = httpx.post(
            dmp_url,
            content=orjson.dumps(provide_bundle([Produced(cda, visibility=visibility)], source_id=source_oid)),
            headers={"Content-Type": "application/fhir+json", **(dmp_headers or {})},
            timeout=60,
        )
        out.dmp = (
            answer.json()["entry"][0]["response"]["status"]
            if answer.status_code == 200
            else f"{answer.status_code} {answer.text[:300]}"
        )
    return out


def send_document(
    cda: bytes,
    recipients: list[str],
    submission: Submission,
    source_oid: str,
    visibility: tuple[str, ...] = (),
    body: str = "",
) -> tuple[str, list[str], dict[str, str]]:
    """One message with the document (IHE_XDM.ZIP, its PDF) to `recipients`: its Message-ID, who it
    was sent to, who was refused at RCPT with the operator's reply (the PFI's HL7 v2 receiver sends
    by MSSanté through this, issue 22 §2.2)."""
    header = read_header(xmlsafe.parse(cda, max_bytes=len(cda) + 1))
    return _send(cda, header, recipients, submission, source_oid, visibility, body)


def _send(
    cda: bytes,
    header,
    recipients: list[str],
    submission: Submission,
    source_oid: str,
    visibility: tuple[str, ...],
    body: str,
) -> tuple[str, list[str], dict[str, str]]:
    p = header.patient
    birth = (
        date(int(p.birth_date[:4]), int(p.birth_date[4:6]), int(p.birth_date[6:8])) if len(p.birth_date) >= 8 else None
    )
    attachments = [
        mime.Attachment(
            "IHE_XDM.ZIP",
            "application/zip",
            xdm.build([xdm.XdmDocument(cda, visibility=visibility)], source_id=source_oid),
        )
    ]
    pdf = embedded_pdf(xmlsafe.parse(cda, max_bytes=len(cda) + 1))
    if pdf:  # the PDF travels beside its CDA for mail clients (002 L417)
        stamp = (header.effective_time or "")[:8]
        attachments.append(
            mime.Attachment(
                f"{stamp}_{_filename_part(header.title)}_{_filename_part(p.birth_family)}.pdf", "application/pdf", pdf
            )
        )
    subject = mime.subject(header.title, p.birth_family, (p.birth_given_first or p.birth_givens.split(" ")[0]), birth)
    msg = mime.compose(
        mime.Outgoing(
            submission.mailbox,
            recipients,
            subject,
            body or f"{header.title} — document joint (IHE_XDM.ZIP) et sa version PDF.",
            attachments,
            notification_to=submission.mailbox,
        ),
        domain=submission.mailbox.rpartition("@")[2],
    )
    failed = submission.send(mime.as_bytes(msg), submission.mailbox, recipients)
    return str(msg["Message-ID"]), [r for r in recipients if r not in failed], failed


def _filename_part(text: str) -> str:
    """The ASCII-safe file name of the PDF (mss-courriel struct-email-standard.md:84)."""
    return re.sub(r"[^A-Za-z0-9-]+", "_", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode())[:60]
