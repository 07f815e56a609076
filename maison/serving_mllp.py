"""The hospital wing's HL7 v2 listener (issue 22), in a process of its own beside the HTTP workers.

`maison serve --mllp-port P` runs it: one MLLP listener (maison.formats.hl7v2.listener) whose
handlers are the wing's receivers keyed by message type — ADT to the stays and movements (IHE PAM
France 2.11), ORU and MDM to the PFI. Off loopback it is TLS (the house's certificate), as every
listener of the house; with `mllp_tls_ca` it requires the sender's certificate.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from maison.core.config import Settings
from maison.formats.hl7v2.listener import Handler, Listener

if TYPE_CHECKING:
    from maison.etablissement.sejours.dmp_information import DmpInformation
    from maison.house import House

LOOPBACK = ("127.0.0.1", "localhost", "::1")
STOP_GRACE_S = 10.0  # on SIGTERM, for the messages being handled to be answered (they take milliseconds)


def handlers(house: House) -> dict[str, Handler]:
    """The receivers of the hospital wing, by MSH-9.1."""
    from maison.etablissement.pfi.hl7_documents import from_settings
    from maison.etablissement.sejours.receiver import AdtReceiver

    served = frozenset(f.strip() for f in house.settings.mllp_structures.split(",") if f.strip())
    table: dict[str, Handler] = {"ADT": AdtReceiver(house.sejours, dmp_information(house), served)}
    documents = from_settings(house.db, house.mss.blobs, house.settings)  # the PFI, when configured
    if documents is not None:
        table |= {"ORU": documents, "MDM": documents}
    return table


def dmp_information(house: House) -> DmpInformation | None:
    """The ZFA states' way to the DMP: for the structure whose DMP access the PFI is configured with
    (pfi_structure, pfi_dmp_url, pfi_dmp_authorization): the structure's software key, which the DMP
    takes the patient's information from for that structure ("Le ES/PS peut alimenter", seed 002
    L555-559; `Dmp.record_information`). A refusal is recorded as the state's propagation
    (refuse-<status>) and audited."""
    from maison.etablissement.sejours.dmp_information import DmpInformation

    s = house.settings
    if not (s.pfi_structure and s.pfi_dmp_url):
        return None
    authorization = {"Authorization": s.pfi_dmp_authorization} if s.pfi_dmp_authorization else {}
    motif = house.namespace.structure("dmp-motif-opposition-alimentation")  # the DMP's extension (same house)
    return DmpInformation(house.sejours, s.pfi_structure, s.pfi_dmp_url, lambda: dict(authorization), motif)


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
    propagation = getattr(mllp.handlers.get("ADT"), "dmp", None)
    if propagation is not None:  # the ZFA states a stop or a network failure left untransmitted
        propagation.sweep()
    server = await mllp.start(s.host, s.mllp_port, ssl_context=context)
    print(f"HL7 v2 (MLLP{' sur TLS' if context else ''}) à l'écoute sur {s.host}:{s.mllp_port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await mllp.stop(server, grace=STOP_GRACE_S)  # every message taken is answered before exit
        mllp.close()
        if propagation is not None:
            # the states not sent yet keep their mark and go at the next start (`sweep`): only the one
            # being sent is waited for (its HTTP timeout bounds it), not a queue of them
            propagation.executor.shutdown(wait=True, cancel_futures=True)
            propagation.close()


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
    _exit_at_once()


def _exit_at_once() -> None:
    """End the process without the interpreter's finalization: once every message is answered, the
    database released and the output flushed, freeing the house's heap object by object took 3-4 s
    more (measured on 2 cores: after the last atexit handler, before the process ended), which a
    SIGTERM's stop should not wait for."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
