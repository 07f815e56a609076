"""api key scopes and revocation; RPPS+ declarations pending validation (security hardening, issue 18)

Existing keys keep what they could do: an MSSanté operator's key (role operateur-mss) gets that
scope, every other key becomes a `logiciel` key (not an administrator's: registering an identity
provider or declaring professionals now needs a key issued with that scope). Existing RPPS+
registrations were active already: they are recorded as validated.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 23:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=32), server_default="logiciel", nullable=False))
        batch_op.add_column(sa.Column("revoked", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute("UPDATE api_key SET scope = 'operateur-mss' WHERE role = 'operateur-mss'")
    with op.batch_alter_table("ann_rpps_plus", schema=None) as batch_op:
        batch_op.add_column(sa.Column("declaration", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("status", sa.String(length=12), server_default="validee", nullable=False))
        batch_op.add_column(sa.Column("declared", sa.Text(), server_default="{}", nullable=False))
        batch_op.add_column(sa.Column("decided_at", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("decided_by", sa.String(length=128), nullable=True))
        batch_op.alter_column("practitioner", existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column("role", existing_type=sa.String(length=64), nullable=True)
    op.execute("UPDATE ann_rpps_plus SET declaration = practitioner WHERE declaration IS NULL")
    with op.batch_alter_table("ann_rpps_plus", schema=None) as batch_op:
        batch_op.alter_column("declaration", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index("ix_ann_rpps_plus_declaration", ["declaration"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("ann_rpps_plus", schema=None) as batch_op:
        batch_op.drop_index("ix_ann_rpps_plus_declaration")
    op.execute("DELETE FROM ann_rpps_plus WHERE status != 'validee'")
    with op.batch_alter_table("ann_rpps_plus", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("practitioner", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("decided_by")
        batch_op.drop_column("decided_at")
        batch_op.drop_column("declared")
        batch_op.drop_column("status")
        batch_op.drop_column("declaration")
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_column("revoked")
        batch_op.drop_column("scope")
