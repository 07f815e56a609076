"""identitovigilance cell: procedures (identification, rapprochement, création, fusion) and meeting attendance

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "vig_procedure",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("structure", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("adopted_on", sa.String(10), nullable=False),
        sa.Column("reference", sa.String(300), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_vig_procedure"),
        sa.Index("ix_vig_procedure_structure", "structure", "kind"),
    )
    with op.batch_alter_table("vig_meeting") as batch:
        batch.add_column(sa.Column("participants", sa.Text, nullable=False, server_default=""))
    op.create_index("ix_vig_meeting_structure", "vig_meeting", ["structure", "held_on"])
    op.create_index("ix_vig_incident_structure", "vig_incident", ["structure", "at"])


def downgrade() -> None:
    op.drop_index("ix_vig_incident_structure", table_name="vig_incident")
    op.drop_index("ix_vig_meeting_structure", table_name="vig_meeting")
    with op.batch_alter_table("vig_meeting") as batch:
        batch.drop_column("participants")
    op.drop_table("vig_procedure")
