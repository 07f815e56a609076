"""How the hospital wing reaches INSi: over HTTPS to a configured endpoint, or in memory to the house.

INSi authenticates the calling structure by its software certificate in a mutual-TLS handshake
(`maison.identite.ins.certificats`), so every call this wing makes presents one:

- `insi_url` set: real HTTPS to that endpoint (the national teleservice, another house's INSi
  listener), presenting the configured certificate and key (`insi_client_cert`, `insi_client_key`)
  and verifying the server against `insi_client_ca` (empty: the system's authorities). One
  deployment of a DPI is one structure's: the certificate names it, and INSi refuses a call whose
  ContexteLPS names another.
- no `insi_url` (the embedded house, the tests): the same SOAP requests go to the house's own app
  through httpx's ASGI transport, each request's scope carrying the ASGI TLS extension exactly as
  the mutual-TLS listener (`maison.serving_tls`) gives it after a handshake: the certificate of the
  calling structure and software, issued by the house PKI that stands in for IGC-Santé. The
  development exception (`insi_dev_sans_certificat`) is never needed. The wing does not issue
  those certificates itself: the composition root (`maison.house`) hands it INSi's own issuing
  (`IssueCertificate`), which checks the habilitation and records the issuance
  (`securite.cle-emise`), as `maison insi-certificat` does.
"""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from maison.core import pki
from maison.core.config import Settings
from maison.core.ins_traits import Traits
from maison.etablissement.insi.client import AsyncInsiClient, ClientIdentity, Lookup

IN_MEMORY_ENDPOINT = "https://insi.maison.invalid/insi/lps"  # never resolved: the transport is in memory
TIMEOUT = 10.0


class PresentedCertificate:
    """An ASGI app behind a TLS listener that verified `pem` as the client's certificate: each HTTP
    request's scope carries the ASGI TLS extension (version 0.2), leaf certificate first, as PEM."""

    def __init__(self, app: Callable[[], ASGIApp], pem: str) -> None:
        self.app = app
        self.tls = {
            "server_cert": None,
            "client_cert_chain": [pem],
            "client_cert_name": None,
            "client_cert_error": None,
            "tls_version": 0x0304,  # TLS 1.3, what the house's listener negotiates with a current client
            "cipher_suite": None,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "extensions": {**(scope.get("extensions") or {}), "tls": self.tls}}
        await self.app()(scope, receive, send)


IssueCertificate = Callable[[str, str, Path], pki.Issued]
"""INSi's issuing of a structure's software certificate: (structure, software, where to write it) to
the certificate issued; it refuses a structure or software INSi does not know and records each issuance."""


class HouseCertificates:
    """The structures' INSi certificates, issued on first use by `issue` (INSi's own issuing, handed in
    by the composition root: this wing holds no authority and writes no audit record of its own), one
    per structure and software, kept for the process. Only the certificate is kept: in memory there is
    no handshake to sign, so its private key is dropped with the directory it was written to."""

    def __init__(self, issue: IssueCertificate) -> None:
        self._issue = issue
        self._pem: dict[tuple[str, str], str] = {}

    def pem(self, structure: str, software: str) -> str:
        key = (structure, software)
        if key not in self._pem:
            with tempfile.TemporaryDirectory(prefix="maison-insi-") as scratch:
                issued = self._issue(structure, software, Path(scratch))
                self._pem[key] = issued.cert.read_text(encoding="ascii")
        return self._pem[key]


class InsiGateway:
    """The wing's INSi: where it answers and the HTTP client each structure's software calls it with."""

    def __init__(self, endpoint: str, connect: Callable[[str, str], httpx.AsyncClient]) -> None:
        self.endpoint = endpoint
        self._connect = connect
        self._clients: dict[tuple[str, str], httpx.AsyncClient] = {}

    @classmethod
    def in_memory(cls, app: Callable[[], ASGIApp], certificates: HouseCertificates) -> InsiGateway:
        """SOAP to the house's own app, each structure's certificate in the scope (no network, no TLS)."""

        def connect(structure: str, software: str) -> httpx.AsyncClient:
            presented = PresentedCertificate(app, certificates.pem(structure, software))
            return httpx.AsyncClient(transport=httpx.ASGITransport(app=presented), timeout=TIMEOUT)

        return cls(IN_MEMORY_ENDPOINT, connect)

    @classmethod
    def over_https(cls, endpoint: str, cert: str, key: str, ca: str) -> InsiGateway:
        """SOAP over HTTPS to `endpoint`, presenting the configured certificate (none: an INSi in
        development, `insi_dev_sans_certificat`, over plain loopback HTTP)."""
        context = ssl.create_default_context(cafile=ca or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(pki.AEAD_CIPHERS)
        if cert:
            context.load_cert_chain(cert, key or cert)
        shared = httpx.AsyncClient(verify=context, timeout=TIMEOUT)
        return cls(endpoint, lambda _structure, _software: shared)

    @classmethod
    def from_settings(cls, settings: Settings, app: Callable[[], ASGIApp], issue: IssueCertificate) -> InsiGateway:
        """`insi_url` and its certificate when configured, else the house's own INSi in memory, each
        structure presenting the certificate `issue` (the house's INSi) gives it on its first call."""
        if settings.insi_url:
            return cls.over_https(
                settings.insi_url, settings.insi_client_cert, settings.insi_client_key, settings.insi_client_ca
            )
        return cls.in_memory(app, HouseCertificates(issue))

    def client(self, me: ClientIdentity) -> AsyncInsiClient:
        key = (me.structure, me.idam)
        if key not in self._clients:
            self._clients[key] = self._connect(*key)
        return AsyncInsiClient(self.endpoint, me, self._clients[key])

    async def lookup(self, me: ClientIdentity, traits: Traits) -> Lookup:
        """INSi by traits with the first-name retry rule, on behalf of `me` (structure, software, professional)."""
        return await self.client(me).lookup(traits)

    async def aclose(self) -> None:
        """Close the connections (a shared client is closed once)."""
        for http in {id(c): c for c in self._clients.values()}.values():
            await http.aclose()
        self._clients.clear()
