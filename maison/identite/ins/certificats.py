"""Who calls INSi: the structure certificate the TLS handshake verified, or a development exception.

The national teleservice authenticates the calling structure by its IGC-Santé software
certificate in a mutual-TLS handshake; ContexteLPS (structure identifier, IDAM) only says what the
caller claims, and these are public numbers (issue 18, 1.4). So a call is served only with:

- a certificate verified by the listener's TLS (ASGI TLS extension, `maison.serving_tls`), whose
  subject names the structure (OU) and the software (CN, its IDAM) — `InsiService.authenticate`
  then checks that they are the ContexteLPS's and that the structure is habilitated; or
- with `insi_dev_sans_certificat` set, a plain call from loopback (a developer's machine).

Anything else is refused with a SOAP fault (`desir_552` no certificate, `desir_553` a certificate
that is not the caller's) and a `certificat-refuse` security event. A certificate that does not
chain to the configured authority, or is expired, never reaches this module: the TLS handshake
refuses it with an alert, as the national service's front does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from maison.core.errors import Forbidden, Unauthenticated

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class CertificateMissing(Unauthenticated):
    code = "certificat-absent"


class CertificateRefused(Forbidden):
    code = "certificat-refuse"


@dataclass(frozen=True, slots=True)
class StructureCertificate:
    """What a verified certificate says of its holder."""

    structure: str
    software: str
    fingerprint: str
    subject: str


@dataclass(frozen=True, slots=True)
class DevelopmentAccess:
    """A plain call from loopback, accepted because `insi_dev_sans_certificat` is set."""

    source: str


Credential = StructureCertificate | DevelopmentAccess | None


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if len(values) == 1 else ""


@lru_cache(maxsize=1024)
def read_certificate(pem: str) -> StructureCertificate:
    """Parse once per certificate (a caller keeps its connections and its certificate)."""
    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    subject = cert.subject
    return StructureCertificate(
        _attribute(subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
        _attribute(subject, NameOID.COMMON_NAME),
        cert.fingerprint(hashes.SHA256()).hex(),
        subject.rfc4514_string(),
    )


def credential(scope: Mapping[str, Any], *, development: bool) -> Credential:
    """The caller's credential from the ASGI scope; None when it has none that may be accepted."""
    tls = (scope.get("extensions") or {}).get("tls")
    chain = tls.get("client_cert_chain") if tls else None
    if chain:
        return read_certificate(chain[0])
    client = scope.get("client") or ("", 0)
    if development and tls is None and client[0] in LOOPBACK:
        return DevelopmentAccess(client[0])
    return None


def source(scope: Mapping[str, Any]) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""
