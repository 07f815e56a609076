"""Test helpers: INSi's mutual-TLS listener in a thread, and clients holding certificates of the house PKI."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from maison.core import pki
from maison.core.actor import Actor
from maison.serving_insi import InsiTls, authority, insi_server, prepare
from tests.conftest import free_port

ADMIN = Actor(person="cli:test", structure="maison", software="maison-cli", role="administrateur")


class InsiTlsServer:
    """`maison.serving_insi`'s server (uvicorn + the TLS-scope protocol) on a loopback port, in a thread."""

    def __init__(self, house) -> None:
        self.tls: InsiTls = prepare(house.settings)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.server = insi_server(house, self.tls, host="127.0.0.1", port=self.port)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> InsiTlsServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("INSi listener did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def client(self, issued: pki.Issued | None = None, **kw) -> httpx.Client:
        """An HTTP client that trusts the listener and presents `issued` (none: no certificate)."""
        return httpx.Client(verify=pki.client_context(self.tls.client_ca, issued), timeout=10, **kw)


def issue(house, structure: str, idam: str, **kw) -> pki.Issued:
    """What `maison insi-certificat` does: a certificate for a habilitated structure and software."""
    return house.insi.issue_certificate(ADMIN, authority(house.settings), structure, idam, **kw)


def self_signed(directory: Path, structure: str, idam: str) -> pki.Issued:
    """A certificate naming the right structure and software, signed by nobody but itself."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = pki.structure_name("", structure, idam)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    out = pki.Issued(directory / "self.pem", directory / "self.key")
    out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return out
