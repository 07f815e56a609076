"""Persistence of the base ordonnance numérique: prescriptions and their executions.

Every hot query is keyed by the prescription number (the dispenser's scan) or by the prescriber
(his own search), so the tables shard by number at national scale. No column holds a patient's
identity at creation (seed 000 L3697); an execution may carry the INS a dispenser recorded for a
qualified identity (000 L3692-3694). The lines and what was done on them are stored as JSON as
the service validated them: they are read and written whole, never queried inside.
"""

from __future__ import annotations

import sqlalchemy as sa

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
