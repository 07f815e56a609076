"""insi software version (the version the CNDA authorised under an IDAM; issue 21 §1.1)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 10:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("insi_software", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.String(length=32), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("insi_software", schema=None) as batch_op:
        batch_op.drop_column("version")
