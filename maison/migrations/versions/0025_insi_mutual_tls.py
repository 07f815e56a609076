"""insi mutual tls (security hardening, issue 18)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 23:50:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
