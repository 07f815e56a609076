"""vigilance dmp security (security hardening, issue 18)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 23:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # GHT membership as data (issue 18 §1.3; seed 004 L349): who may read a GHT's identitovigilance report
    op.create_table(
        "vig_ght",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("support", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.String(length=32), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "vig_ght_member",
        sa.Column("ght", sa.String(length=64), nullable=False),
        sa.Column("structure", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["ght"], ["vig_ght.code"]),
        sa.PrimaryKeyConstraint("ght", "structure"),
    )
    op.create_index("ix_vig_ght_member_structure", "vig_ght_member", ["structure"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_vig_ght_member_structure", table_name="vig_ght_member")
    op.drop_table("vig_ght_member")
    op.drop_table("vig_ght")
