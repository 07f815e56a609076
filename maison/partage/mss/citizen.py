"""The Mon espace santé operator's side of MSSanté: the patients' mailboxes and the SUN-ES test box.

- Every patient with a Mon espace santé has a mailbox `<matricule INS>@patient.mssante.fr`
  (000 L2087); it exists as soon as the espace does, so it is opened here the first time a
  professional writes to it — unless the INS is unknown to the referential, not the active one, or
  the patient opposed to or closed Mon espace santé (then 550 5.1.1, as for any unknown mailbox).
- Patients hold no SMTP credentials: they read and answer in Mon espace santé, and only a
  professional starts an exchange (000 L3255).
- `reponse.automatique-test@patient.mssante.fr` is the test mailbox of the SUN-ES indicator PS4.1
  (004 L706-712): a message with an `IHE_XDM.ZIP` holding at least one CDA R2 N1, and a PDF, is
  answered automatically, saying what was found; anything else gets an answer saying what was
  missing. The proof the seed asks for shows "la pièce jointe sous la forme d'une archive ZIP au
  format IHE_XDM et PDF" (004 L734, L735): the PDF is a part of the message beside the archive (as
  the MSSanté clients' guide sends the readable copy), or a PDF document within the archive; its
  bytes must be a PDF (`%PDF-`), whatever its name or declared type says. Each verdict is recorded in
  the audit trail (`mss.test-citoyen`: the sender, the message, the answer, what was missing), which
  the observatory reads for the structure's PS4.1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from maison.core import audit
from maison.core.actor import Actor
from maison.core.audit import SYSTEM
from maison.core.errors import MaisonError
from maison.core.identifiers.nir import parse_matricule
from maison.core.storage import Database
from maison.formats import mime, xdm
from maison.partage.dmp.model import DossierState
from maison.partage.dmp.service import dossier_state
from maison.partage.mss.mailboxes import CITIZEN, Mailbox, Mailboxes

TEST_MAILBOX = f"reponse.automatique-test@{mime.CITIZEN_DOMAIN}"
N1_FORMAT = "urn:ihe:iti:xds-sd:pdf:2008"


def espace_open(db: Database, referential) -> Callable[[str], bool]:
    """Whether `ins` (matricule with key) has a Mon espace santé: the active INS of the referential,
    and no opposition or closing (CRE-1/CRE-2, 000 L3228)."""

    def check(ins: str) -> bool:
        try:
            parse_matricule(ins)
            if referential.by_matricule(ins).active.value != ins:
                return False
        except MaisonError:
            return False
        with db.read() as conn:
            state = dossier_state(conn, ins)
        return state is None or state is DossierState.ACTIVE

    return check


def citizen_mailbox(
    mailboxes: Mailboxes, operator: str, address: str, has_espace: Callable[[str], bool]
) -> Mailbox | None:
    """The patient's mailbox, opened on first use; None if there is no such Mon espace santé."""
    found = mailboxes.find(address)
    if found is not None:
        return found if found.active else None
    local, _, domain = address.partition("@")
    if domain != mime.CITIZEN_DOMAIN or not has_espace(local.upper()):
        return None
    try:
        return mailboxes.create(SYSTEM, address, operator, CITIZEN, local.upper(), f"Mon espace santé {local.upper()}")
    except MaisonError:  # opened meanwhile by a concurrent delivery
        return mailboxes.find(address)


PDF_MAGIC = b"%PDF-"


@dataclass(frozen=True)
class CitizenTestVerdict:
    """What the test mailbox found in a message (004 L706-712, L734-737)."""

    missing: tuple[str, ...]  # what makes it not conform, in French, as the answer says it
    found: tuple[str, ...]  # the archive's documents, one line each
    n1: int  # CDA R2 N1 documents in the archive
    pdf: bool

    @property
    def conform(self) -> bool:
        return not self.missing


def _is_pdf(data: bytes) -> bool:
    return data.startswith(PDF_MAGIC)


def judge_test(received: mime.Received) -> CitizenTestVerdict:
    """The archive read and the PDF looked for; what is missing named."""
    found: list[str] = []
    missing: list[str] = []
    n1 = 0
    pdf = any(_is_pdf(a.data) for a in received.attachments if a.filename.upper() != mime.XDM_NAME)
    if received.xdm is None:
        missing.append("aucune pièce jointe IHE_XDM.ZIP")
    else:
        try:
            content = xdm.read(received.xdm)
            found = [
                f"{d.type_code} {d.title} ({'N1' if d.format_code == N1_FORMAT else d.format_code})"
                for d in content.documents
            ]
            n1 = sum(d.format_code == N1_FORMAT for d in content.documents)
            pdf = pdf or any(_is_pdf(d.data) for d in content.documents)
            if not n1:
                missing.append("l'archive ne contient aucun document CDA R2 N1")
        except xdm.XdmError as exc:
            missing.append(f"archive IHE_XDM.ZIP refusée ({exc.code}) : {exc.message}")
    if not pdf:
        missing.append("aucune pièce jointe PDF")  # 004 L734-735: the XDM archive and a PDF
    return CitizenTestVerdict(tuple(missing), tuple(found), n1, pdf)


def record_test(
    db: Database, actor: Actor, received: mime.Received, verdict: CitizenTestVerdict, answer_id: str
) -> None:
    """The verdict in the audit trail, the proof of PS4.1 the observatory reads (004 L734-737: the sent
    test and the answer received back)."""
    with db.write() as conn:
        audit.Trail.write(
            conn,
            actor,
            "mss.test-citoyen",
            purpose="HOPERAT",
            detail={
                "expediteur": received.sender.lower(),
                "message_id": received.message_id,
                "reponse": answer_id,
                "conforme": verdict.conform,
                "documents_n1": verdict.n1,
                "pdf": verdict.pdf,
                "manques": list(verdict.missing),
            },
        )


def test_answer(
    received: mime.Received, verdict: CitizenTestVerdict | None = None, *, domain: str = mime.CITIZEN_DOMAIN
) -> bytes:
    """The SUN-ES PS4.1 automatic answer to a test message (004 L706-712)."""
    verdict = verdict or judge_test(received)
    problem = " ; ".join(verdict.missing)
    verdict_line = "Test réussi" if verdict.conform else f"Test non conforme : {problem}"
    body = (
        f"{verdict_line}.\r\nMessage {received.message_id} reçu par la boîte de test de la messagerie citoyenne.\r\n"
        + "".join(f"  - {line}\r\n" for line in verdict.found)
    )
    answer = mime.Outgoing(
        TEST_MAILBOX,
        [received.sender],
        f"Re: {received.subject}"[:250],
        body,
        in_reply_to=received.message_id,
        extra_headers={"Auto-Submitted": "auto-replied"},
    )
    return mime.as_bytes(mime.compose(answer, domain=domain))
