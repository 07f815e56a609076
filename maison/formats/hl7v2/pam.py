"""An IHE PAM France 2.11 ADT message read into plain values (what the GAM announces), each missing or
malformed required field refused with its location (`Hl7Refusal`, HL7 v2.5 §2.15.5).

Fields read (IHE PAM France 2.11 and the ANS examples in reference/hl7v2/exemples/SGL and
Vague 2/Consentement_DMP_PAMFR):
- PID-3: the IPP (identifier type PI, assigning authority HD namespace&FINESS&type) and the INS
  (type INS, authority's OID one of the INS OIDs); PID-5: the birth name (name type L: family,
  first given name, PID-5.3 the list of birth given names) and the used name (type D); PID-7 birth
  date, PID-8 sex, PID-11 the birth place (address type BDL, component 9: COG code); PID-32 the
  identity status (PROV, VALI, RECUP, QUAL) and attributes (DOUTE, FICTI, HOMON).
- PV1-2 the patient class, PV1-19 the stay number (CX, its authority names the structure),
  PV1-44 / PV1-45 admission and discharge times.
- ZBE-1 the movement id, ZBE-2 its time, ZBE-4 the action (INSERT, UPDATE, CANCEL), ZBE-6 the
  original trigger of an UPDATE/CANCEL, ZBE-7 the medical responsibility unit (XON: name, XON-10
  code), ZBE-8 the care unit, ZBE-9 the nature of the movement.
- ZFA (the patient's DMP information state): ZFA-1 DMP status, ZFA-2 its date, ZFA-4 access
  authorisation, ZFA-6 / ZFA-7 oppositions (bris de glace, centre de régulation), ZFA-9 opposition
  to feeding the DMP (IO informed and opposed, INO informed and not opposed, NA not collected) and
  ZFA-10 its date, ZFA-11 consent to consulting it (IC, INC, NA) and ZFA-12 its date.
- MRG-1 the prior IPP (A40 merge, A47 change of identifier).

Segments not named here (PD1, ROL, PV2, ZFM, ZFD, Z segments of other profiles) are tolerated and
ignored, as HL7 v2.5 §2.12 asks of a receiver.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import hl7

from maison.formats.hl7v2.fields import Fields
from maison.formats.hl7v2.refusal import ErrorCode, Hl7Refusal

INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")
IDENTITY_EVENTS = ("A28", "A31", "A40", "A47")
CANCEL_EVENTS = ("A11", "A12", "A13", "A38", "A52", "A53", "Z81", "Z85")
STAY_EVENTS = ("A01", "A02", "A03", "A04", "A05", "A06", "A07", "A21", "A22", "Z80", "Z84", *CANCEL_EVENTS)
UPDATE_EVENTS = ("A08", "Z99")
ACTIONS = ("INSERT", "UPDATE", "CANCEL")
ATTRIBUTES = {"DOUTE": "douteuse", "FICTI": "fictive", "HOMON": "homonyme"}
STATUSES = ("PROV", "VALI", "RECUP", "QUAL")
FRANCE = ZoneInfo("Europe/Paris")


def _text(message: Fields, segment: str, fld: int, rep: int = 1, comp: int = 1, sub: int = 1) -> str:
    return message.field(segment, fld, rep, comp, sub)


def _has(message: Fields, segment: str) -> bool:
    return message.has(segment)


def _repetitions(message: Fields, segment: str, fld: int) -> int:
    return message.repetitions(segment, fld)


def _timestamp(value: str, segment: str, fld: int) -> str | None:
    """An HL7 DTM (YYYY[MM[DD[HH[MM[SS]]]]][+/-ZZZZ]) as an ISO 8601 date-time with its offset; one
    without an offset is the sender's local time, France's (Europe/Paris) for a French GAM. A DTM
    that does not read is a refusal naming the field."""
    if not value:
        return None
    digits, sign, offset = value.partition("+") if "+" in value else value.partition("-")
    digits = digits.split(".")[0]
    if (
        not (digits.isascii() and digits.isdigit())
        or len(digits) < 8
        or len(digits) % 2
        or (sign and not re.fullmatch(r"[0-9]{4}", offset))
    ):  # ASCII digits only: int() reads Arabic-Indic ones too
        raise Hl7Refusal(f"date {value!r} illisible", ErrorCode.DATA_TYPE, segment, 1, fld)
    d = digits.ljust(14, "0")
    try:
        when = datetime(int(d[0:4]), int(d[4:6]), int(d[6:8]), int(d[8:10]), int(d[10:12]), int(d[12:14]))
    except ValueError:
        raise Hl7Refusal(f"date {value!r} inexistante", ErrorCode.DATA_TYPE, segment, 1, fld) from None
    if sign:
        minutes = int(offset[:2]) * 60 + int(offset[2:])
        zone: tzinfo = timezone(timedelta(minutes=minutes if sign == "+" else -minutes))
    else:
        zone = FRANCE
    return when.replace(tzinfo=zone).isoformat()


@dataclass(frozen=True)
class Patient:
    structure: str
    ipp: str
    nom_naissance: str
    prenoms: str
    sexe: str
    date_naissance: str
    lieu_naissance: str | None
    nom_utilise: str | None
    prenom_utilise: str | None
    status: str  # PID-32: PROV, VALI, RECUP, QUAL ("" when absent)
    attributes: frozenset[str] = frozenset()
    ins_number: str | None = None  # the 15 characters, as PID-3 carries it
    ins_oid: str | None = None


@dataclass(frozen=True)
class Movement:
    id: str
    at: str | None
    action: str
    original_event: str
    unit: str
    unit_name: str
    care_unit: str
    nature: str


@dataclass(frozen=True)
class DmpState:
    """ZFA: the patient's DMP and what he said of it (seed 002 L535-565)."""

    dmp_status: str
    status_at: str | None
    access_authorised: str
    opposition_bris_de_glace: str
    opposition_regulation: str
    feeding: str  # ZFA-9: IO, INO, NA
    feeding_at: str | None
    consultation: str  # ZFA-11: IC, INC, NA
    consultation_at: str | None


@dataclass(frozen=True)
class PamMessage:
    sender: str  # MSH-3^MSH-4: whose control ids MSH-10 are
    control_id: str
    event: str
    digest: str  # of the message's text: the same MSH-10 with another content is not a resend
    at: str | None  # EVN-6 (the event's time) or EVN-2
    patient: Patient
    stay_number: str = ""
    stay_structure: str = ""
    patient_class: str = ""
    admitted_at: str | None = None
    discharged_at: str | None = None
    movement: Movement | None = None
    dmp: DmpState | None = None
    prior_ipp: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def _authority(message: Fields, segment: str, fld: int, rep: int) -> str:
    """The structure an identifier's authority names: the HD's universal id (FINESS), else its namespace."""
    return _text(message, segment, fld, rep, 4, 2) or _text(message, segment, fld, rep, 4, 1)


def _identifiers(message: Fields) -> tuple[str, str, str | None, str | None]:
    """PID-3: (IPP, its structure, INS, its OID)."""
    ipp = structure = ""
    ins = oid = None
    for rep in range(1, _repetitions(message, "PID", 3) + 1):
        kind = _text(message, "PID", 3, rep, 5)
        if kind == "PI" and not ipp:
            ipp, structure = _text(message, "PID", 3, rep, 1), _authority(message, "PID", 3, rep)
        elif kind == "INS" and _text(message, "PID", 3, rep, 4, 2) in INS_OIDS:
            ins, oid = _text(message, "PID", 3, rep, 1), _text(message, "PID", 3, rep, 4, 2)
    if not ipp:
        raise Hl7Refusal("IPP (PID-3 de type PI) absent", ErrorCode.REQUIRED_FIELD, "PID", 1, 3)
    if not structure:
        raise Hl7Refusal("autorité d'affectation de l'IPP absente", ErrorCode.REQUIRED_FIELD, "PID", 1, 3)
    return ipp, structure, ins, oid


def _names(message: Fields) -> tuple[str, str, str | None, str | None]:
    """PID-5: birth name and given names (type L), used name and first name (type D)."""
    birth = used = None
    for rep in range(1, _repetitions(message, "PID", 5) + 1):
        kind = _text(message, "PID", 5, rep, 7) or "L"
        if kind == "L" and birth is None:
            birth = rep
        elif kind == "D" and used is None:
            used = rep
    if birth is None or not _text(message, "PID", 5, birth, 1):
        raise Hl7Refusal("nom de naissance (PID-5 de type L) absent", ErrorCode.REQUIRED_FIELD, "PID", 1, 5)
    given = _text(message, "PID", 5, birth, 3) or _text(message, "PID", 5, birth, 2)
    if not given:
        raise Hl7Refusal("prénoms de naissance (PID-5) absents", ErrorCode.REQUIRED_FIELD, "PID", 1, 5)
    used_name = _text(message, "PID", 5, used, 1) if used else None
    used_given = _text(message, "PID", 5, used, 2) if used else None
    return _text(message, "PID", 5, birth, 1), given, used_name or None, used_given or None


def _birth_place(message: Fields) -> str | None:
    for rep in range(1, _repetitions(message, "PID", 11) + 1):
        if _text(message, "PID", 11, rep, 7) == "BDL":
            return _text(message, "PID", 11, rep, 9) or None
    return None


def read_patient(message: Fields) -> Patient:
    if not _has(message, "PID"):
        raise Hl7Refusal("segment PID absent", ErrorCode.SEGMENT_SEQUENCE, "PID", acknowledgment="AR")
    ipp, structure, ins, oid = _identifiers(message)
    nom, prenoms, nom_utilise, prenom_utilise = _names(message)
    born = _text(message, "PID", 7)
    if not born:
        raise Hl7Refusal("date de naissance (PID-7) absente", ErrorCode.REQUIRED_FIELD, "PID", 1, 7)
    reliability = [_text(message, "PID", 32, rep) for rep in range(1, _repetitions(message, "PID", 32) + 1)]
    return Patient(
        structure=structure,
        ipp=ipp,
        nom_naissance=nom,
        prenoms=prenoms,
        sexe=_text(message, "PID", 8),
        date_naissance=(_timestamp(born, "PID", 7) or "")[:10],
        lieu_naissance=_birth_place(message),
        nom_utilise=nom_utilise,
        prenom_utilise=prenom_utilise,
        status=next((r for r in reliability if r in STATUSES), ""),
        attributes=frozenset(ATTRIBUTES[r] for r in reliability if r in ATTRIBUTES),
        ins_number=ins,
        ins_oid=oid,
    )


def _unit(message: Fields, fld: int) -> tuple[str, str]:
    """An XON unit: (its code XON-10, else its name; its name XON-1)."""
    name = _text(message, "ZBE", fld, 1, 1)
    return _text(message, "ZBE", fld, 1, 10) or name, name


def read_movement(message: Fields, event: str) -> Movement:
    if not _has(message, "ZBE"):
        raise Hl7Refusal("segment ZBE (mouvement) absent", ErrorCode.SEGMENT_SEQUENCE, "ZBE", acknowledgment="AR")
    movement_id = _text(message, "ZBE", 1)
    if not movement_id:
        raise Hl7Refusal("identifiant du mouvement (ZBE-1) absent", ErrorCode.REQUIRED_FIELD, "ZBE", 1, 1)
    action = _text(message, "ZBE", 4)
    if not action and event not in UPDATE_EVENTS:
        # the event itself says what happens; the ANS's sortie.er7 carries its action one field late
        action = "CANCEL" if event in CANCEL_EVENTS else "INSERT"
    if action not in ACTIONS:
        raise Hl7Refusal(f"action {action!r} inconnue (INSERT, UPDATE, CANCEL)", ErrorCode.TABLE_VALUE, "ZBE", 1, 4)
    unit, unit_name = _unit(message, 7)
    care, care_name = _unit(message, 8)
    return Movement(
        id=movement_id,
        at=_timestamp(_text(message, "ZBE", 2), "ZBE", 2),
        action=action,
        original_event=_text(message, "ZBE", 6),
        unit=unit or care,
        unit_name=unit_name or care_name,
        care_unit=care,
        nature=_text(message, "ZBE", 9),
    )


def read_dmp_state(message: Fields) -> DmpState | None:
    if not _has(message, "ZFA"):
        return None
    return DmpState(
        dmp_status=_text(message, "ZFA", 1),
        status_at=_timestamp(_text(message, "ZFA", 2), "ZFA", 2),
        access_authorised=_text(message, "ZFA", 4),
        opposition_bris_de_glace=_text(message, "ZFA", 6),
        opposition_regulation=_text(message, "ZFA", 7),
        feeding=_text(message, "ZFA", 9),
        feeding_at=_timestamp(_text(message, "ZFA", 10), "ZFA", 10),
        consultation=_text(message, "ZFA", 11),
        consultation_at=_timestamp(_text(message, "ZFA", 12), "ZFA", 12),
    )


def read(message: Fields | hl7.Message) -> PamMessage:
    """The PAM FR message, or the refusal of its first missing or malformed required part. Read
    through `fields.Fields` (a message python-hl7 parsed is read again from its text)."""
    if isinstance(message, hl7.Message):
        message = Fields(str(message).rstrip("\r"))
    event = _text(message, "MSH", 9, 1, 2)
    known = IDENTITY_EVENTS + STAY_EVENTS + UPDATE_EVENTS
    if event not in known:
        raise Hl7Refusal(
            f"événement {event or '(vide)'} non pris en charge", ErrorCode.UNSUPPORTED_EVENT, "MSH", 1, 9, "AR"
        )
    control_id = _text(message, "MSH", 10)
    if not control_id:
        raise Hl7Refusal("identifiant du message (MSH-10) absent", ErrorCode.REQUIRED_FIELD, "MSH", 1, 10, "AR")
    if not _has(message, "EVN"):
        raise Hl7Refusal("segment EVN absent", ErrorCode.SEGMENT_SEQUENCE, "EVN", acknowledgment="AR")
    patient = read_patient(message)
    at = _timestamp(_text(message, "EVN", 6), "EVN", 6) or _timestamp(_text(message, "EVN", 2), "EVN", 2)
    common = dict(
        sender=f"{_text(message, 'MSH', 3)}^{_text(message, 'MSH', 4)}",
        control_id=control_id,
        event=event,
        digest=hashlib.sha256((message.text + "\r").encode()).hexdigest(),  # python-hl7's str(message), as before
        at=at,
        patient=patient,
        dmp=read_dmp_state(message),
    )
    if event in ("A40", "A47"):
        if not _has(message, "MRG"):
            raise Hl7Refusal("segment MRG absent", ErrorCode.SEGMENT_SEQUENCE, "MRG", acknowledgment="AR")
        prior = _text(message, "MRG", 1)
        if not prior:
            raise Hl7Refusal("ancien IPP (MRG-1) absent", ErrorCode.REQUIRED_FIELD, "MRG", 1, 1)
        return PamMessage(**common, prior_ipp=prior)  # type: ignore[arg-type]
    if event in ("A28", "A31"):
        return PamMessage(**common)  # type: ignore[arg-type]
    if not _has(message, "PV1"):
        raise Hl7Refusal("segment PV1 absent", ErrorCode.SEGMENT_SEQUENCE, "PV1", acknowledgment="AR")
    number = _text(message, "PV1", 19)
    if not number:
        raise Hl7Refusal("numéro de séjour (PV1-19) absent", ErrorCode.REQUIRED_FIELD, "PV1", 1, 19)
    movement = read_movement(message, event) if event != "A08" or _has(message, "ZBE") else None
    return PamMessage(
        **common,  # type: ignore[arg-type]
        stay_number=number,
        stay_structure=_authority(message, "PV1", 19, 1) or patient.structure,
        patient_class=_text(message, "PV1", 2),
        admitted_at=_timestamp(_text(message, "PV1", 44), "PV1", 44),
        discharged_at=_timestamp(_text(message, "PV1", 45), "PV1", 45),
        movement=movement,
    )
