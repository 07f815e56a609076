"""What the national operators do at their own desks, where the house offers no protocol.

The scenes drive the house only over its protocols; the acts below have none, because in real life
they happen on an operator's back-office screen or by a form and a signature, not by a client's
call: habilitating a structure and its software to INSi, registering a client software with Pro
Santé Connect, activating a professional's e-CPS (the app scanning a QR code at the counter),
opening a Mon espace santé account (done by the Assurance Maladie), reading the mail that carries
the patient's one-time code (the house keeps an outbox, it runs no mail server for citizens),
setting up MSSanté operators and their mailboxes, loading the directory (the RPPS extraction).
Where a `maison` command does the same for the house's operator, it is named; the function calls
what that command calls, in process, rather than paying a process start for each act.

Every in-process call into a national service is here, so the exceptions to the demo's rule stand
in one place with their reasons (issue 19 §1.4); the scenes import this module, never a service.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

from maison.core import pki
from maison.core.actor import Actor, KeyScope
from maison.core.audit import SYSTEM
from maison.core.auth import issue_key
from maison.house import House
from maison.identite.ins.model import Environment
from maison.partage.mss.smtp import Endpoints
from maison.sandbox.api import FILE
from maison.sandbox.builder import Builder
from maison.sandbox.catalogue import Catalogue, catalogue
from maison.seeding.directory import load
from maison.serving_insi import authority


def habilitate_insi(
    house: House, structure: str, structure_name: str, idam: str, software_name: str, category: str = ""
) -> None:
    """The CNAM habilitates a structure and authorises a software (its IDAM) to call INSi: a
    convention and an authorisation number, no protocol. The software's category is its row of the
    maison table (seed 001 L196-216), against which the observatory checks what it did."""
    house.insi.register_software(idam, software_name, "Maison", category=category)
    house.insi.register_structure(structure, structure_name)


def sandbox(house: House, mss_port: int) -> Catalogue:
    """The sandbox's dataset (`maison sandbox`, README § Test your software against Maison), built as that
    command builds it — through the administrator's acts — with its catalogue beside the database, so
    that the demo's house serves it at /sandbox as a sandbox house does."""
    content = catalogue(Environment(house.settings.ins_environment), mss_port)
    Builder(content, house.admin, house.dmp, house.ordonnance, house.terminology).build()
    (house.settings.data_dir / FILE).write_bytes(content.as_json())
    return content


def api_key(house: House, structure: str, software: str, person: str, role: str, scope: KeyScope) -> str:
    """A structure's API key, as `maison cle emettre` issues it (the house's administrator)."""
    return issue_key(house.db, structure, software, person, role, scope)


def insi_certificate(house: House, structure: str, idam: str) -> pki.Issued:
    """The structure's INSi software certificate, as `maison insi-certificat` issues it."""
    admin = Actor(person="system:demo", structure=structure, software="maison-demo", role="administrateur")
    return house.insi.issue_certificate(admin, authority(house.settings), structure, idam)


def psc_client(house: House, name: str, redirect: str) -> tuple[str, str]:
    """A client software registered with Pro Santé Connect (a form at the ANS): (client_id, secret)."""
    return house.psc.register_client(name, [redirect])


def ecps_seed(house: House, idnatps: str) -> str:
    """The professional activates her e-CPS: the TOTP seed of the QR code her app scans."""
    return parse_qs(urlsplit(house.psc.enroll_ecps(idnatps)).query)["secret"][0]


def mes_account(house: House, login: str, ins: str, birth_date: str, password: str, email: str) -> None:
    """The Assurance Maladie opens the patient's Mon espace santé account (her activation)."""
    house.patient_login.open_account(login, ins, birth_date, password, email=email)


def mes_code(house: House, email: str) -> str:
    """The six-digit code in the last mail the patient received: the house keeps what it sends to
    citizens in an outbox (no mail server of theirs to read over IMAP)."""
    sent = re.search(r"\b(\d{6})\b", house.patient_login.outbox(email)[-1]["body"])
    assert sent is not None, "the code sent to the patient"
    return sent.group(1)


def directory(house: House, *groups: list[dict]) -> None:
    """Entries added to the Annuaire Santé by its operator (an RPPS extraction), through the
    seeding's load: the directory's own index writes them."""
    load(house.db, *groups)


def mss_operators(house: House, operators: list[tuple[str, str, str, Endpoints]]) -> str:
    """Local MSSanté operators of the trust space (`maison mss-operateur`): (id, name, domain,
    endpoints); their users log in with Pro Santé Connect, whose tokens carry the house's configured
    issuer (`House.psc_issuer`), the one SMTP and IMAP check. Returns the trust space's CA
    certificate, which every client pins."""
    for id_, name, domain, endpoints in operators:
        house.mss.local_operator(id_, name, [domain], endpoints)
    return str(house.mss.authority.cert_path)


def mss_mailbox(
    house: House, address: str, operator: str, kind: str, owner: str, name: str, password: str | None = None
) -> None:
    """A mailbox created by its operator (`maison mss-bal`)."""
    house.mss.mailboxes.create(SYSTEM, address, operator, kind, owner, name, password=password)


@contextmanager
def mss_running(house: House) -> Iterator[None]:
    """The local operators' SMTP and IMAP listeners, on an event loop of their own (what `maison
    serve` runs beside the HTTP port)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="mss-demo", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(house.mss.start(), loop).result(30)
    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(house.mss.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
