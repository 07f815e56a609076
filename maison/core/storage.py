"""Storage: SQLAlchemy 2 Core over SQLite (embedded default, WAL) or PostgreSQL (production, CI).

Each service declares its tables on the shared `metadata` in its own `store.py`; only that store
touches them. The schema is created and evolved by Alembic migrations (`maison/migrations`),
never by `create_all`, so that a production database follows the same path as a test one. The
migrations import every service's store, so they live above the services, not here: core runs
whatever scripts its caller points it at (`maison.migrations.migrate`).

Writes go through `Database.write()`: one transaction, all or nothing. On SQLite it starts with
`BEGIN IMMEDIATE` so that two writers never deadlock on a lock upgrade; on PostgreSQL it is a
plain READ COMMITTED transaction and stores take the row locks they need.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

WRITE_LOCK_TIMEOUT_S = 30


SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def _sqlite_engine(url: str, echo: bool) -> Engine:
    """`?synchronous=full` in the URL makes every commit wait for the WAL's fsync.

    The default, NORMAL, is WAL's usual setting: a commit survives a crash of the process but the
    last commits before a power loss or a kernel crash may be lost (the WAL is fsynced only at
    checkpoints). FULL fsyncs the WAL at each commit, so an acknowledged write survives those too.
    """
    parsed = sa.engine.make_url(url)
    value = parsed.query.get("synchronous", "NORMAL")
    if not isinstance(value, str):
        raise ValueError("synchronous= given more than once")
    synchronous = value.upper()
    if synchronous not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"synchronous={synchronous!r}: one of {', '.join(SQLITE_SYNCHRONOUS)}")
    parsed = parsed.difference_update_query(["synchronous"])
    path = parsed.database
    if path and path != ":memory:":
        Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = sa.create_engine(
        parsed,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=8,
        max_overflow=16,
        hide_parameters=True,
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # We emit BEGIN ourselves (below): pysqlite's implicit transactions would defeat IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={WRITE_LOCK_TIMEOUT_S * 1000}")
        cur.close()
        if path and path != ":memory:":
            private_file(Path(path))  # SQLite gives its -wal and -shm files the database file's mode

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.info.get("write"):
            _begin_immediate(conn)
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _begin_immediate(conn: Connection) -> None:
    """Take SQLite's write lock, polling every fraction of a millisecond while another writer holds it.

    SQLite's own busy handler backs off in sleeps of up to 100 ms, which turns brief contention
    between two processes into a 100 ms tail; polling keeps the wait close to the holder's commit.
    """
    raw = conn.connection.driver_connection
    assert raw is not None  # an open pool connection always has its DBAPI connection
    raw.execute("PRAGMA busy_timeout=0")
    try:
        deadline, pause = time.monotonic() + WRITE_LOCK_TIMEOUT_S, 0.0002
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 1.5, 0.002)
    finally:
        raw.execute(f"PRAGMA busy_timeout={WRITE_LOCK_TIMEOUT_S * 1000}")


def private_file(path: Path) -> None:
    """Make a file of the data directory readable by its owner only (0600), whatever the umask was.

    Health data at rest is for the service account alone (HDS: the host's access control; OWASP
    Cryptographic Storage Cheat Sheet): files 0600, directories 0700. `maison` sets umask 077 at its
    entry; this covers files created before that or by another entry point.
    """
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except FileNotFoundError:
        pass


class Database:
    """An engine plus the two ways services use it: `read()` and `write()`.

    Engines are created with `hide_parameters=True`: a failing statement's message (an
    IntegrityError on a duplicate INS, say) must not carry its bound values into logs and
    tracebacks, which are kept and shipped with less care than the database (CNIL, "Sécurité :
    Journaliser"; OWASP Logging Cheat Sheet: no health data in logs).
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.engine = _sqlite_engine(url, echo)
        else:
            self.engine = sa.create_engine(
                url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True
            )
        self.dialect = self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.info["write"] = True
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop("write", None)

    def migrate(self, script_location: Path, *, keystore: object = None) -> None:
        """Bring the schema to the newest revision of the Alembic scripts at `script_location`.

        The caller names the scripts (`maison.migrations.migrate`): they import every store, which
        the ground floor must not. `keystore` (a `maison.core.keystore` store) lets migrations move
        secrets out of the database (0022: the PSC signing keys)."""
        from alembic import command

        cfg = alembic_config(self, script_location)
        if keystore is not None:
            cfg.attributes["keystore"] = keystore
        command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(db: Database, script_location: Path) -> AlembicConfig:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    cfg.attributes["engine"] = db.engine
    return cfg
