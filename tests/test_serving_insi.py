"""`maison serve` with `insi_port`: INSi over mutual TLS in real processes, certificates from
`maison insi-certificat`."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from maison.core.pki import Issued, client_context
from maison.core.storage import Database
from maison.etablissement.insi.client import ClientIdentity, InsiClient, InsiFault, traits_request
from maison.formats.insi import CodeCR
from maison.identite.ins.service import InsiService
from maison.migrations import migrate
from tests.conftest import free_port
from tests.identite.helpers import IDAM, STRUCTURE
from tests.test_serving import _stop


def _wait(url: str, **kw) -> None:
    """Up to 90 s: two processes start on a machine other work may be keeping busy."""
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(url, timeout=2, **kw)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _environ(data: Path, **extra: str) -> dict:
    environ = {**os.environ, "MAISON_DATA_DIR": str(data), **extra}
    environ.pop("MAISON_DATABASE_URL", None)
    return environ


def test_serve_runs_insi_over_mutual_tls(tmp_path):
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'maison.db'}")
    data.mkdir(exist_ok=True)
    migrate(db)
    service = InsiService(db)
    service.register_software(IDAM, "Maison DPI", "Maison")
    service.register_structure(STRUCTURE, "Hôpital de test")
    service.journal.close()
    db.dispose()
    issued = subprocess.run(
        [sys.executable, "-m", "maison", "insi-certificat", STRUCTURE, "--idam", IDAM],
        env=_environ(data),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert issued.returncode == 0, issued.stderr
    [cert] = (data / "pki").glob("structure-*.pem")
    mine = Issued(cert, cert.with_suffix(".key"))

    http_port, insi_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "maison", "serve", "--port", str(http_port)],
        env=_environ(data, MAISON_INSI_PORT=str(insi_port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        verify = client_context(data / "pki" / "ca.pem", mine)
        _wait(f"https://127.0.0.1:{insi_port}/insi/lps?wsdl", verify=verify)
        _wait(f"http://127.0.0.1:{http_port}/")
        with httpx.Client(verify=verify, timeout=10) as http:
            client = InsiClient(f"https://127.0.0.1:{insi_port}/insi/lps", ClientIdentity(STRUCTURE, IDAM), http=http)
            assert client.search_traits("PERSONNE", ["NUL"], "M", "1950-01-01").code is CodeCR.AUCUN
        anonymous = InsiClient(
            f"https://127.0.0.1:{insi_port}/insi/lps",
            ClientIdentity(STRUCTURE, IDAM),
            http=httpx.Client(verify=client_context(data / "pki" / "ca.pem"), timeout=10),
        )
        try:
            anonymous.search_traits("PERSONNE", ["NUL"], "M", "1950-01-01")
            raise AssertionError("served without a certificate")
        except InsiFault as fault:
            assert fault.code == "desir_552"
        # the house port (plain HTTP on loopback) does not serve INSi without the development setting
        plain = httpx.post(
            f"http://127.0.0.1:{http_port}/insi/lps",
            headers={"Content-Type": "application/soap+xml"},
            content=traits_request(ClientIdentity(STRUCTURE, IDAM), "PERSONNE", ["NUL"], "M", "1950-01-01"),
            timeout=10,
        )
        assert plain.status_code == 500 and b"desir_552" in plain.content
    finally:
        assert _stop(proc) == 0
