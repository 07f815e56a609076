"""SUN-ES usage facts (issue 23 §1.1-1.2)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 13:45:00
"""

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
