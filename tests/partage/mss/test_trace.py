"""Trace header fields (RFC 5321 §4.4): the Received line's syntax, the protocol names of RFC 3848
and RFC 6531, and the message found again under any trace fields."""

from __future__ import annotations

from datetime import UTC, datetime

from maison.partage.mss import trace

WHEN = datetime(2026, 12, 7, 8, 30, 5, tzinfo=UTC)


def test_received_line_names_client_host_protocol_id_recipient_and_date() -> None:
    line = trace.received(
        helo="poste.chu-test.fr",
        peer_ip="192.0.2.7",
        by="chu-test.mssante.fr",
        with_="ESMTPSA",
        id_="0123456789ABCDEF",
        recipients=["gp@medecins.mssante.fr"],
        when=WHEN,
    )
    assert line == (
        b"Received: from poste.chu-test.fr ([192.0.2.7])\r\n"
        b"\tby chu-test.mssante.fr with ESMTPSA id 0123456789ABCDEF\r\n"
        b"\tfor <gp@medecins.mssante.fr>; Mon, 07 Dec 2026 08:30:05 +0000\r\n"
    )


def test_several_recipients_are_not_named_and_a_bad_helo_becomes_the_address_literal() -> None:
    line = trace.received(
        helo="pas un\tnom",
        peer_ip="::ffff:192.0.2.7",
        by="chu-test.mssante.fr",
        with_="UTF8SMTPSA",
        id_="X",
        recipients=["a@chu-test.mssante.fr", "b@chu-test.mssante.fr"],
        when=WHEN,
    )
    assert line.startswith(b"Received: from [192.0.2.7] ([192.0.2.7])\r\n") and b"for" not in line
    assert line.endswith(b"id X;\r\n\tMon, 07 Dec 2026 08:30:05 +0000\r\n")
    assert trace.address_literal("2001:db8::1") == "[IPv6:2001:db8::1]"
    assert trace.received(helo="[IPv6:::1]", peer_ip="::1", by="h", with_="ESMTP", id_="1", recipients=[]).startswith(
        b"Received: from [IPv6:::1] ([IPv6:::1])"
    )


def test_protocol_names() -> None:
    assert trace.protocol(tls=True, authenticated=True, utf8=False) == "ESMTPSA"
    assert trace.protocol(tls=True, authenticated=False, utf8=False) == "ESMTPS"
    assert trace.protocol(tls=False, authenticated=True, utf8=False) == "ESMTPA"
    assert trace.protocol(tls=True, authenticated=True, utf8=True) == "UTF8SMTPSA"
    assert trace.protocol(tls=True, authenticated=False, utf8=True) == "UTF8SMTPS"
    assert trace.protocol(tls=False, authenticated=False, utf8=False, extended=False) == "SMTP"


def test_content_is_the_message_under_its_trace_fields() -> None:
    message = b"From: a@b.fr\r\nReceived: not at the top, kept\r\n\r\nReceived: in the body\r\n"
    stamped = (
        trace.return_path("a@b.fr")
        + trace.received(helo="x.fr", peer_ip="127.0.0.1", by="y.fr", with_="ESMTPS", id_="1", recipients=["c@d.fr"])
        + b"RECEIVED: from z.fr ([127.0.0.1])\r\n by y.fr; Mon, 07 Dec 2026 08:30:05 +0000\r\n"
        + message
    )
    assert trace.content(stamped) == message and trace.content(message) == message
    assert trace.content(b"Received: never ends") == b"Received: never ends"
    assert trace.return_path("") == b"Return-Path: <>\r\n"
