"""ordonnance numerique: prescriptions and executions

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-21 13:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ordo_prescription",
        sa.Column("number", sa.String(length=18), nullable=False),
        sa.Column("prescriber", sa.String(length=20), nullable=False),
        sa.Column("structure", sa.String(length=64), nullable=False),
        sa.Column("software", sa.String(length=128), nullable=False),
        sa.Column("profession", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("prescribed_on", sa.String(length=10), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("lines", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("number"),
        sa.UniqueConstraint("prescriber", "idempotency_key", name="uq_ordo_prescription_idempotency"),
    )
    op.create_index("ix_ordo_prescription_prescriber", "ordo_prescription", ["prescriber", "created_at"])
    op.create_table(
        "ordo_execution",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.String(length=18), nullable=False),
        sa.Column("dispenser", sa.String(length=64), nullable=False),
        sa.Column("structure", sa.String(length=64), nullable=False),
        sa.Column("software", sa.String(length=128), nullable=False),
        sa.Column("profession", sa.String(length=20), nullable=False),
        sa.Column("executed_at", sa.String(length=32), nullable=False),
        sa.Column("at_delivery", sa.Boolean(), nullable=False),
        sa.Column("ins", sa.String(length=15), nullable=True),
        sa.Column("ins_oid", sa.String(length=64), nullable=True),
        sa.Column("lines", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["number"], ["ordo_prescription.number"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ordo_execution_number", "ordo_execution", ["number"])


def downgrade() -> None:
    op.drop_index("ix_ordo_execution_number", table_name="ordo_execution")
    op.drop_table("ordo_execution")
    op.drop_index("ix_ordo_prescription_prescriber", table_name="ordo_prescription")
    op.drop_table("ordo_prescription")
