"""The PFI's tables and every query on them (DESIGN.md §Layout: one owner per table): what it
integrated (`pfi_document`) and what waits for a human (`pfi_worklist`). The schema is unchanged
(migration 0016); the tables were declared with the operator's until the PFI left the national wing.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from maison.core.storage import metadata

pfi_document = sa.Table(
    "pfi_document",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("patient_id", sa.Integer, nullable=False),  # the local patient index's record
    sa.Column("unique_id", sa.String(128), nullable=False),  # the CDA's id
    sa.Column("type_code", sa.String(32), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),  # the CDA's blob
    sa.Column("message_id", sa.String(256), nullable=False),
    sa.Column("sender", sa.String(256), nullable=False),
    sa.Column("integrated_at", sa.String(32), nullable=False),
    sa.Column("how", sa.String(12), nullable=False),  # automatique / manuel
    sa.UniqueConstraint("structure", "unique_id", name="uq_pfi_document_unique"),
    sa.Index("ix_pfi_document_patient", "structure", "patient_id"),
)

pfi_worklist = sa.Table(
    "pfi_worklist",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("mailbox", sa.String(256), nullable=False),
    sa.Column("uid", sa.Integer, nullable=False),  # the message in the applicative mailbox
    sa.Column("message_id", sa.String(256), nullable=False),
    sa.Column("unique_id", sa.String(128), nullable=False),
    sa.Column("ins", sa.String(15)),
    sa.Column("code", sa.String(3), nullable=False),  # 902-906 (mss-courriel error-codes.md)
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("candidates", sa.Text, nullable=False),  # JSON: local patients proposed by traits
    sa.Column("sha256", sa.String(64), nullable=False),  # the CDA's blob
    sa.Column("state", sa.String(12), nullable=False),  # a-traiter / rattache / rejete
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Index("ix_pfi_worklist_open", "structure", "state"),
)


def entry(conn: sa.Connection, structure: str, entry_id: str, *, for_update: bool = False) -> sa.Row | None:
    query = sa.select(pfi_worklist).where(pfi_worklist.c.id == entry_id, pfi_worklist.c.structure == structure)
    return conn.execute(query.with_for_update() if for_update else query).first()


def entries(conn: sa.Connection, structure: str, state: str) -> list[sa.Row]:
    return list(
        conn.execute(
            sa.select(pfi_worklist)
            .where(pfi_worklist.c.structure == structure, pfi_worklist.c.state == state)
            .order_by(pfi_worklist.c.created_at)
        )
    )


def set_state(conn: sa.Connection, structure: str, entry_id: str, state: str, *, only_from: str | None = None) -> int:
    """The entry's new state; with `only_from`, only if it is in that state (rows changed: 0 or 1)."""
    where = [pfi_worklist.c.id == entry_id, pfi_worklist.c.structure == structure]
    if only_from is not None:
        where.append(pfi_worklist.c.state == only_from)
    return conn.execute(pfi_worklist.update().where(*where).values(state=state)).rowcount


def integrated(conn: sa.Connection, structure: str, unique_ids: Iterable[str]) -> set[str]:
    """Which of these CDA ids the structure has integrated already."""
    return set(
        conn.execute(
            sa.select(pfi_document.c.unique_id).where(
                pfi_document.c.structure == structure, pfi_document.c.unique_id.in_(set(unique_ids))
            )
        ).scalars()
    )


def waiting(conn: sa.Connection, structure: str, mailbox: str, uids: Iterable[int]) -> set[tuple[int, str]]:
    """(message UID, CDA id) already put on the worklist from these messages of the mailbox."""
    return {
        (uid, unique_id)
        for uid, unique_id in conn.execute(
            sa.select(pfi_worklist.c.uid, pfi_worklist.c.unique_id).where(
                pfi_worklist.c.structure == structure,
                pfi_worklist.c.mailbox == mailbox,
                pfi_worklist.c.uid.in_(set(uids)),
            )
        )
    }


def insert(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """Rows of `pfi_document` or `pfi_worklist` (the service builds them)."""
    assert table is pfi_document or table is pfi_worklist
    if rows:
        conn.execute(table.insert(), rows)
