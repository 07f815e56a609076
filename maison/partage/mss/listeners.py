"""Where an operator listens, said to whoever has to connect (issue 21 §1.4: the CLI says where each
listener is), and a listener that cannot be opened, named precisely.

An operator's listeners, by role (maison.partage.mss.smtp, maison.partage.mss.imap):
- submission (port 587's role, RFC 6409): SMTP, STARTTLS required before AUTH;
- submission over implicit TLS (port 465's role, RFC 8314 §3.3): SMTP, TLS from the first byte;
- relay (port 25's role): SMTP between operators, STARTTLS with the operator's client certificate;
- IMAP (port 143's role, RFC 9051): STARTTLS required before LOGIN (LOGINDISABLED until then);
- IMAP over implicit TLS (port 993's role, RFC 8314 §3.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from maison.core.errors import MaisonError

if TYPE_CHECKING:
    from maison.partage.mss.smtp import Endpoints


@dataclass(frozen=True)
class Listener:
    role: str  # soumission, soumission-tls, relais, imap, imap-tls
    protocol: str  # SMTP or IMAP
    host: str
    port: int
    tls: str  # how TLS is entered there, in the users' words

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.role} {self.protocol} {self.address} ({self.tls})"

    def as_json(self) -> dict[str, Any]:
        return {"role": self.role, "protocole": self.protocol, "adresse": self.address, "tls": self.tls}


STARTTLS = "STARTTLS exigé"
IMPLICIT_TLS = "TLS implicite, RFC 8314"
MUTUAL_TLS = "STARTTLS, certificat client de l'opérateur"


def listeners_of(endpoints: Endpoints) -> list[Listener]:
    """The listeners an operator with these endpoints opens, in the order it opens them."""
    host = endpoints.host
    found = [
        Listener("soumission", "SMTP", host, endpoints.submission, STARTTLS),
        Listener("relais", "SMTP", host, endpoints.relay, MUTUAL_TLS),
    ]
    if endpoints.submissions:
        found.append(Listener("soumission-tls", "SMTP", host, endpoints.submissions, IMPLICIT_TLS))
    if endpoints.imap:
        found.append(Listener("imap", "IMAP", host, endpoints.imap, STARTTLS))
    if endpoints.imaps:
        found.append(Listener("imap-tls", "IMAP", host, endpoints.imaps, IMPLICIT_TLS))
    return found


def describe(endpoints: Endpoints) -> str:
    """For a console: each listener, its protocol, address and TLS, on one line."""
    return ", ".join(str(listener) for listener in listeners_of(endpoints))


class ListenerUnavailable(MaisonError):
    """A listener the operator could not open (its port taken, an address not this machine's…): the
    operator does not run until it can, and says which one and why."""

    http_status = 503
    code = "ecoute-impossible"

    def __init__(self, operator: str, listener: Listener, reason: str) -> None:
        super().__init__(f"opérateur MSSanté {operator} : impossible d'écouter en {listener} — {reason}")
        self.operator = operator
        self.listener = listener
        self.reason = reason
