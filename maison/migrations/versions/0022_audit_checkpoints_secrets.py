"""audit checkpoints secrets (security hardening, issue 18)

Pro Santé Connect's private signing keys leave the database for the key store (issue 18 item 2.9):
`psc_key` gains `public_jwk` (what verification and the JWKS need) and `private_jwk` becomes
nullable. When `maison.migrations.migrate(db, keystore=…)` hands the key store over (`maison serve`,
`House.open`), each private key is written there under its kid (`psc-signing-<kid>.jwk`, 0600) and
cleared from the table in the same run, so that existing deployments keep their keys and the
tokens already issued keep verifying. Run without a key store (a bare `alembic upgrade`), the keys
stay in the table until the provider's first use moves them (`maison.identite.psc.keys`).

The signed audit checkpoints (item 2.6) are kept outside the database by design: no table here.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 23:50:00
"""

import orjson
import sqlalchemy as sa
from alembic import context, op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_KEYS = sa.table(
    "psc_key", sa.column("kid", sa.String), sa.column("private_jwk", sa.Text), sa.column("public_jwk", sa.Text)
)


def upgrade() -> None:
    with op.batch_alter_table("psc_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_jwk", sa.Text(), nullable=True))
        batch_op.alter_column("private_jwk", existing_type=sa.Text(), nullable=True)
    keystore = context.config.attributes.get("keystore")
    if keystore is None:
        return
    from joserfc.jwk import RSAKey

    conn = op.get_bind()
    for row in conn.execute(sa.select(_KEYS.c.kid, _KEYS.c.private_jwk).where(_KEYS.c.private_jwk.is_not(None))).all():
        private = RSAKey.import_key(orjson.loads(row.private_jwk))
        keystore.create(f"psc-signing-{row.kid}.jwk", orjson.dumps(private.as_dict(private=True)))
        conn.execute(
            _KEYS.update()
            .where(_KEYS.c.kid == row.kid)
            .values(private_jwk=None, public_jwk=orjson.dumps(private.as_dict(private=False)).decode())
        )


def downgrade() -> None:
    """Back into the table (the older code reads them there); keys absent from the store are dropped."""
    keystore = context.config.attributes.get("keystore")
    conn = op.get_bind()
    for row in conn.execute(sa.select(_KEYS.c.kid).where(_KEYS.c.private_jwk.is_(None))).all():
        private = keystore.read(f"psc-signing-{row.kid}.jwk") if keystore is not None else None
        if private is None:
            conn.execute(_KEYS.delete().where(_KEYS.c.kid == row.kid))
        else:
            conn.execute(_KEYS.update().where(_KEYS.c.kid == row.kid).values(private_jwk=private.decode()))
    with op.batch_alter_table("psc_key", schema=None) as batch_op:
        batch_op.alter_column("private_jwk", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("public_jwk")
