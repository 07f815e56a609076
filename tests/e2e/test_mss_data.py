"""The operator reads a message's DATA in one search for CRLF.CRLF (smtp.MssSMTP.smtp_DATA): the
same replies and the same bytes as a line-by-line reader, pipelined commands after the final dot
kept, and the session usable after every refusal (RFC 5321 §4.1.1.4, §4.5.2, §4.5.3.1.6)."""

from __future__ import annotations

import smtplib

import pytest
import sqlalchemy as sa

from maison.identite.psc.api import issuer_for
from maison.partage.mss import store, trace
from tests.e2e.test_mss_smtp import _client
from tests.partage.mss_world import PFI, PFI_PASSWORD, start_world


@pytest.fixture
def session(house, live, tmp_path):
    world = start_world(house, tmp_path, issuer_for(live.url))
    client = _client(world, "chu-test")
    client.login(PFI, PFI_PASSWORD)
    yield client
    client.close()
    world.close()


def _data(client: smtplib.SMTP, wire: bytes) -> tuple[int, bytes]:
    """MAIL (no SIZE: the limit is then the DATA reader's), RCPT, DATA, then `wire` as sent."""
    assert client.mail(PFI)[0] == 250 and client.rcpt(PFI)[0] == 250
    client.putcmd("DATA")
    assert client.getreply()[0] == 354
    client.send(wire)
    return client.getreply()


def _stored(house) -> list[bytes]:
    """The stored messages as the client sent them (without the trace fields the hop and the
    delivery put on top, RFC 5321 §4.4)."""
    with house.db.read() as conn:
        rows = conn.execute(sa.select(store.mss_message.c.sha256).order_by(store.mss_message.c.uid)).scalars().all()
    return [trace.content(house.mss.delivery.content(digest)) for digest in rows]


MESSAGE = (
    f"From: {PFI}\r\nTo: {PFI}\r\nMessage-ID: <data.1@chu-test.mssante.fr>\r\nSubject: points\r\n\r\n"
    ".ligne qui commence par un point\r\n..deux points\r\nfin\r\n"
).encode()


def test_dot_stuffed_lines_restored_and_a_pipelined_command_kept(session, house):
    stuffed = MESSAGE.replace(b"\r\n.", b"\r\n..")
    code, _text = _data(session, stuffed + b".\r\nNOOP\r\n")  # NOOP pipelined behind the final dot
    assert code == 250
    assert session.getreply()[0] == 250  # the NOOP's answer: it was not swallowed with the data
    assert _stored(house) == [MESSAGE]


def test_empty_and_one_line_messages_are_read_then_refused_precisely(session):
    code, text = _data(session, b".\r\n")
    assert code == 554 and b"Message-ID" in text
    code, text = _data(session, b"Subject: une seule ligne\r\n.\r\n")
    assert code == 554 and b"Message-ID" in text
    assert session.noop()[0] == 250


def test_a_line_too_long_and_too_much_data_refused_and_the_session_goes_on(session, house):
    for wire in (MESSAGE + b"x" * 20_000 + b"\r\n.\r\n", b"x" * 20_000 + b"\r\n" + MESSAGE + b".\r\n"):
        code, _text = _data(session, wire)
        assert code == 500
        assert session.noop()[0] == 250
    code, _text = _data(session, MESSAGE + (b"y" * 998 + b"\r\n") * 2_100 + b".\r\n")  # over the 2 MB limit
    assert code == 552
    assert session.noop()[0] == 250
    assert _stored(house) == []


def test_the_long_line_check_agrees_with_measuring_every_line():
    """`_has_long_line` looks for an LF in blocks of half the limit before measuring lines: on
    random data with rare or frequent LFs, its answer is the exact measure's."""
    import random

    from maison.partage.mss.smtp import _has_long_line

    rnd = random.Random(5321)
    disagreements = []
    for _ in range(5000):
        limit = rnd.choice([2, 5, 8, 16, 64, 16_384])
        lf = rnd.choice([0.001, 0.01, 0.1, 0.5])
        data = bytes(10 if rnd.random() < lf else 65 for _ in range(rnd.randint(0, 3 * limit + 50)))
        exact = len(data) >= limit and max(map(len, data.split(b"\n"))) >= limit
        if _has_long_line(data, limit) != exact:
            disagreements.append((limit, data))
    assert disagreements == []
    assert _has_long_line(b"A" * 16_383 + b"\r\n", 16_384) and not _has_long_line(b"A" * 16_382 + b"\r\n", 16_384)


def test_the_final_dot_is_found_as_a_search_for_crlf_dot_crlf_finds_it():
    """`_until_final_dot` (dots found one octet at a time) against the plain algorithm (search
    CRLF.CRLF, unstuff every line): random messages of text, dots and base64, cut into random
    chunks as TCP delivers them, with a pipelined command after the final dot."""
    import asyncio
    import random

    from maison.partage.mss.smtp import _until_final_dot

    rnd = random.Random(4_5_2)
    alphabet = [b"a", b"Z", b"=", b" ", b".", b".", b"\r\n", b"\r\n.", b"\r\n..", b"\n", b"\r"]

    async def read(wire: bytes, cuts: list[int]) -> tuple[bytes, bool] | None:
        reader = asyncio.StreamReader(limit=1 << 20)
        start = 0
        for cut in cuts + [len(wire)]:
            reader.feed_data(wire[start:cut])
            start = cut
        reader.feed_eof()
        found = await _until_final_dot(reader, 1 << 20)
        assert await reader.read() == b"RSET\r\n"  # what followed the final dot stays for the next command
        return found

    for _ in range(3000):
        lines = b"".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 400)))
        if rnd.random() < 0.3:  # a long run of dots in text: the fallback search
            lines += b"\r\n" + b"x." * rnd.randint(60, 200)
        body = b"".join(
            (b"." if line.startswith(b".") else b"") + line + b"\r\n"  # dot-stuffed
            for line in lines.split(b"\r\n")
        )
        wire = body + b".\r\nRSET\r\n"
        cuts = sorted(rnd.sample(range(1, len(wire)), min(len(wire) - 1, rnd.randint(0, 6))))
        data, stuffed = asyncio.run(read(wire, cuts))
        assert data == body
        assert stuffed == (body.startswith(b".") or b"\r\n." in body)
