"""The SUN-ES prerequisites' tables and every query on them (DESIGN.md §Layout: one owner per table).

- `obs_ps_declaration`: what a structure (or a GHT's support, for the GHT) declares, with its evidence
  — a blob of the house's blob store named by its SHA-256 — who declared it and when (seed 004: the
  "documents justificatifs" of each prerequisite);
- `obs_ps_fact`: what the audit trail proves, folded once: per (kind, subject, key) the first and the
  last record (seq and time) and how many — a DMP feed accepted from a structure's software, a
  message sent from a mailbox, a test answered by the citizen test mailbox;
- `obs_ps_cursor`: the last audit `seq` folded (issue 23: fold, do not rescan).

Keys carry the structure (or the mailbox, which belongs to one) first (DESIGN.md §Scale).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from maison.core.storage import metadata

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
_SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")

Connection = sa.Connection

obs_ps_declaration = sa.Table(
    "obs_ps_declaration",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("holder", sa.String(70), nullable=False),  # a FINESS, or `ght:<code>`
    sa.Column("item", sa.String(40), nullable=False),  # model.Item
    sa.Column("effective_on", sa.String(10), nullable=False),  # signed, held, audited, decided on
    sa.Column("funding_window", sa.Integer),  # PS2.2 and PS4.1's purchase order: the window it is for
    sa.Column("facts", sa.Text, nullable=False),  # JSON: what the item says of itself
    sa.Column("evidence_sha256", sa.String(64)),
    sa.Column("evidence_name", sa.String(200)),
    sa.Column("evidence_type", sa.String(64)),
    sa.Column("evidence_size", sa.Integer),
    sa.Column("declared_by", sa.String(128), nullable=False),
    sa.Column("declared_structure", sa.String(128), nullable=False),
    sa.Column("declared_at", sa.String(32), nullable=False),
    sa.Index("ix_obs_ps_declaration_holder", "holder", "item"),
)

obs_ps_fact = sa.Table(
    "obs_ps_fact",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),  # dmp, mss-envoi, mss-test-ok, mss-test-ko
    sa.Column("subject", sa.String(200), primary_key=True),  # the structure (dmp) or the mailbox
    sa.Column("key", sa.String(128), primary_key=True),  # the software (dmp), else ""
    sa.Column("first_seq", _SEQ, nullable=False),
    sa.Column("first_at", sa.String(32), nullable=False),
    sa.Column("last_seq", _SEQ, nullable=False),
    sa.Column("last_at", sa.String(32), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),  # JSON: the last record's words (a test's missing items)
)

obs_ps_cursor = sa.Table(
    "obs_ps_cursor",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("seq", _SEQ, nullable=False),
)


# --- declarations -------------------------------------------------------------------------------------


def add_declaration(conn: Connection, **values: Any) -> int:
    key = conn.execute(obs_ps_declaration.insert().values(**values)).inserted_primary_key
    assert key is not None  # an insert of one row
    return int(key[0])


def declarations(conn: Connection, holders: Iterable[str], declared_until: str) -> list[sa.Row]:
    """The holders' declarations made before `declared_until` (ISO timestamp), oldest first."""
    d = obs_ps_declaration
    return list(
        conn.execute(
            sa.select(d)
            .where(d.c.holder.in_(list(holders)), d.c.declared_at < declared_until)
            .order_by(d.c.declared_at, d.c.id)
        )
    )


def declaration(conn: Connection, declaration_id: int) -> sa.Row | None:
    d = obs_ps_declaration
    return conn.execute(sa.select(d).where(d.c.id == declaration_id)).first()


def evidence_digests(conn: Connection) -> set[str]:
    """Every blob a declaration names: what a sweep of the evidence store keeps."""
    d = obs_ps_declaration
    return set(conn.execute(sa.select(d.c.evidence_sha256).where(d.c.evidence_sha256.is_not(None))).scalars())


# --- facts folded from the trail ----------------------------------------------------------------------


def cursor(conn: Connection, name: str) -> int:
    """The last seq folded, the cursor's row held until the transaction ends (created first if need
    be), so that two folds at once (two API workers on PostgreSQL) never fold the same records twice."""
    c = obs_ps_cursor
    if conn.execute(sa.select(c.c.seq).where(c.c.name == name)).first() is None:
        try:
            with conn.begin_nested():
                conn.execute(c.insert().values(name=name, seq=0))
        except sa.exc.IntegrityError:
            pass  # created by the other fold meanwhile: its lock below orders the two
    seq = conn.execute(sa.select(c.c.seq).where(c.c.name == name).with_for_update()).scalar_one()
    return int(seq)


def move_cursor(conn: Connection, name: str, seq: int) -> None:
    c = obs_ps_cursor
    if conn.execute(c.update().where(c.c.name == name).values(seq=seq)).rowcount == 0:
        conn.execute(c.insert().values(name=name, seq=seq))


def fold_fact(conn: Connection, fact: dict[str, Any]) -> None:
    """Add one fact's new records: the first kept, the last moved, the count summed."""
    f = obs_ps_fact
    where = (f.c.kind == fact["kind"], f.c.subject == fact["subject"], f.c.key == fact["key"])
    known = conn.execute(sa.select(f.c.count).where(*where)).first()
    if known is None:
        conn.execute(f.insert().values(**fact))
        return
    conn.execute(
        f.update()
        .where(*where)
        .values(
            last_seq=fact["last_seq"], last_at=fact["last_at"], count=known.count + fact["count"], detail=fact["detail"]
        )
    )


def facts(conn: Connection, kind: str, subjects: Iterable[str], first_before: str) -> list[sa.Row]:
    """The facts of `kind` about `subjects` whose first record is before `first_before`."""
    f = obs_ps_fact
    return list(
        conn.execute(
            sa.select(f)
            .where(f.c.kind == kind, f.c.subject.in_(list(subjects)), f.c.first_at < first_before)
            .order_by(f.c.first_seq)
        )
    )


def forget_facts(conn: Connection, name: str) -> None:
    """A fold from 0: the facts and the cursor cleared, to be rebuilt from the whole trail."""
    conn.execute(obs_ps_fact.delete())
    conn.execute(obs_ps_cursor.delete().where(obs_ps_cursor.c.name == name))
