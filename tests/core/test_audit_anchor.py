"""Signed checkpoints anchor the audit chain: a rewritten tail, deleted records or a forged
checkpoint are detected, and `maison audit verify` says where (issue 18 item 2.6)."""

from __future__ import annotations

import orjson
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from maison.core import audit, audit_anchor
from maison.core.actor import Actor
from maison.core.keystore import FileKeyStore

ACTOR = Actor(person="801234567897", structure="1750000000", software="test")


def _write(db, n: int, start: int = 0) -> None:
    with db.write() as conn:
        audit.append(
            conn,
            [
                audit.Trail.entry(ACTOR, "test.lecture", patient=f"P{start + i}", detail={"i": start + i})
                for i in range(n)
            ],
        )


def _rewrite_tail(db, from_seq: int) -> None:
    """What an attacker with write access to the database does: change a record, recompute every
    later hash and move audit_head, so that the unkeyed chain still verifies on its own."""
    e = audit.audit_event
    with db.write() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(e).where(e.c.seq >= from_seq).order_by(e.c.seq)).mappings()]
        prev = rows[0]["prev_hash"]
        rows[0]["patient"], rows[0]["detail"] = "AUTRE-PATIENT", '{"actor":{},"i":-1}'
        for row in rows:
            row["prev_hash"], row["hash"] = prev, audit._chain(prev, row)
            prev = row["hash"]
            conn.execute(
                e.update()
                .where(e.c.seq == row["seq"])
                .values(patient=row["patient"], detail=row["detail"], prev_hash=row["prev_hash"], hash=row["hash"])
            )
        conn.execute(audit.audit_head.update().where(audit.audit_head.c.id == 1).values(seq=rows[-1]["seq"], hash=prev))


@pytest.fixture
def anchor(tmp_path):
    keystore = FileKeyStore(tmp_path / "secrets")
    return keystore, tmp_path / "secrets" / "audit-checkpoints.jsonl", audit_anchor.Signer(keystore)


def test_intact_chain_agrees_with_its_checkpoints(db, anchor):
    keystore, path, signer = anchor
    _write(db, 5)
    assert audit_anchor.checkpoint(db, keystore, path)["seq"] == 5
    assert audit_anchor.checkpoint(db, keystore, path) is None  # nothing new: no second line
    _write(db, 3, start=5)
    audit_anchor.checkpoint(db, keystore, path)
    report = audit_anchor.verify(db, path, signer.public)
    assert report.intact and report.checkpoints == 2 and report.anchored_seq == 8 and report.head_seq == 8
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_a_rewritten_tail_verifies_alone_but_contradicts_a_checkpoint(db, anchor):
    keystore, path, signer = anchor
    _write(db, 4)
    audit_anchor.checkpoint(db, keystore, path)  # line 1: seq 4
    _write(db, 4, start=4)
    audit_anchor.checkpoint(db, keystore, path)  # line 2: seq 8
    _rewrite_tail(db, 6)
    with db.read() as conn:
        assert audit.verify_chain(conn) == (True, None)  # the unkeyed chain alone is fooled
    report = audit_anchor.verify(db, path, signer.public)
    assert not report.intact
    [finding] = report.findings
    assert finding.kind == "checkpoint-contredit" and finding.line == 2 and finding.seq == 5
    assert report.first_bad_seq == 5 and report.anchored_seq == 4
    assert "entre seq 5 et seq 8" in finding.message


def test_a_record_changed_without_rewriting_the_chain_is_named_exactly(db, anchor):
    keystore, path, signer = anchor
    _write(db, 6)
    audit_anchor.checkpoint(db, keystore, path)
    with db.write() as conn:
        conn.execute(audit.audit_event.update().where(audit.audit_event.c.seq == 3).values(patient="X"))
    report = audit_anchor.verify(db, path, signer.public)
    assert report.first_bad_seq == 3 and report.findings[0].kind == "chaine-rompue"


def test_deleted_records_are_detected(db, anchor):
    keystore, path, signer = anchor
    _write(db, 6)
    audit_anchor.checkpoint(db, keystore, path)
    e, h = audit.audit_event, audit.audit_head
    with db.write() as conn:  # the last two records removed, the head moved back to match
        conn.execute(e.delete().where(e.c.seq > 4))
        last = conn.execute(sa.select(e.c.hash).where(e.c.seq == 4)).scalar_one()
        conn.execute(h.update().where(h.c.id == 1).values(seq=4, hash=last))
    with db.read() as conn:
        assert audit.verify_chain(conn) == (True, None)
    report = audit_anchor.verify(db, path, signer.public)
    assert [f.kind for f in report.findings] == ["enregistrements-supprimes"]
    assert report.first_bad_seq == 5 and report.findings[0].line == 1
    # and from the middle: the gap is named
    with db.write() as conn:
        conn.execute(e.delete().where(e.c.seq == 2))
    report = audit_anchor.verify(db, path, signer.public)
    assert report.first_bad_seq == 2 and report.findings[0].kind == "chaine-rompue"


def test_forged_or_removed_checkpoints_are_detected(db, anchor):
    keystore, path, signer = anchor
    _write(db, 3)
    audit_anchor.checkpoint(db, keystore, path)
    _write(db, 3, start=3)
    audit_anchor.checkpoint(db, keystore, path)
    _rewrite_tail(db, 2)
    # the attacker signs checkpoints for his rewritten chain with a key of his own
    forger = FileKeyStore(path.parent.parent / "forger")
    forged_path = path.with_name("forged.jsonl")
    audit_anchor.checkpoint(db, forger, forged_path)
    path.write_bytes(forged_path.read_bytes())
    report = audit_anchor.verify(db, path, signer.public)
    assert [f.kind for f in report.findings] == ["signature-invalide"] and report.checkpoints == 0
    # or alters a genuine one's hash: its signature no longer holds
    _write(db, 1, start=100)
    fresh = path.with_name("fresh.jsonl")
    audit_anchor.checkpoint(db, keystore, fresh)
    line = orjson.loads(fresh.read_bytes())
    line["seq"] -= 1
    fresh.write_bytes(orjson.dumps(line) + b"\n")
    assert audit_anchor.verify(db, fresh, signer.public).findings[0].kind == "signature-invalide"


def test_a_checkpoint_removed_from_the_middle_of_the_file_is_detected(db, anchor):
    keystore, path, signer = anchor
    for i in range(3):
        _write(db, 2, start=2 * i)
        audit_anchor.checkpoint(db, keystore, path)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2])
    report = audit_anchor.verify(db, path, signer.public)
    assert [f.kind for f in report.findings] == ["checkpoint-manquant"] and report.findings[0].line == 2


def test_the_checkpointer_signs_at_stop_and_only_when_the_chain_moved(db, anchor):
    keystore, path, signer = anchor
    checkpointer = audit_anchor.Checkpointer(db, keystore, path, interval_s=3600)
    checkpointer.start()
    _write(db, 2)
    checkpointer.stop()
    lines = path.read_bytes().splitlines()
    assert orjson.loads(lines[-1])["seq"] == 2
    assert audit_anchor.verify(db, path, signer.public).intact


def test_cli_verify_names_the_break_and_exits_non_zero(db, tmp_path, database_url):
    from maison.cli import app

    env = {
        "MAISON_DATABASE_URL": database_url,
        "MAISON_DATA_DIR": str(tmp_path / "data"),
        "MAISON_SECRETS_DIR": str(tmp_path / "secrets"),
        "COLUMNS": "200",
    }
    runner = CliRunner()
    _write(db, 5)
    assert runner.invoke(app, ["audit", "checkpoint"], env=env).exit_code == 0
    result = runner.invoke(app, ["audit", "verify"], env=env)
    assert result.exit_code == 0 and "Intègre" in result.output
    _rewrite_tail(db, 3)
    result = runner.invoke(app, ["audit", "verify"], env=env)
    assert result.exit_code == 1, result.output
    assert "checkpoint-contredit" in result.output and "entre seq 1 et seq 5" in result.output, result.output
    # an auditor verifies with the public key alone; a wrong key cannot verify anything
    pem = runner.invoke(app, ["audit", "cle-publique"], env=env).output
    (tmp_path / "audit.pub").write_text(pem)
    assert (
        runner.invoke(app, ["audit", "verify", "--cle-publique", str(tmp_path / "audit.pub")], env=env).exit_code == 1
    )
    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "other.pub").write_bytes(other)
    result = runner.invoke(app, ["audit", "verify", "--cle-publique", str(tmp_path / "other.pub")], env=env)
    assert result.exit_code == 1 and "signature-invalide" in result.output
    (tmp_path / "junk.pub").write_bytes(b"not a key")
    assert runner.invoke(app, ["audit", "verify", "--cle-publique", str(tmp_path / "junk.pub")], env=env).exit_code == 2


def test_the_serving_app_checkpoints_at_start_and_at_clean_shutdown(house):
    from tests.conftest import LiveServer

    _write(house.db, 3)
    path = house.settings.effective_checkpoint_path
    with LiveServer(house.app()):
        _write(house.db, 2, start=3)
    # started: the head at start signed; stopped: the head at shutdown signed
    assert [orjson.loads(line)["seq"] for line in path.read_bytes().splitlines()] == [3, 5]
    public = audit_anchor.Signer(house.settings.keystore()).public
    assert audit_anchor.verify(house.db, path, public).intact
