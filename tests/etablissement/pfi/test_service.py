"""The PFI's memory is bounded per batch, whatever the archives inflate to (issue 18 §3): several
zip-bomb-like XDM messages (each within xdm's own limits) are judged a few at a time, all handled."""

from __future__ import annotations

import tracemalloc

from maison.core.audit import SYSTEM
from maison.partage.mss.delivery import Delivery
from maison.partage.mss.mailboxes import Mailboxes
from maison.partage.mss.pfi import Pfi
from tests.e2e.test_mss_smtp import _letter
from tests.partage.world import HOPITAL, PROS, n1

BOX = "pfi@chu-test.mssante.fr"


def _pfi(house, tmp_path, batch_bytes: int) -> tuple[Pfi, list[int]]:  # type: ignore[no-untyped-def]
    blobs = house.mss.blobs
    Mailboxes(house.db).create(SYSTEM, BOX, "chu-test", "APP", HOPITAL, "PFI", password="mot-de-passe-pfi-2026")
    delivery = Delivery(house.db, blobs)
    big = n1(PROS["hospitalier"], pdf_bytes=3_000_000)  # a CDA of ~4 MB once inflated
    uids = []
    for n in range(10):
        raw = _letter(to=BOX, cda=big).replace(b"Message-ID: <", f"Message-ID: <{n}.".encode(), 1)
        uids.append(delivery.deliver(SYSTEM, BOX, raw, BOX, f"<m{n}@x>").uid)
    return Pfi(house.db, blobs, house.settings.reference_path, HOPITAL, BOX, lambda *_: None,
               domain="chu-test.mssante.fr", batch_bytes=batch_bytes), uids


def test_a_batch_stops_at_its_memory_budget_and_every_message_is_still_handled(house, tmp_path):
    pfi, uids = _pfi(house, tmp_path, batch_bytes=10_000_000)
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
