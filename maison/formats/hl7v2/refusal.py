"""A message refused in HL7's own terms: the ACK's MSA-1 (AE: the content is wrong, AR: the message
cannot be processed at all) and its ERR segment naming where the fault is (HL7 v2.5 §2.15.5 ERR:
ERR-2 error location segment^sequence^field, ERR-3 HL7 error code from table 0357, ERR-4 severity
from table 0516).

Every receiver of the house (stays and movements, the PFI's documents) raises `Hl7Refusal`; the MLLP
listener turns it into the ACK, so that one rule decides how a refusal is written."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    """HL7 table 0357 (message error condition codes), the ones a receiver answers."""

    SEGMENT_SEQUENCE = "100"  # segment sequence error: a required segment missing or out of place
    REQUIRED_FIELD = "101"  # required field missing
    DATA_TYPE = "102"  # data type error
    TABLE_VALUE = "103"  # table value not found
    UNSUPPORTED_MESSAGE_TYPE = "200"
    UNSUPPORTED_EVENT = "201"
    UNSUPPORTED_PROCESSING_ID = "202"
    UNSUPPORTED_VERSION = "203"
    UNKNOWN_KEY = "204"  # unknown key identifier: the patient, stay or movement named does not exist
    DUPLICATE_KEY = "205"
    RECORD_LOCKED = "206"
    INTERNAL_ERROR = "207"  # application internal error (never a stack trace: the ACK says what failed)


@dataclass
class Hl7Refusal(Exception):
    """Refuse a message: `acknowledgment` AE (error: corrected, it may be sent again) or AR (reject:
    unsupported type, version, processing id or unreadable structure); `segment`, `sequence` (1-based
    occurrence of that segment) and `field` (1-based) locate the fault for ERR-2; `message` in French
    goes to ERR-8 (user message)."""

    message: str
    code: ErrorCode
    segment: str = ""
    sequence: int = 1
    field: int | None = None
    acknowledgment: str = "AE"
    severity: str = "E"  # table 0516: E error, W warning, I information

    def __post_init__(self) -> None:
        super().__init__(self.message)
        if self.acknowledgment not in ("AE", "AR"):
            raise ValueError(f"MSA-1 of a refusal is AE or AR, not {self.acknowledgment!r}")
