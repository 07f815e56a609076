"""The demo's MSSanté scene, with standard mail clients on the outside.

Three operators of one trust space run side by side (the hospital's, a regional one for the GP,
Mon espace santé's). At discharge the hospital's DPI asks its PFI in HL7 v2 (MDM^T02, `flux`) to send
the lettre de liaison to the médecin traitant and to the patient's citizen mailbox; the PFI sends
it in one action (IHE_XDM.ZIP + PDF, MDN asked) and answers the DPI with a ZAM^Z02 per delivery,
then a ZAM^Z03 once the GP's MDN says it was read. The GP's
practice software reads its mailbox over IMAP (imaplib, the GP's Pro Santé Connect token) and
integrates the letter by the patient's qualified INS; the MDN goes back to the hospital. The patient
reads the letter in Mon espace santé and answers; the answer reaches the hospital's mailbox.

What arrives where is read as the mailboxes' owners read it, over IMAP (the hospital's applicative
mailbox with its password, the GP's with her token), never in the operators' tables. The practice
knows the patient the way any practice does: its desk registers her in its patient index over FHIR,
the index asks INSi, the desk checks her identity card.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.table import Table

from maison.core.actor import KeyScope
from maison.core.blobs import Blobs
from maison.demo import backoffice
from maison.demo.admissions import desk_patient, identity_status
from maison.demo.dmp import LETTRE
from maison.demo.flux import Flows
from maison.etablissement.pfi.envoi import Submission
from maison.etablissement.pfi.mailbox import ImapAccount, ImapMailbox
from maison.etablissement.pfi.service import Pfi
from maison.formats import mdn
from maison.formats.insi import Individu
from maison.house import House
from maison.partage.mss.smtp import Endpoints

HOSPITAL_DOMAIN, REGIONAL_DOMAIN = "chu-demo.mssante.fr", "medecins-demo.mssante.fr"
PFI, PFI_PASSWORD = f"pfi@{HOSPITAL_DOMAIN}", "pfi-demonstration-2026"
GP_BOX = f"hugo.leroy@{REGIONAL_DOMAIN}"
PRACTICE_IDAM = "MAISON-CABINET-DEMO"  # the practice software's INSi authorisation number


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Mailbox:
    """A mailbox as its owner's mail client opens it: IMAP with STARTTLS, then a password (LOGIN)
    or a Pro Santé Connect token (XOAUTH2)."""

    port: int
    ca: str
    address: str
    password: str = ""
    token: str = ""

    def open(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=20)
        imap.starttls(ssl_context=ssl.create_default_context(cafile=self.ca))
        if self.token:
            oauth = f"user={self.address}\x01auth=Bearer {self.token}\x01\x01".encode()
            imap.authenticate("XOAUTH2", lambda _challenge: oauth)
        else:
            imap.login(self.address, self.password)
        return imap

    def wait(self, count: int = 1, timeout: float = 20) -> list[bytes]:
        """The INBOX's messages (whole, not marked seen) once it holds `count` of them, or what it
        holds at the deadline."""
        imap = self.open()
        try:
            deadline = time.monotonic() + timeout
            while True:
                _typ, data = imap.select("INBOX", readonly=True)
                held = int(data[0] or 0)
                if held >= count or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            if not held:
                return []
            _typ, fetched = imap.fetch(f"1:{held}", "(BODY.PEEK[])")
            return [part[1] for part in fetched if isinstance(part, tuple)]
        finally:
            imap.logout()


def play(
    house: House,
    console: Console,
    individu: Individu,
    letter: bytes,
    gp_idnatps: str,
    gp_token: str,
    gp_structure: str,
    patient_token: str,
    base: str,
    flows: Flows,
) -> bool:
    hospital, regional, citizens = (Endpoints("127.0.0.1", _port(), _port(), _port()) for _ in range(3))
    ca = backoffice.mss_operators(
        house,
        [
            ("chu-demo", "CHU DE DEMONSTRATION", HOSPITAL_DOMAIN, hospital),
            ("regional-demo", "OPERATEUR REGIONAL", REGIONAL_DOMAIN, regional),
            ("mes", "MON ESPACE SANTE", "patient.mssante.fr", citizens),
        ],
    )
    backoffice.mss_mailbox(house, PFI, "chu-demo", "APP", "chu-demo", "PFI du CHU", password=PFI_PASSWORD)
    backoffice.mss_mailbox(house, GP_BOX, "regional-demo", "PER", gp_idnatps, "LEROY Hugo")
    # The practice's software is habilitated to INSi and holds its structure's key for its own index.
    backoffice.habilitate_insi(house, gp_structure, "CABINET DU DR LEROY", PRACTICE_IDAM, "Logiciel de cabinet", "LGC")
    key = backoffice.api_key(house, gp_structure, PRACTICE_IDAM, "secretariat", "accueil", KeyScope.ACCUEIL)
    practice = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    with backoffice.mss_running(house):
        return _scene(
            house,
            console,
            individu,
            letter,
            gp_token,
            gp_structure,
            patient_token,
            base,
            practice,
            ca,
            hospital,
            regional,
            flows,
        )


def _scene(
    house: House,
    console: Console,
    individu: Individu,
    letter: bytes,
    gp_token: str,
    gp_structure: str,
    patient_token: str,
    base: str,
    practice: httpx.Client,
    ca: str,
    hospital: Endpoints,
    regional: Endpoints,
    flows: Flows,
) -> bool:
    # The DPI asks the PFI (MDM^T02, MetaDMP/MSS) to send the letter to the GP and to the patient's
    # citizen mailbox, with both business acknowledgements; the PFI sends it from its applicative
    # mailbox (IHE_XDM.ZIP + PDF, MDN asked) and tells the DPI each delivery (ZAM^Z02).
    flows.use_mssante(Submission("127.0.0.1", hospital.submission, ca, PFI, PFI_PASSWORD))
    citizen = f"{individu.active.value}@patient.mssante.fr"
    asked = flows.dpi_sends(
        "lettre de liaison au médecin traitant et à la patiente",
        [letter],
        LETTRE.code,
        LETTRE.display,
        oru=False,
        flags={"DESTMSSANTEPS": "Y", "DESTMSSANTEPAT": "Y", "ACK_RECEPTION": "Y", "ACK_LECTURE_MSS": "Y"},
        recipients=(GP_BOX,),
        patient_box=citizen,
    )
    z02 = [z for z in flows.wait_zams("Z02", 2) if str(z.segment("OBX")[5]).startswith("Y")]
    console.print(
        f"MSSanté: the hospital's PFI sends the lettre de liaison to {len(z02)} mailbox(es) "
        "(IHE_XDM.ZIP + PDF, MDN asked), ZAM^Z02 at the DPI for each"
    )
    gp_box = Mailbox(regional.imap, ca, GP_BOX, token=gp_token)
    gp_box.wait(1)

    # The GP's software reads the mailbox over IMAP with the GP's Pro Santé Connect token (imaplib).
    imap = gp_box.open()
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

    # The patient is known to the practice, her identity qualified (INSi + ID card), over FHIR.
    created = practice.post("/fhir/Patient", json=desk_patient("C00001", individu.traits))
    created.raise_for_status()
    local = created.json()["id"]
    practice.post(f"/fhir/Patient/{local}/$recuperer-ins").raise_for_status()
    checked = practice.post(
        f"/fhir/Patient/{local}/$verifier-piece",
        json={"resourceType": "Parameters", "parameter": [{"name": "typePiece", "valueCode": "CN"}]},
    )
    checked.raise_for_status()
    qualified = identity_status(checked.json()) == "QUAL"
    # The practice's PFI reads the mailbox over IMAP (the GP's token) and flags what it integrated
    # `$Integre`; it files documents into the practice's own patient index and document store,
    # which are the PFI's own software (the hospital wing), wired as `maison pfi` wires them.
    mailbox = ImapMailbox(ImapAccount("127.0.0.1", regional.imap, GP_BOX, gp_token, ca, "XOAUTH2"))
    pfi = Pfi(
        house.db,
        Blobs(house.settings.data_dir / "pfi" / "documents", house.blob_key),
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
    waiting = practice.get("/pfi/liste-travail").json()["entrees"]
    console.print(
        f"The GP's software integrates {len(integrated)} document(s) by qualified INS "
        f"(worklist: {len(waiting)}); MDN sent back to the hospital"
    )
    hospital_box = Mailbox(hospital.imap, ca, PFI, password=PFI_PASSWORD)
    answers = hospital_box.wait(1)
    disposition = mdn.read_mdn(answers[0]) if answers else None
    read = flows.documents.report(answers[0]) if answers else 0  # the MDN: ZAM^Z03 to the DPI (`maison pfi`)
    z03 = flows.wait_zams("Z03", 1)
    console.print(f"The GP's MDN reaches the PFI: {read} leg(s) read, ZAM^Z03 at the DPI: {len(z03)}")

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
    replies = hospital_box.wait(2)
    console.print(
        f"The patient answers from Mon espace santé: the hospital's mailbox now holds {len(replies)} "
        f"message(s) (the GP's MDN and the patient's answer)"
    )
    return (
        qualified
        and asked
        and len(z02) == 2
        and len(z03) == 1
        and len(integrated) == 1
        and disposition is not None
        and disposition.processed
        and disposition.error_code is None
        and answered is not None
        and answered.status_code == 201
        and len(replies) >= 2
        and bool(sent_mdn)
    )
