"""lockout (security hardening, issue 18)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 23:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # maison/core/lockout.py: failures and locks per account and per source, shared by every process
    op.create_table(
        "auth_throttle",
        sa.Column("service", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=160), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure", sa.BigInteger(), nullable=False),
        sa.Column("locked_until", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("service", "kind", "subject", name="pk_auth_throttle"),
    )
    op.create_index("ix_auth_throttle_last_failure", "auth_throttle", ["last_failure"])
    # Mon espace santé's own per-account counter (0010) gives way to the shared throttle
    with op.batch_alter_table("mes_account") as batch:
        batch.drop_column("failures")
        batch.drop_column("locked_until")


def downgrade() -> None:
    with op.batch_alter_table("mes_account") as batch:
        batch.add_column(sa.Column("failures", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("locked_until", sa.Integer(), server_default="0", nullable=False))
    op.drop_index("ix_auth_throttle_last_failure", table_name="auth_throttle")
    op.drop_table("auth_throttle")
