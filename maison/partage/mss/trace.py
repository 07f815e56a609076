"""Trace header fields: the `Received` line each SMTP hop prepends and the `Return-Path` of final
delivery (RFC 5321 §4.4; field syntax RFC 5322 §3.6.7).

A hop that accepts a message prepends one `Received` line naming the client as it introduced itself
and its IP address (`from`), this operator (`by`), the protocol (`with`: ESMTP, ESMTPS over TLS,
ESMTPSA once authenticated, RFC 3848; UTF8SMTP… when the client asked SMTPUTF8, RFC 6531 §3.7.3), an
`id`, the recipient when there is one (`for`, as Postfix: naming several would disclose the other
recipients) and the date. It says what an ordinary MTA says and no more: no software name or
version, no authenticated login, no internal host. The mailbox's server prepends `Return-Path` with
the envelope's sender when it delivers (RFC 5321 §4.4: "final delivery").

The bytes that follow are left as they came: the stored message is the trace fields, then byte for
byte what the client sent. `content` gives those bytes back, so that a relay retrying a message after
a lost 250 (a new `Received` line, a new date) is still recognised as the same message.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from datetime import UTC, datetime
from email.utils import format_datetime

# RFC 5321 §4.1.2 / §4.1.3: Domain and address-literal, what a HELO/EHLO argument may be
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?")
_LITERAL = re.compile(r"\[(?:IPv6:[0-9A-Fa-f:.]+|[0-9.]+)\]")
_TRACE_FIELDS = (b"received:", b"return-path:")


def protocol(*, tls: bool, authenticated: bool, utf8: bool, extended: bool = True) -> str:
    """The `with` keyword of a hop (RFC 3848 ESMTP/ESMTPS/ESMTPA/ESMTPSA; RFC 6531 §3.7.3 UTF8SMTP,
    UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA when the client asked SMTPUTF8; SMTP after a plain HELO)."""
    if not extended:
        return "SMTP"
    suffix = ("S" if tls else "") + ("A" if authenticated else "")
    return ("UTF8SMTP" if utf8 else "ESMTP") + suffix


def address_literal(ip: str) -> str:
    """`[192.0.2.1]` or `[IPv6:2001:db8::1]` (RFC 5321 §4.1.3); an IPv4 client reached over an IPv6
    socket is named by its IPv4 address."""
    try:
        parsed = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return "[0.0.0.0]"
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return f"[{parsed}]" if parsed.version == 4 else f"[IPv6:{parsed.compressed}]"


def queue_id() -> str:
    """The `id` of a hop: unique to this acceptance, telling nothing of the house."""
    return secrets.token_hex(8).upper()


def received(
    *,
    helo: str | None,
    peer_ip: str,
    by: str,
    with_: str,
    id_: str,
    recipients: list[str],
    when: datetime | None = None,
) -> bytes:
    """One `Received` field, folded as Postfix folds it (RFC 5322 §2.2.3): `from` is the HELO name
    when it is a Domain or an address-literal, else the client's address literal (RFC 5321 §4.4
    Extended-Domain); `for` only for a single recipient."""
    literal = address_literal(peer_ip)
    name = helo.strip() if helo else ""
    if not (_DOMAIN.fullmatch(name) or _LITERAL.fullmatch(name)):
        name = literal
    date = format_datetime((when or datetime.now(UTC)).astimezone(UTC))
    line = f"Received: from {name} ({literal})\r\n\tby {by} with {with_} id {id_}"
    line += f"\r\n\tfor <{recipients[0]}>; {date}\r\n" if len(recipients) == 1 else f";\r\n\t{date}\r\n"
    return line.encode("utf-8")  # a UTF-8 recipient only under SMTPUTF8, whose message is UTF-8 already


def return_path(sender: str) -> bytes:
    """`Return-Path: <sender>` (RFC 5321 §4.4; `<>` for the null reverse-path of a report)."""
    return f"Return-Path: <{sender}>\r\n".encode()


def content(message: bytes) -> bytes:
    """The message without the trace fields at its top (every leading `Return-Path` and `Received`
    field, with their folded lines): the bytes as the first hop received them, whatever the hops
    and dates that came after."""
    at = 0
    while message[at : at + 12].lower().startswith(_TRACE_FIELDS):
        end = message.find(b"\n", at)
        while end >= 0 and message[end + 1 : end + 2] in (b" ", b"\t"):
            end = message.find(b"\n", end + 1)
        if end < 0:
            return message
        at = end + 1
    return message[at:]
