"""The demo's INSi set-up: the hospital's DPI calls INSi as a real one must, over mutual TLS.

The structure's software certificate is issued by the house PKI (what `maison insi-certificat`
does), and INSi's own listener (`maison.serving_insi`) is started beside the house port: the
demo's INSi calls are authenticated by certificate, not by the public numbers of ContexteLPS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
from rich.console import Console

from maison.core import pki
from maison.demo import backoffice
from maison.etablissement.insi.client import ClientIdentity, InsiClient
from maison.house import House
from maison.serving_insi import insi_server, prepare


def start(
    house: House, structure: str, idam: str, port: int, console: Console
) -> tuple[InsiClient, Callable[[], None]]:
    """INSi's mutual-TLS listener on `port`, and the DPI's client holding its structure's certificate."""
    issued = backoffice.insi_certificate(house, structure, idam)
    tls = prepare(house.settings)
    server = insi_server(house, tls, host="127.0.0.1", port=port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    http = httpx.Client(verify=pki.client_context(tls.client_ca, issued), timeout=10)
    console.print(
        f"INSi on https://127.0.0.1:{port}/insi/lps (mutual TLS): the DPI presents "
        f"{issued.cert.name} (SHA-256 {issued.fingerprint()[:16]}…)"
    )

    def stop() -> None:
        http.close()
        server.should_exit = True
        thread.join(timeout=5)

    return InsiClient(f"https://127.0.0.1:{port}/insi/lps", ClientIdentity(structure, idam), http=http), stop
