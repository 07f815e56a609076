"""A stay (séjour: PV1-19) and its movements (ZBE-1), as IHE PAM France 2.11 announces them.

A stay's status is FHIR's `Encounter.status` (R4): planned after a pre-admission (A05), in-progress
from admission (A01, A04) to discharge (A03: finished), onleave between a leave (A21) and its return
(A22), cancelled when its admission or pre-admission is cancelled (A11, A38). Its class is PV1-2,
read as FHIR's v3 ActCode (I hospitalisé → IMP, O externe → AMB, E urgences → EMER, R séances → AMB).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class StayStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in-progress"
    ONLEAVE = "onleave"
    FINISHED = "finished"
    CANCELLED = "cancelled"


# PV1-2 (HL7 table 0004 as PAM France uses it) → v3 ActCode, with its display
CLASSES = {
    "I": ("IMP", "inpatient encounter"),
    "O": ("AMB", "ambulatory"),
    "E": ("EMER", "emergency"),
    "R": ("AMB", "ambulatory"),
}
# The class an event implies when PV1-2 is empty
CLASS_OF_EVENT = {"A01": "I", "A04": "O", "A05": "I", "A06": "I", "A07": "O"}

# What each cancellation cancels — and so which movement its ZBE-1 must name: IHE PAM ITI-31 A11
# admission, A12 transfer, A13 discharge, A38 pre-admission, A52 leave of absence (A21), A53 return
# from it (A22) (HL7 v2.5 §3.3.52-3.3.53); IHE PAM France 2.11's Z81 a change of the medically
# responsible unit (Z80), Z85 a change of the care unit (Z84).
CANCELS = {
    "A11": ("A01", "A04"),
    "A12": ("A02",),
    "A13": ("A03",),
    "A38": ("A05",),
    "A52": ("A21",),
    "A53": ("A22",),
    "Z81": ("Z80",),
    "Z85": ("Z84",),
}
# The movements that change the stay's unit (ZBE-7): a transfer, a change of class, IHE PAM France's
# change of the medically responsible unit (Z80); a change of care unit (Z84) is the movement's only.
UNIT_CHANGES = ("A02", "A06", "A07", "Z80")


@dataclass(frozen=True, slots=True)
class Movement:
    movement_id: str
    event: str
    at: str | None
    unit: str
    unit_name: str
    care_unit: str
    nature: str
    cancelled: bool


@dataclass(frozen=True, slots=True)
class Stay:
    id: int
    structure: str
    number: str
    patient_id: int
    ipp: str
    patient_class: str
    status: StayStatus
    admitted_at: str | None
    discharged_at: str | None
    unit: str
    unit_name: str
    dmp_feeding: str
    dmp_consultation: str
    movements: tuple[Movement, ...] = ()
