"""audit checkpoints secrets (security hardening, issue 18)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 23:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
