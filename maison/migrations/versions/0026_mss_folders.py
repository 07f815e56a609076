"""mss folders (IMAP CREATE, DELETE, RENAME, APPEND, COPY, MOVE beside the INBOX; issue 20 §5.4)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 08:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mss_folder",
        sa.Column("address", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.Integer(), nullable=False),
        sa.Column("uidnext", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("address", "name", name=op.f("pk_mss_folder")),
    )
    op.drop_index("ix_mss_message_live", table_name="mss_message")
    # every message so far was delivered to an INBOX; a folder's UIDs are its own, hence the key
    with op.batch_alter_table("mss_message", schema=None, recreate="always") as batch_op:
        batch_op.add_column(sa.Column("folder", sa.String(length=200), server_default="INBOX", nullable=False))
        batch_op.drop_constraint("uq_mss_message_id", type_="unique")
        batch_op.drop_constraint("pk_mss_message", type_="primary")
        batch_op.create_primary_key("pk_mss_message", ["address", "folder", "uid"])
    op.create_index("ix_mss_message_live", "mss_message", ["address", "folder", "expunged", "uid"], unique=False)
    # delivered once (to the INBOX); copies in the owner's folders keep the Message-ID
    op.create_index(
        "uq_mss_message_id",
        "mss_message",
        ["address", "message_id"],
        unique=True,
        sqlite_where=sa.text("folder = 'INBOX'"),
        postgresql_where=sa.text("folder = 'INBOX'"),
    )


def downgrade() -> None:
    op.drop_index("uq_mss_message_id", table_name="mss_message")
    op.drop_index("ix_mss_message_live", table_name="mss_message")
    op.execute("DELETE FROM mss_message WHERE folder <> 'INBOX'")
    with op.batch_alter_table("mss_message", schema=None, recreate="always") as batch_op:
        batch_op.drop_constraint("pk_mss_message", type_="primary")
        batch_op.create_primary_key("pk_mss_message", ["address", "uid"])
        batch_op.create_unique_constraint("uq_mss_message_id", ["address", "message_id"])
        batch_op.drop_column("folder")
    op.create_index("ix_mss_message_live", "mss_message", ["address", "expunged", "uid"], unique=False)
    op.drop_table("mss_folder")
