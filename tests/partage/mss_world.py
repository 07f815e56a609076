"""Two MSSanté operators of one trust space, running in a thread's event loop on loopback ports."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

from maison.core.audit import SYSTEM
from maison.core.blobs import Blobs
from maison.formats.mime import CITIZEN_DOMAIN
from maison.partage.mss.citizen import espace_open
from maison.partage.mss.publication import AnnuaireAccess
from maison.partage.mss.service import Mss
from maison.partage.mss.smtp import Endpoints
from tests.conftest import free_port
from tests.partage.world import PROS

HOPITAL_DOMAIN = "chu-test.mssante.fr"
MEDECIN_DOMAIN = "medecin.mssante.fr"
PFI = f"pfi@{HOPITAL_DOMAIN}"
PFI_PASSWORD = "mot-de-passe-pfi-2026"
GP = f"claire.martin@{MEDECIN_DOMAIN}"


@dataclass
class MssWorld:
    mss: Mss
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    started: bool = True  # False: registered only, another process (`maison serve`) runs the operators

    def endpoints(self, operator: str) -> Endpoints:
        return self.mss.runtimes[operator].endpoints

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        if self.started:
            self.run(self.mss.stop())


_LOOP: list = []


def _loop() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    """One loop for the whole test session: Twisted's reactor is bound to one loop per process."""
    if not _LOOP:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="mss-loop", daemon=True)
        thread.start()
        _LOOP.extend([loop, thread])
    return _LOOP[0], _LOOP[1]


def _all_listeners() -> Endpoints:
    """Submission and IMAP with STARTTLS and with implicit TLS (RFC 8314), and the relay port."""
    return Endpoints("127.0.0.1", free_port(), free_port(), free_port(), submissions=free_port(), imaps=free_port())


def start_world(
    house,
    tmp_path: Path,
    psc_issuer: str,
    annuaire: AnnuaireAccess | None = None,
    domains: tuple[str, ...] = (),
    *,
    start: bool = True,
) -> MssWorld:
    """`annuaire`: where the regional operator ("medecins") publishes its mailboxes (none otherwise);
    `domains`: more domains it serves (the trust space of a test that names other addresses);
    `start` False: the operators registered (certificates, ports, mailboxes) but not run here, for a
    `maison serve` of the same house to run them (its supervisor starts the registry's local operators)."""
    # the same message store and authority as the house's HTTP side (Mon espace santé's messagerie)
    data = house.settings.data_dir / "mss"
    mss = Mss(
        house.db,
        Blobs(data / "messages", house.blob_key),
        data / "pki",
        house.psc,
        psc_issuer,
        max_message_bytes=2_000_000,
        has_espace=espace_open(house.db, house.insi.referential),
        publish_interval=0.2,
    )
    mss.local_operator("chu-test", "CHU DE TEST", [HOPITAL_DOMAIN], _all_listeners())
    mss.local_operator(
        "medecins", "OPERATEUR REGIONAL", [MEDECIN_DOMAIN, *domains], _all_listeners(), annuaire=annuaire
    )
    mss.local_operator("mes", "MON ESPACE SANTE", [CITIZEN_DOMAIN], Endpoints("127.0.0.1", free_port(), free_port()))
    mss.mailboxes.create(SYSTEM, PFI, "chu-test", "APP", "1750000019", "PFI du CHU", password=PFI_PASSWORD)
    mss.mailboxes.create(SYSTEM, GP, "medecins", "PER", PROS["generaliste"].idnatps, "MARTIN Claire")
    loop, thread = _loop()
    world = MssWorld(mss, loop, thread, started=start)
    if start:
        world.run(mss.start())
    return world
