"""stays and movements announced by the GAM in IHE PAM France 2.11 (issue 22 §1)

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 11:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "sej_stay",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("structure", sa.String(64), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("patient_id", _ID, nullable=False),
        sa.Column("ipp", sa.String(64), nullable=False),
        sa.Column("patient_class", sa.String(2), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("admitted_at", sa.String(32)),
        sa.Column("discharged_at", sa.String(32)),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("unit_name", sa.String(200), nullable=False),
        sa.Column("dmp_feeding", sa.String(4), nullable=False),
        sa.Column("dmp_consultation", sa.String(4), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("structure", "number", name="uq_sej_stay_number"),
    )
    op.create_index("ix_sej_stay_patient", "sej_stay", ["structure", "patient_id"])
    op.create_index("ix_sej_stay_admitted", "sej_stay", ["structure", "admitted_at"])
    op.create_table(
        "sej_movement",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("stay_id", _ID, sa.ForeignKey("sej_stay.id"), nullable=False),
        sa.Column("movement_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(3), nullable=False),
        sa.Column("at", sa.String(32)),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("unit_name", sa.String(200), nullable=False),
        sa.Column("care_unit", sa.String(64), nullable=False),
        sa.Column("nature", sa.String(8), nullable=False),
        sa.Column("patient_class", sa.String(2), nullable=False),
        sa.Column("cancelled", sa.Boolean, nullable=False),
        sa.Column("control_id", sa.String(64), nullable=False),
        sa.UniqueConstraint("stay_id", "movement_id", name="uq_sej_movement_id"),
    )
    op.create_table(
        "sej_message",
        sa.Column("sender", sa.String(200), primary_key=True),
        sa.Column("control_id", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("event", sa.String(3), nullable=False),
        sa.Column("structure", sa.String(64), nullable=False),
        sa.Column("received_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "sej_dmp_state",
        sa.Column("structure", sa.String(64), primary_key=True),
        sa.Column("patient_id", _ID, primary_key=True),
        sa.Column("dmp_status", sa.String(16), nullable=False),
        sa.Column("status_at", sa.String(32)),
        sa.Column("access_authorised", sa.String(1), nullable=False),
        sa.Column("opposition_bris_de_glace", sa.String(1), nullable=False),
        sa.Column("opposition_regulation", sa.String(1), nullable=False),
        sa.Column("feeding", sa.String(4), nullable=False),
        sa.Column("feeding_at", sa.String(32)),
        sa.Column("consultation", sa.String(4), nullable=False),
        sa.Column("consultation_at", sa.String(32)),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("propagation", sa.String(32), nullable=False),
        sa.Column("propagated_at", sa.String(32)),
    )


def downgrade() -> None:
    op.drop_table("sej_dmp_state")
    op.drop_table("sej_message")
    op.drop_table("sej_movement")
    op.drop_index("ix_sej_stay_admitted", table_name="sej_stay")
    op.drop_index("ix_sej_stay_patient", table_name="sej_stay")
    op.drop_table("sej_stay")
