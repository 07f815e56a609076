"""The MSSanté message: a MIME mail carrying `IHE_XDM.ZIP` and the human-readable PDF beside it.

What is on the wire (SPEC §4; mss-courriel struct-msg-mdn.md and struct-email-standard.md; the
companion guide reference/xds-cda-metadata mapping-mss.md):

- `multipart/mixed`: a `text/plain; charset=utf-8` body, `IHE_XDM.ZIP` (`application/zip`, base64),
  and one PDF per CDA for mail clients that do not integrate (002 L417: the PDF travels with its CDA);
- subject `XDM/1.0/DDM+<libellé> <NOM> <prénom> <date de naissance>` (struct-msg-mdn.md:33);
- `Disposition-Notification-To` when the sender wants an MDN (struct-msg-mdn.md:17-21);
- `X-MSS-MES: FIN` when a professional writes to a patient who may not answer (mapping-mss.md:31-34).

Parsing is for mail from anybody on the trust space: size bounded, malformed MIME refused with a
precise `MalformedMessage` (the SMTP layer answers 554 5.6.0 with its text), never a crash.
"""

from __future__ import annotations

import email
import email.policy
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr

from maison.core.errors import MaisonError

SUBJECT_MARK = "XDM/1.0/DDM"
XDM_NAME = "IHE_XDM.ZIP"
KO_PREFIX = "[KO Intégration système !]"
END_OF_EXCHANGE = ("X-MSS-MES", "FIN")
MAX_PARTS = 64


def ascii_text(text: str) -> str:
    """For SMTP replies and the machine-readable fields of DSN/MDN, which are ASCII (RFC 5321 §4.2,
    RFC 3464 §2.1.2, RFC 8098 §3.1): accents dropped, line breaks made spaces, nothing else lost."""
    return re.sub(r"[\r\n]+", " ", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode())


class MalformedMessage(MaisonError):
    http_status = 422
    code = "message-mal-forme"


def subject(label: str, family: str, given: str, birth_date: date | None = None) -> str:
    """`XDM/1.0/DDM+<libellé> <NOM> <prénom> <date de naissance>` (struct-msg-mdn.md:33)."""
    tail = f" {birth_date:%d/%m/%Y}" if birth_date else ""
    return f"{SUBJECT_MARK}+{label} {family.upper()} {given}{tail}"


def ko_subject(code: str, original: str) -> str:
    """`[KO Intégration système !][<code>] XDM/1.0/DDM+…` (struct-msg-mdn.md:31)."""
    at = original.find(SUBJECT_MARK)
    return f"{KO_PREFIX}[{code}] {original[at:] if at >= 0 else original}"


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass
class Outgoing:
    sender: str
    to: list[str]
    subject: str
    body: str
    attachments: list[Attachment] = field(default_factory=list)
    notification_to: str | None = None  # Disposition-Notification-To: an MDN is asked
    end_of_exchange: bool = False  # X-MSS-MES: FIN (to a patient who may not answer)
    in_reply_to: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)


def compose(out: Outgoing, *, domain: str) -> EmailMessage:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = out.sender
    msg["To"] = ", ".join(out.to)
    msg["Subject"] = out.subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=domain)
    if out.notification_to:
        msg["Disposition-Notification-To"] = out.notification_to
    if out.end_of_exchange:
        msg[END_OF_EXCHANGE[0]] = END_OF_EXCHANGE[1]
    if out.in_reply_to:
        msg["In-Reply-To"] = out.in_reply_to
        msg["References"] = out.in_reply_to
    for name, value in out.extra_headers.items():
        msg[name] = value
    msg.set_content(out.body, charset="utf-8", cte="quoted-printable")
    for a in out.attachments:
        maintype, _, subtype = a.content_type.partition("/")
        msg.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
    return msg


@dataclass
class Received:
    message_id: str
    sender: str
    to: list[str]
    subject: str
    body: str
    attachments: list[Attachment]
    notification_to: str | None
    return_path: str | None
    end_of_exchange: bool
    in_reply_to: str | None
    raw: bytes = field(repr=False, default=b"")

    @property
    def xdm(self) -> bytes | None:
        """The `IHE_XDM.ZIP` attachment (the name is matched case-insensitively: the guide writes
        `IHE_XDM.zip`, SPEC `IHE_XDM.ZIP`)."""
        return next((a.data for a in self.attachments if a.filename.upper() == XDM_NAME), None)

    @property
    def is_xdm(self) -> bool:
        """An XDM mail: the subject mark anywhere (after RFC 2047 decoding) or the archive attached
        (cas-usage.md:93)."""
        return SUBJECT_MARK in self.subject or self.xdm is not None

    def wants_mdn(self) -> bool:
        """An MDN is sent only when asked, and automatically only to the Return-Path's address
        (RFC 8098 §2.1: otherwise the user must confirm; struct-msg-mdn.md:17-21)."""
        if not self.notification_to:
            return False
        asked = parseaddr(self.notification_to)[1].lower()
        return self.return_path is None or asked == parseaddr(self.return_path)[1].lower()


def parse(raw: bytes, *, max_bytes: int) -> Received:
    if len(raw) > max_bytes:
        raise MalformedMessage(f"message de {len(raw)} octets, limite {max_bytes}", code="message-trop-grand")
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        message_id = str(msg.get("Message-ID", "")).strip()
        sender = parseaddr(str(msg.get("From", "")))[1]
        to = [a for _n, a in getaddresses([str(v) for v in msg.get_all("To", [])]) if a]
        subj = str(msg.get("Subject", ""))
        body, attachments, parts = "", [], 0
        for part in msg.walk():
            parts += 1
            if parts > MAX_PARTS:
                raise MalformedMessage(f"plus de {MAX_PARTS} parties MIME", code="message-mal-forme")
            if part.is_multipart():
                continue
            filename = part.get_filename()
            if filename:
                data = part.get_payload(decode=True)
                if data is None:
                    raise MalformedMessage(f"pièce jointe {filename} illisible", code="message-mal-forme")
                attachments.append(Attachment(filename, part.get_content_type(), data))
            elif part.get_content_type() == "text/plain" and not body:
                body = part.get_content()
    except MalformedMessage:
        raise
    except (ValueError, TypeError, LookupError, AttributeError, IndexError, UnicodeError) as exc:
        raise MalformedMessage(f"MIME mal formé : {exc}", code="message-mal-forme") from None
    if not message_id or not re.fullmatch(r"<[^<>\s]+@[^<>\s]+>", message_id):
        raise MalformedMessage("Message-ID absent ou mal formé (RFC 5322 §3.6.4)", code="message-id")
    if not sender:
        raise MalformedMessage("From absent", code="message-mal-forme")
    return Received(message_id, sender, to, subj, body, attachments,
                    str(msg["Disposition-Notification-To"]) if msg["Disposition-Notification-To"] else None,
                    str(msg["Return-Path"]) if msg["Return-Path"] else None,
                    str(msg.get(END_OF_EXCHANGE[0], "")).strip().upper() == END_OF_EXCHANGE[1],
                    str(msg["In-Reply-To"]) if msg["In-Reply-To"] else None, raw)


def as_bytes(msg: Message) -> bytes:
    return msg.as_bytes(policy=email.policy.SMTP)
