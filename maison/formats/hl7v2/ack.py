"""The HL7 v2.5 acknowledgement (§2.9.2 original mode, §2.15.8 MSA, §2.15.5 ERR) a receiver answers.

The ACK's MSH swaps the message's sender and receiver (MSH-3/4 ↔ MSH-5/6), keeps its version and
character set, names the event (`ACK^A01^ACK`) and gets its own control id; MSA-1 is AA, AE or AR,
MSA-2 echoes MSH-10. A refusal (`Hl7Refusal`) adds ERR: ERR-2 where (segment^sequence^field),
ERR-3 what (table 0357: code^text^HL70357), ERR-4 severity (table 0516), ERR-8 the French message.
A message whose MSH cannot be read at all is still answered, AR, from what of it could be read.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import datetime

from maison.formats.hl7v2.refusal import ErrorCode, Hl7Refusal

ENCODING_CHARACTERS = "^~\\&"  # the only ones IHE PAM France and the CI-SIS volets allow (MSH-2)
_ESCAPES = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}
_CONTROL_IDS = itertools.count(1)
_TEXTS = {
    ErrorCode.SEGMENT_SEQUENCE: "Segment sequence error",
    ErrorCode.REQUIRED_FIELD: "Required field missing",
    ErrorCode.DATA_TYPE: "Data type error",
    ErrorCode.TABLE_VALUE: "Table value not found",
    ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCode.UNSUPPORTED_EVENT: "Unsupported event code",
    ErrorCode.UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    ErrorCode.UNSUPPORTED_VERSION: "Unsupported version id",
    ErrorCode.UNKNOWN_KEY: "Unknown key identifier",
    ErrorCode.DUPLICATE_KEY: "Duplicate key identifier",
    ErrorCode.RECORD_LOCKED: "Application record locked",
    ErrorCode.INTERNAL_ERROR: "Application internal error",
}


def escape(text: str) -> str:
    """Text for an ST/TX field, its delimiters escaped (HL7 v2.5 §2.7.4)."""
    return re.sub(r"[\\|^&~]", lambda m: _ESCAPES[m.group()], text.replace("\r", " ").replace("\n", " "))


@dataclass(frozen=True)
class Header:
    """What an ACK needs of the message's MSH, read field by field from the raw segment (so that a
    message python-hl7 cannot parse, or whose encoding characters are wrong, is still answered)."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    event: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = "2.5"
    charset: str = ""

    @classmethod
    def read(cls, text: str) -> Header:
        """The header of a message's first segment if it is an MSH (else an empty header)."""
        first = re.split(r"[\r\n]", text, maxsplit=1)[0]
        if not first.startswith("MSH") or len(first) < 4:
            return cls()
        # MSH-1, the field separator, is the 4th character: MSH-n sits at fields[n - 1]
        fields = first.split(first[3]) + [""] * 18
        component = first[4] if len(first) > 4 else "^"
        return cls(
            sending_application=fields[2],
            sending_facility=fields[3],
            receiving_application=fields[4],
            receiving_facility=fields[5],
            event=(fields[8].split(component) + [""])[1],
            control_id=fields[9],
            processing_id=fields[10] or "P",
            version=fields[11],
            charset=fields[17],
        )


def ack(header: Header, code: str, refusal: Hl7Refusal | None = None, extra: list[str] | None = None) -> str:
    """The ACK of a message: MSA-1 `code` (AA, AE, AR), MSA-2 its control id, ERR from `refusal`,
    then the receiver's `extra` segments (a PFI's own). Segments end with CR (HL7 v2.5 §2.5)."""
    h = header
    now = datetime.now().astimezone().strftime("%Y%m%d%H%M%S%z")
    segments = [
        "|".join(
            [
                "MSH",
                ENCODING_CHARACTERS,
                h.receiving_application,
                h.receiving_facility,
                h.sending_application,
                h.sending_facility,
                now,
                "",
                f"ACK^{h.event}^ACK" if h.event else "ACK",
                f"ACK{datetime.now():%Y%m%d%H%M%S}{next(_CONTROL_IDS):06d}",
                h.processing_id,
                h.version or "2.5",
                "",
                "",
                "",
                "",
                "",
                h.charset,
            ]
        ),
        f"MSA|{code}|{h.control_id}",
    ]
    if refusal is not None:
        segments.append(err_segment(refusal))
    return "\r".join(segments + list(extra or [])) + "\r"


def err_segment(refusal: Hl7Refusal) -> str:
    """ERR naming where the fault is and what it is (HL7 v2.5 §2.15.5)."""
    location = ""
    if refusal.segment:
        location = f"{refusal.segment}^{refusal.sequence}" + (f"^{refusal.field}" if refusal.field else "")
    code = f"{refusal.code.value}^{_TEXTS[refusal.code]}^HL70357"
    return f"ERR||{location}|{code}|{refusal.severity}||||{escape(refusal.message)}"


def check_encoding_characters(text: str) -> None:
    """MSH-1 `|` and MSH-2 `^~\\&`, as the French profiles require; anything else is AR."""
    if not text.startswith("MSH"):
        raise Hl7Refusal(
            "le message ne commence pas par un segment MSH",
            ErrorCode.SEGMENT_SEQUENCE,
            segment="MSH",
            acknowledgment="AR",
        )
    if text[3:4] != "|":
        raise Hl7Refusal(
            "séparateur de champs (MSH-1) autre que |", ErrorCode.DATA_TYPE, "MSH", 1, 1, acknowledgment="AR"
        )
    if text[4:8] != ENCODING_CHARACTERS or text[8:9] != "|":
        raise Hl7Refusal(
            "caractères d'encodage (MSH-2) autres que ^~\\&", ErrorCode.DATA_TYPE, "MSH", 1, 2, acknowledgment="AR"
        )
