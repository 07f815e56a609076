"""ENVELOPE, BODYSTRUCTURE and BODY[section] computed from a message's bytes (RFC 3501 §6.4.5, §7.4.2)."""

from __future__ import annotations

import pytest

from maison.partage.mss import imap_structure as structure

FORWARDED = (
    b"From: secretariat@chu.mssante.fr\r\nSubject: Fwd\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
    b"--b1\r\nContent-Type: text/plain\r\n\r\nVoir ci-dessous.\r\n"
    b"--b1\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: Dr Martin <martin@medecins.mssante.fr>\r\nSubject: Resultats\r\n"
    b"Content-Type: multipart/alternative; boundary=b2\r\n\r\n"
    b"--b2\r\nContent-Type: text/plain\r\n\r\nTexte\r\n"
    b"--b2\r\nContent-Type: text/html\r\n\r\n<p>Texte</p>\r\n--b2--\r\n"
    b"\r\n--b1--\r\n"
)


def test_sections_reach_into_a_forwarded_message():
    """RFC 3501 §6.4.5: within a message/rfc822 part, numbers name the parts of the message it
    carries; `2.HEADER` is that message's header, `2.MIME` the part's own."""
    message = structure.parse(FORWARDED)
    assert structure.section(message, [1]).body == b"Voir ci-dessous."
    forwarded = structure.section(message, [2])
    assert forwarded.header == b"Content-Type: message/rfc822\r\n\r\n"
    assert forwarded.embedded is not None and forwarded.embedded.header.startswith(b"From: Dr Martin")
    assert structure.section(message, [2, 2]).body == b"<p>Texte</p>"
    with pytest.raises(structure.SectionError):
        structure.section(message, [3])
    with pytest.raises(structure.SectionError):
        structure.section(message, [1, 2])  # a single part has part 1 only


def test_body_structure_of_a_forwarded_message_carries_its_envelope():
    described = structure.body_structure(structure.parse(FORWARDED), extended=False)
    assert described.startswith(b'(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 16 1)("MESSAGE" "RFC822" NIL NIL NIL "7BIT" ')
    assert b'(("Dr Martin" NIL "martin" "medecins.mssante.fr"))' in described
    assert b'"ALTERNATIVE") 13) "MIXED")' in described


def test_envelope_defaults_sender_and_reply_to_to_from_and_sends_8bit_as_literals():
    """RFC 3501 §7.4.2: Sender and Reply-To absent → From; a quoted string is 7-bit (§4.3)."""
    message = structure.parse('From: Zoé <zoe@x.fr>\r\nSubject: "été"\r\n\r\n'.encode())
    envelope = structure.envelope(message)
    assert envelope.count(b"{4}\r\nZo\xc3\xa9") == 3  # from, sender, reply-to
    assert b'{7}\r\n"\xc3\xa9t\xc3\xa9"' in envelope
    assert structure.string('a "b" \\c') == b'"a \\"b\\" \\\\c"'
    assert structure.string(None) == b"NIL"
    assert structure.string("ligne\r\nsuivante") == b"{15}\r\nligne\r\nsuivante"


def test_a_multipart_without_its_closing_delimiter_ends_at_the_end_and_one_without_boundary_is_text():
    unterminated = structure.parse(b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\r\nun\r\n--z\r\n\r\ndeux")
    assert [p.body for p in unterminated.parts] == [b"un", b"deux"]
    lost = structure.parse(b"Content-Type: multipart/mixed\r\n\r\ncorps")
    assert (lost.main, lost.sub, lost.parts) == ("text", "plain", [])
    # a line that only starts like the boundary is not a delimiter
    near = structure.parse(
        b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\r\n--zz n'en est pas une\r\n--z--"
    )
    assert [p.body for p in near.parts] == [b"--zz n'en est pas une"]


def test_a_hostile_nesting_is_described_without_recursing_without_bound():
    depth = 5000
    raw = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth))
    message = structure.parse(raw + b"\r\nfin")
    described = structure.body_structure(message, extended=True)
    assert described.count(b'"APPLICATION" "OCTET-STREAM"') == 1
    assert described.count(b'"MIXED"') == structure.MAX_DEPTH


def test_header_fields_keep_folded_lines_and_order():
    header = b"Subject: un\r\n deux\r\nX-A: 1\r\nsubject: trois\r\n\r\n"
    assert (
        structure.header_fields(header, ["SUBJECT"], negate=False) == b"Subject: un\r\n deux\r\nsubject: trois\r\n\r\n"
    )
    assert structure.header_fields(header, ["subject"], negate=True) == b"X-A: 1\r\n\r\n"
