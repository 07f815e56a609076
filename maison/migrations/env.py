"""Alembic environment: runs on the engine `maison.migrations.migrate()` hands over (or the configured URL)."""

import sqlalchemy as sa
from alembic import context

from maison.migrations import load_all_tables

config = context.config
target_metadata = load_all_tables()


def run() -> None:
    engine = config.attributes.get("engine") or sa.create_engine(str(config.get_main_option("sqlalchemy.url")))
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()


run()
