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

import binascii
import email
import email.header
import email.parser
import email.policy
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from functools import cached_property

import pybase64

from maison.core.errors import MaisonError

# The citizen mailboxes of Mon espace santé are `<matricule INS>@patient.mssante.fr`: one national
# domain that every sender on the trust space writes to, whatever its operator (000 L4121-4125).
CITIZEN_DOMAIN = "patient.mssante.fr"
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
    """A message as received. The identifying fields are read at once (an operator needs them at
    SMTP time); the others are decoded when first asked for, as email.policy.default reads them."""

    message_id: str
    sender: str
    body: str
    attachments: list[Attachment]
    head: Message = field(repr=False)  # the top-level header block, fields kept raw (compat32)
    raw: bytes = field(repr=False, default=b"")

    @cached_property
    def to(self) -> list[str]:
        return [a for _n, a in getaddresses(_fields(self.head, "To")) if a]

    @cached_property
    def subject(self) -> str:
        return _field(self.head, "Subject") or ""

    @cached_property
    def notification_to(self) -> str | None:
        return _field(self.head, "Disposition-Notification-To") or None

    @cached_property
    def return_path(self) -> str | None:
        return _field(self.head, "Return-Path") or None

    @cached_property
    def end_of_exchange(self) -> bool:
        return (_field(self.head, END_OF_EXCHANGE[0]) or "").strip().upper() == END_OF_EXCHANGE[1]

    @cached_property
    def in_reply_to(self) -> str | None:
        return _field(self.head, "In-Reply-To") or None

    @property
    def xdm(self) -> bytes | None:
        """The `IHE_XDM.ZIP` attachment (the name is matched case-insensitively: the guide writes
        `IHE_XDM.zip`, SPEC `IHE_XDM.ZIP`)."""
        return next((a.data for a in self.attachments if a.filename.upper() == XDM_NAME), None)

    @property
    def is_xdm(self) -> bool:
        """An XDM mail: the subject mark anywhere (after RFC 2047 decoding) or the archive attached
        (cas-usage.md:93)."""
        return self.xdm is not None or SUBJECT_MARK in self.subject  # the subject's decoding costs more

    def wants_mdn(self) -> bool:
        """An MDN is sent only when asked, and automatically only to the Return-Path's address
        (RFC 8098 §2.1: otherwise the user must confirm; struct-msg-mdn.md:17-21)."""
        if not self.notification_to:
            return False
        asked = parseaddr(self.notification_to)[1].lower()
        return self.return_path is None or asked == parseaddr(self.return_path)[1].lower()


# Header blocks are read with compat32, which keeps each field as its raw string: the structure
# (types, boundaries, file names, encodings) is read from them with the Message methods, and the
# few fields the service uses are decoded as the default policy would (`_field`). The default
# policy's parser builds a header object per field per access — a third of an operator's CPU.
_HEADERS = email.parser.BytesParser(policy=email.policy.compat32)
_DECODER = email.policy.default
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
MAX_DEPTH = 8


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    """A part's header block (with its blank line) and its body."""
    if data.startswith((b"\r\n", b"\n")):
        return b"", data[2 if data.startswith(b"\r\n") else 1 :]
    blank = _BLANK_LINE.search(data)
    return (data[: blank.end()], data[blank.end() :]) if blank else (data, b"")


def _split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The body parts between the delimiter lines `--boundary` (RFC 2046 §5.1.1), preamble and
    epilogue dropped; the CRLF before a delimiter belongs to the delimiter. The delimiter is
    looked for with `bytes.find` (a regex alternation at every offset costs ten times more)."""
    try:
        mark = b"--" + boundary.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedMessage("boundary MIME non ASCII", code="message-mal-forme") from None
    parts: list[bytes] = []
    start, at = None, body.find(mark)
    while at >= 0:
        line_start = at == 0 or body[at - 1 : at] == b"\n"
        after = at + len(mark)
        closing = body[after : after + 2] == b"--"
        end_of_line = after + 2 if closing else after
        while body[end_of_line : end_of_line + 1] in (b" ", b"\t"):
            end_of_line += 1
        rest = body[end_of_line : end_of_line + 2]
        if line_start and (rest.startswith(b"\n") or rest == b"\r\n" or end_of_line >= len(body)):
            if start is not None:
                cut = at - 1 if at and body[at - 1 : at] == b"\n" else at
                cut -= 1 if cut and body[cut - 1 : cut] == b"\r" else 0
                parts.append(body[start : max(cut, start)])
            if closing:
                return parts
            start = end_of_line + (2 if rest == b"\r\n" else 1 if rest.startswith(b"\n") else 0)
        at = body.find(mark, after)
    if start is None:
        raise MalformedMessage("partie multipart sans délimiteur", code="message-mal-forme")
    parts.append(body[start:])  # no close delimiter: what follows the last one (as mail clients read it)
    return parts


def _raw_field(msg: Message, name: str) -> str | None:
    """The first `name` field as written, unfolded (RFC 5322 §2.2.3), its 8-bit octets read as
    UTF-8 (RFC 6532; the parser keeps them as surrogates)."""
    return next((_as_written(v) for k, v in msg.raw_items() if k.lower() == name.lower()), None)


def _as_written(value: str) -> str:
    return _FOLD.sub("", value).encode("ascii", "surrogateescape").decode("utf-8", "replace")


def _decode(key: str, value: str) -> str:
    """A field's raw value unfolded and RFC 2047-decoded as email.policy.default reads it."""
    try:
        return str(_DECODER.header_fetch_parse(key, value))
    except (ValueError, TypeError, LookupError, AttributeError, IndexError):
        return _as_written(value)  # unreadable as structured: the text as written


def _field(msg: Message, name: str) -> str | None:
    """The first `name` field, decoded."""
    return next((_decode(k, v) for k, v in msg.raw_items() if k.lower() == name.lower()), None)


def _fields(msg: Message, name: str) -> list[str]:
    return [_decode(k, v) for k, v in msg.raw_items() if k.lower() == name.lower()]


def _filename(part: Message) -> str | None:
    """The part's file name (RFC 2231 by compat32's reader; an RFC 2047 word, as many clients
    write it, decoded as the default policy does)."""
    name = part.get_filename()
    if name is None or "=?" not in name:
        return name
    return str(email.header.make_header(email.header.decode_header(name)))


def _decoded(part: Message, body: bytes) -> bytes:
    encoding = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    if encoding == "base64":  # pybase64: the standard library's answers, SIMD-fast (0.57 → 0.07 ms for 270 KB)
        try:
            return pybase64.b64decode(body)
        except binascii.Error:  # missing padding, as lenient readers accept
            return pybase64.b64decode(body.rstrip() + b"==")
    if encoding == "quoted-printable":
        return binascii.a2b_qp(body)
    return body


def _leaves(part: Message, body: bytes, depth: int, seen: list[int]) -> Iterator[tuple[Message, bytes]]:
    """The non-multipart parts in order, each with its (still encoded) body. The header blocks are
    parsed by the standard library; the bodies are cut at their delimiters without reading them
    line by line (a 20 MB attachment is one slice)."""
    seen[0] += 1
    if seen[0] > MAX_PARTS:
        raise MalformedMessage(f"plus de {MAX_PARTS} parties MIME", code="message-mal-forme")
    if part.get_content_maintype() != "multipart":
        yield part, body
        return
    boundary = part.get_boundary()
    if not boundary:
        raise MalformedMessage("multipart sans paramètre boundary", code="message-mal-forme")
    if depth >= MAX_DEPTH:
        raise MalformedMessage(f"plus de {MAX_DEPTH} niveaux MIME imbriqués", code="message-mal-forme")
    for chunk in _split_multipart(body, boundary):
        head, inner = _split_head(chunk)
        yield from _leaves(_HEADERS.parsebytes(head, headersonly=True), inner, depth + 1, seen)


def parse(raw: bytes, *, max_bytes: int, attachments: bool = True) -> Received:
    """The message as received. With `attachments=False` (an operator at SMTP time) the structure
    is still walked and checked, but no attachment is decoded and `Received.attachments` is empty."""
    if len(raw) > max_bytes:
        raise MalformedMessage(f"message de {len(raw)} octets, limite {max_bytes}", code="message-trop-grand")
    try:
        head, payload = _split_head(raw)
        msg = _HEADERS.parsebytes(head, headersonly=True)
        # A msg-id and an addr-spec are ASCII (RFC 5322 §3.6.4, §3.4.1): read as written, no decoding
        message_id = (_raw_field(msg, "Message-ID") or "").strip()
        sender = parseaddr(_raw_field(msg, "From") or "")[1]
        body, found = "", []
        for part, encoded in _leaves(msg, payload, 0, [0]):
            filename = _filename(part)
            if filename:
                if attachments:
                    found.append(Attachment(filename, part.get_content_type(), _decoded(part, encoded)))
            elif part.get_content_type() == "text/plain" and not body:
                body = _decoded(part, encoded).decode(part.get_content_charset() or "us-ascii", "replace")
    except MalformedMessage:
        raise
    except (ValueError, TypeError, LookupError, AttributeError, IndexError, UnicodeError) as exc:
        raise MalformedMessage(f"MIME mal formé : {exc}", code="message-mal-forme") from None
    if not message_id.isascii() or not re.fullmatch(r"<[^<>\s]+@[^<>\s]+>", message_id):
        raise MalformedMessage("Message-ID absent ou mal formé (RFC 5322 §3.6.4)", code="message-id")
    if not sender:
        raise MalformedMessage("From absent", code="message-mal-forme")
    return Received(message_id, sender, body, found, msg, raw)


def as_bytes(msg: Message) -> bytes:
    return msg.as_bytes(policy=email.policy.SMTP)
