"""The hospital wing's HL7 v2 listener (issue 22), in a process of its own beside the HTTP workers.

`maison serve --mllp-port P` runs it: one MLLP listener (maison.formats.hl7v2.listener) whose
handlers are the wing's receivers keyed by message type — ADT to the stays and movements (IHE PAM
France 2.11), ORU and MDM to the PFI. Off loopback it is TLS (the house's certificate), as every
listener of the house; with `mllp_tls_ca` it requires the sender's certificate.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from maison.core.config import Settings
from maison.formats.hl7v2.listener import Handler, Listener

if TYPE_CHECKING:
    from maison.house import House

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def handlers(house: House) -> dict[str, Handler]:
    """The receivers of the hospital wing, by MSH-9.1."""
    from maison.etablissement.pfi.hl7_documents import from_settings
    from maison.etablissement.sejours.receiver import AdtReceiver

    table: dict[str, Handler] = {"ADT": AdtReceiver(house.sejours)}
    documents = from_settings(house.db, house.mss.blobs, house.settings)  # the PFI, when configured
    if documents is not None:
        table |= {"ORU": documents, "MDM": documents}
    return table


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The listener's TLS: required off loopback (as `maison.serving.serve` requires it of HTTP)."""
    from maison.core.pki import server_context

    if not settings.tls_cert:
        if settings.host not in LOOPBACK:
            raise ValueError("TLS (MAISON_TLS_CERT/MAISON_TLS_KEY) is required for MLLP outside loopback")
        return None
    ca = Path(settings.mllp_tls_ca) if settings.mllp_tls_ca else None
    return server_context(Path(settings.tls_cert), Path(settings.tls_key), ca, require_client=ca is not None)


def listener(house: House) -> Listener:
    s = house.settings
    return Listener(handlers(house), max_bytes=s.mllp_max_bytes, idle_timeout=float(s.mllp_idle_timeout))


async def _serve(house: House, context: ssl.SSLContext | None) -> None:
    s = house.settings
    mllp = listener(house)
    server = await mllp.start(s.host, s.mllp_port, ssl_context=context)
    print(f"HL7 v2 (MLLP{' sur TLS' if context else ''}) à l'écoute sur {s.host}:{s.mllp_port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
        mllp.close()  # every message taken is answered before exit


def run(settings: Settings) -> None:
    """The MLLP process: serve until terminated."""
    from maison.house import House, tune_interpreter

    tune_interpreter()
    context = tls_context(settings)
    house = House.open(settings, migrate=False)  # migrated once by `serve`
    try:
        asyncio.run(_serve(house, context))
    finally:
        house.close()
