"""The house's test PKI: one authority issuing structure (software) certificates and server certificates.

The national teleservices authenticate a calling structure by a certificate of the IGC-Santé
(INSi: the "certificat logiciel" of a personne morale presented in the TLS handshake). A house
stands in for it with its own test authority ("AC MAISON TEST - structures", kept in
`<data_dir>/pki`, never in the repository) in the image of the MSSanté trust space's
(`maison.partage.mss.pki`, whose approach this follows: ECDSA P-256, SHA-256, `cryptography`).
A real deployment configures the IGC-Santé chain instead (`Settings.insi_tls_ca`).

A structure certificate names its holder as IGC-Santé organisation certificates do: the
organisation (O), the structure's identifier (OU: FINESS, SIRET… with its type prefix) and, as
common name, the software it is issued to (its CNDA authorisation number, the IDAM). Contexts
answer TLS ≥ 1.2 with AEAD suites only (issue 18, "TLS: AEAD suites only"; ANSSI's TLS guide R5-R8).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# TLS 1.2 suites with forward secrecy and an AEAD cipher; TLS 1.3's suites are all AEAD already.
AEAD_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
STRUCTURE_VALIDITY = dt.timedelta(days=3 * 365)  # IGC-Santé software certificates: 3 years
_LABEL = re.compile(r"[^A-Za-z0-9._-]")

# the private keys x509.CertificateBuilder.sign accepts
_ISSUER_KEYS = (
    rsa.RSAPrivateKey,
    dsa.DSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path

    def fingerprint(self) -> str:
        return fingerprint(self.cert.read_bytes())


def fingerprint(pem: bytes) -> str:
    """SHA-256 of the DER certificate, lower-case hex."""
    return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()


def structure_name(organisation: str, structure: str, software: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation or structure),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, structure),
            x509.NameAttribute(NameOID.COMMON_NAME, software),
        ]
    )


def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    """Created 0600: the key is never readable by others, even between its write and a chmod."""
    path.unlink(missing_ok=True)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


def label(*parts: str) -> str:
    """A file name made of identifiers (nothing of them can climb out of the directory)."""
    return _LABEL.sub("_", "-".join(parts))


class Authority:
    """The house's certificate authority (created on first use, key readable by its owner only)."""

    def __init__(self, directory: Path, name: str = "AC MAISON TEST - structures") -> None:
        self.directory = directory
        self.name = name
        self.cert_path = directory / "ca.pem"
        self.key_path = directory / "ca.key"
        if not self.cert_path.is_file():
            self._create()

    def _create(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "MAISON"),
                x509.NameAttribute(NameOID.COMMON_NAME, self.name),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256())
        )
        write_key(key, self.key_path)
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def _sign(
        self,
        subject: x509.Name,
        extensions: list[tuple[x509.ExtensionType, bool]],
        not_before: dt.datetime,
        not_after: dt.datetime,
        out: Issued,
    ) -> Issued:
        ca_key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        if not isinstance(ca_key, _ISSUER_KEYS):  # as builder.sign itself refuses a key that cannot sign
            raise TypeError(f"the CA key {self.key_path} cannot sign certificates")
        cert = builder.sign(ca_key, hashes.SHA256())
        out.cert.parent.mkdir(parents=True, exist_ok=True)
        write_key(key, out.key)
        out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return out

    def issue_structure(
        self,
        structure: str,
        software: str,
        organisation: str = "",
        *,
        directory: Path | None = None,
        validity: dt.timedelta = STRUCTURE_VALIDITY,
        not_before: dt.datetime | None = None,
    ) -> Issued:
        """A TLS client certificate for `software` (its IDAM) used by `structure` (its identifier)."""
        start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        name = label("structure", structure, software)
        out = Issued((directory or self.directory) / f"{name}.pem", (directory or self.directory) / f"{name}.key")
        usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
        return self._sign(
            structure_name(organisation, structure, software),
            [(usage, True), (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)],
            start,
            start + validity,
            out,
        )

    def issue_server(self, name: str, hostnames: list[str]) -> Issued:
        """A TLS server certificate for `hostnames` (and loopback), reused while it is valid."""
        out = Issued(self.directory / f"{label('server', name)}.pem", self.directory / f"{label('server', name)}.key")
        if out.cert.is_file() and out.key.is_file():
            return out
        names: list[x509.GeneralName] = []
        for host in dict.fromkeys([*hostnames, "localhost", "127.0.0.1"]):
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        now = dt.datetime.now(dt.UTC)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "MAISON"),
                x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0]),
            ]
        )
        return self._sign(
            subject,
            [
                (x509.SubjectAlternativeName(names), False),
                (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            ],
            now - dt.timedelta(minutes=5),
            now + dt.timedelta(days=825),
            out,
        )


def server_context(cert: Path, key: Path, client_ca: Path | None, *, require_client: bool = False) -> ssl.SSLContext:
    """A server's TLS: ≥ 1.2, AEAD suites; with `client_ca`, a client certificate is asked for and
    verified against it (required, or optional so that the application can answer its absence)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(AEAD_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        context.load_verify_locations(cafile=str(client_ca))
        context.verify_mode = ssl.CERT_REQUIRED if require_client else ssl.CERT_OPTIONAL
    return context


def client_context(ca: Path, issued: Issued | None = None) -> ssl.SSLContext:
    """A client's TLS: the server verified against `ca`, and `issued` presented when given."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(AEAD_CIPHERS)
    if issued is not None:
        context.load_cert_chain(str(issued.cert), str(issued.key))
    return context
