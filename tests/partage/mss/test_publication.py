"""A failed publication in the Annuaire is tried again with a growing delay (maison.partage.mss.publication,
issue 21 §1.4); the publication against a live Annuaire is in tests/e2e/test_mss_annuaire.py."""

from __future__ import annotations

import logging

from maison.core.audit import SYSTEM
from maison.partage.mss.mailboxes import Mailboxes
from maison.partage.mss.publication import ANNUAIRE, Publication, Retries, publish_pending
from tests.conftest import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_failure_waits_twice_as_long_each_time_up_to_the_ceiling_and_a_success_clears_it():
    clock = Clock()
    retries = Retries(5, 60, clock)
    assert retries.due("a@x.fr")
    assert [retries.failure("a@x.fr") for _ in range(6)] == [(1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (6, 60)]
    assert not retries.due("a@x.fr") and retries.due("b@x.fr")  # one mailbox's failures are its own
    clock.now = 59.9
    assert not retries.due("a@x.fr")
    clock.now = 60
    assert retries.due("a@x.fr")
    retries.failure("a@x.fr")
    retries.success("a@x.fr")
    assert retries.due("a@x.fr") and retries.failure("a@x.fr") == (1, 5)


def test_an_unreachable_annuaire_is_said_and_waited_for(db, caplog):
    """Nothing answers: the pass ends at the first mailbox (the others would wait as long), the
    reason is logged and kept on the mailbox, and the Annuaire is not called again before its delay."""
    boxes = Mailboxes(db)
    for name in ("un", "deux"):
        boxes.create(SYSTEM, f"{name}@chu-test.mssante.fr", "chu-test", "ORG", "1750000019", name)
    down = free_port()
    publication = Publication(f"http://127.0.0.1:{down}/annuaire", "cle", timeout=5)
    clock = Clock()
    retries = Retries(5, 60, clock)
    try:
        with caplog.at_level(logging.WARNING, logger="maison.partage.mss.publication"):
            assert publish_pending(boxes, "chu-test", publication, retries) == (0, 1)
            assert publish_pending(boxes, "chu-test", publication, retries) == (0, 0)  # not before its delay
            clock.now = 5
            assert publish_pending(boxes, "chu-test", publication, retries) == (0, 1)
    finally:
        publication.close()
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and f"127.0.0.1:{down}" in said[0] and "ConnectError" in said[0]
    assert "échec n° 1, nouvel essai dans 5 s" in said[0] and "échec n° 2, nouvel essai dans 10 s" in said[1]
    assert not retries.due(ANNUAIRE)
    assert {boxes.get(f"{n}@chu-test.mssante.fr").annuaire for n in ("un", "deux")} == {"a-publier"}
