"""The DMP's group commit: a batch commits together, a failing feed fails alone, nothing half-written."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from maison.core import audit
from maison.core.group_commit import GroupCommit
from maison.partage.dmp import store

INSERT = store.dmp_dossier.insert()


def _dossier(ins: str) -> dict:
    return {"ins": ins, "state": "actif", "created_at": "2026-11-21T00:00:00", "updated_at": "2026-11-21T00:00:00"}


def _work(ins: str, *, refuse: bool = False):
    def work(conn):
        if refuse:
            raise ValueError(f"refused {ins}")
        return ins, [(INSERT, [_dossier(ins)])], [audit.Trail.entry(audit.SYSTEM, "test.groupe", patient=ins)]

    return work


def _batch(commit: GroupCommit, works: list) -> list:
    """Hand `works` to the writer thread while it is held, so that they form one batch."""
    futures = []
    gate = threading.Event()
    commit.submit(lambda conn: (gate.wait(10), [], []))  # the writer thread waits inside a first batch
    futures = [commit.submit(w) for w in works]
    gate.set()
    return futures


def _stored(db) -> tuple[set[str], list[str]]:
    with db.read() as conn:
        dossiers = set(conn.execute(sa.select(store.dmp_dossier.c.ins)).scalars())
        trail = [e["patient"] for e in audit.events(conn, action_prefix="test.groupe")]
        intact, _ = audit.verify_chain(conn)
    assert intact
    return dossiers, trail


def test_a_batch_commits_its_rows_and_audit_records_together(db):
    commit = GroupCommit(db)
    futures = _batch(commit, [_work(f"1{n:014d}") for n in range(5)])
    assert [f.result(timeout=10) for f in futures] == [f"1{n:014d}" for n in range(5)]
    dossiers, trail = _stored(db)
    assert dossiers == {f"1{n:014d}" for n in range(5)} and sorted(trail) == sorted(dossiers)


def test_a_refused_feed_fails_alone(db):
    commit = GroupCommit(db)
    futures = _batch(
        commit, [_work("100000000000001"), _work("100000000000002", refuse=True), _work("100000000000003")]
    )
    assert futures[0].result(timeout=10) == "100000000000001"
    with pytest.raises(ValueError, match="refused 100000000000002"):
        futures[1].result(timeout=10)
    assert futures[2].result(timeout=10) == "100000000000003"
    dossiers, trail = _stored(db)
    assert dossiers == {"100000000000001", "100000000000003"} and sorted(trail) == sorted(dossiers)


def test_a_row_taken_meanwhile_fails_only_its_feed(db):
    # two feeds of one batch insert the same key: the batch's grouped insert fails, then each feed runs
    # in its own savepoint and only the second is refused (the caller then answers the replay)
    commit = GroupCommit(db)
    futures = _batch(commit, [_work("100000000000004"), _work("100000000000004"), _work("100000000000005")])
    assert futures[0].result(timeout=10) == "100000000000004"
    with pytest.raises(sa.exc.IntegrityError):
        futures[1].result(timeout=10)
    assert futures[2].result(timeout=10) == "100000000000005"
    dossiers, trail = _stored(db)
    assert dossiers == {"100000000000004", "100000000000005"} and sorted(trail) == sorted(dossiers)


def _writing(ins: str, *, refuse: bool = False):
    """A body that records its audit entry itself, in the shared transaction, then may fail."""

    def work(conn):
        conn.execute(INSERT, [_dossier(ins)])
        audit.Trail.write(conn, audit.SYSTEM, "test.groupe", patient=ins)
        if refuse:
            raise ValueError(f"refused {ins}")
        return ins, [], []

    return work


def test_records_written_by_a_body_are_chained_once_with_the_batch_and_a_failed_bodys_are_dropped(db):
    commit = GroupCommit(db)
    with db.read() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(audit.audit_event)).scalar_one()
    futures = _batch(
        commit, [_writing("100000000000011"), _writing("100000000000012", refuse=True), _writing("100000000000013")]
    )
    assert futures[0].result(timeout=10) == "100000000000011" and futures[2].result(timeout=10) == "100000000000013"
    with pytest.raises(ValueError):
        futures[1].result(timeout=10)
    dossiers, trail = _stored(db)  # the chain verifies
    assert dossiers == {"100000000000011", "100000000000013"}
    assert sorted(trail) == ["100000000000011", "100000000000013"]  # the refused body's record went with it
    with db.read() as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(audit.audit_event)).scalar_one()
    assert after - before == 2
    with db.write() as conn:  # outside a group commit, a record is chained at once again
        assert audit.Trail.write(conn, audit.SYSTEM, "test.groupe", patient="100000000000014") > 0
