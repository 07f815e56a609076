"""INSi's own listener: mutual TLS, the house PKI (or the configured authority) verifying callers.

`maison serve` runs it beside the house port when `insi_port` is set, one process per worker
(SO_REUSEPORT, as the house port). The client certificate is asked for but optional in the
handshake, so that a caller without one gets INSi's SOAP fault (`desir_552`) and leaves a
security event, instead of a bare TLS alert; a certificate that does not verify (other authority,
self-signed, expired) is refused by the handshake. The server certificate is the configured one,
or one the house PKI issues for the listening host.
"""

from __future__ import annotations

import ssl
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from maison import __version__
from maison.core import pki
from maison.core.config import Settings
from maison.identite.ins.api import router as insi_router

if TYPE_CHECKING:
    import uvicorn

    from maison.house import House


@dataclass(frozen=True)
class InsiTls:
    """The files of the INSi listener's TLS: its certificate and key, the callers' authority."""

    cert: Path
    key: Path
    client_ca: Path

    def context(self) -> ssl.SSLContext:
        return pki.server_context(self.cert, self.key, self.client_ca)


def authority(settings: Settings) -> pki.Authority:
    """The house PKI, in `<data_dir>/pki`."""
    return pki.Authority(settings.data_dir / "pki")


def prepare(settings: Settings) -> InsiTls:
    """The configured files, the missing ones taken from the house PKI (issued once, then reused)."""
    house_pki = None if settings.insi_tls_ca and settings.insi_tls_cert else authority(settings)
    # house_pki is set whenever a file is missing
    ca = Path(settings.insi_tls_ca) if settings.insi_tls_ca else house_pki.cert_path  # type: ignore[union-attr]
    if settings.insi_tls_cert:
        return InsiTls(Path(settings.insi_tls_cert), Path(settings.insi_tls_key or settings.insi_tls_cert), ca)
    # house_pki is set whenever a file is missing
    issued = house_pki.issue_server("insi", [settings.host])  # type: ignore[union-attr]
    return InsiTls(issued.cert, issued.key, ca)


def insi_app(house: House) -> FastAPI:
    """INSi alone (SOAP, WSDL, XSDs, JSON mirror) under /insi, as the house app mounts it."""
    s = house.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        house.insi.journal.close()  # every answered call's audit record is committed before exit

    app = FastAPI(
        title="Maison INSi", version=__version__, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.include_router(
        insi_router(
            house.insi,
            s.reference_path,
            s.max_body_bytes,
            ns=house.namespace,
            dev_sans_certificat=s.insi_dev_sans_certificat,
        ),
        prefix="/insi",
        tags=["INSi"],
    )
    return app


def insi_server(house: House, tls: InsiTls, **options: Any) -> uvicorn.Server:
    """A server of `insi_app` over mutual TLS (see `maison.serving_tls` for why this server)."""
    from maison.serving_tls import tls_server

    return tls_server(insi_app(house), tls.context(), **options)


def run(settings: Settings, tls: InsiTls, reuse_port: bool) -> None:
    """One INSi worker process: serve until terminated."""
    from maison.house import House, tune_interpreter
    from maison.serving_http import listening_socket

    tune_interpreter()
    house = House.open(settings, migrate=False)  # migrated once by `serve`
    try:
        sock = listening_socket(settings.host, settings.insi_port, reuse_port=reuse_port)
        insi_server(house, tls).run(sockets=[sock])
    finally:
        house.close()
