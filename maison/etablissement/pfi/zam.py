"""The PFI's business acknowledgements to the document's creator (CI-SIS volet "Transmission de
documents CDA en HL7v2" 2.1, profils-messages.md "Description des messages HL7 d'accusés métier";
ack-metier-zam.md; error-codes.md): HL7 v2.6 ZAM_Z01 messages, one per outcome as it arrives.

- ZAM^Z01: the DMP's answer — OBX ACK_RECEPTION_DMP Y/N, with ERR (207, the DMP's code in ERR-5
  `code^label^DMP_ERROR_CODE`) when N;
- ZAM^Z02: the MSSanté delivery (DSN) — OBX ACK_RECEPTION_MSS Y/N, OBX DESTINATAIRE_MSS (XTN, the
  address in OBX-5.4), ERR with the SMTP code (`code^label^SMTPERRORCODE`) when N;
- ZAM^Z03: the MSSanté reading (MDN) — OBX ACK_LECTURE_MSS Y/N, OBX LECTEUR_MSS, ERR with the
  receiving PFI's code (900-906, `code^label^applicationErrorCondition`) when N.
OBX-4 of the first OBX names the ORU/MDM's MSH-10, which is how the creator matches them. ERR-3 is
written as the volet's example ZAMs write it (`207^Application internal error^messageErrorCondition`,
HL7 table 0357's label).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

from maison.formats.hl7v2.ack import ENCODING_CHARACTERS, escape

PROFILE = "2.1^CISIS_CDA_HL7_V2"
_IDS = itertools.count(1)
YES_NO = "expandedYes-NoIndicator"


@dataclass(frozen=True)
class Parties:
    """MSH-3/4 (the PFI) and MSH-5/6 (the creator, as its ORU/MDM named itself)."""

    application: str
    facility: str
    creator_application: str
    creator_facility: str


def _msh(parties: Parties, event: str, control_id: str) -> str:
    now = datetime.now().astimezone().strftime("%Y%m%d%H%M%S")
    fields = ["MSH", ENCODING_CHARACTERS, parties.application, parties.facility]
    fields += [parties.creator_application, parties.creator_facility, now, "", f"ZAM^{event}^ZAM_Z01", control_id]
    fields += ["P", "2.6", "", "", "", "", "FRA", "UNICODE UTF-8", "", "", PROFILE]
    return "|".join(fields)


def new_control_id() -> str:
    return f"ZAM{datetime.now():%Y%m%d%H%M%S}{next(_IDS):06d}"


def _status(code: str, label: str, message_id: str, ok: bool) -> str:
    return f"OBX|1|CWE|{code}^{label}^AckMetierZAM|{escape(message_id)}|{'Y' if ok else 'N'}^^{YES_NO}||||||F"


def _err(code: str, label: str, table: str) -> str:
    return f"ERR|||207^Application internal error^messageErrorCondition|E|{escape(code)}^{escape(label)}^{table}"


def dmp_received(parties: Parties, message_id: str, ok: bool, code: str = "", label: str = "") -> tuple[str, str]:
    """ZAM^Z01 (its control id, its text)."""
    control = new_control_id()
    segments = [_msh(parties, "Z01", control), _status("ACK_RECEPTION_DMP", "Accusé de réception DMP", message_id, ok)]
    if not ok:
        segments.append(_err(code or "DMP_ERROR", label or "Erreur DMP", "DMP_ERROR_CODE"))
    return control, "\r".join(segments) + "\r"


def _mss(
    parties: Parties,
    event: str,
    status: tuple[str, str],
    party: tuple[str, str],
    message_id: str,
    address: str,
    ok: bool,
    error: tuple[str, str, str],
) -> tuple[str, str]:
    """Z02 / Z03: the status OBX, the OBX naming the mailbox (XTN, the address in OBX-5.4), ERR if N."""
    control = new_control_id()
    segments = [
        _msh(parties, event, control),
        _status(*status, message_id, ok),
        f"OBX|2|XTN|{party[0]}^{party[1]}^AckMetierZAM||^^X.400^{escape(address)}||||||F",
    ]
    if not ok:
        segments.append(_err(*error))
    return control, "\r".join(segments) + "\r"


def mss_received(
    parties: Parties, message_id: str, recipient: str, ok: bool, code: str = "", label: str = ""
) -> tuple[str, str]:
    """ZAM^Z02 for one recipient (its delivery: refused at RCPT, or a DSN)."""
    status = ("ACK_RECEPTION_MSS", "Accusé de réception MSSanté")
    party = ("DESTINATAIRE_MSS", "Destinataire MSSanté")
    error = (code or "554", label or "Envoi échoué", "SMTPERRORCODE")
    return _mss(parties, "Z02", status, party, message_id, recipient, ok, error)


def mss_read(
    parties: Parties, message_id: str, reader: str, ok: bool, code: str = "", label: str = ""
) -> tuple[str, str]:
    """ZAM^Z03 for one reader (the mailbox that sent the MDN)."""
    status = ("ACK_LECTURE_MSS", "Accusé de lecture")
    party = ("LECTEUR_MSS", "Lecteur du courriel MSSanté")
    error = (code or "906", label or "Erreur 'Autre'", "applicationErrorCondition")
    return _mss(parties, "Z03", status, party, message_id, reader, ok, error)
