"""Certificates of the trust space: a test authority in the image of IGC-Santé, and each operator's.

The MSSanté operators authenticate each other by certificates of the IGC-Santé (the relay between
operators is mutual TLS; Réf. socle MSSanté, SC.MSS/CONF.22/27). Here a house runs its own test
authority ("AC MAISON TEST — trust space", kept in `<data_dir>/mss/pki`, never in the repository)
and issues each local operator a certificate naming its domains (serverAuth and clientAuth: the
same certificate answers as a server and presents itself as a relay client). A real deployment
configures the IGC-Santé chain instead and puts the operators' certificates it received in the
registry (`trust.py`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from maison.core.pki import AEAD_CIPHERS, Issued, write_key
from maison.core.pki import Authority as HouseAuthority

VALIDITY = dt.timedelta(days=825)
__all__ = [
    "Authority",
    "Issued",
    "client_context",
    "fingerprint_der",
    "harden",
    "server_context",
    "twisted_server_options",
]


def fingerprint_der(der: bytes) -> str:
    return x509.load_der_x509_certificate(der).fingerprint(hashes.SHA256()).hex()


def _name(common: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


class Authority(HouseAuthority):
    """The trust space's certificate authority: the house's authority under the trust space's name."""

    def __init__(self, directory: Path, name: str = "AC MAISON TEST - espace de confiance MSSante") -> None:
        super().__init__(directory, name)

    def issued(self, label: str) -> Issued | None:
        """The certificate issued earlier under `label`, if any."""
        found = Issued(self.directory / f"{label}.pem", self.directory / f"{label}.key")
        return found if found.cert.is_file() and found.key.is_file() else None

    def issue(self, label: str, hostnames: list[str], organization: str) -> Issued:
        """A certificate for `hostnames` (first one as CN), valid as TLS server and client."""
        ca_key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):  # the operators' CA key is EC (created here)
            raise ValueError("la clé de l'autorité MSSanté n'est pas une clé EC")
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        names: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
        # operators on one machine (tests, demo, a vendor's sandbox): a client checking names reaches them
        # by localhost as by its addresses (issue 21 §1.4: mbsync, for one, matches DNS names only)
        if "localhost" not in hostnames:
            names.append(x509.DNSName("localhost"))
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(hostnames[0], organization))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        issued = Issued(self.directory / f"{label}.pem", self.directory / f"{label}.key")
        write_key(key, issued.key)
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return issued


def harden(context: ssl.SSLContext) -> ssl.SSLContext:
    """TLS ≥ 1.2 with AEAD suites only (issue 18 §3: OpenSSL's default list still offers CBC suites
    in TLS 1.2; TLS 1.3's are all AEAD), no compression (CRIME): every MSSanté listener and client."""
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(AEAD_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION
    return context


def twisted_server_options(issued: Issued):
    """The same TLS for a Twisted listener (IMAP): Twisted's default cipher list keeps CBC suites."""
    from twisted.internet import ssl as tssl

    certificate = tssl.PrivateCertificate.loadPEM(issued.cert.read_text() + issued.key.read_text())
    return tssl.CertificateOptions(
        privateKey=certificate.privateKey.original,
        certificate=certificate.original,
        raiseMinimumTo=tssl.TLSVersion.TLSv1_2,
        acceptableCiphers=tssl.AcceptableCiphers.fromOpenSSLCipherString(AEAD_CIPHERS),
    )


def server_context(issued: Issued, ca: Path, *, require_client: bool) -> ssl.SSLContext:
    """TLS ≥ 1.2 (Réf. socle SC.MSS/CONF.01), AEAD suites; `require_client`: mutual TLS (the relay port)."""
    context = harden(ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca)))
    context.load_cert_chain(str(issued.cert), str(issued.key))
    context.verify_mode = ssl.CERT_REQUIRED if require_client else ssl.CERT_NONE
    return context


def client_context(ca: Path, issued: Issued | None = None) -> ssl.SSLContext:
    """What a relay (or a test's mail client) uses: the trust space's CA, and its own certificate."""
    context = harden(ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca)))
    if issued is not None:
        context.load_cert_chain(str(issued.cert), str(issued.key))
    return context
