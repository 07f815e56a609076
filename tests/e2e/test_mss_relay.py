"""The outbound relay between operators: mail an SMTP session queues is handed to the relay in memory,
what only the outbox holds is found by its poll, and each message is sent once whatever the path."""

from __future__ import annotations

import collections
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from maison.core.audit import SYSTEM
from maison.formats import mime as message
from maison.identite.psc.api import issuer_for
from maison.partage.mss import store
from tests.e2e.test_mss_smtp import _client, _letter
from tests.partage.mss_world import GP, PFI, PFI_PASSWORD, start_world


@pytest.fixture
def mss(house, live, tmp_path):
    world = start_world(house, tmp_path, issuer_for(live.url))
    yield world
    world.close()


def _counting(monkeypatch, delivery):
    """Every delivery into the GP's mailbox (a replay too) and every read of a blob, counted."""
    delivered: collections.Counter = collections.Counter()
    read: list[str] = []
    lock = threading.Lock()
    deliver, content = delivery.deliver, delivery.content

    def counted_deliver(actor, address, raw, sender, message_id):
        with lock:
            delivered[(address, message_id)] += 1
        return deliver(actor, address, raw, sender, message_id)

    def counted_content(sha256):
        read.append(sha256)
        return content(sha256)

    monkeypatch.setattr(delivery, "deliver", counted_deliver)
    monkeypatch.setattr(delivery, "content", counted_content)
    return delivered, read


def _in_gp_box(house, count: int, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        with house.db.read() as conn:
            ids = list(
                conn.execute(
                    sa.select(store.mss_message.c.message_id).where(store.mss_message.c.address == GP)
                ).scalars()
            )
        if len(ids) >= count or time.monotonic() > deadline:
            return ids
        time.sleep(0.05)


def _outbox(house) -> list[sa.Row]:
    with house.db.read() as conn:
        return conn.execute(sa.select(store.mss_outbox)).all()


def test_a_burst_is_relayed_from_memory_each_message_once(mss, house, monkeypatch):
    delivered, read = _counting(monkeypatch, mss.mss.delivery)
    letters = [_letter() for _ in range(24)]

    def send(share: list[bytes]) -> None:
        with _client(mss, "chu-test") as client:
            client.login(PFI, PFI_PASSWORD)
            for raw in share:
                client.sendmail(PFI, [GP], raw)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, [letters[i::4] for i in range(4)]))
    ids = _in_gp_box(house, 24)
    assert len(ids) == 24 == len(set(ids))
    assert sorted(delivered.values()) == [1] * 24  # no message sent twice (a replay would count 2)
    assert read == []  # handed over with its bytes: neither the outbox nor the blob read back
    deadline = time.monotonic() + 10
    while any(r.status != "sent" for r in _outbox(house)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(r.status, r.attempts) for r in _outbox(house)] == [("sent", 1)] * 24


def test_what_only_the_outbox_holds_is_found_by_the_poll(mss, house, monkeypatch):
    """Mail queued without a hand-off (the web messaging, a restart) goes at the relay's next poll."""
    delivered, read = _counting(monkeypatch, mss.mss.delivery)
    letters = [_letter() for _ in range(5)]
    for raw in letters:
        mss.mss.delivery.enqueue(
            SYSTEM, "chu-test", "medecins", PFI, [GP], raw, message.parse(raw, max_bytes=len(raw)).message_id
        )
    ids = _in_gp_box(house, 5)
    assert len(ids) == 5 and sorted(delivered.values()) == [1] * 5
    assert len(read) == 5  # read back from the blob store


def test_a_queued_message_whose_blob_went_bad_is_retried_later_and_the_others_go(mss, house):
    """A stored message altered on disk is never sent (Blobs.get checks its hash): the attempt is
    recorded as a temporary failure, and the relay goes on with the next message."""
    bad, good = _letter(), _letter()
    for raw in (bad, good):
        mss.mss.delivery.enqueue(
            SYSTEM, "chu-test", "medecins", PFI, [GP], raw, message.parse(raw, max_bytes=len(raw)).message_id
        )
    [queued] = [r for r in _outbox(house) if mss.mss.delivery.content(r.sha256) == bad]
    mss.mss.blobs.path(queued.sha256).write_bytes(bad.replace(b"Lettre", b"Lettrf", 1))
    assert _in_gp_box(house, 1) == [message.parse(good, max_bytes=len(good)).message_id]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        [row] = [r for r in _outbox(house) if r.id == queued.id]
        if row.attempts:
            break
        time.sleep(0.05)
    assert (row.status, row.attempts) == ("pending", 1) and "4.3.0" in row.last_error
