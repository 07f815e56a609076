"""conformity and MATURIN-H (issue 23 §3)

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 13:45:00
"""

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
