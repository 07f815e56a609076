"""The PFI's memory is bounded per batch, whatever the archives inflate to (issue 18 §3): several
zip-bomb-like XDM messages (each within xdm's own limits) are judged a few at a time, all handled.
The mailbox here is an in-memory stand-in of mailbox.ImapMailbox (the IMAP itself is tested against
the house's operator in tests/e2e/test_mss_pfi.py and against Dovecot in tests/e2e/test_pfi_dovecot.py)."""

from __future__ import annotations

import tracemalloc

from maison.etablissement.pfi.service import Pfi
from tests.e2e.test_mss_smtp import _letter
from tests.partage.world import HOPITAL, PROS, n1

BOX = "pfi@chu-test.mssante.fr"


class MemoryMailbox:
    """What the PFI asks of its IMAP mailbox, held in a dict (UID → message, UIDs handled)."""

    def __init__(self, messages: dict[int, bytes]) -> None:
        self.messages, self.handled = messages, set()

    def unhandled(self, after: int = 0) -> list[int]:
        return sorted(uid for uid in set(self.messages) - self.handled if uid > after)

    def sizes(self, uids: list[int]) -> dict[int, int]:
        return {u: len(self.messages[u]) for u in uids}

    def fetch(self, uids: list[int]) -> dict[int, bytes]:
        return {u: self.messages[u] for u in uids}

    def flag_handled(self, uids: list[int]) -> None:
        self.handled |= set(uids)

    def wait(self, seconds: float) -> None:
        pass


def _pfi(house, batch_bytes: int) -> tuple[Pfi, list[int]]:
    big = n1(PROS["hospitalier"], pdf_bytes=3_000_000)  # a CDA of ~4 MB once inflated
    messages = {
        n + 1: _letter(to=BOX, cda=big).replace(b"Message-ID: <", f"Message-ID: <{n}.".encode(), 1) for n in range(10)
    }
    return Pfi(
        house.db,
        house.mss.blobs,
        house.settings.reference_path,
        HOPITAL,
        MemoryMailbox(messages),
        lambda *_: None,
        address=BOX,
        domain="chu-test.mssante.fr",
        patients=house.patients,
        batch_bytes=batch_bytes,
    ), sorted(messages)


def test_a_batch_stops_at_its_memory_budget_and_every_message_is_still_handled(house):
    pfi, uids = _pfi(house, batch_bytes=10_000_000)
    assert 1 <= len(pfi._judge_all(uids)) < len(uids)
    tracemalloc.start()
    try:
        outcomes = pfi.handle_all(uids)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [o.uid for o in outcomes] == uids
    assert peak < 55_000_000, peak  # 10 messages of ~4 MB inflated each (~80 MB held at once before)
    assert pfi.pending() == []
