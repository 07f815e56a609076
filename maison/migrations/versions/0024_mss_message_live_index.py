"""mss message live index (an IMAP command's cost no longer grows with the mailbox, issue 19 §4)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 08:15:00
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the messages not expunged, by UID: what `*`, sequence numbers and UID ranges are computed from
    op.create_index("ix_mss_message_live", "mss_message", ["address", "expunged", "uid"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_mss_message_live", table_name="mss_message")
