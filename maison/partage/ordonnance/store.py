"""Persistence of the base ordonnance numérique: prescriptions and their executions.

Every hot query is keyed by the prescription number (the dispenser's scan) or by the prescriber
(his own search), so the tables shard by number at national scale. No column holds a patient's
identity at creation (seed 000 L3697); an execution may carry the INS a dispenser recorded for a
qualified identity (000 L3692-3694). The lines and what was done on them are stored as JSON as
the service validated them: they are read and written whole, never queried inside; so are the
measures (weight, height…) a prescription was made on, the guide's Observations.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection as Connection  # re-exported: the type the callers' transactions have
from sqlalchemy.engine import Row as Row  # re-exported: what the service turns into its domain types
from sqlalchemy.exc import IntegrityError as IntegrityError  # re-exported: a racing duplicate, at commit

from maison.core.storage import metadata

ordo_prescription = sa.Table(
    "ordo_prescription",
    metadata,
    sa.Column("number", sa.String(18), primary_key=True),
    sa.Column("prescriber", sa.String(20), nullable=False),  # IdNatPS
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("software", sa.String(128), nullable=False),
    sa.Column("profession", sa.String(8), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("prescribed_on", sa.String(10), nullable=False),
    sa.Column("consent", sa.Boolean, nullable=False),  # OUI/NON, seed 001 L408
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("lines", sa.Text, nullable=False),
    # the measures the prescription was made on (the guide's Observations), JSON like the lines
    sa.Column("observations", sa.Text, nullable=False, server_default="[]"),
    sa.Column("idempotency_key", sa.String(80)),  # the prescriber's software's own id of the request
    sa.Index("ix_ordo_prescription_prescriber", "prescriber", "created_at"),
    sa.UniqueConstraint("prescriber", "idempotency_key", name="uq_ordo_prescription_idempotency"),
)

ordo_execution = sa.Table(
    "ordo_execution",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("number", sa.String(18), sa.ForeignKey("ordo_prescription.number"), nullable=False, index=True),
    sa.Column("dispenser", sa.String(64), nullable=False),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("software", sa.String(128), nullable=False),
    sa.Column("profession", sa.String(20), nullable=False),
    sa.Column("executed_at", sa.String(32), nullable=False),
    sa.Column("at_delivery", sa.Boolean, nullable=False),
    sa.Column("ins", sa.String(15)),
    sa.Column("ins_oid", sa.String(64)),
    sa.Column("lines", sa.Text, nullable=False),
)


# --- queries -------------------------------------------------------------------------------------

# A write handed to the group commit: a statement and its rows. Each call builds its own statement,
# so one prescription's (or execution's) insert is executed on its own, as it always was.
Write = tuple[sa.Insert, list[dict[str, Any]]]


def prescription_write(row: dict[str, Any]) -> Write:
    """The group commit's insert of a new prescription."""
    return ordo_prescription.insert(), [row]


def execution_write(row: dict[str, Any]) -> Write:
    """The group commit's insert of an execution."""
    return ordo_execution.insert(), [row]


def prescription_by_idempotency_key(conn: Connection, prescriber: str, key: str) -> Row | None:
    """The prescription this prescriber already made under this Idempotency-Key, if any."""
    t = ordo_prescription
    return conn.execute(sa.select(t).where(t.c.prescriber == prescriber, t.c.idempotency_key == key)).first()


def prescriptions_of(
    conn: Connection, prescriber: str, *, since: date | None, until: date | None, status: str | None, limit: int
) -> list[Row]:
    """A prescriber's prescriptions, newest first, within the given prescription dates and status."""
    t = ordo_prescription
    query = sa.select(t).where(*_prescribed_by(prescriber, since, until, status))
    return list(conn.execute(query.order_by(t.c.created_at.desc()).limit(limit)).all())


def prescriptions_count(
    conn: Connection, prescriber: str, *, since: date | None, until: date | None, status: str | None
) -> int:
    """How many prescriptions `prescriptions_of` would find without a limit (a search's total)."""
    query = sa.select(sa.func.count()).select_from(ordo_prescription)
    return int(conn.execute(query.where(*_prescribed_by(prescriber, since, until, status))).scalar_one())


def _prescribed_by(prescriber: str, since: date | None, until: date | None, status: str | None) -> list:
    t = ordo_prescription
    conditions = [t.c.prescriber == prescriber]
    if since:
        conditions.append(t.c.prescribed_on >= since.isoformat())
    if until:
        conditions.append(t.c.prescribed_on <= until.isoformat())
    if status:
        conditions.append(t.c.status == status)
    return conditions


def set_status(conn: Connection, number: str, status: str) -> None:
    conn.execute(ordo_prescription.update().where(ordo_prescription.c.number == number).values(status=status))


def prescription(conn: Connection, number: str, *, lock: bool = False) -> Row | None:
    """The prescription of this number; `lock`: under a row lock (SELECT … FOR UPDATE) until the commit."""
    query = sa.select(ordo_prescription).where(ordo_prescription.c.number == number)
    return conn.execute(query.with_for_update() if lock else query).first()


def executions(conn: Connection, number: str) -> list[Row]:
    """The executions of a prescription, in the order they were done."""
    return list(
        conn.execute(
            sa.select(ordo_execution).where(ordo_execution.c.number == number).order_by(ordo_execution.c.executed_at)
        ).all()
    )
