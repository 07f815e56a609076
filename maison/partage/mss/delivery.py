"""Messages into mailboxes, and out to other operators.

Delivery is durable before the SMTP 250: the message's bytes are a blob (fsynced, renamed), then its
row (UID in the mailbox, Message-ID, flags) commits with its audit record. A Message-ID is delivered
once per mailbox: the same message again (a relay retrying after a lost 250) is answered as
delivered and not stored twice; another message reusing a Message-ID is refused (RFC 5322 §3.6.4
makes it unique). The stored bytes are what the hops received, with the trace fields they prepended
and the `Return-Path` of final delivery (RFC 5321 §4.4): a replay is the same message under newer
trace fields (a relay's retry carries a new `Received` date), so it is compared without them.

Mail for another operator of the trust space waits in the outbox (one row per destination
operator, same blob) until the relay delivers it; a permanent failure comes back to the sender as
a DSN (RFC 3464).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from maison.core import audit
from maison.core.actor import Actor
from maison.core.blobs import Blobs
from maison.core.errors import Conflict, NotFound
from maison.core.group_commit import GroupCommit
from maison.core.storage import Database
from maison.partage.mss import store, trace

log = logging.getLogger(__name__)
RETRY = (timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))


class DuplicateMessageId(Conflict):
    code = "message-id-reutilise"


@dataclass(frozen=True)
class Delivered:
    address: str
    uid: int
    replay: bool


@dataclass(frozen=True)
class Queued:
    id: str
    operator: str
    destination: str
    sender: str
    recipients: list[str]
    sha256: str
    attempts: int


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Delivery:
    def __init__(self, db: Database, blobs: Blobs) -> None:
        self.db = db
        self.blobs = blobs
        # Concurrent SMTP sessions' deliveries and relay entries commit together (one transaction,
        # one fsync for the batch), each still answered 250 only once its own rows are committed.
        self.group = GroupCommit(db, name="mss-group-commit")
        # told each mailbox that received a new message, once committed (the IMAP sessions in IDLE)
        self.observers: list[Callable[[str], None]] = []

    def deliver(self, actor: Actor, address: str, raw: bytes, sender: str, message_id: str) -> Delivered:
        """Final delivery of `raw` (as the last hop received it, its `Received` line included) into
        the mailbox, under the `Return-Path` of its envelope sender (RFC 5321 §4.4)."""
        stored = trace.return_path(sender) + raw
        digest = self.blobs.put(stored)  # durable before the row that names it
        work = self._delivery(actor, address, len(stored), sender, message_id, digest, self._same_content(raw))
        # run() hands back the work's result
        delivered: Delivered = self.group.run(work)  # type: ignore[assignment]
        if not delivered.replay:
            for observer in self.observers:
                try:
                    observer(address)
                except Exception:  # noqa: BLE001 — committed: a listener's failure must not fail the delivery
                    log.exception("BAL %s : avis de remise non transmis", address)
        return delivered

    def enqueue(
        self,
        actor: Actor,
        operator: str,
        destination: str,
        sender: str,
        recipients: list[str],
        raw: bytes,
        message_id: str,
    ) -> Queued:
        digest = self.blobs.put(raw)
        queued = Queued(str(uuid.uuid4()), operator, destination, sender, list(recipients), digest, 0)
        row = dict(
            id=queued.id,
            operator=operator,
            sender=sender,
            recipients=json.dumps(recipients),
            destination=destination,
            sha256=digest,
            attempts=0,
            next_attempt_at=_now(),
            status="pending",
            created_at=_now(),
        )
        trail = audit.Trail.entry(
            actor,
            "mss.relayer",
            purpose="TREAT",
            detail={
                "operateur": operator,
                "destination": destination,
                "expediteur": sender,  # whose mailbox sent it (the observatory's SUN-ES PS3.2)
                "destinataires": recipients,
                "message_id": message_id,
            },
        )
        # run() hands back the work's result
        return self.group.run(lambda _conn: (queued, [(store.QUEUE, [row])], [dict(trail)]))  # type: ignore[return-value]

    def _same_content(self, raw: bytes) -> Callable[[str], bool]:
        """Whether the message stored under a digest is `raw` under other trace fields: a replay whose
        hops stamped it again (read only when a Message-ID comes back with other bytes)."""
        return lambda digest: trace.content(self.blobs.get(digest)) == trace.content(raw)

    @staticmethod
    def _delivery(
        actor: Actor,
        address: str,
        size: int,
        sender: str,
        message_id: str,
        digest: str,
        same_content: Callable[[str], bool],
    ):
        """The body of a delivery's transaction, for the group commit: the mailbox's next UID taken
        under its row lock (UIDs strictly increasing under concurrent deliveries), the Message-ID
        looked up (a replay — the same bytes, or the same message under newer trace fields — answered
        as delivered, another message refused), the row and its audit record returned to be inserted
        with the batch's."""

        def work(conn):
            box = store.lock_mailbox(conn, address)
            if box is None or not box.active:
                raise NotFound(f"BAL {address} inconnue", code="bal-inconnue")
            known = store.delivered(conn, address, message_id)
            if known is not None:
                if known.sha256 != digest and not same_content(known.sha256):
                    raise DuplicateMessageId(f"Message-ID {message_id} déjà remis à {address} pour un autre message")
                return Delivered(address, known.uid, True), [], []
            uid = box.uidnext
            store.set_uidnext(conn, address, uid + 1)
            row = dict(
                address=address,
                uid=uid,
                message_id=message_id,
                sha256=digest,
                size=size,
                sender=sender,
                flags="\\Recent",
                received_at=_now(),
            )
            return (
                Delivered(address, uid, False),
                [(store.DELIVER, [row])],
                [
                    audit.Trail.entry(
                        actor,
                        "mss.remettre",
                        purpose="TREAT",
                        detail={"bal": address, "message_id": message_id, "expediteur": sender, "taille": size},
                    )
                ],
            )

        return work

    def due(self, operator: str, limit: int = 200) -> list[Queued]:
        with self.db.read() as conn:
            rows = store.due(conn, operator, _now(), limit)
        return [
            Queued(r.id, r.operator, r.destination, r.sender, json.loads(r.recipients), r.sha256, r.attempts)
            for r in rows
        ]

    def content(self, sha256: str) -> bytes:
        return self.blobs.get(sha256)

    def sent(self, done: list[Queued]) -> None:
        """Mark relayed messages sent, several in one transaction — the group commit's, shared with
        the deliveries and relay entries being committed (one write lock and one fsync fewer for
        every relay batch: SQLite has one writer for all the operators' processes). A crash before
        this commit only makes the relay send them again, and the receiver answers a replay as
        delivered (by Message-ID, above) without storing it twice."""
        if not done:
            return
        attempts = {queued.id: queued.attempts + 1 for queued in done}

        def work(conn):
            store.outbox_sent(conn, attempts)
            return None, [], []

        self.group.run(work)

    def failed(self, queued: Queued, error: str, *, permanent: bool) -> bool:
        """Record a failed attempt; True when the message is given up (permanent, or retries exhausted)."""
        give_up = permanent or queued.attempts + 1 >= len(RETRY)
        with self.db.write() as conn:
            store.update_outbox(
                conn,
                queued.id,
                status="failed" if give_up else "pending",
                attempts=queued.attempts + 1,
                last_error=error,
                next_attempt_at=(datetime.now(UTC) + RETRY[min(queued.attempts, len(RETRY) - 1)]).isoformat(),
            )
        return give_up
