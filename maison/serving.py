"""Run the house's HTTP app: one process, or one process per core sharing the port.

With several workers each process binds its own listening socket with SO_REUSEPORT, so the kernel
spreads new connections over the processes. A single socket shared after fork (uvicorn's own
`--workers`) lets whichever process wakes first accept a whole burst of connections: under wrk's
32 connections one process got nearly all of them and INSi throughput fell to one core's worth
(bench/insi.py).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

from maison.admin.service import first_token
from maison.core.config import Settings

LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")  # every address: no origin to name


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
    operators (as separate organisations' servers would be; and one core each)."""
    import asyncio

    from maison.house import House

    async def run() -> None:
        house = House.open(settings, migrate=False)
        house.mss.registered_local_operators(only=operator)
        await house.mss.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await house.mss.stop()
            house.close()

    asyncio.run(run())


def _local_operators(settings: Settings) -> list[str]:
    """The active operators this house runs, from the trust space's registry (by id)."""
    from maison.core.storage import Database
    from maison.partage.mss.trust import TrustSpace

    db = Database(settings.effective_database_url)
    try:
        return [operator.id for operator in TrustSpace(db).operators() if operator.local]
    finally:
        db.dispose()


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
    procs = [
        ctx.Process(target=_mss, args=(settings, operator), name=f"maison-mss-{operator}")
        for operator in _local_operators(settings)
    ]
    if settings.insi_port:  # INSi's mutual-TLS listener, one process per worker (maison.serving_insi)
        from maison import serving_insi

        tls = serving_insi.prepare(settings)
        procs += [
            ctx.Process(target=serving_insi.run, args=(settings, tls, workers > 1), name=f"maison-insi-{i}")
            for i in range(max(1, workers))
        ]
    if workers <= 1 and not procs:
        _worker(settings, False)
        return
    procs += [ctx.Process(target=_worker, args=(settings, workers > 1), name=f"maison-{i}") for i in range(workers)]
    for p in procs:
        p.start()

    def _stop(*_args: object) -> None:
        for p in procs:
            if p.is_alive():
                p.terminate()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    for p in procs:
        p.join()
