"""national monthly statistics (issue 23 §2): the counters folded from the audit trail

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 13:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "obs_nat_cursor",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("seq", _SEQ, nullable=False),
    )
    op.create_table(
        "obs_nat_dmp",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("structure", sa.String(128), primary_key=True),
        sa.Column("software", sa.String(128), primary_key=True),
        sa.Column("feeds", sa.Integer, nullable=False),
        sa.Column("documents", sa.Integer, nullable=False),
        sa.Column("hr_feeds", sa.Integer, nullable=False),
        sa.Column("hr_documents", sa.Integer, nullable=False),
        sa.Column("unqualified", sa.Integer, nullable=False),
        sa.Column("last_seq", _SEQ, nullable=False),
    )
    op.create_table(
        "obs_nat_document",
        sa.Column("document", sa.String(256), primary_key=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("seq", _SEQ, nullable=False),
    )
    op.create_table(
        "obs_nat_mailbox",
        sa.Column("address", sa.String(256), primary_key=True),
        sa.Column("operator", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(3), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("seq", _SEQ, nullable=False),
    )
    op.create_index("ix_obs_nat_mailbox_month", "obs_nat_mailbox", ["month", "operator"])
    op.create_table(
        "obs_nat_message",
        sa.Column("operator", sa.String(128), primary_key=True),
        sa.Column("flow", sa.String(8), primary_key=True),
        sa.Column("message_id", sa.String(256), primary_key=True),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("seq", _SEQ, nullable=False),
    )
    op.create_index("ix_obs_nat_message_month", "obs_nat_message", ["month", "operator", "flow"])
    op.create_table(
        "obs_nat_ins_message",
        sa.Column("message_id", sa.String(256), primary_key=True),
        sa.Column("seq", _SEQ, nullable=False),
    )
    op.create_table(
        "obs_nat_active",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("address", sa.String(256), primary_key=True),
        sa.Column("seq", _SEQ, nullable=False),
    )
    op.create_table(
        "obs_nat_counter",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("name", sa.String(48), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    op.create_table(
        "obs_nat_actor",
        sa.Column("name", sa.String(48), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("obs_nat_actor")
    op.drop_table("obs_nat_counter")
    op.drop_table("obs_nat_active")
    op.drop_table("obs_nat_ins_message")
    op.drop_index("ix_obs_nat_message_month", table_name="obs_nat_message")
    op.drop_table("obs_nat_message")
    op.drop_index("ix_obs_nat_mailbox_month", table_name="obs_nat_mailbox")
    op.drop_table("obs_nat_mailbox")
    op.drop_table("obs_nat_document")
    op.drop_table("obs_nat_dmp")
    op.drop_table("obs_nat_cursor")
