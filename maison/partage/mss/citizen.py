"""The Mon espace santé operator's side of MSSanté: the patients' mailboxes and the SUN-ES test box.

- Every patient with a Mon espace santé has a mailbox `<matricule INS>@patient.mssante.fr`
  (000 L2087); it exists as soon as the espace does, so it is opened here the first time a
  professional writes to it — unless the INS is unknown to the referential, not the active one, or
  the patient opposed to or closed Mon espace santé (then 550 5.1.1, as for any unknown mailbox).
- Patients hold no SMTP credentials: they read and answer in Mon espace santé, and only a
  professional starts an exchange (000 L3255).
- `reponse.automatique-test@patient.mssante.fr` is the test mailbox of the SUN-ES indicator PS4.1
  (004 L706-712): a message with an `IHE_XDM.ZIP` holding at least one CDA R2 N1 is answered
  automatically, saying what was found; anything else gets an answer saying what was missing.
"""

from __future__ import annotations

from collections.abc import Callable

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


def test_answer(received: mime.Received, *, domain: str = mime.CITIZEN_DOMAIN) -> bytes:
    """The SUN-ES PS4.1 automatic answer to a test message (004 L706-712)."""
    found: list[str] = []
    problem = ""
    if received.xdm is None:
        problem = "aucune pièce jointe IHE_XDM.ZIP"
    else:
        try:
            content = xdm.read(received.xdm)
            found = [
                f"{d.type_code} {d.title} ({'N1' if d.format_code == N1_FORMAT else d.format_code})"
                for d in content.documents
            ]
            if not any(d.format_code == N1_FORMAT for d in content.documents):
                problem = "l'archive ne contient aucun document CDA R2 N1"
        except xdm.XdmError as exc:
            problem = f"archive IHE_XDM.ZIP refusée ({exc.code}) : {exc.message}"
    verdict = "Test réussi" if not problem else f"Test non conforme : {problem}"
    body = (
        f"{verdict}.\r\nMessage {received.message_id} reçu par la boîte de test de la messagerie citoyenne.\r\n"
        + "".join(f"  - {line}\r\n" for line in found)
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
