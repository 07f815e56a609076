"""Run the house's HTTP app: one process, or one process per core sharing the port.

With several workers each process binds its own listening socket with SO_REUSEPORT, so the kernel
spreads new connections over the processes. A single socket shared after fork (uvicorn's own
`--workers`) lets whichever process wakes first accept a whole burst of connections: under wrk's
32 connections one process got nearly all of them and INSi throughput fell to one core's worth
(bench/insi.py).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from maison.admin.service import first_token
from maison.core.config import Settings

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")  # every address: no origin to name
EX_TEMPFAIL, EX_CONFIG = 75, 78  # sysexits.h: an operator's listener unavailable for now; its certificate wrong


def _worker(settings: Settings, reuse_port: bool) -> None:
    import uvicorn

    from maison.core.pki import server_context
    from maison.house import House, tune_interpreter
    from maison.serving_http import http_config, listening_socket

    tune_interpreter()
    house = House.open(settings, migrate=False)  # migrated once by `serve`
    # TLS ≥ 1.2 with AEAD suites only (uvicorn's own context would offer CBC suites), a deadline on
    # each request's head (slowloris), no Server banner: maison.serving_http
    context = server_context(Path(settings.tls_cert), Path(settings.tls_key), None) if settings.tls_cert else None
    server = uvicorn.Server(http_config(house.app(), context))
    try:
        server.run(sockets=[listening_socket(settings.host, settings.port, reuse_port=reuse_port)])
    finally:
        house.close()


def _mss(settings: Settings, operator: str) -> None:
    """One MSSanté operator the registry says this house runs: its SMTP, IMAP and relay in one loop
    (Twisted's reactor bound to it), in a process of its own beside the HTTP workers and the other
    operators (as separate organisations' servers would be; and one core each). Once it listens it
    prints where (issue 21 §1.4); a listener it cannot open ends it with EX_TEMPFAIL, said precisely,
    and the supervisor starts it again later (maison.partage.mss.supervisor)."""
    import asyncio

    sys.exit(asyncio.run(_run_operator(settings, operator)))


async def _run_operator(settings: Settings, operator: str) -> int:
    import asyncio

    from maison.house import House
    from maison.partage.mss.listeners import ListenerUnavailable, describe

    house = House.open(settings, migrate=False)
    try:
        runtimes = house.mss.registered_local_operators(only=operator)
        if not runtimes:
            log.warning(
                "opérateur MSSanté %s : certificat absent ou autre que celui de l'espace de confiance", operator
            )
            return EX_CONFIG
        try:
            await house.mss.start()
        except ListenerUnavailable as exc:
            log.warning("%s ; nouvel essai plus tard", exc.message)
            return EX_TEMPFAIL
        for runtime in runtimes:
            print(f"MSSanté {runtime.operator.id} à l'écoute : {describe(runtime.endpoints)}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        return 0
    finally:
        await house.mss.stop()
        house.close()


def _supervise(settings: Settings, ctx: Any, house: list[Any]) -> None:
    """Run the registry's MSSanté operators beside the house's processes until SIGTERM/SIGINT or
    until those end (maison.partage.mss.supervisor), then stop them all."""
    from maison.core.storage import Database
    from maison.partage.mss.supervisor import Supervisor
    from maison.partage.mss.trust import Operator, TrustSpace

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def launch(operator: Operator) -> Any:
        process = ctx.Process(target=_mss, args=(settings, operator.id), name=f"maison-mss-{operator.id}")
        process.start()
        return process

    db = Database(settings.effective_database_url)
    try:
        Supervisor(TrustSpace(db), launch).run(stop, alongside=house)
    finally:
        db.dispose()
        for process in house:
            if process.is_alive():
                process.terminate()
        for process in house:
            process.join()
    if not stop.is_set():  # the house's processes ended on their own (a port taken, a crash)
        raise SystemExit(next((p.exitcode for p in house if p.exitcode), 1))


def announce_admin_token(token: str | None) -> None:
    """Print the administrator token made at first start, once, to the console only: it goes to no
    log and is stored nowhere in clear (issue 21 §1; only its digest is kept, as for every key)."""
    if token:
        print(
            f"Jeton administrateur (affiché une seule fois ; `maison admin jeton` en crée un autre) : {token}",
            flush=True,
        )


def serve(settings: Settings, workers: int = 1) -> None:
    """Serve until interrupted. The schema is migrated once, before any worker starts."""
    if not settings.tls_cert and settings.host not in LOOPBACK:
        raise ValueError("TLS (MAISON_TLS_CERT/MAISON_TLS_KEY) is required outside loopback")
    if not settings.public_url and settings.host in WILDCARDS:
        # the house's origin, and so Pro Santé Connect's issuer, comes from the configuration only (never a
        # request's Host): listening on every address, it cannot be the listening address (issue 20 §3.1)
        raise ValueError("MAISON_PUBLIC_URL is required when listening on every address (host 0.0.0.0 or ::)")
    from maison.core.storage import Database
    from maison.migrations import migrate

    os.umask(0o077)  # the database, its WAL, blobs, exports and keys: the service account's alone
    db = Database(settings.effective_database_url)
    migrate(db, keystore=settings.keystore())  # 0022 moves the PSC signing keys to the key store
    announce_admin_token(first_token(db))
    db.dispose()
    if not settings.insi_url:  # the workers' in-memory INSi certificates come from the house PKI: made once, here
        from maison.core.pki import Authority

        Authority(settings.data_dir / "pki")
    ctx = multiprocessing.get_context("spawn")
    procs = []
    if settings.insi_port:  # INSi's mutual-TLS listener, one process per worker (maison.serving_insi)
        from maison import serving_insi

        tls = serving_insi.prepare(settings)
        procs += [
            ctx.Process(target=serving_insi.run, args=(settings, tls, workers > 1), name=f"maison-insi-{i}")
            for i in range(max(1, workers))
        ]
    if settings.mllp_port:  # the hospital wing's HL7 v2 listener (maison.serving_mllp), one process
        from maison import serving_mllp

        serving_mllp.tls_context(settings)  # refused here, before anything starts, when TLS is missing
        procs.append(ctx.Process(target=serving_mllp.run, args=(settings,), name="maison-mllp"))
    procs += [ctx.Process(target=_worker, args=(settings, workers > 1), name=f"maison-{i}") for i in range(workers)]
    for p in procs:
        p.start()
    _supervise(settings, ctx, procs)  # the MSSanté operators, registered before or while it runs
