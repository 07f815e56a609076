"""The house's MSSanté: the trust space, mailboxes, delivery, and the local operators it runs.

Several operators run side by side (a hospital's, a regional one, Mon espace santé's) — in one event
loop (the tests) or each in a process of its own (`maison serve`): each has its domains, its
certificate issued by the trust space's authority, its submission, relay and IMAP listeners (the
users' both with STARTTLS and, where it has those ports, with implicit TLS: RFC 8314), its outbound
relay, and publishes its new mailboxes in the Annuaire.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from maison.core.audit import SYSTEM
from maison.core.blobs import Blobs
from maison.core.errors import InvalidInput
from maison.core.storage import Database
from maison.formats import mime
from maison.identite.psc.provider import Provider
from maison.partage.mss import citizen, imap, smtp
from maison.partage.mss.delivery import Delivery
from maison.partage.mss.listeners import ListenerUnavailable, listeners_of
from maison.partage.mss.mailboxes import Mailboxes
from maison.partage.mss.pki import Authority
from maison.partage.mss.publication import AnnuaireAccess, Publication, Retries, publish_pending
from maison.partage.mss.relay import relay_forever, until
from maison.partage.mss.smtp import Endpoints
from maison.partage.mss.trust import TrustSpace

log = logging.getLogger(__name__)


_DOMAIN = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]")


@dataclass
class Mss:
    db: Database
    blobs: Blobs
    pki_dir: Path
    psc: Provider
    psc_issuer: str
    max_message_bytes: int = 20_000_000
    has_espace: Callable[[str], bool] | None = None  # for the operator serving patient.mssante.fr
    publish_interval: float = 5.0  # seconds between two publications of new mailboxes in the Annuaire
    publish_retry_ceiling: float = 60.0  # at most this long between two attempts of a failed publication
    annuaire_url: str = ""  # this house's Annuaire where it is served now (an operator's OWN access)
    runtimes: dict[str, smtp.Runtime] = field(default_factory=dict)
    _tasks: list[asyncio.Task] = field(default_factory=list)
    _imap_ports: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.trust = TrustSpace(self.db)
        self.mailboxes = Mailboxes(self.db)
        self.delivery = Delivery(self.db, self.blobs)
        self.authority = Authority(self.pki_dir)

    def local_operator(
        self, id_: str, name: str, domains: list[str], endpoints: Endpoints, *, annuaire: AnnuaireAccess | None = None
    ) -> smtp.Runtime:
        """Register a local operator of the trust space, with a certificate for its domains (kept:
        the other operators know it by its fingerprint), and where it publishes its mailboxes. A domain
        is an ASCII DNS name (an internationalised one in its A-label, RFC 5890): the certificate and
        SMTP carry no other."""
        for domain in domains:
            if not isinstance(domain, str) or not _DOMAIN.fullmatch(domain.lower()):
                raise InvalidInput(
                    f"domaine invalide : {str(domain)[:80]!r} (nom DNS ASCII, en A-label s'il est internationalisé)",
                    code="domaine-invalide",
                    expression="domaines",
                )
        if annuaire is not None:
            annuaire.save(self.annuaire_access_path(id_))
        issued = self.authority.issued(id_) or self.authority.issue(id_, domains, name)
        operator = self.trust.register(
            id_,
            name,
            domains,
            issued.fingerprint(),
            endpoints.host,
            endpoints.relay,
            local=True,
            submission_port=endpoints.submission,
            imap_port=endpoints.imap or None,
            submissions_port=endpoints.submissions or None,
            imaps_port=endpoints.imaps or None,
        )
        return self._runtime(operator, issued, endpoints)

    def annuaire_access(self, operator: str) -> AnnuaireAccess | None:
        """Where the operator publishes: the Annuaire it was given, or this house's where it is served."""
        return AnnuaireAccess.load(self.annuaire_access_path(operator), own=self.annuaire_url)

    def annuaire_access_path(self, operator: str) -> Path:
        return self.pki_dir / f"{operator}.annuaire.json"

    def registered_local_operators(self, *, only: str | None = None) -> list[smtp.Runtime]:
        """The runtimes of the local operators the registry holds (what `maison serve` runs), or of
        the one named `only`."""
        out = []
        for operator in self.trust.operators():
            if only is not None and operator.id != only:
                continue
            issued = self.authority.issued(operator.id) if operator.local else None
            if issued is None or issued.fingerprint() != operator.certificate_sha256:
                continue
            endpoints = Endpoints(
                operator.relay_host,
                operator.submission_port or 0,
                operator.relay_port,
                operator.imap_port or 0,
                operator.submissions_port or 0,
                operator.imaps_port or 0,
            )
            out.append(self._runtime(operator, issued, endpoints))
        return out

    def _runtime(self, operator, issued, endpoints: Endpoints) -> smtp.Runtime:
        citizens = mime.CITIZEN_DOMAIN in operator.domains
        runtime = smtp.Runtime(
            operator,
            issued,
            self.authority.cert_path,
            self.trust,
            self.mailboxes,
            self.delivery,
            self.psc,
            self.psc_issuer,
            endpoints,
            self.max_message_bytes,
            self.has_espace if citizens else None,
        )
        if citizens and self.mailboxes.find(citizen.TEST_MAILBOX) is None:
            self.mailboxes.create(
                SYSTEM,
                citizen.TEST_MAILBOX,
                operator.id,
                "APP",
                "mon-espace-sante",
                "Boîte de test SUN-ES PS4.1 (réponse automatique)",
                password=secrets.token_urlsafe(24),
            )
        self.runtimes[operator.id] = runtime
        return runtime

    async def start(self) -> None:
        """Listen for every local operator and run their relays, in the running loop."""
        for runtime in self.runtimes.values():
            await smtp.start(runtime)
            self._listen_imap(runtime)
            self._tasks.append(asyncio.create_task(relay_forever(runtime), name=f"relais-{runtime.operator.id}"))
            access = self.annuaire_access(runtime.operator.id)
            if access is not None and mime.CITIZEN_DOMAIN not in runtime.operator.domains:
                self._tasks.append(
                    asyncio.create_task(self._publish_forever(runtime, access), name=f"annuaire-{runtime.operator.id}")
                )

    def _listen_imap(self, runtime: smtp.Runtime) -> None:
        """The operator's IMAP: STARTTLS (port 143's role) and TLS from the first byte (port 993's,
        RFC 8314 §3.3), each where it has the port."""
        from twisted.internet.error import CannotListenError

        endpoints = runtime.endpoints
        if endpoints.imap or endpoints.imaps:
            imap.install_reactor(asyncio.get_running_loop())
        for listener in listeners_of(endpoints):
            if listener.protocol != "IMAP":
                continue
            try:
                port = imap.listen(runtime, listener.port, listener.host, implicit_tls=listener.role == "imap-tls")
            except CannotListenError as exc:  # Twisted's word for the port taken (its socket error inside)
                reason = getattr(exc.socketError, "strerror", None) or str(exc.socketError)
                raise ListenerUnavailable(runtime.operator.id, listener, reason) from exc
            self._imap_ports.append(port)

    async def _publish_forever(self, runtime: smtp.Runtime, access: AnnuaireAccess) -> None:
        """Publish the operator's new mailboxes in the Annuaire, every `publish_interval` seconds; a
        failed publication is tried again after `publish_interval`, then twice as long each time, up
        to `publish_retry_ceiling` (issue 21 §1.4: the Annuaire may be down when the operator starts)."""
        publication = Publication(access.url, access.api_key)
        retries = Retries(self.publish_interval, self.publish_retry_ceiling)
        operator = runtime.operator.id
        try:
            while not runtime.stopping.is_set():
                try:
                    await asyncio.to_thread(publish_pending, self.mailboxes, operator, publication, retries)
                except Exception:  # noqa: BLE001 — logged; the next pass tries again
                    log.exception("publication Annuaire de l'opérateur %s", operator)
                await until(runtime.stopping, self.publish_interval)
        finally:
            publication.close()

    async def stop(self) -> None:
        """Stop listening and relaying; a relay in the middle of a delivery gets a few seconds."""
        for runtime in self.runtimes.values():
            runtime.stopping.set()
            runtime.wake.set()
        if self._tasks:
            _done, late = await asyncio.wait(self._tasks, timeout=5)
            for task in late:
                task.cancel()
        self._tasks.clear()
        for port in self._imap_ports:
            stopped = port.stopListening()  # a Deferred (Twisted) fired once the socket is closed
            if stopped is not None:
                await asyncio.wait([stopped.asFuture(asyncio.get_running_loop())], timeout=2)
        self._imap_ports.clear()
        for runtime in self.runtimes.values():
            await smtp.stop(runtime)
