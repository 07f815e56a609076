"""mss mailbox annuaire publication state

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-21 11:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mss_mailbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("annuaire", sa.String(length=12), server_default="a-publier", nullable=False))
        batch_op.add_column(sa.Column("annuaire_error", sa.String(length=500), nullable=True))
    # citizen mailboxes (Mon espace santé) are never published
    op.execute("UPDATE mss_mailbox SET annuaire = 'non-publiee' WHERE kind = 'PAT'")


def downgrade() -> None:
    with op.batch_alter_table("mss_mailbox", schema=None) as batch_op:
        batch_op.drop_column("annuaire_error")
        batch_op.drop_column("annuaire")
