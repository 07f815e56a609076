"""SUN-ES usage facts (issue 23 §1.1-1.2): the fold's cursor, the stays, the documents the structures'
PFI sent (their DMP feed, refusal, withdrawal, replacement), their MSSanté legs, the GHTs' members,
and the DS4.3 declarations (maison/observatoire/sunes/store.py)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 13:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sun_cursor",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_sun_cursor")),
    )
    op.create_table(
        "sun_stay",
        sa.Column("structure", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.BigInteger(), nullable=False),
        sa.Column("ipp", sa.String(length=64), nullable=False),
        sa.Column("patient_class", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("admitted_at", sa.String(length=32), nullable=True),
        sa.Column("discharged_at", sa.String(length=32), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("came_before", sa.Boolean(), nullable=False),
        sa.Column("ds11_at", sa.String(length=32), nullable=True),
        sa.Column("ds12_at", sa.String(length=32), nullable=True),
        sa.Column("ds13_at", sa.String(length=32), nullable=True),
        sa.Column("ds14_at", sa.String(length=32), nullable=True),
        sa.Column("ds42_at", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("structure", "number", name=op.f("pk_sun_stay")),
    )
    op.create_index("ix_sun_stay_discharged", "sun_stay", ["structure", "discharged_at"], unique=False)
    op.create_index("ix_sun_stay_patient", "sun_stay", ["structure", "patient_id", "admitted_at"], unique=False)
    op.create_index("ix_sun_stay_ipp", "sun_stay", ["structure", "ipp"], unique=False)
    op.create_index("ix_sun_stay_admitted", "sun_stay", ["structure", "admitted_at"], unique=False)
    op.create_table(
        "sun_document",
        sa.Column("unique_id", sa.String(length=128), nullable=False),
        sa.Column("structure", sa.String(length=64), nullable=False),
        sa.Column("stay_number", sa.String(length=64), nullable=False),
        sa.Column("type_code", sa.String(length=32), nullable=False),
        sa.Column("levels", sa.String(length=16), nullable=False),
        sa.Column("ins", sa.String(length=15), nullable=False),
        sa.Column("qualified", sa.Boolean(), nullable=False),
        sa.Column("produced_at", sa.String(length=32), nullable=False),
        sa.Column("produced_seq", sa.BigInteger(), nullable=False),
        sa.Column("fed_at", sa.String(length=32), nullable=True),
        sa.Column("fed_seq", sa.BigInteger(), nullable=True),
        sa.Column("refused_seq", sa.BigInteger(), nullable=True),
        sa.Column("refused_code", sa.String(length=64), nullable=False),
        sa.Column("deleted_seq", sa.BigInteger(), nullable=True),
        sa.Column("superseded_seq", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("unique_id", name=op.f("pk_sun_document")),
    )
    op.create_index("ix_sun_document_stay", "sun_document", ["structure", "stay_number", "type_code"], unique=False)
    op.create_index("ix_sun_document_produced", "sun_document", ["structure", "type_code", "produced_at"], unique=False)
    op.create_table(
        "sun_message",
        sa.Column("unique_id", sa.String(length=128), nullable=False),
        sa.Column("recipient", sa.String(length=256), nullable=False),
        sa.Column("structure", sa.String(length=64), nullable=False),
        sa.Column("stay_number", sa.String(length=64), nullable=False),
        sa.Column("patient", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=3), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("tried_at", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.String(length=32), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("unique_id", "recipient", name=op.f("pk_sun_message")),
    )
    op.create_index("ix_sun_message_structure", "sun_message", ["structure", "tried_at"], unique=False)
    op.create_index("ix_sun_message_stay", "sun_message", ["structure", "stay_number", "patient"], unique=False)
    op.create_table(
        "sun_ght_member",
        sa.Column("ght", sa.String(length=64), nullable=False),
        sa.Column("structure", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("ght", "structure", name=op.f("pk_sun_ght_member")),
    )
    op.create_table(
        "sun_cme",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("structure", sa.String(length=64), nullable=False),
        sa.Column("presented_on", sa.String(length=10), nullable=False),
        sa.Column("instance", sa.String(length=128), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("declared_by", sa.String(length=128), nullable=False),
        sa.Column("declared_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sun_cme")),
    )
    op.create_index("ix_sun_cme_structure", "sun_cme", ["structure", "presented_on"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sun_cme_structure", table_name="sun_cme")
    op.drop_table("sun_cme")
    op.drop_table("sun_ght_member")
    op.drop_index("ix_sun_message_stay", table_name="sun_message")
    op.drop_index("ix_sun_message_structure", table_name="sun_message")
    op.drop_table("sun_message")
    op.drop_index("ix_sun_document_produced", table_name="sun_document")
    op.drop_index("ix_sun_document_stay", table_name="sun_document")
    op.drop_table("sun_document")
    op.drop_index("ix_sun_stay_admitted", table_name="sun_stay")
    op.drop_index("ix_sun_stay_ipp", table_name="sun_stay")
    op.drop_index("ix_sun_stay_patient", table_name="sun_stay")
    op.drop_index("ix_sun_stay_discharged", table_name="sun_stay")
    op.drop_table("sun_stay")
    op.drop_table("sun_cursor")
