"""index ins_person.merged_into: the historic INS of a found identity are read through it on every 00 answer

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ins_person_merged_into", "ins_person", ["merged_into"])


def downgrade() -> None:
    op.drop_index("ix_ins_person_merged_into", table_name="ins_person")
