"""The ordonnance's copy in the patient's DMP: a CDA R2 N1 around the paper ordonnance's PDF, sent by ITI-65.

Seed 001 L349: while the prescription is recorded in the base, the prescriber's software records the
ordonnance in the patient's DMP, where the patient finds it in Mon espace santé (000 L279: "notamment
de la retrouver en cas de perte"; 000 L3595). The copy is tied to the patient's INS although the base
holds none (000 L3698); it is first an N1 — the PDF handed to the patient — and later the volet's N3
(000 L3621). This module writes the N1 and deposits it through the DMP's PDSm API, as a vendor's
software does (the structured N3 is epmeddm.py's); the prescription is the one the base answered
(prescription.py).

Choices, each from the CI-SIS reference pack (`reference/cisis`) where it speaks:

- **Type code** (XDS typeCode = CDA `code`): 000 L3672 wants the patient to find "ses e-prescriptions
  selon leur type", so the code follows what the envelope prescribes. Every candidate is a concept of
  JDV_J07_XdsTypeCode_CISIS (`jeuxDeValeurs/JDV_J07_XdsTypeCode_CISIS.xml`), read at run time: a code
  the pack no longer lists (or lists as retired on the prescription day) is refused, not written.
  Medicines and/or medical devices → LOINC 57833-6 "Prescription de produits de santé", the code the
  eP-MED-DM volet imposes ("ePrescription de médicaments et/ou de dispositifs médicaux",
  `Entete_EP-MED-DM_2024.01.sch`): the JDV has no separate code for devices. Biology → TRE_A05
  PRESC-BIO "Prescription d'actes de biologie médicale", the code of the EP-BIO volet
  (`Entete_BIO-EP-BIO_2022.01.sch`). Other acts → the TRE_A05 code of the profession that performs
  them when the caller names it (PRESC-INF, PRESC-KINE, PRESC-PEDI, PRESC-ORTHOPHO, PRESC-ORTHOPTIE),
  else LOINC 57832-8 "Prescription de soins". An envelope that mixes these families (000 L3661-3665
  allows one envelope for everything) is one paper ordonnance, one PDF, hence one DMP document: it
  takes LOINC 57828-6 "Prescription (autre)", the JDV's code for a prescription none of the others
  describes. All of them file under class 42 "Prescription" (ASS_X04, `formats/xds_codes.py`).
- **Prescription number**: in the title ("Ordonnance numérique N°…") and as the id of the documented
  act, `documentationOf/serviceEvent/id` root 1.2.250.1.215.500.1.1 (the CNAM's arc of e-prescription
  numbers), where the official eP-MED-DM example puts it (`ExemplesCDA/eP-MED-DM_2024.01_PosoStruct.xml`
  L373-374). The document's own `id` cannot carry it: the DMP refuses root^extension document ids.
- **Validity**: the serviceEvent's effectiveTime runs from the prescription to the last day it may
  be executed, as eP-MED-DM requires ("date de début et date de fin de validité de la prescription",
  `Entete_EP-MED-DM_2024.01.sch`); that day is computed with the
  rules the base applies (the CSP periods of `formats/ordonnance.py`).
- **Document ids**: setId = `<producer's OID arc>.<number read in base 36>`, id = `<setId>.<version>`.
  The same ordonnance always gets the same ids, so a deposit retried after a lost answer is a replay
  (the DMP answers what it answered and stores nothing twice), never a second copy; version n+1
  replaces version n (CDA RPLC) under the same setId.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from lxml import etree

from maison.core.errors import InvalidInput, MaisonError
from maison.core.terminology.valuesets import ValueSet
from maison.etablissement.dmp.producer import Produced, provide_bundle
from maison.etablissement.ordonnance.prescription import LineKind, Prescription
from maison.formats import xmlsafe
from maison.formats.cda.build import (
    LOINC,
    SYS_FACILITY,
    SYS_PRACTICE,
    DocumentHeader,
    PatientIdentity,
    Professional,
    Writer,
    write_header,
)
from maison.formats.cda.header import INS_ROOTS, TEMPLATE_XDS_SD, V3, Code, read_header
from maison.formats.ordonnance import parse_number
from maison.formats.pdsm import SYS_TYPE_COMPLEMENTAIRE
from maison.formats.svs import read_value_set

log = logging.getLogger("maison.ordonnance")

OID_EPRESCRIPTION_NUMBER = "1.2.250.1.215.500.1.1"  # eP-MED-DM example L373-374; Entete_BIO-EP-BIO_2022.01.sch
JDV_TYPES = Path("cisis") / "jeuxDeValeurs" / "JDV_J07_XdsTypeCode_CISIS.xml"
TITLE = "Ordonnance numérique N°{number}"
_PARIS = ZoneInfo("Europe/Paris")

# (code, code system) of each kind of envelope; the display names are the JDV's, read at run time.
PRODUITS_DE_SANTE = ("57833-6", LOINC)  # medicines and/or devices (eP-MED-DM)
BIOLOGIE = ("PRESC-BIO", SYS_TYPE_COMPLEMENTAIRE)  # EP-BIO
SOINS = ("57832-8", LOINC)  # other acts, performer not named
AUTRE = ("57828-6", LOINC)  # an envelope mixing the families above
# Other acts by the TRE_G15 profession that performs them (the base's EXECUTANTS name the same ones).
ACTES = {
    "60": ("PRESC-INF", SYS_TYPE_COMPLEMENTAIRE),
    "70": ("PRESC-KINE", SYS_TYPE_COMPLEMENTAIRE),
    "80": ("PRESC-PEDI", SYS_TYPE_COMPLEMENTAIRE),
    "91": ("PRESC-ORTHOPHO", SYS_TYPE_COMPLEMENTAIRE),
    "92": ("PRESC-ORTHOPTIE", SYS_TYPE_COMPLEMENTAIRE),
}

# Where a prescriber usually writes: liberal practice in his own practice (the eP-MED-DM example's
# values). A hospital's outpatient or discharge ordonnance passes ETABLISSEMENT and its SA code.
AMBULATOIRE = Code("AMBULATOIRE", SYS_PRACTICE, "Ambulatoire")  # JDV_J04_XdsPracticeSettingCode_CISIS
CABINET_INDIVIDUEL = Code("SA07", SYS_FACILITY, "Cabinet individuel")  # JDV_J02_XdsHealthcareFacilityTypeCode_CISIS


class DepositRefused(MaisonError):
    """The DMP answered the ITI-65 with an OperationOutcome: `code` is its machine code (XDS…,
    or the DMP's own), `status` the HTTP status, `message` its diagnostics."""

    http_status = 502  # for an adapter that shows it: the upstream service refused
    fhir_issue = "exception"
    code = "dmp-refus"

    def __init__(self, message: str, *, status: int, code: str | None = None, expression: str | None = None) -> None:
        super().__init__(message, code=code, expression=expression)
        self.status = status


@lru_cache(maxsize=4)
def _types(path: Path) -> ValueSet:
    return read_value_set(path)


def document_type(prescription: Prescription, reference_path: Path, *, executant: str | None = None) -> Code:
    """The XDS typeCode of the ordonnance's copy (module docstring), with its JDV_J07 display name.
    `executant` is the TRE_G15 profession that performs the free-text acts, when known."""
    kinds = {line.kind for line in prescription.lines}
    if not kinds:
        raise InvalidInput("ordonnance sans ligne", code="ordonnance-vide")
    if kinds <= {LineKind.MEDICAMENT, LineKind.DISPOSITIF}:
        code, system = PRODUITS_DE_SANTE
    elif kinds == {LineKind.BIOLOGIE}:
        code, system = BIOLOGIE
    elif kinds == {LineKind.ACTE}:
        code, system = ACTES.get(executant or "", SOINS)
    else:
        code, system = AUTRE
    value_set = _types(reference_path / JDV_TYPES)
    concept = next((c for c in value_set.concepts if (c.code, c.code_system) == (code, system)), None)
    if concept is None or not concept.valid_on(prescription.prescribed_on):
        raise InvalidInput(
            f"type de document {code}@{system} absent de {value_set.name} ({value_set.source_file}) "
            f"ou retiré au {prescription.prescribed_on.isoformat()}",
            code="ordonnance-type",
        )
    return Code(concept.code, concept.code_system, concept.display)


def valid_until(prescription: Prescription) -> date:
    """The last day the ordonnance may be executed: a first execution within three months, renewals
    within the treatment's duration (each of the 1 + renewals executions covers it), never past
    twelve months (CSP R.5132-21/22, formats/ordonnance.py)."""
    end = prescription.first_execution_until
    for line in prescription.lines:
        if line.renewals:
            line_end = (
                prescription.prescribed_on + timedelta(days=line.duration_days * (1 + line.renewals))
                if line.duration_days
                else prescription.treatment_until
            )
            end = max(end, min(line_end, prescription.treatment_until))
    return end


def document_ids(prescription: Prescription, document_root: str, version: int) -> tuple[str, str]:
    """(id, setId) of version `version` of the ordonnance's copy (module docstring)."""
    number = parse_number(prescription.number)
    set_id = f"{document_root}.{int(number, 36)}"
    return f"{set_id}.{version}", set_id


def check_copy(
    prescription: Prescription, patient: PatientIdentity, author: Professional, pdf: bytes, version: int
) -> None:
    """What every copy in the DMP (N1, N3) needs: an active ordonnance, its prescriber as author, the
    patient's INS, a version, the PDF as printed."""
    if prescription.status != "active":
        state = "annulée" if prescription.status == "revoked" else prescription.status
        raise InvalidInput(f"ordonnance {prescription.number} {state} : pas de copie au DMP", code="ordonnance-annulee")
    if author.idnatps != prescription.prescriber:
        raise InvalidInput(
            "l'auteur de la copie au DMP est le prescripteur de l'ordonnance (001 L349)", code="ordonnance-auteur"
        )
    if patient.ins_oid not in INS_ROOTS or not patient.ins:
        raise InvalidInput("la copie au DMP est associée à l'INS du patient (000 L3698)", code="ordonnance-ins")
    if version < 1:
        raise InvalidInput(f"version {version} : entier positif attendu", code="ordonnance-version")
    if not pdf.startswith(b"%PDF-"):
        raise InvalidInput("la copie au DMP porte le PDF de l'ordonnance", code="ordonnance-pdf")


def n1_ordonnance(
    prescription: Prescription,
    patient: PatientIdentity,
    author: Professional,
    pdf: bytes,
    *,
    reference_path: Path,
    document_root: str,
    setting: Code = AMBULATOIRE,
    facility: Code = CABINET_INDIVIDUEL,
    version: int = 1,
    executant: str | None = None,
    confidentiality: str = "N",
) -> bytes:
    """The CDA R2 N1 of the ordonnance: its header, and `pdf` — the ordonnance as printed and handed
    to the patient — as the body. `document_root` is the producing software's OID arc; `version` > 1
    writes the replacement of the previous version (RPLC), to deposit with `deposit(replaces=…)`."""
    check_copy(prescription, patient, author, pdf, version)
    kind = document_type(prescription, reference_path, executant=executant)
    unique_id, set_id = document_ids(prescription, document_root, version)
    created = prescription.created_at
    until = datetime.combine(valid_until(prescription), time(23, 59, 59), tzinfo=_PARIS)
    header = DocumentHeader(
        unique_id,
        set_id,
        version,
        kind,
        TITLE.format(number=prescription.number),
        created,
        patient,
        author,
        kind,
        created,
        until,
        setting,
        facility,
        confidentiality,
        replaces=f"{set_id}.{version - 1}" if version > 1 else None,
    )
    w = Writer()
    write_header(w, header, (TEMPLATE_XDS_SD,))
    event = w.root.find(f"{{{V3}}}documentationOf/{{{V3}}}serviceEvent")
    number = etree.Element(f"{{{V3}}}id", root=OID_EPRESCRIPTION_NUMBER, extension=prescription.number)
    event.insert(0, number)  # CDA order: id before code
    body = w.add(w.add(w.root, "component"), "nonXMLBody")
    w.add(body, "text", base64.b64encode(pdf).decode(), mediaType="application/pdf", representation="B64")
    return etree.tostring(w.root, xml_declaration=True, encoding="UTF-8")


def deposit(
    client: httpx.Client,
    cda: bytes,
    *,
    replaces: str | None = None,
    visibility: Iterable[str] = (),
    source_id: str | None = None,
    structured: bytes | None = None,
) -> str:
    """Send `cda` to the DMP (ITI-65 over PDSm, `client` on the DMP's base URL with the professional's
    token) and answer the id of its DocumentReference. `replaces` is "DocumentReference/<id>" of the
    version a new one replaces; `source_id` the producing software's OID (XDS sourceId).
    A retry of the same bytes (after a lost answer) gets the first answer back: the submission set's id is
    derived from the document's, so the DMP sees a replay. A refusal raises `DepositRefused` with the
    DMP's code and diagnostics; a transport failure is httpx's. `structured` is the eP-MED-DM N3 of
    the same ordonnance (epmeddm.py): it goes in the same submission as the structured form of the
    N1 (seed 002 L790: an N3 only with its N1)."""
    header = read_header(xmlsafe.parse(cda, max_bytes=len(cda) + 1))
    # The submission set's id follows from the document's (an OID of the UUID form 2.25, ITU-T X.667):
    # sending the same document again is the same submission, which the DMP answers as a replay.
    submission_id = f"urn:oid:2.25.{uuid.uuid5(uuid.NAMESPACE_OID, 'maison-ordonnance-dmp:' + header.unique_id).int}"
    documents = [Produced(cda, visibility=tuple(visibility), replaces=replaces)]
    if structured is not None:
        documents.append(Produced(structured, visibility=tuple(visibility), transforms=0))
    bundle = provide_bundle(documents, submission_id=submission_id, **({"source_id": source_id} if source_id else {}))
    response = client.post(
        "", json=bundle, headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or response.status_code != 200 or body.get("resourceType") != "Bundle":
        raise _refusal(response.status_code, body, response.text)
    locations = [(e.get("response") or {}) for e in body.get("entry", []) if isinstance(e, dict)]
    for answer in locations:
        for issue in (answer.get("outcome") or {}).get("issue", []):
            log.warning("DMP : %s", issue.get("diagnostics", issue))
    for answer in locations:
        location = str(answer.get("location", ""))
        if location.startswith("DocumentReference/"):
            return location.split("/")[1]
    raise DepositRefused(
        "DMP : réponse ITI-65 sans DocumentReference créée", status=response.status_code, code="reponse-sans-fiche"
    )


def _refusal(status: int, body: object, text: str) -> DepositRefused:
    """The DMP's OperationOutcome as an exception: its first error's code and every diagnostics."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return DepositRefused(f"DMP : réponse HTTP {status} inattendue : {text[:300]}", status=status)
    issues = [i for i in body.get("issue", []) if isinstance(i, dict)]
    errors = [i for i in issues if i.get("severity") in ("error", "fatal")] or issues
    first = errors[0] if errors else {}
    codings = (first.get("details") or {}).get("coding") or [{}]
    code = codings[0].get("code") or first.get("code") or "dmp-refus"
    diagnostics = " ; ".join(
        str(i.get("diagnostics") or (i.get("details") or {}).get("text") or i.get("code")) for i in errors
    )
    expression = ", ".join(first.get("expression") or []) or None
    return DepositRefused(
        f"DMP : dépôt refusé (HTTP {status}, {code}) : {diagnostics}", status=status, code=code, expression=expression
    )
