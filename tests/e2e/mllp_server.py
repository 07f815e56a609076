"""`maison serve --mllp-port` in a process of its own, for the tests that drive it over MLLP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port


class Served:
    """`python -m maison serve --mllp-port` in its own process group."""

    def __init__(self, settings, log: Path, **extra_env: str) -> None:
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

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
