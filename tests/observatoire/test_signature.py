"""Reports are signed at the chain position they were computed at, and refuse to sign when the
audit chain is broken (issue 23 §5) — checked from the last signed checkpoint when there is one."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from maison.core import audit, audit_anchor
from maison.core.actor import Actor
from maison.core.keystore import FileKeyStore
from maison.observatoire.signature import Sealer, verify

ACTOR = Actor(person="801234567897", structure="1750000019", software="test")
CONTENT = {"periode": "2026-S1", "indicateurs": [{"indicateur": "DS1.1", "numerateur": 3, "denominateur": 4}]}


def write(db, n: int) -> None:
    with db.write() as conn:
        audit.append(conn, [audit.Trail.entry(ACTOR, "test.lecture", detail={"i": i}) for i in range(n)])


def tamper(db, seq: int) -> None:
    """One record changed in SQL, nothing else: what a hand on the database does."""
    with db.write() as conn:
        conn.execute(audit.audit_event.update().where(audit.audit_event.c.seq == seq).values(detail='{"actor":{}}'))


def first_seq(db) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.min(audit.audit_event.c.seq))).scalar_one())


@pytest.fixture
def sealer(db, tmp_path):
    keystore = FileKeyStore(tmp_path / "secrets")
    return Sealer(db, keystore, tmp_path / "secrets" / "audit-checkpoints.jsonl")


def test_an_intact_chain_signs_the_report_and_its_position(db, sealer):
    write(db, 5)
    seal = sealer.seal("sunes", CONTENT)
    with db.read() as conn:
        assert (seal.seq, seal.hash) == audit.head(conn)
    assert seal.signed and seal.reason == ""
    assert verify(seal, "sunes", CONTENT, sealer.public_jwk())
    assert not verify(seal, "sunes", {**CONTENT, "periode": "2026-S2"}, sealer.public_jwk())  # content changed
    assert not verify(seal, "national", CONTENT, sealer.public_jwk())  # another report
    again = Sealer(db, sealer.keystore, sealer.checkpoint_path)  # the key is kept in the key store
    assert again.key_id == sealer.key_id


def test_one_row_tampered_in_sql_refuses_the_signature_and_says_where(db, sealer):
    write(db, 5)
    victim = first_seq(db) + 2
    tamper(db, victim)
    seal = sealer.seal("sunes", CONTENT)
    assert not seal.signed and seal.signature is None
    assert seal.broken_seq == victim
    assert f"chaîne d'audit rompue à seq {victim}" in seal.reason
    assert seal.as_dict()["signe"] is False and seal.as_dict()["motif"] == seal.reason
    assert not verify(seal, "sunes", CONTENT, sealer.public_jwk())


def test_the_check_starts_at_the_last_signed_checkpoint(db, sealer, tmp_path):
    write(db, 5)
    checkpoint = audit_anchor.checkpoint(db, sealer.keystore, sealer.checkpoint_path)
    assert checkpoint is not None
    write(db, 3)
    seal = sealer.seal("sunes", CONTENT)
    assert seal.signed and seal.anchored_seq == checkpoint["seq"]
    tamper(db, checkpoint["seq"] + 2)  # after the anchor: the records after it are recomputed
    assert sealer.seal("sunes", CONTENT).broken_seq == checkpoint["seq"] + 2


def test_the_record_a_checkpoint_vouches_for_must_keep_its_hash(db, sealer):
    write(db, 4)
    checkpoint = audit_anchor.checkpoint(db, sealer.keystore, sealer.checkpoint_path)
    with db.write() as conn:  # the anchored record rewritten, its hash recomputed
        e = audit.audit_event
        conn.execute(e.update().where(e.c.seq == checkpoint["seq"]).values(hash="0" * 64))
    seal = sealer.seal("sunes", CONTENT)
    assert not seal.signed and seal.broken_seq == checkpoint["seq"]


def test_a_checkpoint_signed_by_another_key_is_no_anchor(db, sealer, tmp_path):
    write(db, 3)
    other = FileKeyStore(tmp_path / "autre")
    audit_anchor.checkpoint(db, other, sealer.checkpoint_path)
    assert audit_anchor.last_anchor(sealer.checkpoint_path, audit_anchor.Signer(sealer.keystore).public) is None
    seal = sealer.seal("sunes", CONTENT)
    assert seal.signed and seal.anchored_seq is None  # the whole chain was checked


def test_a_record_rewritten_below_the_anchor_is_found_by_the_full_check(db, sealer):
    write(db, 5)
    checkpoint = audit_anchor.checkpoint(db, sealer.keystore, sealer.checkpoint_path)
    tamper(db, checkpoint["seq"] - 2)  # below the anchor: the quick check trusts the checkpoint
    assert sealer.seal("sunes", CONTENT).signed
    sealer.full = True
    seal = sealer.seal("sunes", CONTENT)
    assert not seal.signed and seal.broken_seq == checkpoint["seq"] - 2 and seal.anchored_seq is None
