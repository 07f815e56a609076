"""The relay's DATA payload for a stored message (maison/partage/mss/transfer.py)."""

from __future__ import annotations

from maison.partage.mss.transfer import on_the_wire


def test_crlf_message_is_dot_stuffed_and_terminated():
    # RFC 5321 §4.5.2: a line starting with "." gets one more; the message ends with CRLF.CRLF
    assert on_the_wire(b".a\r\nb\r\n.\r\n") == b"..a\r\nb\r\n..\r\n.\r\n"
    assert on_the_wire(b"a\r\nb") == b"a\r\nb\r\n.\r\n"


def test_any_bare_cr_or_lf_leaves_it_to_the_library():
    assert on_the_wire(b"a\nb\r\n") is None
    assert on_the_wire(b"a\rb\r\n") is None
    assert on_the_wire(b"a\r\n\n") is None
