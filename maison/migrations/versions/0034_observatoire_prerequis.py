"""SUN-ES prerequisites and their evidence (issue 23 §1.3-1.4)

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 13:45:00
"""

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
