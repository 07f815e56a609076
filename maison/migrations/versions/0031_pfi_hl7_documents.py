"""pfi hl7 documents (ORU/MDM from the DPI, each leg with its stay, the ZAM sent back; issue 22 §2)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pfi_hl7_document",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("structure", sa.String(length=64), nullable=False),
        sa.Column("sender", sa.String(length=256), nullable=False),
        sa.Column("control_id", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("unique_id", sa.String(length=128), nullable=False),
        sa.Column("replaced_id", sa.String(length=128), nullable=False),
        sa.Column("ins", sa.String(length=15), nullable=False),
        sa.Column("ins_status", sa.String(length=8), nullable=False),
        sa.Column("stay_structure", sa.String(length=64), nullable=False),
        sa.Column("stay_number", sa.String(length=64), nullable=False),
        sa.Column("patient_class", sa.String(length=4), nullable=False),
        sa.Column("type_code", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("documents", sa.Text(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("received_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pfi_hl7_document")),
        sa.UniqueConstraint(
            "structure", "sender", "control_id", "unique_id", "event", name="uq_pfi_hl7_document_message"
        ),
    )
    op.create_index("ix_pfi_hl7_document_stay", "pfi_hl7_document", ["stay_structure", "stay_number"], unique=False)
    op.create_index("ix_pfi_hl7_document_unique", "pfi_hl7_document", ["structure", "unique_id"], unique=False)
    op.create_table(
        "pfi_hl7_outcome",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("structure", sa.String(length=64), nullable=False),
        sa.Column("stay_structure", sa.String(length=64), nullable=False),
        sa.Column("stay_number", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=256), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pfi_hl7_outcome")),
    )
    op.create_index("ix_pfi_hl7_outcome_document", "pfi_hl7_outcome", ["document_id"], unique=False)
    op.create_index(
        "ix_pfi_hl7_outcome_stay", "pfi_hl7_outcome", ["stay_structure", "stay_number", "channel"], unique=False
    )
    op.create_index("ix_pfi_hl7_outcome_reference", "pfi_hl7_outcome", ["reference"], unique=False)
    op.create_table(
        "pfi_hl7_zam",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("event", sa.String(length=4), nullable=False),
        sa.Column("control_id", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("answer", sa.String(length=300), nullable=False),
        sa.Column("sent_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pfi_hl7_zam")),
    )
    op.create_index("ix_pfi_hl7_zam_document", "pfi_hl7_zam", ["document_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_pfi_hl7_zam_document", table_name="pfi_hl7_zam")
    op.drop_table("pfi_hl7_zam")
    op.drop_index("ix_pfi_hl7_outcome_reference", table_name="pfi_hl7_outcome")
    op.drop_index("ix_pfi_hl7_outcome_stay", table_name="pfi_hl7_outcome")
    op.drop_index("ix_pfi_hl7_outcome_document", table_name="pfi_hl7_outcome")
    op.drop_table("pfi_hl7_outcome")
    op.drop_index("ix_pfi_hl7_document_unique", table_name="pfi_hl7_document")
    op.drop_index("ix_pfi_hl7_document_stay", table_name="pfi_hl7_document")
    op.drop_table("pfi_hl7_document")
