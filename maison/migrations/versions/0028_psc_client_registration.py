"""psc client registration (RFC 7591 / 7592: initial access tokens, registration access tokens; issue 21 §1.2)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 10:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "psc_initial_token",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_psc_initial_token")),
    )
    with op.batch_alter_table("psc_client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("registration_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("registered_metadata", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("psc_client", schema=None) as batch_op:
        batch_op.drop_column("registered_metadata")
        batch_op.drop_column("registration_token_hash")
    op.drop_table("psc_initial_token")
