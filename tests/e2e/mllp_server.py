"""`maison serve --mllp-port` in a process of its own, for the tests that drive it over MLLP.

Starting it costs 6-14 s (three spawned interpreters import the house), so the modules that drive it
with the default settings share one server per database backend (`module_server`, behind
tests/e2e/conftest.py's session-wide `mllp_served`); their tests stay independent because the `db` fixture
empties every table before each of them, and the server keeps no state of its own between messages
(idempotency, the audit chain's head, the stays: all read from the database)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from maison.core.config import Settings
from tests.conftest import free_port


class Served:
    """`python -m maison serve --mllp-port` in its own process group."""

    def __init__(self, settings, log: Path, **extra_env: str) -> None:
        self.settings = settings
        self.http, self.mllp = free_port(), free_port()
        self.url = f"{'https' if 'MAISON_TLS_CERT' in extra_env else 'http'}://127.0.0.1:{self.http}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAISON_")}
        env |= dict(
            MAISON_DATA_DIR=str(settings.data_dir),
            MAISON_DATABASE_URL=settings.database_url,
            MAISON_REFERENCE_PATH=str(settings.reference_path),
            PYTHONUNBUFFERED="1",
        )
        env |= extra_env
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "maison", "serve", "--port", str(self.http), "--mllp-port", str(self.mllp)],
                env=env,
                cwd=settings.data_dir,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, log.read_text()[-3000:]
            try:
                socket.create_connection(("127.0.0.1", self.mllp), timeout=1).close()
                httpx.get(f"{self.url}/", timeout=1, verify=False)  # up, whatever its certificate
                return
            except (OSError, httpx.HTTPError):
                time.sleep(0.1)
        raise AssertionError("maison serve --mllp-port did not listen:\n" + log.read_text()[-3000:])

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM to the group; its exit code, or None when it had to be killed (the processes still
        running then are written to the log: which of them did not stop)."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            return self.proc.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            left = subprocess.run(["ps", "-o", "pid,etime,args", "-g", str(self.proc.pid)], capture_output=True)
            with open(self.log, "ab") as out:
                out.write(b"\nstill running after SIGTERM:\n" + left.stdout)
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            return None


def module_server(
    tmp_path_factory: pytest.TempPathFactory, reference_path: Path, database_url: str
) -> Iterator[Served]:
    """One `maison serve --mllp-port` for a test module on one backend (a module-scoped fixture's body;
    the database is migrated by the session's `migrated` fixture, which the caller requests)."""
    data_dir = tmp_path_factory.mktemp("serve")
    settings = Settings(data_dir=data_dir, database_url=database_url, reference_path=reference_path)
    server = Served(settings, data_dir / "serve.log")
    yield server
    code = server.stop()
    assert code == 0, f"maison serve did not stop cleanly ({code}):\n" + server.log.read_text()[-3000:]
