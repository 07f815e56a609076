"""The demo's MSSanté scene, with standard mail clients on the outside.

Three operators of one trust space run side by side (the hospital's, a regional one for the GP,
Mon espace santé's). At discharge the hospital's PFI sends the lettre de liaison in one action to
the médecin traitant and to the patient's citizen mailbox (IHE_XDM.ZIP + PDF, MDN asked). The GP's
practice software reads its mailbox over IMAP (imaplib, the GP's Pro Santé Connect token) and
integrates the letter by the patient's qualified INS; the MDN goes back to the hospital. The patient
reads the letter in Mon espace santé and answers; the answer reaches the hospital's mailbox.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import imaplib
import smtplib
import socket
import ssl
import threading
import time

import httpx
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from maison.core.audit import SYSTEM, Actor
from maison.etablissement.pfi.envoi import Submission, dispatch
from maison.etablissement.pfi.mailbox import ImapAccount, ImapMailbox
from maison.etablissement.pfi.service import Pfi
from maison.formats import mdn
from maison.identite.ins.model import Individu, TraitsQuery
from maison.identite.psc.api import issuer_for
from maison.partage.mss import store
from maison.partage.mss.smtp import Endpoints

HOSPITAL_DOMAIN, REGIONAL_DOMAIN = "chu-demo.mssante.fr", "medecins-demo.mssante.fr"
PFI, PFI_PASSWORD = f"pfi@{HOSPITAL_DOMAIN}", "pfi-demonstration-2026"
GP_BOX, GP_APP, GP_APP_PASSWORD = (
    f"hugo.leroy@{REGIONAL_DOMAIN}",
    f"logiciel.leroy@{REGIONAL_DOMAIN}",
    "cabinet-demonstration-2026",
)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(house, address: str, count: int = 1, timeout: float = 20) -> list[sa.Row]:
    deadline = time.monotonic() + timeout
    while True:
        with house.db.read() as conn:
            rows = conn.execute(
                sa.select(store.mss_message)
                .where(store.mss_message.c.address == address)
                .order_by(store.mss_message.c.uid)
            ).all()
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def play(
    house,
    console: Console,
    individu: Individu,
    letter: bytes,
    gp_idnatps: str,
    gp_token: str,
    gp_structure: str,
    patient_token: str,
    base: str,
) -> bool:
    mss = house.mss
    mss.psc_issuer = issuer_for(base)  # the demo serves HTTP on a port of its own: PSC's issuer is there
    for id_, name, domain in (
        ("chu-demo", "CHU DE DEMONSTRATION", HOSPITAL_DOMAIN),
        ("regional-demo", "OPERATEUR REGIONAL", REGIONAL_DOMAIN),
        ("mes", "MON ESPACE SANTE", "patient.mssante.fr"),
    ):
        mss.local_operator(id_, name, [domain], Endpoints("127.0.0.1", _port(), _port(), _port()))
    mss.mailboxes.create(SYSTEM, PFI, "chu-demo", "APP", "chu-demo", "PFI du CHU", password=PFI_PASSWORD)
    mss.mailboxes.create(SYSTEM, GP_BOX, "regional-demo", "PER", gp_idnatps, "LEROY Hugo")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="mss-demo", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(mss.start(), loop).result(30)
    try:
        return _scene(house, console, individu, letter, gp_token, gp_structure, patient_token, base)
    finally:
        asyncio.run_coroutine_threadsafe(mss.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def _scene(
    house,
    console: Console,
    individu: Individu,
    letter: bytes,
    gp_token: str,
    gp_structure: str,
    patient_token: str,
    base: str,
) -> bool:
    mss = house.mss
    ca = str(mss.authority.cert_path)
    hospital = mss.runtimes["chu-demo"].endpoints
    sent = dispatch(
        letter,
        submission=Submission("127.0.0.1", hospital.submission, ca, PFI, PFI_PASSWORD),
        source_oid="1.2.250.1.213.4.1.9.1",
        medecin_traitant=GP_BOX,
    )
    citizen = f"{individu.active.value}@patient.mssante.fr"
    console.print(
        f"MSSanté: the hospital's PFI sends the lettre de liaison to {', '.join(sent.sent_to)} "
        f"(IHE_XDM.ZIP + PDF, MDN asked)"
    )
    _wait(house, GP_BOX)

    # The GP's software reads the mailbox over IMAP with the GP's Pro Santé Connect token (imaplib).
    regional = mss.runtimes["regional-demo"].endpoints
    imap = imaplib.IMAP4("127.0.0.1", regional.imap, timeout=20)
    imap.starttls(ssl_context=ssl.create_default_context(cafile=ca))
    imap.authenticate("XOAUTH2", lambda _c: f"user={GP_BOX}\x01auth=Bearer {gp_token}\x01\x01".encode())
    imap.select("INBOX")
    _typ, data = imap.fetch("1", "(BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])")
    fetched = data[0]
    assert isinstance(fetched, tuple), "one message fetched"
    headers = email.message_from_bytes(fetched[1], policy=email.policy.default)
    console.print(
        f"The GP's software reads its mailbox over IMAP (XOAUTH2, PSC token): from {headers['From']}, "
        f"« {headers['Subject']} »"
    )
    imap.logout()

    # ... and integrates it by the patient's qualified INS in the practice's patient index.
    sent_mdn: list[bytes] = []

    def submit(raw: bytes, sender: str, recipients: list[str]) -> None:  # the practice's software submits by SMTP
        with smtplib.SMTP("127.0.0.1", regional.submission, timeout=20) as client:
            client.starttls(context=ssl.create_default_context(cafile=ca))
            client.ehlo()
            client.auth(
                "XOAUTH2",
                lambda challenge=None: f"user={GP_BOX}\x01auth=Bearer {gp_token}\x01\x01" if not challenge else "",
            )
            client.sendmail(sender, recipients, raw)
        sent_mdn.append(raw)

    desk = Actor(person="secretariat", structure=gp_structure, software="logiciel-cabinet")
    t = individu.traits  # the patient is known to the practice, her identity qualified (INSi + ID card)
    local = house.patients.admit(desk, gp_structure, "C00001", t)
    house.patients.record_insi_result(
        desk,
        local.id,
        house.insi.referential.search_by_traits(TraitsQuery(t.nom_naissance, t.prenoms[:1], t.sexe, t.date_naissance)),
    )
    house.patients.check_document(desk, local.id, "CN")
    # it reads the mailbox over IMAP (the GP's token) and flags what it integrated `$Integre`
    mailbox = ImapMailbox(ImapAccount("127.0.0.1", regional.imap, GP_BOX, gp_token, ca, "XOAUTH2"))
    pfi = Pfi(
        house.db,
        mss.blobs,
        house.settings.reference_path,
        gp_structure,
        mailbox,
        submit,
        address=GP_BOX,
        domain=REGIONAL_DOMAIN,
        patients=house.patients,
    )
    outcomes = pfi.run_once()
    mailbox.close()
    integrated = [d for o in outcomes for d in o.documents if d.code is None]
    console.print(
        f"The GP's software integrates {len(integrated)} document(s) by qualified INS "
        f"(worklist: {len(pfi.worklist(desk))}); MDN sent back to the hospital"
    )
    answers = _wait(house, PFI, 1)
    disposition = mdn.read_mdn(mss.delivery.content(answers[0].sha256)) if answers else None

    # The patient reads the letter in Mon espace santé and answers.
    espace = httpx.Client(
        base_url=f"{base}/espace/messagerie", headers={"Authorization": f"Bearer {patient_token}"}, timeout=30
    )
    inbox = espace.get("/").json()["messages"]
    table = Table(title="Messagerie de Mon espace santé — ce que la patiente lit")
    for col in ("reçu", "de", "objet", "pièces"):
        table.add_column(col)
    for m in inbox:
        table.add_row(m["recu"][:19], m["expediteur"], m["objet"], ", ".join(m["pieces"]))
    console.print(table)
    answered = (
        espace.post(f"/{inbox[0]['uid']}/reponse", json={"texte": "Merci, je prends rendez-vous."}) if inbox else None
    )
    replies = _wait(house, PFI, 2)
    console.print(
        f"The patient answers from Mon espace santé: the hospital's mailbox now holds {len(replies)} "
        f"message(s) (the GP's MDN and the patient's answer)"
    )
    return (
        sorted(sent.sent_to) == sorted([GP_BOX, citizen])
        and len(integrated) == 1
        and disposition is not None
        and disposition.processed
        and disposition.error_code is None
        and answered is not None
        and answered.status_code == 201
        and len(replies) >= 2
        and bool(sent_mdn)
    )
