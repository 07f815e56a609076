"""ordo observations (the e-prescription guide's Observations kept with the prescription; issue 20 §4.4)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 09:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ordo_prescription", schema=None) as batch_op:
        batch_op.add_column(sa.Column("observations", sa.Text(), server_default="[]", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("ordo_prescription", schema=None) as batch_op:
        batch_op.drop_column("observations")
