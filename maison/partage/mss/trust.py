"""The MSSanté trust space: which operators exist, which domains each serves, which certificate each
presents (000 L2708-2710: a closed space of registered operators; SPEC §4).

Mail is accepted only from a registered operator (its relay presents the registered certificate over
mutual TLS) or from an authenticated user of a local operator; it is relayed only to a registered
operator's domain. Anything else is refused at SMTP time with a precise reply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from maison.core import audit
from maison.core.errors import Conflict, InvalidInput, NotFound
from maison.core.storage import Database
from maison.partage.mss import store


@dataclass(frozen=True)
class Operator:
    id: str
    name: str
    domains: tuple[str, ...]
    certificate_sha256: str
    relay_host: str
    relay_port: int
    local: bool
    active: bool = True
    submission_port: int | None = None
    imap_port: int | None = None
    submissions_port: int | None = None  # implicit TLS (RFC 8314 §3.3)
    imaps_port: int | None = None


def _operator(row: Any) -> Operator:
    return Operator(
        row.id,
        row.name,
        tuple(row.domains.split(",")),
        row.certificate_sha256,
        row.relay_host,
        row.relay_port,
        row.local,
        row.active,
        row.submission_port,
        row.imap_port,
        row.submissions_port,
        row.imaps_port,
    )


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


class TrustSpace:
    """The registry, read at every SMTP command that names a domain or presents a certificate; the
    active operators are kept for `CACHE_SECONDS` (a registration made by this process is seen at
    once, one made elsewhere — `maison mss-operateur` — within that delay)."""

    CACHE_SECONDS = 2.0

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cached: tuple[float, list[Operator]] | None = None

    def register(
        self,
        id_: str,
        name: str,
        domains: list[str],
        certificate_sha256: str,
        relay_host: str,
        relay_port: int,
        *,
        local: bool,
        submission_port: int | None = None,
        imap_port: int | None = None,
        submissions_port: int | None = None,
        imaps_port: int | None = None,
    ) -> Operator:
        domains = [d.lower().strip() for d in domains if d.strip()]
        if not domains or any("@" in d or " " in d for d in domains):
            raise InvalidInput("domaines de l'opérateur invalides", code="operateur-domaines")
        if len(certificate_sha256) != 64:
            raise InvalidInput(
                "empreinte SHA-256 du certificat attendue (64 hexadécimaux)", code="operateur-certificat"
            )
        with self.db.write() as conn:
            taken = store.domains_of_others(conn, id_) & set(domains)
            if taken:
                raise Conflict(
                    f"domaine(s) déjà servi(s) par un autre opérateur : {', '.join(sorted(taken))}",
                    code="operateur-domaine-pris",
                )
            values = dict(
                name=name,
                domains=",".join(domains),
                certificate_sha256=certificate_sha256.lower(),
                relay_host=relay_host,
                relay_port=relay_port,
                local=local,
                active=True,
                submission_port=submission_port,
                imap_port=imap_port,
                submissions_port=submissions_port,
                imaps_port=imaps_port,
            )
            if store.operator_exists(conn, id_):
                store.update_operator(conn, id_, **values)
            else:
                store.insert_operator(conn, id_, datetime.now(UTC).isoformat(), **values)
            audit.Trail.write(
                conn,
                audit.SYSTEM,
                "mss.operateur.enregistrer",
                purpose="HOPERAT",
                detail={"operateur": id_, "domaines": domains, "local": local},
            )
        self._cached = None  # after the commit: a reader in between would cache the old registry
        return self.get(id_)

    def get(self, id_: str) -> Operator:
        with self.db.read() as conn:
            row = store.operator(conn, id_)
        if row is None:
            raise NotFound(f"opérateur {id_} inconnu de l'espace de confiance", code="operateur-inconnu")
        return _operator(row)

    def cached(self) -> bool:
        """Whether the registry can be answered from memory, without the database (so a caller on
        an event loop may ask inline rather than from a worker thread)."""
        cached = self._cached
        return cached is not None and time.monotonic() - cached[0] < self.CACHE_SECONDS

    def operators(self, *, fresh: bool = False) -> list[Operator]:
        """The active operators; `fresh`: read now, whatever is cached (the supervisor of `maison
        serve` starting an operator registered by another process)."""
        cached = self._cached
        if not fresh and cached is not None and time.monotonic() - cached[0] < self.CACHE_SECONDS:
            return cached[1]
        with self.db.read() as conn:
            found = [_operator(r) for r in store.active_operators(conn)]
        self._cached = (time.monotonic(), found)
        return found

    def for_domain(self, domain: str) -> Operator | None:
        domain = domain.lower()
        return next((o for o in self.operators() if domain in o.domains), None)

    def by_certificate(self, sha256: str) -> Operator | None:
        return next((o for o in self.operators() if o.certificate_sha256 == sha256.lower()), None)
