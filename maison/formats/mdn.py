"""Acknowledgements: MDN (RFC 8098) from the receiving PFI, DSN (RFC 3464) from an operator.

MDN, as the MSSanté guide shapes it (mss-courriel struct-msg-mdn.md:15-134):
- sent only when `Disposition-Notification-To` asked for it, to that address;
- `multipart/report; report-type=disposition-notification`: a human text, the
  `message/disposition-notification` part (`Reporting-UA`, `Original-Recipient`, `Final-Recipient`,
  `Original-Message-ID`, `Disposition`), then the original message, then `IHE_XDM.ZIP` and the PDF
  re-attached (struct-msg-mdn.md:61, 122-133);
- `Disposition: automatic-action/MDN-sent-automatically; processed` on success, or
  `…; processed/Error: 902^Identifiant patient inconnu^applicationErrorCode` — the guide glues the
  error to the disposition; the RFC 8098 `Error:` field is added too, so both kinds of reader find it;
- subject `[KO Intégration système !][902] XDM/1.0/DDM+…` on error, the original subject otherwise.

DSN: `multipart/report; report-type=delivery-status` with one per-recipient block (`Final-Recipient`,
`Action: failed`, `Status`, `Diagnostic-Code: smtp; …`) and the original headers.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.utils import format_datetime, make_msgid
from typing import cast

from maison.formats.mime import Attachment, Received, ascii_text, ko_subject
from maison.formats.mss_codes import ErrorCode

UA = "Maison PFI"


def _report(kind: str, sender: str, to: str, subject: str, domain: str) -> EmailMessage:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-replied"  # RFC 3834: never answered automatically in turn
    msg.make_mixed()
    msg.replace_header("Content-Type", f"multipart/report; report-type={kind}")
    return msg


def _part(content_type: str, text: str, *, filename: str | None = None) -> EmailMessage:
    part = EmailMessage(policy=email.policy.SMTP)
    part["Content-Type"] = content_type
    if filename:
        part["Content-Disposition"] = f'attachment; filename="{filename}"'
    part.set_payload(text, charset=None)
    part["Content-Transfer-Encoding"] = "8bit" if any(ord(c) > 127 for c in text) else "7bit"
    return part


def mdn(
    received: Received, *, reporter: str, domain: str, error: ErrorCode | None = None, detail: str = ""
) -> EmailMessage:
    """The PFI's MDN for `received`, from its mailbox `reporter`."""
    # the machine-readable fields are ASCII (RFC 8098 §3.1; an 8-bit field would need RFC 6533's
    # message/global-disposition-notification): labels lose their accents there, keep them in the text
    outcome = "processed" if error is None else f"processed/Error: {ascii_text(error.mdn())}"
    subject = received.subject if error is None else ko_subject(error.code, received.subject)
    msg = _report("disposition-notification", reporter, received.notification_to or received.sender, subject, domain)
    if error is None:
        text = f"Le document du message {received.message_id} a été intégré.\r\n"
    else:
        text = f"Le document n'a pas pu être intégré.\r\nCode erreur : {error.code}^{error.label}\r\n{detail}\r\n"
    human = EmailMessage(policy=email.policy.SMTP)
    human.set_content(text, charset="utf-8", cte="quoted-printable")
    msg.attach(human)
    fields = [
        f"Reporting-UA: {domain}; {UA}",
        f"Original-Recipient: rfc822;{reporter}",
        f"Final-Recipient: rfc822;{reporter}",
        f"Original-Message-ID: {received.message_id}",
        f"Disposition: automatic-action/MDN-sent-automatically; {outcome}",
    ]
    if error is not None:
        fields.append(f"Error: {ascii_text(error.mdn())}")
    msg.attach(_part("message/disposition-notification", "\r\n".join(fields) + "\r\n"))
    original = email.message_from_bytes(received.raw, policy=email.policy.SMTP)
    wrapper = EmailMessage(policy=email.policy.SMTP)
    wrapper["Content-Type"] = "message/rfc822"
    wrapper.set_payload([original])
    msg.attach(wrapper)
    for attachment in received.attachments:  # the archive and the PDF go back with the MDN
        _attach(msg, attachment)
    return msg


def _attach(msg: EmailMessage, a: Attachment) -> None:
    maintype, _, subtype = a.content_type.partition("/")
    part = EmailMessage(policy=email.policy.SMTP)
    part.set_content(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
    msg.attach(part)


@dataclass(frozen=True)
class Disposition:
    original_message_id: str
    processed: bool
    error_code: str | None
    error_text: str


_ERROR = re.compile(r"processed\s*/\s*error\s*:\s*(\S[^;\r\n]*)", re.IGNORECASE)


def read_mdn(raw: bytes) -> Disposition | None:
    """The disposition an MDN reports, or None if `raw` is not an MDN (both the guide's form and
    RFC 8098's `Error:` field are read; codes are compared, never labels)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if msg.get_content_type() != "multipart/report":
        return None
    for part in msg.walk():
        if part.get_content_type() == "message/disposition-notification":
            payload = part.get_payload(decode=False)
            if isinstance(payload, list):  # the email package parsed the fields as headers (unfolded)
                blocks = cast("list[Message]", payload)  # each block of a disposition-notification is a Message
                fields = {k.lower(): str(v).strip() for block in blocks for k, v in block.items()}
            else:
                unfolded = re.sub(r"\r?\n[ \t]+", " ", str(payload))
                fields = {
                    k.lower(): v.strip() for k, v in re.findall(r"^([A-Za-z-]+):\s*(.*)$", unfolded, re.MULTILINE)
                }
            disposition = fields.get("disposition", "")
            found = _ERROR.search(disposition)
            error_text = found.group(1).strip() if found else fields.get("error", "")
            code = re.match(r"(\d{3})", error_text)
            return Disposition(
                fields.get("original-message-id", ""),
                "processed" in disposition.lower(),
                code.group(1) if code else None,
                error_text,
            )
    return None


def dsn(
    original: bytes, failures: list[tuple[str, str, str]], *, reporting_mta: str, postmaster: str, to: str
) -> EmailMessage:
    """Delivery failure report: `failures` are (recipient, status like 5.1.1, SMTP reply)."""
    msg = _report("delivery-status", postmaster, to, "Message non distribué (Undelivered Mail)", reporting_mta)
    human = EmailMessage(policy=email.policy.SMTP)
    human.set_content(
        "Le message n'a pas pu être distribué aux destinataires suivants :\r\n"
        + "".join(f"  {r} : {reply}\r\n" for r, _s, reply in failures),
        charset="utf-8",
        cte="quoted-printable",
    )
    msg.attach(human)
    blocks = [f"Reporting-MTA: dns; {reporting_mta}\r\nArrival-Date: {format_datetime(datetime.now(UTC))}\r\n"]
    blocks += [
        f"Final-Recipient: rfc822; {r}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {ascii_text(reply)}\r\n"
        for r, status, reply in failures
    ]
    status = EmailMessage(policy=email.policy.SMTP)
    status["Content-Type"] = "message/delivery-status"
    # the email package writes a delivery-status body from its blocks, each a set of header fields
    status.set_payload([email.message_from_string(b, policy=email.policy.SMTP) for b in blocks])
    msg.attach(status)
    headers = original.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace")
    msg.attach(_part("text/rfc822-headers", headers + "\r\n"))
    return msg


@dataclass(frozen=True)
class Delivery:
    """One recipient's line of a DSN (RFC 3464 §2.3): `failed` or `delivered`, its status and reply."""

    original_message_id: str
    recipient: str
    action: str
    status: str
    diagnostic: str

    @property
    def smtp_code(self) -> str:
        """The SMTP reply code of the diagnostic (`smtp; 550 5.1.1 …`), else from the status class."""
        found = re.search(r"\b([245]\d\d)\b", self.diagnostic)
        return found.group(1) if found else {"2": "250", "4": "421", "5": "554"}.get(self.status[:1], "")


def read_dsn(raw: bytes) -> list[Delivery]:
    """The per-recipient reports of a DSN (`multipart/report; report-type=delivery-status`), each
    with the Message-ID of the message reported on (from its text/rfc822-headers or message/rfc822
    part); [] if `raw` is not a DSN."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if msg.get_content_type() != "multipart/report" or msg.get_param("report-type") != "delivery-status":
        return []
    original, blocks = "", []
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            payload = part.get_payload(decode=False)
            if isinstance(payload, list):
                blocks = [{k.lower(): str(v).strip() for k, v in b.items()} for b in cast("list[Message]", payload)]
            else:
                text = re.sub(r"\r?\n[ \t]+", " ", str(payload))
                blocks = [
                    {k.lower(): v.strip() for k, v in re.findall(r"^([A-Za-z-]+):\s*(.*)$", chunk, re.MULTILINE)}
                    for chunk in re.split(r"\r?\n\r?\n", text)
                ]
        elif kind in ("text/rfc822-headers", "message/rfc822") and not original:
            body = part.get_payload(decode=False)
            inner = body[0] if isinstance(body, list) else email.message_from_string(str(body))
            original = str(cast("Message", inner).get("Message-ID", "")).strip()
    return [
        Delivery(
            original,
            b["final-recipient"].partition(";")[2].strip(),
            b.get("action", ""),
            b.get("status", ""),
            b.get("diagnostic-code", "").partition(";")[2].strip(),
        )
        for b in blocks
        if "final-recipient" in b
    ]
