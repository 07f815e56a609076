"""What an IMAP FETCH says of a message's structure, computed from its stored bytes.

ENVELOPE, BODY, BODYSTRUCTURE and the BODY[section] parts (RFC 3501 §6.4.5 and §7.4.2, RFC 9051
§6.4.5 and §7.5.2), read from the raw bytes so that what a client is told matches what it downloads:
a part's size is its bytes as stored, and a header is returned as it arrived (UTF-8 included,
RFC 6532).

Twisted's own versions could not be kept. Its headers went through `networkString`, which only
takes ASCII, so a message with UTF-8 in its headers (SMTPUTF8 is advertised and accepted) closed the
connection on ENVELOPE or HEADER.FIELDS, and neomutt could not open the mailbox. It rebuilt headers
instead of returning them. It answered NIL for a part with no Content-Type, where RFC 2045 §5.2 says
text/plain; charset=us-ascii. It lowercased parameter values and cut them at every `;`. And it sent
the whole body for a partial fetch `<start.length>`.

Strings go out quoted when they are 7-bit text, and as literals otherwise (RFC 3501 §4.3: a quoted
string is 7-bit and has no CR or LF; a literal may carry any octet but NUL). A MIME tree deeper
than MAX_DEPTH is described as an opaque part: a hostile message cannot make the server recurse
without bound.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from email.message import Message

MAX_DEPTH = 20  # MIME levels described; deeper, a part is given as application/octet-stream


class SectionError(ValueError):
    """A BODY[section] naming a part the message does not have."""


@dataclass
class Entity:
    """A message or one of its MIME parts: its header block (with the blank line that ends it) and
    its body, as stored; the parts of a multipart; the message a message/rfc822 part carries."""

    header: bytes
    body: bytes
    fields: Message
    main: str
    sub: str
    parts: list[Entity] = field(default_factory=list)
    embedded: Entity | None = None

    @property
    def raw(self) -> bytes:
        return self.header + self.body


def parse(raw: bytes, *, default: tuple[str, str] = ("text", "plain"), depth: int = 0) -> Entity:
    """The MIME tree of `raw` (RFC 2045/2046). `default`: the type of a part with no Content-Type
    (message/rfc822 within multipart/digest, RFC 2046 §5.1.5)."""
    header, body = _split(raw)
    fields = _header_values(header)
    main, sub = _content_type(fields, default)
    entity = Entity(header, body, fields, main, sub)
    if depth >= MAX_DEPTH:
        entity.main, entity.sub = "application", "octet-stream"
        return entity
    if main == "multipart":
        boundary = fields.get_param("boundary", header="content-type")
        if isinstance(boundary, str) and boundary:
            inner = ("message", "rfc822") if sub == "digest" else ("text", "plain")
            entity.parts = [parse(p, default=inner, depth=depth + 1) for p in _multipart(body, _bytes(boundary))]
        if not entity.parts:  # no boundary, or none found: RFC 2046 §5.1.2 — read as text/plain
            entity.main, entity.sub = "text", "plain"
    elif (main, sub) == ("message", "rfc822"):
        entity.embedded = parse(body, depth=depth + 1)
    return entity


def section(message: Entity, numbers: list[int]) -> Entity:
    """The entity a section's part numbers name (1-based; RFC 3501 §6.4.5): the parts of a multipart;
    within a message/rfc822 part, the numbers of the message it carries; a single part is part 1."""
    current = message
    for n in numbers:
        if current.embedded is not None:
            current = current.embedded
        if current.parts:
            if not 1 <= n <= len(current.parts):
                raise SectionError(f"partie {n} inexistante")
            current = current.parts[n - 1]
        elif n != 1:
            raise SectionError(f"partie {n} inexistante")
    return current


def header_fields(header: bytes, names: list[str], *, negate: bool) -> bytes:
    """The header fields named (or all but those, `negate`), in their order and as they arrived,
    followed by the blank line (BODY[HEADER.FIELDS (…)], RFC 3501 §6.4.5)."""
    wanted = {n.lower() for n in names}
    out = []
    for name, lines in _fields(header):
        if (name.lower() in wanted) != negate:
            out.append(lines)
    return b"".join(out) + b"\r\n"


def envelope(entity: Entity) -> bytes:
    """ENVELOPE (RFC 3501 §7.4.2): Sender and Reply-To default to From when absent or empty."""
    f = entity.fields
    sender = _addresses(f, "from")
    return (
        b"("
        + b" ".join(
            [
                string(_raw(f, "date")),
                string(_raw(f, "subject")),
                sender,
                _addresses(f, "sender") if _raw(f, "sender") else sender,
                _addresses(f, "reply-to") if _raw(f, "reply-to") else sender,
                _addresses(f, "to"),
                _addresses(f, "cc"),
                _addresses(f, "bcc"),
                string(_raw(f, "in-reply-to")),
                string(_raw(f, "message-id")),
            ]
        )
        + b")"
    )


def body_structure(entity: Entity, *, extended: bool) -> bytes:
    """BODYSTRUCTURE (`extended`) or BODY (RFC 3501 §7.4.2, RFC 9051 §7.5.2)."""
    f = entity.fields
    if entity.parts:
        out = b"".join(body_structure(p, extended=extended) for p in entity.parts) + b" " + string(entity.sub.upper())
        if extended:
            out += b" " + b" ".join([_params(f), _disposition(f), _language(f), string(_raw(f, "content-location"))])
        return b"(" + out + b")"
    encoding = (_raw(f, "content-transfer-encoding") or b"7BIT").strip().upper()
    items = [
        string(entity.main.upper()),
        string(entity.sub.upper()),
        _params(f) if f.get("content-type") else b'("CHARSET" "US-ASCII")' if entity.main == "text" else b"NIL",
        string(_raw(f, "content-id")),
        string(_raw(f, "content-description")),
        string(encoding),
        b"%d" % len(entity.body),
    ]
    if entity.embedded is not None:
        items += [
            envelope(entity.embedded),
            body_structure(entity.embedded, extended=extended),
            b"%d" % _lines(entity.body),
        ]
    elif entity.main == "text":
        items.append(b"%d" % _lines(entity.body))
    if extended:
        items += [string(_raw(f, "content-md5")), _disposition(f), _language(f), string(_raw(f, "content-location"))]
    return b"(" + b" ".join(items) + b")"


def string(value: bytes | str | None) -> bytes:
    """An IMAP nstring: NIL, a quoted string when 7-bit text, else a literal (RFC 3501 §4.3, §9)."""
    if value is None:
        return b"NIL"
    data = _bytes(value) if isinstance(value, str) else value
    if all(32 <= b < 127 for b in data) and len(data) < 1024:
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(data) + data


# --- reading the bytes -------------------------------------------------------------------------------


def _split(raw: bytes) -> tuple[bytes, bytes]:
    """(header block with its blank line, body). A message that starts with its blank line has an
    empty header; one with no blank line is all header."""
    if raw.startswith(b"\r\n"):
        return b"\r\n", raw[2:]
    if raw.startswith(b"\n"):
        return b"\n", raw[1:]
    crlf, lf = raw.find(b"\r\n\r\n"), raw.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return raw[: crlf + 4], raw[crlf + 4 :]
    if lf >= 0:
        return raw[: lf + 2], raw[lf + 2 :]
    return raw, b""


def _multipart(body: bytes, boundary: bytes) -> list[bytes]:
    """The parts between the boundary delimiter lines (RFC 2046 §5.1.1): a delimiter starts a line
    and is followed by `--` (the last) or blanks only; the line break before it belongs to it."""
    delimiter = b"--" + boundary
    marks: list[
        tuple[int, int, bool]
    ] = []  # (where the delimiter's line break starts, where the part after starts, last)
    at = 0
    while True:
        at = body.find(delimiter, at)
        if at < 0:
            break
        if at == 0 or body[at - 1 : at] == b"\n":
            end = body.find(b"\n", at)
            line = body[at + len(delimiter) : end if end >= 0 else len(body)]
            last = line.startswith(b"--")
            if not (line[2:] if last else line).strip(b" \t\r"):
                before = at - 2 if body[at - 2 : at] == b"\r\n" else max(at - 1, 0)
                marks.append((before, end + 1 if end >= 0 else len(body), last))
                if last:
                    break
        at += len(delimiter)
    parts = [body[marks[i][1] : marks[i + 1][0]] for i in range(len(marks) - 1)]
    if marks and not marks[-1][2]:  # no closing delimiter: the last part runs to the end
        parts.append(body[marks[-1][1] :])
    return parts


def _fields(header: bytes) -> list[tuple[str, bytes]]:
    """(name, the field's lines as they arrived) for each header field, continuation lines included."""
    out: list[tuple[str, bytes]] = []
    for line in header.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t") and out:
            name, lines = out[-1]
            out[-1] = (name, lines + line)
        elif b":" in line:
            out.append((line.split(b":", 1)[0].strip().decode("ascii", "replace"), line))
    return [(name, lines if lines.endswith(b"\n") else lines + b"\r\n") for name, lines in out]


def _header_values(header: bytes) -> Message:
    """The header's fields as text that gives back their exact octets (UTF-8, surrogates for any
    other byte): the email package's own parse turns 8-bit octets into U+FFFD."""
    fields = Message()
    for _name, lines in _fields(header):
        name, _, value = lines.decode("utf-8", "surrogateescape").partition(":")
        fields[name.strip()] = value.strip()
    return fields


def _content_type(fields: Message, default: tuple[str, str]) -> tuple[str, str]:
    value = fields.get("content-type")
    if not value:
        return default
    kind = str(value).split(";", 1)[0].strip().lower()
    main, _, sub = kind.partition("/")
    if not main or not sub or not main.isascii():
        return "text", "plain"  # RFC 2045 §5.2: a syntax error reads as text/plain
    return main, sub


def _raw(fields: Message, name: str) -> bytes | None:
    """A header's value as it arrived (the parser keeps 8-bit octets as surrogates), unfolded."""
    value = fields.get(name)
    if value is None:
        return None
    text = str(value)
    return _bytes(" ".join(part.strip() for part in text.splitlines()).strip())


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _lines(body: bytes) -> int:
    return body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)


def _params(fields: Message, header: str = "content-type") -> bytes:
    """The parameters of a header (RFC 2045 §5.1), names upper-cased, values unquoted as the
    header gives them (RFC 2231 continuations joined)."""
    if fields.get(header) is None:
        return b"NIL"
    pairs = []
    for name, value in (fields.get_params(header=header, unquote=True) or [])[1:]:
        text = email.utils.collapse_rfc2231_value(value) if isinstance(value, tuple) else value
        pairs += [string(name.upper()), string(_bytes(text) if isinstance(text, str) else b"")]
    return b"(" + b" ".join(pairs) + b")" if pairs else b"NIL"


def _disposition(fields: Message) -> bytes:
    value = fields.get("content-disposition")
    if not value:
        return b"NIL"
    kind = str(value).split(";", 1)[0].strip().upper()
    return b"(" + string(kind) + b" " + _params(fields, "content-disposition") + b")"


def _language(fields: Message) -> bytes:
    value = _raw(fields, "content-language")
    if not value:
        return b"NIL"
    tags = [t.strip() for t in value.split(b",") if t.strip()]
    return string(tags[0]) if len(tags) == 1 else b"(" + b" ".join(string(t) for t in tags) + b")"


def _addresses(fields: Message, name: str) -> bytes:
    """An address list (RFC 3501 §7.4.2: name, source route, mailbox, host), NIL when absent."""
    value = fields.get(name)
    if value is None or not str(value).strip():
        return b"NIL"
    out = []
    for display, address in email.utils.getaddresses([" ".join(str(value).splitlines())]):
        if not address and not display:
            continue
        local, _, host = address.rpartition("@") if "@" in address else (address, "", "")
        out.append(
            b"("
            + b" ".join(
                [
                    string(_bytes(display) if display else None),
                    b"NIL",
                    string(_bytes(local)),
                    string(_bytes(host) if host else None),
                ]
            )
            + b")"
        )
    return b"(" + b"".join(out) + b")" if out else b"NIL"
