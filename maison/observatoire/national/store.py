"""The national statistics' folded facts and counters, and every query on them (DESIGN.md: one owner per table).

The trail is folded once (`service.National.fold`): each table below holds what the records after the
cursor added, keyed so that a month's figures are one indexed aggregation, never a rescan of the trail.
A counter upsert adds; a fact insert ignores a fact already there (the same message seen again in a
later record of the same exchange).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from maison.core.storage import metadata

Connection = sa.Connection
_SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")

obs_nat_cursor = sa.Table(
    "obs_nat_cursor",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("seq", _SEQ, nullable=False),  # the last audit seq folded
)

# DMP feeds (003 L1749-1750): one row per month, structure and software; HR counted apart, never mixed in
obs_nat_dmp = sa.Table(
    "obs_nat_dmp",
    metadata,
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("structure", sa.String(128), primary_key=True),
    sa.Column("software", sa.String(128), primary_key=True),
    sa.Column("feeds", sa.Integer, nullable=False),
    sa.Column("documents", sa.Integer, nullable=False),
    sa.Column("hr_feeds", sa.Integer, nullable=False),
    sa.Column("hr_documents", sa.Integer, nullable=False),
    # documents (hors HR) whose producing PFI recorded the identity as not qualified (PID-32 other than QUAL)
    sa.Column("unqualified", sa.Integer, nullable=False),
    sa.Column("last_seq", _SEQ, nullable=False),  # the newest record that moved the row
)

# the identity status the hospital's PFI recorded for each document it received (pfi.hl7.document)
obs_nat_document = sa.Table(
    "obs_nat_document",
    metadata,
    sa.Column("document", sa.String(256), primary_key=True),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("seq", _SEQ, nullable=False),
)

# MSSanté mailboxes as created (mss.bal.creer): their operator and type, for every later message
obs_nat_mailbox = sa.Table(
    "obs_nat_mailbox",
    metadata,
    sa.Column("address", sa.String(256), primary_key=True),
    sa.Column("operator", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(3), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("seq", _SEQ, nullable=False),
    sa.Index("ix_obs_nat_mailbox_month", "month", "operator"),
)

# one message once per operator and flow (envoye / recu / patient), whatever number of records tell it
obs_nat_message = sa.Table(
    "obs_nat_message",
    metadata,
    sa.Column("operator", sa.String(128), primary_key=True),
    sa.Column("flow", sa.String(8), primary_key=True),
    sa.Column("message_id", sa.String(256), primary_key=True),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("seq", _SEQ, nullable=False),
    sa.Index("ix_obs_nat_message_month", "month", "operator", "flow"),
)

# the messages a PFI sent with a document of a qualified identity (pfi.hl7.mss, by Message-ID)
obs_nat_ins_message = sa.Table(
    "obs_nat_ins_message",
    metadata,
    sa.Column("message_id", sa.String(256), primary_key=True),
    sa.Column("seq", _SEQ, nullable=False),
)

# a mailbox that sent or received a message in a month
obs_nat_active = sa.Table(
    "obs_nat_active",
    metadata,
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("address", sa.String(256), primary_key=True),
    sa.Column("seq", _SEQ, nullable=False),
)

# the ordonnance numérique's call counters (001 L424-462), per month
obs_nat_counter = sa.Table(
    "obs_nat_counter",
    metadata,
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("name", sa.String(48), primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
)

# who did it in a month (prescribers, dispensing structures, software): the distinct counts and "+ N"
obs_nat_actor = sa.Table(
    "obs_nat_actor",
    metadata,
    sa.Column("name", sa.String(48), primary_key=True),
    sa.Column("month", sa.String(7), primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
)

TABLES = (
    obs_nat_dmp,
    obs_nat_document,
    obs_nat_mailbox,
    obs_nat_message,
    obs_nat_active,
    obs_nat_counter,
    obs_nat_actor,
)


def _insert(conn: Connection, table: sa.Table) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def _ignore(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_insert(conn, table).on_conflict_do_nothing(), rows)


# --- the fold's writes -----------------------------------------------------------------------------------


def cursor(conn: Connection, kind: str, *, lock: bool = False) -> int:
    """The last seq folded. With `lock`, the cursor's row is held until the transaction ends, so that
    two folds at once (two API workers on PostgreSQL) never fold the same records twice."""
    query = sa.select(obs_nat_cursor.c.seq).where(obs_nat_cursor.c.kind == kind)
    if lock:
        conn.execute(_insert(conn, obs_nat_cursor).values(kind=kind, seq=0).on_conflict_do_nothing())
        query = query.with_for_update()
    return int(conn.execute(query).scalar() or 0)


def move_cursor(conn: Connection, kind: str, seq: int) -> None:
    stmt = _insert(conn, obs_nat_cursor).values(kind=kind, seq=seq)
    conn.execute(stmt.on_conflict_do_update(index_elements=["kind"], set_={"seq": stmt.excluded.seq}))


def forget(conn: Connection, kind: str) -> None:
    """Everything folded, gone: the next fold starts from seq 0."""
    for table in TABLES:
        conn.execute(table.delete())
    conn.execute(obs_nat_cursor.delete().where(obs_nat_cursor.c.kind == kind))


def add_dmp(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    counted = ("feeds", "documents", "hr_feeds", "hr_documents", "unqualified")
    for row in rows:
        stmt = _insert(conn, obs_nat_dmp).values(**row)
        grown = {c: obs_nat_dmp.c[c] + stmt.excluded[c] for c in counted}
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["month", "structure", "software"], set_={**grown, "last_seq": stmt.excluded.last_seq}
            )
        )


def add_counters(conn: Connection, counts: Mapping[tuple[str, str], int]) -> None:
    for (month, name), value in counts.items():
        stmt = _insert(conn, obs_nat_counter).values(month=month, name=name, value=value)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["month", "name"], set_={"value": obs_nat_counter.c.value + stmt.excluded.value}
            )
        )


def add_documents(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """The status as last recorded (a document sent again is judged by its newest message)."""
    if rows:
        stmt = _insert(conn, obs_nat_document)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["document"], set_={"status": stmt.excluded.status, "seq": stmt.excluded.seq}
            ),
            rows,
        )


def statuses(conn: Connection, documents: Iterable[str]) -> dict[str, str]:
    """{document: PID-32 status} of the documents folded so far among `documents`."""
    d = obs_nat_document.c
    query = sa.select(d.document, d.status)
    return {r.document: r.status for ids in _chunks(documents) for r in conn.execute(query.where(d.document.in_(ids)))}


def add_mailboxes(conn: Connection, rows: list[dict[str, Any]]) -> None:
    _ignore(conn, obs_nat_mailbox, rows)


def add_messages(conn: Connection, rows: list[dict[str, Any]]) -> None:
    _ignore(conn, obs_nat_message, rows)


def add_ins_messages(conn: Connection, rows: list[dict[str, Any]]) -> None:
    _ignore(conn, obs_nat_ins_message, rows)


def add_active(conn: Connection, rows: list[dict[str, Any]]) -> None:
    _ignore(conn, obs_nat_active, rows)


def add_actors(conn: Connection, rows: list[dict[str, Any]]) -> None:
    _ignore(conn, obs_nat_actor, rows)


_CHUNK = 2_000  # ids per IN (): under SQLite's and PostgreSQL's bound parameter limits, whatever the window


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    wanted = sorted(set(values))
    for start in range(0, len(wanted), _CHUNK):
        yield wanted[start : start + _CHUNK]


def mailboxes(conn: Connection, addresses: Iterable[str]) -> dict[str, tuple[str, str]]:
    """{address: (operator, kind)} of the mailboxes folded so far among `addresses`."""
    m = obs_nat_mailbox.c
    query = sa.select(m.address, m.operator, m.kind)
    return {
        r.address: (r.operator, r.kind)
        for ids in _chunks(addresses)
        for r in conn.execute(query.where(m.address.in_(ids)))
    }


# --- the report's reads ----------------------------------------------------------------------------------


def _months(column: sa.ColumnElement, months: tuple[str, str]) -> sa.ColumnElement:
    return sa.and_(column >= months[0], column <= months[1])


def dmp_rows(conn: Connection, months: tuple[str, str]) -> list[sa.Row]:
    """(month, structure, software, feeds, documents, hr_feeds, hr_documents, unqualified) of the months
    [first, last]."""
    d = obs_nat_dmp.c
    query = sa.select(d.month, d.structure, d.software, d.feeds, d.documents, d.hr_feeds, d.hr_documents, d.unqualified)
    return list(conn.execute(query.where(_months(d.month, months)).order_by(d.month, d.structure, d.software)))


def message_counts(conn: Connection, months: tuple[str, str]) -> list[sa.Row]:
    """(month, operator, flow, messages)."""
    m = obs_nat_message.c
    query = (
        sa.select(m.month, m.operator, m.flow, sa.func.count().label("messages"))
        .where(_months(m.month, months))
        .group_by(m.month, m.operator, m.flow)
    )
    return list(conn.execute(query))


def ins_message_counts(conn: Connection, months: tuple[str, str]) -> dict[str, tuple[int, int]]:
    """{month: (messages sent, those carrying the INS)}: sent to a patient's citizen mailbox (its
    address is the matricule INS), or by a PFI with a document of a qualified identity."""
    m = obs_nat_message.c
    patient = obs_nat_message.alias("patient")
    to_patient = sa.exists().where(
        patient.c.operator == m.operator, patient.c.flow == "patient", patient.c.message_id == m.message_id
    )
    qualified = sa.exists().where(obs_nat_ins_message.c.message_id == m.message_id)
    query = (
        sa.select(m.month, sa.func.count(), sa.func.sum(sa.case((sa.or_(to_patient, qualified), 1), else_=0)))
        .where(m.flow == "envoye", _months(m.month, months))
        .group_by(m.month)
    )
    return {month: (int(n), int(ins or 0)) for month, n, ins in conn.execute(query)}


def mailbox_counts(conn: Connection, months: tuple[str, str], *, active: bool) -> list[sa.Row]:
    """(month, operator, kind, mailboxes): with `active`, the mailboxes that sent or received in the
    month; otherwise those created in it."""
    b = obs_nat_mailbox.c
    month = obs_nat_active.c.month if active else b.month
    query = sa.select(month, b.operator, b.kind, sa.func.count().label("mailboxes"))
    if active:
        query = query.select_from(obs_nat_active.join(obs_nat_mailbox, obs_nat_active.c.address == b.address))
    return list(conn.execute(query.where(_months(month, months)).group_by(month, b.operator, b.kind)))


def counters(conn: Connection, months: tuple[str, str]) -> list[sa.Row]:
    c = obs_nat_counter.c
    return list(conn.execute(sa.select(c.month, c.name, c.value).where(_months(c.month, months))))


def actor_counts(conn: Connection, months: tuple[str, str]) -> list[sa.Row]:
    """(month, name, actors, new): distinct actors in the month, and those whose first month it is."""
    a = obs_nat_actor.c
    first = (
        sa.select(a.name, a.key, sa.func.min(a.month).label("first")).group_by(a.name, a.key).subquery("first_month")
    )
    query = (
        sa.select(
            a.month,
            a.name,
            sa.func.count().label("actors"),
            sa.func.sum(sa.case((first.c.first == a.month, 1), else_=0)).label("new"),
        )
        .select_from(obs_nat_actor.join(first, sa.and_(first.c.name == a.name, first.c.key == a.key)))
        .where(_months(a.month, months))
        .group_by(a.month, a.name)
    )
    return list(conn.execute(query))


def actors_until(conn: Connection, last_month: str) -> dict[str, int]:
    """{name: distinct actors from the beginning to `last_month`} ("depuis le début", 001 L428-447)."""
    a = obs_nat_actor.c
    query = sa.select(a.name, sa.func.count(sa.distinct(a.key))).where(a.month <= last_month).group_by(a.name)
    return {name: int(n) for name, n in conn.execute(query)}


def counters_until(conn: Connection, last_month: str) -> dict[str, int]:
    c = obs_nat_counter.c
    query = sa.select(c.name, sa.func.sum(c.value)).where(c.month <= last_month).group_by(c.name)
    return {name: int(n) for name, n in conn.execute(query)}
