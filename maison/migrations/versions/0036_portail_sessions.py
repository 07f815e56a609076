"""the portals' server-side sessions (issue 24 §4)

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 14:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portail_session",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("portal", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("acting", sa.String(length=64), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("last_seen", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_portail_session")),
    )
    op.create_index("ix_portail_session_last_seen", "portail_session", ["last_seen"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_portail_session_last_seen", table_name="portail_session")
    op.drop_table("portail_session")
