"""IMAP of an MSSanté operator under hostile SEARCH and FETCH, over real sockets (issue 18 §3): BAD or
NO, and the session goes on. The cases only read: they share one house, operator and mailbox per
backend (module_live), each in an IMAP session of its own. The other attacks (before TLS, STARTTLS
injection, APPEND literals, token logins) are in test_mss_imap_security.py."""

from __future__ import annotations

import time

import pytest

from tests.e2e import mss_shared
from tests.e2e.test_mss_imap_security import Raw, _answer
from tests.e2e.test_mss_smtp import _client, _delivered, _letter
from tests.partage.mss_world import PFI, PFI_PASSWORD

mss = mss_shared.mss


@pytest.fixture(scope="module")
def mailbox(mss, module_live):
    """The PFI's mailbox with a single-part and a multipart message, on one house and one operator per
    backend: every case is refused or only reads, and each opens its own IMAP session (`selected`)."""
    house = module_live.house
    with _client(mss, "chu-test") as client:
        client.login(PFI, PFI_PASSWORD)
        client.sendmail(
            PFI,
            [PFI],
            b"From: "
            + PFI.encode()
            + b"\r\nTo: "
            + PFI.encode()
            + b"\r\nSubject: simple\r\nMessage-ID: <simple@chu-test.mssante.fr>\r\n\r\nUn texte.\r\n",
        )
        client.sendmail(PFI, [PFI], _letter(to=PFI))
    deadline = time.monotonic() + 15
    while len(_delivered(house, PFI)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return mss


@pytest.fixture
def selected(mailbox):
    raw = Raw(mailbox)
    raw.login()
    assert raw.command("s", "SELECT INBOX")[-1].startswith(b"s OK")
    yield raw
    raw.sock.close()


@pytest.mark.parametrize(
    "query",
    [
        "(" * 3000 + "ALL" + ")" * 3000,
        "NOT " * 3000 + "ALL",
        "OR " * 1000 + "ALL " * 1001,
        "(" * 40 + "SUBJECT x" + ")" * 40,
        "HEADER",  # a key without its arguments
        "SUBJECT",
        "UID",
        "BEFORE pas-une-date",
    ],
)
def test_hostile_searches_are_refused_and_the_session_goes_on(selected, query):
    lines = selected.command("q", f"SEARCH {query}")
    assert _answer(lines, "q") in (b"OK", b"NO", b"BAD"), lines
    assert _answer(lines, "q") != b"OK" or len(query) < 200
    assert selected.alive()


@pytest.mark.parametrize("section", ["1.2", "2", "3.1", "0", "1.2.3.4.5.6.7.8.9", "99", "2.HEADER"])
def test_fetching_a_part_a_message_lacks_is_refused_and_the_session_goes_on(selected, section):
    lines = selected.command("f", f"FETCH 1 (BODY.PEEK[{section}])")  # message 1 is single-part
    assert _answer(lines, "f") in (b"NO", b"BAD"), lines
    assert selected.alive()
    lines = selected.command("g", "FETCH 2 (BODY.PEEK[1])")  # a part the multipart message has
    assert lines[-1].startswith(b"g OK"), lines
