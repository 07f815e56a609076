"""national monthly statistics (issue 23 §2)

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 13:45:00
"""

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
