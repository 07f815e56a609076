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


def test_dot_stuffing_found_from_the_dots_agrees_with_replacing_every_line():
    """Random CRLF messages of text, dots and long dotted runs (the fallback search): the payload
    is always the one a plain replace of every CRLF. gives."""
    import random

    rnd = random.Random(5321)
    for _ in range(3000):
        parts = [rnd.choice([b"a", b".", b"\r\n", b"\r\n.", b"=", b" "]) for _ in range(rnd.randint(0, 300))]
        if rnd.random() < 0.3:
            parts.append(b"x." * rnd.randint(60, 150) + rnd.choice([b"\r\n.", b"\r\n", b""]))
        raw = b"".join(parts)
        plain = raw.replace(b"\r\n.", b"\r\n..")
        plain = b"." + plain if plain.startswith(b".") else plain
        plain = (plain if plain.endswith(b"\r\n") else plain + b"\r\n") + b".\r\n"
        assert on_the_wire(raw) == plain
