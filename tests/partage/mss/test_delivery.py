"""Deliveries of concurrent SMTP sessions commit together (one transaction for a batch): each mailbox's
UIDs stay strictly increasing, a replay in the same batch is answered as delivered, a reuse of the
Message-ID for another message is refused, and a refused delivery fails alone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from maison.core import audit
from maison.core.actor import Actor
from maison.core.blobs import Blobs
from maison.core.errors import NotFound
from maison.partage.mss import store
from maison.partage.mss.delivery import Delivery, DuplicateMessageId
from maison.partage.mss.mailboxes import Mailboxes

ACTOR = Actor(person="operateur:chu-test", structure="chu-test", software="maison-mss")
BOX = "pfi@chu-test.mssante.fr"


@pytest.fixture
def delivery(db, tmp_path):
    Mailboxes(db).create(ACTOR, BOX, "chu-test", "APP", "1750000019", "PFI", password="mot-de-passe-pfi")
    return Delivery(db, Blobs(tmp_path / "blobs"))


def _held(delivery: Delivery, calls: list) -> list:
    """Run `calls` while the group commit's writer is held in a first batch, so that they form one."""
    gate = threading.Event()
    delivery.group.submit(lambda conn: (gate.wait(10), [], []))
    with ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        while delivery.group._queue.qsize() < len(calls):  # every call's body is queued behind the gate
            threading.Event().wait(0.01)
        gate.set()
        return [f.exception() or f.result() for f in futures]


def test_a_batch_of_deliveries_keeps_uids_increasing_and_message_ids_unique(db, delivery):
    mails = [f"message {n}\r\n".encode() for n in range(6)]
    results = _held(
        delivery,
        [
            *(
                lambda n=n: delivery.deliver(ACTOR, BOX, mails[n], "gp@medecins.mssante.fr", f"<{n}@medecins>")
                for n in range(6)
            ),
            lambda: delivery.deliver(ACTOR, BOX, mails[0], "gp@medecins.mssante.fr", "<0@medecins>"),  # a replay
            lambda: delivery.deliver(ACTOR, BOX, b"another\r\n", "gp@medecins.mssante.fr", "<1@medecins>"),  # a reuse
            lambda: delivery.deliver(ACTOR, "nobody@chu-test.mssante.fr", mails[2], "gp@medecins.mssante.fr", "<x@m>"),
        ],
    )
    # the batch's order is the sessions' race: whichever of two same Message-IDs comes first is stored
    first, again = results[0], results[6]
    assert first.uid == again.uid and sorted((first.replay, again.replay)) == [False, True]
    one, reuse = results[1], results[7]
    assert {type(one), type(reuse)} == {type(first), DuplicateMessageId}
    stored = [r for r in (*results[2:6], one, reuse) if not isinstance(r, Exception)] + [
        min((first, again), key=lambda r: r.replay)
    ]
    assert sorted(r.uid for r in stored) == [1, 2, 3, 4, 5, 6] and not any(r.replay for r in stored)
    assert isinstance(results[8], NotFound)
    with db.read() as conn:
        rows = conn.execute(
            sa.select(store.mss_message.c.uid, store.mss_message.c.message_id).order_by(store.mss_message.c.uid)
        ).all()
        query = sa.select(store.mss_mailbox.c.uidnext).where(store.mss_mailbox.c.address == BOX)
        uidnext = conn.execute(query).scalar()
        trail = list(audit.events(conn, action_prefix="mss.remettre"))
        assert audit.verify_chain(conn)[0]
    assert [uid for uid, _ in rows] == [1, 2, 3, 4, 5, 6] and uidnext == 7
    assert sorted(m for _, m in rows) == sorted(f"<{n}@medecins>" for n in range(6))
    assert len(trail) == 6  # the replay and the refused ones are not delivered again


def test_a_failing_observer_does_not_fail_a_committed_delivery(delivery):
    """The IMAP sessions hear of a delivery after its commit; if telling them fails (the loop gone),
    the delivery still stands and is answered as delivered; a replay tells nobody."""
    told: list[str] = []

    def broken(address: str) -> None:
        told.append(address)
        raise RuntimeError("Event loop is closed")

    delivery.observers.append(broken)
    raw = b"Subject: t\r\n\r\nx\r\n"
    done = delivery.deliver(ACTOR, BOX, raw, "a@b.fr", "<obs-1@test>")
    assert not done.replay and done.uid == 1 and told == [BOX]
    assert delivery.deliver(ACTOR, BOX, raw, "a@b.fr", "<obs-1@test>").replay and told == [BOX]


def test_delivery_prepends_the_return_path_and_a_restamped_replay_is_recognised(delivery):
    """Final delivery puts `Return-Path: <sender>` on top of the bytes as received (RFC 5321 §4.4).
    A relay's retry carries this hop's Received line again with another id and date: the same
    message, answered as delivered, not refused as a reuse of its Message-ID (issue 20 §5.3)."""
    message = b"From: gp@medecins.mssante.fr\r\nMessage-ID: <trace-1@medecins>\r\n\r\ncorps\r\n"
    first = (
        b"Received: from medecins.mssante.fr ([127.0.0.1])\r\n"
        b"\tby chu-test.mssante.fr with ESMTPS id A1;\r\n\tMon, 7 Dec 2026 08:00:00 +0000\r\n"
    )
    retry = first.replace(b"A1", b"B2").replace(b"08:00:00", b"08:00:05")
    done = delivery.deliver(ACTOR, BOX, first + message, "gp@medecins.mssante.fr", "<trace-1@medecins>")
    again = delivery.deliver(ACTOR, BOX, retry + message, "gp@medecins.mssante.fr", "<trace-1@medecins>")
    assert not done.replay and again.replay and again.uid == done.uid
    with pytest.raises(DuplicateMessageId):
        delivery.deliver(
            ACTOR, BOX, retry + message.replace(b"corps", b"autre"), "gp@medecins.mssante.fr", "<trace-1@medecins>"
        )
    with delivery.db.read() as conn:
        [row] = conn.execute(sa.select(store.mss_message)).all()
    stored = delivery.content(row.sha256)
    assert stored == b"Return-Path: <gp@medecins.mssante.fr>\r\n" + first + message and row.size == len(stored)


def test_a_relayed_message_names_its_sender_in_the_trail(delivery, db):
    """The observatory's SUN-ES PS3.2 (004 L660-684) counts what a structure's mailbox sent: a message
    queued for another operator says whose it is, as a local delivery does."""
    delivery.enqueue(ACTOR, "chu-test", "medecins", BOX, ["martin@medecins.mssante.fr"], b"x", "<a@chu-test>")
    with db.read() as conn:
        [record] = list(audit.events(conn, action_prefix="mss.relayer"))
    assert audit.detail_of(record)["expediteur"] == BOX
