"""conformity and MATURIN-H (issue 23 §3)

The software registry's category (insi_software.category: the maison table's row, seed 001
L196-216), the conformity fold's facts and declarations, the MATURIN-H declarations.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 13:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def _counter() -> list[sa.Column]:
    """How many, and the first and last audit record (time and seq) of a folded counter."""
    return [
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("first_at", sa.String(length=32), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.String(length=32), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("insi_software") as batch:
        batch.add_column(sa.Column("category", sa.String(length=32), nullable=False, server_default=""))
    op.create_table(
        "conf_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_conf_cursor")),
    )
    op.create_table(
        "conf_exercise",
        sa.Column("identity", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        *_counter(),
        sa.PrimaryKeyConstraint("identity", "kind", "day", name=op.f("pk_conf_exercise")),
    )
    op.create_table(
        "conf_application",
        sa.Column("structure", sa.String(length=128), nullable=False),
        sa.Column("identity", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        *_counter(),
        sa.PrimaryKeyConstraint("structure", "identity", "kind", "day", name=op.f("pk_conf_application")),
    )
    op.create_table(
        "conf_psc_client",
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_conf_psc_client")),
    )
    op.create_index("ix_conf_psc_client_name", "conf_psc_client", ["name"], unique=False)
    op.create_table(
        "conf_identity",
        sa.Column("idam", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("declared_by", sa.String(length=128), nullable=False),
        sa.Column("declared_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("idam", "kind", "value", name=op.f("pk_conf_identity")),
    )
    op.create_table(
        "conf_declaration",
        sa.Column("idam", sa.String(length=32), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("declared_by", sa.String(length=128), nullable=False),
        sa.Column("declared_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("idam", "service", name=op.f("pk_conf_declaration")),
    )
    op.create_table(
        "mat_declaration",
        sa.Column("structure", sa.String(length=64), nullable=False),
        sa.Column("criterion", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("declared_by", sa.String(length=128), nullable=False),
        sa.Column("declared_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("structure", "criterion", name=op.f("pk_mat_declaration")),
    )


def downgrade() -> None:
    op.drop_table("mat_declaration")
    op.drop_table("conf_declaration")
    op.drop_table("conf_identity")
    op.drop_index("ix_conf_psc_client_name", table_name="conf_psc_client")
    op.drop_table("conf_psc_client")
    op.drop_table("conf_application")
    op.drop_table("conf_exercise")
    op.drop_table("conf_cursor")
    with op.batch_alter_table("insi_software") as batch:
        batch.drop_column("category")
