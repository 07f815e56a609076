"""What the trail proves of the prerequisites the house establishes itself, folded once.

- PS3.1 (004 L652, L656: "remontée automatique", the solution and its vendor named): a DMP feed
  (`dmp.alimenter`, outcome success) accepted from a structure's software — the record's actor
  structure and software;
- PS3.2 (004 L676, L682): a message sent from a mailbox (`mss.remettre` for a local recipient,
  `mss.relayer` for another operator's; both name the sending mailbox, `expediteur`);
- PS4.1 (004 L708, L737): a test answered by the citizen test mailbox (`mss.test-citoyen`),
  conforming or not, with what was missing.

Each is kept as a fact per (kind, subject, key) with its first and last record (seq and time) and a
count: the prerequisites ask whether the capacity was shown by instant t, and name the record that
proves it. A later record does not undo a proof: a fed document deleted afterwards, a mailbox closed
after it sent, still showed the capacity at the time (the prerequisite is proven once for the
programme, 004 L156); a mailbox's current state is read from the mailboxes themselves.

The fold reads only the records after its cursor, by windows of sequence numbers (issue 23: fold,
do not rescan), in the transaction that updates the facts and moves the cursor.
"""

from __future__ import annotations

from typing import Any

import orjson

from maison.core import audit
from maison.core.storage import Database
from maison.observatoire.prerequis import store

CURSOR = "prerequis"
ACTIONS = ("dmp.alimenter", "mss.remettre", "mss.relayer", "mss.test-citoyen")
WINDOW = 50_000  # sequence numbers read per query

DMP, SENT, TEST_OK, TEST_KO = "dmp", "mss-envoi", "mss-test-ok", "mss-test-ko"


def _fact_of(record: dict[str, Any]) -> tuple[str, str, str, dict[str, Any]] | None:
    """(kind, subject, key, words kept) for a record that proves something, else None."""
    if record["outcome"] != "success":
        return None
    action = record["action"]
    if action == "dmp.alimenter":
        return DMP, record["actor_structure"], record["actor_software"], {}
    detail = audit.detail_of(record)
    sender = str(detail.get("expediteur") or "").lower()
    if not sender:  # an mss.relayer written before it named its sender: nothing to tie it to
        return None
    if action == "mss.test-citoyen":
        kind = TEST_OK if detail.get("conforme") else TEST_KO
        return kind, sender, "", {"message_id": detail.get("message_id"), "manques": detail.get("manques", [])}
    return SENT, sender, "", {}


def _aggregate(records: list[dict[str, Any]], into: dict[tuple[str, str, str], dict[str, Any]]) -> None:
    for record in records:
        found = _fact_of(record)
        if found is None:
            continue
        kind, subject, key, words = found
        fact = into.get((kind, subject, key))
        if fact is None:
            into[(kind, subject, key)] = fact = {
                "kind": kind,
                "subject": subject,
                "key": key,
                "first_seq": record["seq"],
                "first_at": record["recorded_at"],
                "count": 0,
            }
        fact.update(last_seq=record["seq"], last_at=record["recorded_at"], detail=orjson.dumps(words).decode())
        fact["count"] += 1


def fold(db: Database, *, rebuild: bool = False) -> int:
    """Fold the records written since the last fold (all of them with `rebuild`); returns the new
    cursor (the last seq folded)."""
    with db.write() as conn:
        if rebuild:
            store.forget_facts(conn, CURSOR)
        after, upto = store.cursor(conn, CURSOR), audit.last_seq(conn)
        if upto <= after:
            return after
        new: dict[tuple[str, str, str], dict[str, Any]] = {}
        for low in range(after, upto, WINDOW):
            _aggregate(audit.records_after(conn, low, min(low + WINDOW, upto), ACTIONS), new)
        for fact in new.values():
            store.fold_fact(conn, fact)
        store.move_cursor(conn, CURSOR, upto)
        return upto
