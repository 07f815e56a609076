"""What a DPI, a lab system or a RIS asks the PFI in HL7 v2 (CI-SIS volet "Transmission de documents
CDA en HL7v2" 2.1, profils-messages.md): ORU^R01 (v2.5) or MDM^T02 / T10 / T04 (v2.6), read into a
`DocumentRequest` — or refused with `Hl7Refusal` naming the segment and field, before anything is
written.

The rules read here, each from the volet:
- the action: MDM's event (T02 initial, T10 replacement, T04 deletion), ORC-1 (NW / RO / CA) and the
  document OBX-11 (F / C / D) must agree, "en cas d'incohérence … le message HL7 sera rejeté";
- the document: the first OBX of type ED, OBX-5 = source^type^XML^encoding^data, Base64 or plain
  (an ORU may carry the same document twice, N1 and N3); each must be a CDA whose patient is the
  PID's ("le PID-3 doit être identique aux identifiants de patient portés par le document CDA");
- the stay: PV1-19, required when PV1-2 is E, I, O or R, and the structure its authority names
  (PV1-19.4, read as the stays and movements read it from the GAM);
- the metadata OBX of the table MetaDMP/MSS (meta-dmp-mss.md), each Y or N (table 0136); a code
  outside the table is refused (103), and so is a destination that cannot be honoured: MSSanté to
  professionals without any RCT PRT address, or a document masked to professionals (MASQUE_PS)
  sent to them by MSSanté ("ne doit pas faire l'objet d'un échange entre PS au travers de la
  MSSanté"), or invisible to the patient (INVISIBLE_PATIENT) sent to the patient, or a document of a
  connexion secrète (CONNEXION_SECRETE) sent to the patient alone: the MSSanté matrix
  (regles-gestion-mssante.md) admits CONNEXION_SECRETE = Y only beside DESTMSSANTEPS = Y, its one
  patient-only row reads CONNEXION_SECRETE : N, and "les cas non représentés génèrent un message
  d'erreur";
- the recipients: PRT with PRT-4 RCT, the address in PRT-15.4 (X.400 in PRT-15.3).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

import hl7

from maison.core.errors import MaisonError
from maison.formats import xmlsafe
from maison.formats.cda.header import INS_ROOTS, CdaHeader, read_header
from maison.formats.hl7v2.fields import unescape_text
from maison.formats.hl7v2.refusal import ErrorCode, Hl7Refusal

# MDM event → (action, ORC-1, OBX-11); ORU carries its action in OBX-11 alone
EVENTS = {"T02": ("initial", "NW", "F"), "T10": ("remplacement", "RO", "C"), "T04": ("suppression", "CA", "D")}
BY_STATUS = {status: (action, orc) for action, orc, status in EVENTS.values()}
META_CODES = (  # meta-dmp-mss.md, in the order the volet lists them
    "MASQUE_PS",
    "INVISIBLE_PATIENT",
    "INVISIBLE_REP_LEGAUX",
    "CONNEXION_SECRETE",
    "MODIF_CONF_CODE",
    "DESTDMP",
    "DESTMSSANTEPS",
    "DESTMSSANTEPAT",
    "ACK_RECEPTION",
    "ACK_LECTURE_MSS",
    "CORPSMAIL_PS",
    "CORPSMAIL_PATIENT",
)
STAY_REQUIRED_CLASSES = ("E", "I", "O", "R")  # PV1-2 for which PV1-19 is required (Note 2)
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


@dataclass(frozen=True)
class Recipient:
    address: str
    identifier: str = ""  # PRT-5.1: RPPS / IDNPS, or the patient's INS
    patient: bool = False  # PRT-5.9.2 is an INS authority


@dataclass(frozen=True)
class DocumentRequest:
    control_id: str  # MSH-10: named in OBX-4 of every ZAM
    message_type: str  # ORU / MDM
    event: str  # R01 / T02 / T10 / T04
    action: str  # initial / remplacement / suppression
    sending_application: str  # MSH-3
    sending_facility: str  # MSH-4
    version: str  # MSH-12
    documents: tuple[bytes, ...]  # the CDA(s), exact bytes; an ORU may carry N1 and N3
    headers: tuple[CdaHeader, ...]
    unique_id: str  # the first document's id (root or root.extension as the DMP knows it)
    replaced_id: str  # TXA-13 (MDM T10) or the CDA's relatedDocument, for a replacement
    ins: str
    ins_oid: str
    ins_status: str  # PID-32 (PAM FR 2.11: PROV, VALI, RECUP, QUAL)
    patient_class: str  # PV1-2
    stay_number: str  # PV1-19.1
    stay_structure: str  # PV1-19.4: the structure whose stay it is (as the GAM's PAM messages name it)
    flags: dict[str, bool] = field(default_factory=dict)  # the Y/N metadata
    recipients: tuple[Recipient, ...] = ()
    body_ps: str = ""
    body_patient: str = ""

    @property
    def visibility(self) -> tuple[str, ...]:
        """The DMP / XDM visibility codes the metadata asks for (xdm.VISIBILITY_CODES)."""
        pairs = (
            ("MASQUE_PS", "MASQUE_PS"),
            ("INVISIBLE_PATIENT", "INVISIBLE_PATIENT"),
            ("INVISIBLE_REP_LEGAUX", "INVISIBLE_REPRESENTANTS_LEGAUX"),
        )
        return tuple(code for flag, code in pairs if self.flags.get(flag))

    @property
    def qualified(self) -> bool:
        """PAM FR 2.11 PID-32 "QUAL": a qualified identity (validated, its INS retrieved or checked by
        INSi) — the only status under which the INS may be used to share (VALI is a validated identity
        whose INS was not checked; RECUP an INS retrieved on an unvalidated identity)."""
        return self.ins_status == "QUAL"


def _text(value: object) -> str:
    return str(value) if value is not None else ""


def _field(segment: hl7.Segment, number: int) -> str:
    try:
        return _text(segment[number])
    except IndexError:
        return ""


def _parts(value: str, separator: str = "^") -> list[str]:
    return value.split(separator)


def _part(value: str, index: int, separator: str = "^") -> str:
    parts = value.split(separator)
    return parts[index - 1] if len(parts) >= index else ""


def _one(message: hl7.Message, name: str, *, acknowledgment: str = "AE") -> hl7.Segment:
    try:
        return message.segment(name)
    except KeyError:
        raise Hl7Refusal(
            f"segment {name} absent", ErrorCode.SEGMENT_SEQUENCE, segment=name, acknowledgment=acknowledgment
        ) from None


def _yes_no(obx: hl7.Segment, sequence: int, code: str) -> bool:
    value = _part(_field(obx, 5), 1)
    if value not in ("Y", "N"):
        raise Hl7Refusal(
            f"{code} : Y ou N attendu (table 0136), reçu « {value} »",
            ErrorCode.TABLE_VALUE,
            segment="OBX",
            sequence=sequence,
            field=5,
        )
    return value == "Y"


def _decoded(message: hl7.Message, obx: hl7.Segment, sequence: int) -> bytes:
    """OBX-5 of an ED: source^type^subtype^encoding^data; Base64 or plain (HL7-escaped) text."""
    raw = _field(obx, 5)
    parts = _parts(raw)
    encoding, data = (parts[3] if len(parts) > 3 else ""), "^".join(parts[4:]) if len(parts) > 4 else ""
    if not data:
        raise Hl7Refusal("OBX-5 ne porte aucun document", ErrorCode.REQUIRED_FIELD, "OBX", sequence, 5)
    if encoding.lower() == "base64":
        # the line breaks a sender wrapped it with, gone (str.split: the regex took 14 % of an ACK's time)
        packed = "".join(data.split())
        packed += "=" * (-len(packed) % 4)  # the volet's own examples omit the padding (RFC 4648 §3.2)
        try:
            return base64.b64decode(packed, validate=True)
        except (binascii.Error, ValueError):
            raise Hl7Refusal("OBX-5 : Base64 invalide", ErrorCode.DATA_TYPE, "OBX", sequence, 5) from None
    if encoding in ("", "A"):
        return unescape_text(data).encode("utf-8")  # not python-hl7's: it expands \.sp<n>\ n times
    raise Hl7Refusal(f"OBX-5.4 : encodage « {encoding} » inconnu", ErrorCode.TABLE_VALUE, "OBX", sequence, 5)


def _cda(data: bytes, sequence: int, max_bytes: int) -> CdaHeader:
    try:
        header = read_header(xmlsafe.parse(data, max_bytes=max_bytes))
    except (MaisonError, ValueError) as exc:
        raise Hl7Refusal(
            f"OBX-5 ne contient pas un document CDA lisible : {str(exc)[:200]}", ErrorCode.DATA_TYPE, "OBX", sequence, 5
        ) from None
    if header.id is None or header.type_code is None:
        raise Hl7Refusal("OBX-5 : document CDA sans identifiant ni type", ErrorCode.DATA_TYPE, "OBX", sequence, 5)
    return header


def _document_id(header: CdaHeader) -> str:
    assert header.id is not None
    return f"{header.id.root}.{header.id.extension}" if header.id.extension else header.id.root


def _pid_ins(pid: hl7.Segment) -> tuple[str, str]:
    """The INS among PID-3's repetitions: CX with type INS and an INS authority (PID-3.4.2)."""
    for repetition in _field(pid, 3).split("~"):
        authority = _part(repetition, 4)
        oid = _part(authority, 2, "&")
        if _part(repetition, 5) == "INS" or oid in INS_ROOTS:
            return _part(repetition, 1), oid
    return "", ""


def _ids(value: str) -> str:
    """TXA-12/13 as the volet fills them: root.extension in .1, or extension^^root^ISO."""
    first, root = _part(value, 1), _part(value, 3)
    return f"{root}.{first}" if root and first else first


def read_request(message: hl7.Message, *, max_document_bytes: int = 20_000_000) -> DocumentRequest:
    """Read and check one ORU/MDM; nothing is written here."""
    msh = _one(message, "MSH", acknowledgment="AR")
    kind = _field(msh, 9)
    message_type, event = _part(kind, 1), _part(kind, 2)
    if message_type == "MDM":
        if event not in EVENTS:
            raise Hl7Refusal(f"MDM^{event} non pris en charge", ErrorCode.UNSUPPORTED_EVENT, "MSH", 1, 9, "AR")
    elif message_type == "ORU":
        if event != "R01":
            raise Hl7Refusal(f"ORU^{event} non pris en charge", ErrorCode.UNSUPPORTED_EVENT, "MSH", 1, 9, "AR")
    else:
        raise Hl7Refusal(f"{message_type} non pris en charge", ErrorCode.UNSUPPORTED_MESSAGE_TYPE, "MSH", 1, 9, "AR")
    profile = _field(msh, 21)
    if "CISIS_CDA_HL7_LPS" in profile:  # the other direction: what a PFI sends its LPS (volet LPS)
        raise Hl7Refusal(
            "profil CISIS_CDA_HL7_LPS : message d'une PFI vers un LPS, pas d'un créateur vers la PFI",
            ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
            "MSH",
            1,
            21,
            "AR",
        )
    pid = _one(message, "PID", acknowledgment="AR")
    pv1 = _one(message, "PV1")
    ins, ins_oid = _pid_ins(pid)
    if not ins:
        raise Hl7Refusal("PID-3 ne porte pas d'INS", ErrorCode.REQUIRED_FIELD, "PID", 1, 3)
    patient_class, stay = _field(pv1, 2), _part(_field(pv1, 19), 1)
    authority = _part(_field(pv1, 19), 4)  # HD: its universal id (FINESS), else its namespace — as PAM reads it
    stay_structure = _part(authority, 2, "&") or _part(authority, 1, "&")
    if not patient_class:
        raise Hl7Refusal("PV1-2 (classe du patient) absent", ErrorCode.REQUIRED_FIELD, "PV1", 1, 2)
    if patient_class in STAY_REQUIRED_CLASSES and not stay:
        raise Hl7Refusal("PV1-19 (numéro de venue) requis pour cette classe", ErrorCode.REQUIRED_FIELD, "PV1", 1, 19)

    documents: list[bytes] = []
    headers: list[CdaHeader] = []
    statuses: list[str] = []
    flags: dict[str, bool] = {}
    bodies: dict[str, str] = {}
    first_meta = None
    for sequence, obx in enumerate(message.segments("OBX") if _has(message, "OBX") else [], start=1):
        identifier = _field(obx, 3)
        code, system = _part(identifier, 1), _part(identifier, 3)
        if system == "MetaDMPMSS" or code in META_CODES:
            if code not in META_CODES:
                raise Hl7Refusal(
                    f"OBX-3 : « {code} » hors de la table MetaDMP/MSS", ErrorCode.TABLE_VALUE, "OBX", sequence, 3
                )
            first_meta = first_meta or sequence
            if code.startswith("CORPSMAIL"):
                try:
                    bodies[code] = _decoded(message, obx, sequence).decode("utf-8", "replace")
                except Hl7Refusal:  # a mail body is text to show, not a document: kept as sent
                    bodies[code] = _part(_field(obx, 5), 5)
            else:
                flags[code] = _yes_no(obx, sequence, code)
            continue
        if first_meta is not None:
            raise Hl7Refusal(
                "OBX : le document précède les métadonnées", ErrorCode.SEGMENT_SEQUENCE, "OBX", sequence, None
            )
        if _field(obx, 2) != "ED":
            raise Hl7Refusal("OBX-2 : ED attendu pour le document", ErrorCode.DATA_TYPE, "OBX", sequence, 2)
        data = _decoded(message, obx, sequence)
        header = _cda(data, sequence, max_document_bytes)
        _same_patient(header, pid, ins, ins_oid)
        documents.append(data)
        headers.append(header)
        statuses.append(_field(obx, 11))
    if not documents:
        raise Hl7Refusal("aucun OBX ne porte de document CDA", ErrorCode.SEGMENT_SEQUENCE, "OBX", 1, 5)
    if message_type == "MDM" and len(documents) > 1:
        raise Hl7Refusal("un MDM ne transmet qu'un document", ErrorCode.SEGMENT_SEQUENCE, "OBX", 2, None)

    status = statuses[0]
    if any(s != status for s in statuses) or status not in BY_STATUS:
        raise Hl7Refusal(f"OBX-11 : F, C ou D attendu, reçu « {status} »", ErrorCode.TABLE_VALUE, "OBX", 1, 11)
    action, orc_expected = BY_STATUS[status]
    if message_type == "MDM" and EVENTS[event][0] != action:
        raise Hl7Refusal(
            f"OBX-11 « {status} » incohérent avec l'évènement {event}", ErrorCode.TABLE_VALUE, "OBX", 1, 11
        )
    if _has(message, "ORC"):
        orc = _field(message.segment("ORC"), 1)
        legacy = _part(profile, 1) in ("1.2", "2.0") and orc == "SC"  # the volet's 2.0 examples: SC
        if orc and orc != orc_expected and not legacy:
            raise Hl7Refusal(
                f"ORC-1 « {orc} » incohérent avec l'OBX-11 « {status} » (attendu {orc_expected})",
                ErrorCode.TABLE_VALUE,
                "ORC",
                1,
                1,
            )
    unique_id = _document_id(headers[0])
    replaced = ""
    if message_type == "MDM":
        txa = _one(message, "TXA")
        if _ids(_field(txa, 12)) not in (unique_id, ""):
            raise Hl7Refusal("TXA-12 n'est pas l'identifiant du document CDA", ErrorCode.INTERNAL_ERROR, "TXA", 1, 12)
        if action == "remplacement":
            replaced = _ids(_field(txa, 13))
            if not replaced:
                raise Hl7Refusal("TXA-13 (document remplacé) requis pour T10", ErrorCode.REQUIRED_FIELD, "TXA", 1, 13)
    if action == "remplacement" and not replaced:
        replaced = headers[0].replaces or ""

    recipients = _recipients(message, ins, ins_oid)
    if flags.get("DESTMSSANTEPS"):
        if not any(not r.patient for r in recipients):
            raise Hl7Refusal(
                "DESTMSSANTEPS : aucun destinataire MSSanté (PRT RCT, PRT-15.4)", ErrorCode.REQUIRED_FIELD, "PRT", 1, 15
            )
        if flags.get("MASQUE_PS"):
            raise Hl7Refusal(
                "document masqué aux professionnels (MASQUE_PS) : il ne peut leur être envoyé par MSSanté",
                ErrorCode.INTERNAL_ERROR,
                "OBX",
                _meta_sequence(message, "DESTMSSANTEPS"),
                5,
            )
    if flags.get("DESTMSSANTEPAT") and flags.get("INVISIBLE_PATIENT"):
        raise Hl7Refusal(
            "document invisible au patient (INVISIBLE_PATIENT) : il ne peut lui être envoyé par MSSanté",
            ErrorCode.INTERNAL_ERROR,
            "OBX",
            _meta_sequence(message, "DESTMSSANTEPAT"),
            5,
        )
    if flags.get("CONNEXION_SECRETE") and flags.get("DESTMSSANTEPAT") and not flags.get("DESTMSSANTEPS"):
        raise Hl7Refusal(
            "document d'une connexion secrète (CONNEXION_SECRETE) : il ne peut être envoyé par MSSanté au seul patient"
            " (matrice MSSanté du volet)",
            ErrorCode.INTERNAL_ERROR,
            "OBX",
            _meta_sequence(message, "CONNEXION_SECRETE"),
            5,
        )
    return DocumentRequest(
        control_id=_field(msh, 10),
        message_type=message_type,
        event=event,
        action=action,
        sending_application=_part(_field(msh, 3), 1),
        sending_facility=_part(_field(msh, 4), 1),
        version=_part(_field(msh, 12), 1),
        documents=tuple(documents),
        headers=tuple(headers),
        unique_id=unique_id,
        replaced_id=replaced,
        ins=ins,
        ins_oid=ins_oid,
        ins_status=_field(pid, 32),
        patient_class=patient_class,
        stay_number=stay,
        stay_structure=stay_structure,
        flags=flags,
        recipients=recipients,
        body_ps=bodies.get("CORPSMAIL_PS", ""),
        body_patient=bodies.get("CORPSMAIL_PATIENT", ""),
    )


def _same_patient(header: CdaHeader, pid: hl7.Segment, ins: str, ins_oid: str) -> None:
    """The CDA's recordTarget is the PID's patient: the same INS (matricule and OID, PID-3), and the
    same birth date (PID-7) and sex (PID-8) where the PID gives them (profils-messages.md: "le PID-3
    doit être identique aux identifiants de patient portés par le document CDA")."""
    patient = header.patient
    found = patient.ins
    if found is None or found.extension != ins or (ins_oid and found.root != ins_oid):
        described = f"{found.extension} ({found.root})" if found else "aucun"
        raise Hl7Refusal(
            f"le document CDA (INS {described}) ne concerne pas le patient du PID-3 (INS {ins} ({ins_oid}))",
            ErrorCode.INTERNAL_ERROR,
            "PID",
            1,
            3,
        )
    birth = _field(pid, 7)[:8]
    if birth and patient.birth_date and patient.birth_date[:8] != birth:
        raise Hl7Refusal(
            f"date de naissance du document CDA ({patient.birth_date[:8]}) différente du PID-7 ({birth})",
            ErrorCode.INTERNAL_ERROR,
            "PID",
            1,
            7,
        )
    sex = _field(pid, 8)
    if sex in ("M", "F") and patient.gender in ("M", "F") and patient.gender != sex:
        raise Hl7Refusal(
            f"sexe du document CDA ({patient.gender}) différent du PID-8 ({sex})", ErrorCode.INTERNAL_ERROR, "PID", 1, 8
        )


def _has(message: hl7.Message, name: str) -> bool:
    return any(_text(segment[0]) == name for segment in message)


def _meta_sequence(message: hl7.Message, code: str) -> int:
    for sequence, obx in enumerate(message.segments("OBX"), start=1):
        if _part(_field(obx, 3), 1) == code:
            return sequence
    return 1


def _recipients(message: hl7.Message, ins: str, ins_oid: str) -> tuple[Recipient, ...]:
    """PRT with PRT-4 RCT: the MSSanté address in PRT-15.4; a PRT-5 whose authority is an INS's, or
    whose identifier type (PRT-5.13) is INS, is the patient's (profils-messages.md, "Participation
    Information destinataire(s)")."""
    found: list[Recipient] = []
    if not _has(message, "PRT"):
        return ()
    for sequence, prt in enumerate(message.segments("PRT"), start=1):
        if _part(_field(prt, 4), 1) != "RCT":
            continue
        telecom = _field(prt, 15).split("~")[0]
        address = _part(telecom, 4)
        if not _ADDRESS.match(address):
            raise Hl7Refusal(
                f"PRT-15.4 : adresse MSSanté invalide « {address[:80]} »", ErrorCode.DATA_TYPE, "PRT", sequence, 15
            )
        person = _field(prt, 5)
        authority = _part(person, 9)  # HD: namespace&OID&ISO — or the OID alone, as the volet's examples write it
        patient = _part(person, 13) == "INS" or bool({*authority.split("&")} & set(INS_ROOTS))
        found.append(Recipient(address, _part(person, 1), patient))
    return tuple(found)
