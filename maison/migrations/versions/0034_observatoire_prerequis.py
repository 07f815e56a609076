"""SUN-ES prerequisites and their evidence (issue 23 §1.3-1.4)

The declarations of a structure or a GHT with their evidence (a blob named by its SHA-256), the
facts folded from the audit trail, and the fold's cursor (maison/observatoire/prerequis/store.py).

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 13:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "obs_ps_declaration",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("holder", sa.String(70), nullable=False),
        sa.Column("item", sa.String(40), nullable=False),
        sa.Column("effective_on", sa.String(10), nullable=False),
        sa.Column("funding_window", sa.Integer),
        sa.Column("facts", sa.Text, nullable=False),
        sa.Column("evidence_sha256", sa.String(64)),
        sa.Column("evidence_name", sa.String(200)),
        sa.Column("evidence_type", sa.String(64)),
        sa.Column("evidence_size", sa.Integer),
        sa.Column("declared_by", sa.String(128), nullable=False),
        sa.Column("declared_structure", sa.String(128), nullable=False),
        sa.Column("declared_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_obs_ps_declaration_holder", "obs_ps_declaration", ["holder", "item"])
    op.create_table(
        "obs_ps_fact",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("first_seq", _ID, nullable=False),
        sa.Column("first_at", sa.String(32), nullable=False),
        sa.Column("last_seq", _ID, nullable=False),
        sa.Column("last_at", sa.String(32), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_table(
        "obs_ps_cursor",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("seq", _ID, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("obs_ps_cursor")
    op.drop_table("obs_ps_fact")
    op.drop_index("ix_obs_ps_declaration_holder", table_name="obs_ps_declaration")
    op.drop_table("obs_ps_declaration")
