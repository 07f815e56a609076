"""Test fixtures: every storage test runs on SQLite and on the PostgreSQL that `./dev test` starts.

`MAISON_TEST_POSTGRES_URL` points at a server on loopback; each session creates its own database
in it. Without it (a machine with no PostgreSQL), the PostgreSQL half is skipped — except in CI,
where `./dev test` refuses to run without it.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from httpx._transports import default as httpx_default

from maison.core.config import Settings
from maison.core.storage import Database
from maison.core.terminology import Terminology
from maison.formats.svs import read_value_set
from maison.migrations import load_all_tables, migrate

REFERENCE = Path(os.environ.get("MAISON_REFERENCE_PATH", Path(__file__).resolve().parents[2] / "shared" / "reference"))
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def reference_path() -> Path:
    assert (REFERENCE / "insi").is_dir(), f"reference artefacts not found at {REFERENCE}"
    return REFERENCE


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> str:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'maison.db'}"
        return
    server = os.environ.get("MAISON_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("PostgreSQL not available (MAISON_TEST_POSTGRES_URL unset)")
    name = f"maison_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    url = server.rsplit("/", 1)[0] + "/" + name
    yield url
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


# httpx builds a new default SSLContext for every httpx.get/post and every Client, reading certifi's
# CA bundle each time (~30 ms, 48 times in one DMP test's setup: 1.5 s of its 2.4 s). The suite's
# clients share one: an SSLContext is meant to be shared, and only the default (verify=True, no
# client certificate) is cached — a test passing its own context or certificate gets exactly that.
_default_ssl_context = httpx_default.create_ssl_context()
_create_ssl_context = httpx_default.create_ssl_context


def _shared_default_context(verify=True, cert=None, trust_env=True):
    if verify is True and cert is None:
        return _default_ssl_context
    return _create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)


httpx_default.create_ssl_context = _shared_default_context


# Every house a test opens reads the CI-SIS value sets of the shared reference pack (House.terminology,
# forced by the portals when the app is built): 4 184 files, 0.55 s each time on an idle 2-core machine,
# in every test that serves the house. A Terminology is read-only once built, so the pack's is read once
# per process; any other directory (a test's own files, hostile ones) is read afresh, as the code does.
_from_directory = Terminology.from_directory.__func__  # type: ignore[attr-defined]
_REFERENCE_VALUE_SETS: dict[Path, Terminology] = {}


def _from_directory_once(cls: type[Terminology], directory: Path, read) -> Terminology:
    if read is not read_value_set or Path(directory).resolve() != (REFERENCE / "cisis" / "jeuxDeValeurs").resolve():
        return _from_directory(cls, directory, read)
    key = Path(directory).resolve()
    if key not in _REFERENCE_VALUE_SETS:
        _REFERENCE_VALUE_SETS[key] = _from_directory(cls, directory, read)
    return _REFERENCE_VALUE_SETS[key]


Terminology.from_directory = classmethod(_from_directory_once)  # type: ignore[method-assign,assignment]


_OPENED: list[weakref.ref[Database]] = []
_database_init = Database.__init__


def _tracked_init(self: Database, *args, **kwargs) -> None:
    _database_init(self, *args, **kwargs)
    _OPENED.append(weakref.ref(self))


Database.__init__ = _tracked_init  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _close_databases_opened_by_the_test():
    """Each `Database` a test (or the house it builds) opens has its pool closed at the test's end.

    Engines left to the garbage collector keep their pooled PostgreSQL connections open meanwhile:
    two workers running a few hundred tests exhausted the server's max_connections (CI, "sorry, too
    many clients already"). A disposed engine still works if a longer-lived fixture uses it again:
    its pool reopens on demand."""
    before = len(_OPENED)
    yield
    opened, _OPENED[before:] = _OPENED[before:], []
    for ref in opened:
        database = ref()
        if database is not None:
            database.dispose()


@pytest.fixture(scope="session")
def migrated(database_url):
    db = Database(database_url)
    migrate(db)
    yield db
    db.dispose()


def emptied(migrated: Database) -> Database:
    """The migrated database with every table emptied (the `db` fixture's; a module-scoped house's)."""
    tables = list(reversed(load_all_tables().sorted_tables))
    with migrated.write() as conn:
        for table in tables:
            conn.execute(table.delete())
    return migrated


# The modules whose tests share one house (`module_live`): the `db` fixture refuses them, since
# emptying the tables between two of their tests would take the shared house's data away.
_SHARED_HOUSE_MODULES: set[str] = set()


@pytest.fixture
def db(migrated: Database, request: pytest.FixtureRequest) -> Database:
    """A migrated, empty database (every table emptied before the test)."""
    assert request.module.__name__ not in _SHARED_HOUSE_MODULES, (
        f"{request.module.__name__} shares one house between its tests (module_house): a test of it cannot "
        "also ask for an emptied database (db, house, live)"
    )
    return emptied(migrated)


@pytest.fixture
def settings(reference_path: Path, tmp_path: Path, database_url: str) -> Settings:
    return settings_for(reference_path, tmp_path, database_url)


def settings_for(reference_path: Path, data_dir: Path, database_url: str) -> Settings:
    """The test house's settings (the `settings` fixture's; a module-scoped house's)."""
    # INSi is called over the plain loopback `live` server here: its development exception is on;
    # the tests of INSi's certificates (tests/e2e/test_insi_mtls.py) turn it off.
    # The port is chosen here so that the house's configured origin (Pro Santé Connect's issuer, from
    # `public_base_url`) is where the `live` server listens.
    return Settings(
        data_dir=data_dir,
        port=free_port(),
        database_url=database_url,
        reference_path=reference_path,
        max_body_bytes=200_000,
        insi_dev_sans_certificat=True,
    )


def _port_slice() -> range:
    """This pytest process's own ports: xdist's workers take disjoint slices of 20000-32000, so two
    workers never hand out the same port (a random start in a shared range did, now and then)."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    width = 12_000 // count
    return range(20_000 + worker * width, 20_000 + (worker + 1) * width)


_SLICE = _port_slice()
_START = random.randrange(_SLICE.start, _SLICE.stop)
_PORTS = itertools.cycle([*range(_START, _SLICE.stop), *range(_SLICE.start, _START)])


def free_port() -> int:
    """A loopback port for a test's listener, taken below the kernel's ephemeral range (32768+ on
    Linux): a port the kernel hands out (bind to 0) may be given to an outgoing connection, the
    relay's sessions among them, before the listener binds it."""
    for port in _PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("unreachable: the cycle never ends")


class LiveServer:
    """A real uvicorn server on a loopback port, in a thread, for tests that speak HTTP."""

    def __init__(self, app, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30  # a loaded 2-core machine: seconds to import and bind
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def house(settings: Settings, db: Database):
    from maison.house import House

    house = House.open(settings, migrate=False)
    yield house
    house.insi.journal.close()  # the session-wide database stays open for the next test


@pytest.fixture
def live(house):
    with LiveServer(house.app(), house.settings.port) as server:
        yield server


@pytest.fixture(scope="module")
def module_house(request, reference_path: Path, database_url: str, migrated: Database, tmp_path_factory):
    """One house for all the tests of a module on one backend, on tables emptied once.

    For modules whose tests are refused, only read, or write parts no other test of the module looks
    at (each case's own patient, its own account): the per-test house (`house`, `live`: an app of 250
    routes, a server, the world's logins) costs a second or more, the case itself a few requests.
    The module's tests may not use `db`, `house` or `live` (they would empty the shared tables).
    A module whose tests run under several settings parametrizes it indirectly, each param a dict of
    `Settings.with_overrides` (one house per param and backend)."""
    from maison.house import House

    module = request.module.__name__
    _SHARED_HOUSE_MODULES.add(module)
    emptied(migrated)
    settings = settings_for(reference_path, tmp_path_factory.mktemp("house"), database_url)
    house = House.open(settings.with_overrides(**getattr(request, "param", {})), migrate=False)
    yield house
    house.insi.journal.close()
    _SHARED_HOUSE_MODULES.discard(module)


@pytest.fixture(scope="module")
def module_live(module_house):
    """`module_house` served on its port: `.house` and `.url`, what `make_world` takes."""
    with LiveServer(module_house.app(), module_house.settings.port) as server:
        yield ServedHouse(module_house, server.url)


@dataclass
class ServedHouse:
    """A house and the URL it is served at (what `make_world` takes as `house` and `live`)."""

    house: Any
    url: str
