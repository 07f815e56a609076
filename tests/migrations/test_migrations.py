"""The schema's scripts left `maison/core` for `maison/migrations` (issue 19 §1.2): the history is the
same (revision ids, one head), a fresh database reaches it, and what it builds is what the stores declare."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from maison.migrations import LOCATION, alembic_config, load_all_tables


def test_history_is_one_line_of_numbered_revisions(migrated):
    script = ScriptDirectory.from_config(alembic_config(migrated))
    revisions = [r.revision for r in script.walk_revisions()]
    assert script.get_heads() == [revisions[0]]
    assert sorted(revisions) == [f"{n:04d}" for n in range(1, len(revisions) + 1)]
    assert LOCATION.name == "migrations" and LOCATION.parent.name == "maison"


def test_a_fresh_database_migrates_to_head_and_matches_the_stores(migrated):
    """`migrated` is a fresh SQLite and a fresh PostgreSQL database, brought to head by `migrate`."""
    head = ScriptDirectory.from_config(alembic_config(migrated)).get_current_head()
    with migrated.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head
        missing = [
            d
            for d in compare_metadata(MigrationContext.configure(conn), load_all_tables())
            if d[0] in ("add_table", "remove_table")
        ]
        assert missing == []
        assert set(load_all_tables().tables) <= set(sa.inspect(conn).get_table_names())
