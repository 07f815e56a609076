"""The portals' sessions: one row per open session, keyed by the SHA-256 of its opaque id.

The cookie carries a random id the server alone can look up; only its hash is stored, so a copy of
the table does not let anyone take a session over (OWASP Session Management Cheat Sheet, "session ID
storage"). Times are epoch seconds: the two limits compare numbers.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection as Connection  # re-exported: the type the callers' transactions have

from maison.core.storage import metadata

Row = sa.Row

portail_session = sa.Table(
    "portail_session",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),  # sha256 hex of the cookie's id
    sa.Column("portal", sa.String(16), nullable=False),  # patient / pro / observatoire
    sa.Column("subject", sa.String(64), nullable=False),  # whose espace (INS) or which professional
    sa.Column("acting", sa.String(64), nullable=False),  # who logged in (a representative, or the subject)
    sa.Column("csrf", sa.String(64), nullable=False),  # the session's anti-CSRF token
    # a professional's Actor as Pro Santé Connect established it at login (JSON; None for a patient)
    sa.Column("actor", sa.Text, nullable=True),
    sa.Column("created_at", sa.Integer, nullable=False),
    sa.Column("last_seen", sa.Integer, nullable=False),
    sa.Index("ix_portail_session_last_seen", "last_seen"),
)


def add(conn: Connection, **row: object) -> None:
    conn.execute(sa.insert(portail_session).values(**row))


def find(conn: Connection, id_hash: str) -> Row | None:
    return conn.execute(sa.select(portail_session).where(portail_session.c.id_hash == id_hash)).first()


def touch(conn: Connection, id_hash: str, now: int) -> None:
    conn.execute(sa.update(portail_session).where(portail_session.c.id_hash == id_hash).values(last_seen=now))


def delete(conn: Connection, id_hash: str) -> None:
    conn.execute(sa.delete(portail_session).where(portail_session.c.id_hash == id_hash))


def delete_stale(conn: Connection, *, seen_before: int, created_before: int) -> int:
    """Remove the sessions idle since `seen_before` or opened before `created_before`; how many."""
    stale = sa.or_(portail_session.c.last_seen < seen_before, portail_session.c.created_at < created_before)
    return conn.execute(sa.delete(portail_session).where(stale)).rowcount or 0
