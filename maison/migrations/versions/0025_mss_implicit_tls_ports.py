"""mss implicit TLS ports (submission and IMAP with TLS from the first byte, RFC 8314 §3.3; issue 20 §5.2)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 08:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mss_operator", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submissions_port", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("imaps_port", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mss_operator", schema=None) as batch_op:
        batch_op.drop_column("imaps_port")
        batch_op.drop_column("submissions_port")
