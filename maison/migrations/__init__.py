"""The schema of the whole house: the Alembic scripts, and the one place that imports every store.

Each service declares its tables in its own `store.py`; the migrations must know them all (to
autogenerate a revision, and for the tests to empty every table), so they sit above the services,
where importing every store breaks no layer. `maison.core.storage.Database.migrate` runs the
scripts it is pointed at; `migrate` here points it at these.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from maison.core.storage import Database, metadata
from maison.core.storage import alembic_config as _alembic_config

LOCATION = Path(__file__).parent


def migrate(db: Database, *, keystore: object = None) -> None:
    """Bring `db` to the newest revision (`keystore`: where 0022 moves the PSC signing keys)."""
    db.migrate(LOCATION, keystore=keystore)


def alembic_config(db: Database):
    """Alembic's configuration for these scripts on `db` (to upgrade or downgrade to a given revision)."""
    return _alembic_config(db, LOCATION)


def load_all_tables() -> sa.MetaData:
    """Import every store so that `metadata` knows every table (for migrations and test cleanup)."""
    import maison.core.audit  # noqa: F401
    import maison.core.auth  # noqa: F401
    import maison.core.lockout  # noqa: F401
    import maison.etablissement.pfi.store  # noqa: F401
    import maison.etablissement.sejours.store  # noqa: F401
    import maison.etablissement.vigilance.store  # noqa: F401
    import maison.identite.annuaire.store  # noqa: F401
    import maison.identite.ins.store  # noqa: F401
    import maison.identite.mes.store  # noqa: F401
    import maison.identite.psc.store  # noqa: F401
    import maison.observatoire.conformite.store  # noqa: F401
    import maison.observatoire.national.store  # noqa: F401
    import maison.observatoire.prerequis.store  # noqa: F401
    import maison.observatoire.sunes.store  # noqa: F401
    import maison.partage.dmp.store  # noqa: F401
    import maison.partage.espace.store  # noqa: F401
    import maison.partage.mss.store  # noqa: F401
    import maison.partage.ordonnance.store  # noqa: F401
    import maison.portail.store  # noqa: F401

    return metadata
