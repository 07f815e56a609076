"""a professional portal session keeps the Actor Pro Santé Connect established at login (issue 24 §2)

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 16:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portail_session") as batch:
        batch.add_column(sa.Column("actor", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("portail_session") as batch:
        batch.drop_column("actor")
