"""The ordonnance of health products (CI-SIS volet eP-MED-DM 2024.01, "ePrescription de médicaments
et/ou de dispositifs médicaux") as a CDA R2 N3: the structured copy the prescriber's software files
in the patient's DMP next to (or after) the N1 of `dmp_copie.py` (seed 000 L3621:
"d'abord sous un format peu structuré (CDA R2 N1) puis sous un format structuré").

What this module writes, as the official example (`ExemplesCDA/eP-MED-DM_2024.01_PosoStruct.xml`),
the volet schematron (`schematrons/CI-SIS_EP-MED-DM_2024.01.sch` and its includes) and the profile
schematrons the example names (IHE, CI-SIS_ModelesDeContenusCDA, CI-SIS_Modeles_ANS) want it:

    ClinicalDocument       IHE PRE + IHE PCC + eP-MED-DM 2024.01 templateIds, code 57833-6
      recordTarget         the patient by INS, with the address and telecom the volet requires
      documentationOf      the prescription number (serviceEvent/id) and its validity (low/high)
      structuredBody
        section            FR-Prescription-medicaments (when the ordonnance has medicines)
          substanceAdministration  FR-Traitement-prescrit, "doses normales" mode, one per medicine
        section            FR-Prescription-dispositifs-medicaux (when it has devices)
          supply           FR-Dispositif-medical, one per device
        section            FR-Document-PDF-copie: the ordonnance as printed (required by the volet)

A line's free-text posology is the FR-Instructions-au-patient entry (PINSTRUCT): Maison's model
keeps posology as text, and the volet's structured dosage elements (frequency, doseQuantity…) are
optional. The mentions the model does not carry (ALD, AT/MP, prévention, non remboursable, hors AMM,
the reason for "non substituable") are `Mentions`, one per line number, every one "false" by
default — the value the official example writes and the one that holds when nothing was said.

Codes: the volet wants a medicine's product code in CIS (E_produitDeSante_fr.sch); a line coded in
CIS is written so. A CIP13 or UCD line keeps its code as a translation under a `code nullFlavor="OTH"`
(HL7: the value is outside the expected code system, here is what it is), CIP in the ANSM's system
(1.2.250.1.213.2.3.2, as the examples write it), UCD in the CNAM's (1.2.250.1.215.200.1.1.2, the
system JDV_BDM_CNAM-HR_CISIS names). A prescription in DC (substance, SMS) writes the substance as
the product's active ingredient (pharm:ingredient, as the IPS-FR example does). A device is coded in
LPP (1.2.250.1.215.200.2.1) or, in free text, `code nullFlavor="OTH"` with its originalText.

Document ids: the N3 is its own document, beside the N1 of the same ordonnance. Its setId is the
N1's setId followed by `.0` — an arc the N1 never uses (its ids are `<setId>.<version ≥ 1>`) — and
its id `<N3 setId>.<version>`: the same ordonnance always gets the same N3 ids, so a retried deposit
is a replay (dmp_copie.py's reasoning).

What the header does not write, although the example shows it: the FR-Code-a-barres section (the
volet schematron does not require it), the document-level mentions (bizone, médicaments d'exception,
ordonnance sécurisée…: MED-1096…), the replaced prescriber and the desired executant (participants).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from lxml import etree

from maison.core.errors import InvalidInput
from maison.etablissement.ordonnance.dmp_copie import (
    AMBULATOIRE,
    CABINET_INDIVIDUEL,
    OID_EPRESCRIPTION_NUMBER,
    TITLE,
    check_copy,
    document_ids,
    document_type,
    valid_until,
)
from maison.etablissement.ordonnance.prescription import Line, LineKind, Prescription
from maison.formats.cda.build import (
    LOINC,
    XSI,
    Address,
    DocumentHeader,
    PatientIdentity,
    Professional,
    Writer,
    ts,
    write_header,
)
from maison.formats.cda.crbio import pdf_copy_section
from maison.formats.cda.header import V3, Code
from maison.formats.ordonnance import SYS_CIP, SYS_CIS, SYS_LPP, SYS_SMS, SYS_UCD

# Document level (Entete_EP-MED-DM_2024.01.sch; example lines 36-43)
TEMPLATE_PRE = "1.3.6.1.4.1.19376.1.9.1.1.1"  # IHE Pharm PRE
TEMPLATE_PCC = "1.3.6.1.4.1.19376.1.5.3.1.1.1"  # IHE PCC Medical Document
TEMPLATE_EP_MED_DM = ("1.2.250.1.213.1.1.1.39", "2024.01")  # selects the 2024.01 volet schematron
TYPE_CODE = "57833-6"  # fixed by Entete_EP-MED-DM_2024.01.sch
# Sections (CI-SIS_EP-MED-DM_2024.01.sch, pattern variables)
# PRE Prescription Section, FR-Prescription-medicaments
SECTION_MEDICINES = ("1.3.6.1.4.1.19376.1.9.1.2.1", "1.2.250.1.213.1.1.2.171")
SECTION_DEVICES = ("1.2.250.1.213.1.1.2.222",)  # FR-Prescription-dispositifs-medicaux
# Entries
ENTRY_PRESCRIBED = (
    "2.16.840.1.113883.10.20.1.24",
    "1.3.6.1.4.1.19376.1.5.3.1.4.7",
    "1.3.6.1.4.1.19376.1.9.1.3.2",
    "1.2.250.1.213.1.1.3.83",
)  # CCD, PCC Medications, PRE Prescription Item, FR-Traitement-prescrit
MODE_NORMAL = "1.3.6.1.4.1.19376.1.5.3.1.4.7.1"  # "doses normales": no subordinate administration
ENTRY_PRODUCT = ("2.16.840.1.113883.10.20.1.53", "1.3.6.1.4.1.19376.1.5.3.1.4.7.2", "1.2.250.1.213.1.1.3.43")
ENTRY_MEDICINE = "1.3.6.1.4.1.19376.1.9.1.3.1"  # PRE Medicine Entry (manufacturedMaterial)
ENTRY_INSTRUCTIONS = ("2.16.840.1.113883.10.20.1.49", "1.3.6.1.4.1.19376.1.5.3.1.4.3", "1.2.250.1.213.1.1.3.33")
ENTRY_QUANTITY = ("1.3.6.1.4.1.19376.1.9.1.3.8", "1.2.250.1.213.1.1.3.86")  # FR-Quantite-de-produit
ENTRY_SUBSTITUTION = ("1.3.6.1.4.1.19376.1.9.1.3.9.1", "1.2.250.1.213.1.1.3.87")  # FR-Autorisation-Substitution
ENTRY_DEVICE = ("2.16.840.1.113883.10.20.1.34", "1.2.250.1.213.1.1.3.20")  # CCD Supply, FR-Dispositif-medical
ENTRY_SIMPLE_OBSERVATION = ("1.3.6.1.4.1.19376.1.5.3.1.4.13", "1.2.250.1.213.1.1.3.48")
# Code systems
SYS_TA_ASIP = "1.2.250.1.213.1.1.4.322"
SYS_ACT_CODE = "2.16.840.1.113883.5.4"
SYS_SUBSTITUTION = "2.16.840.1.113883.5.1070"  # JDV_HL7_ActSubstanceAdminSubstitutionCode_CISIS: N or G
SYS_IHE_ACT = "1.3.6.1.4.1.19376.1.5.3.2"
CDA_SYSTEMS = {
    SYS_CIS: "1.2.250.1.213.2.3.1",
    SYS_CIP: "1.2.250.1.213.2.3.2",
    SYS_UCD: "1.2.250.1.215.200.1.1.2",
    SYS_SMS: "2.16.840.1.113883.3.6905.2",
    SYS_LPP: "1.2.250.1.215.200.2.1",
}
SUBSTITUTION = {
    True: Code("G", SYS_SUBSTITUTION, "Substitution autorisée par un produit générique"),
    False: Code("N", SYS_SUBSTITUTION, "Aucune substitution permise"),
}
PHARM = "urn:ihe:pharm:medication"
_XSI_TYPE = f"{{{XSI}}}type"
_PARIS = ZoneInfo("Europe/Paris")
_PHONE = re.compile(r"^\+?[0-9]{6,15}$")


@dataclass(frozen=True)
class Mentions:
    """What the prescriber says of one line beyond the model (each a FR-Simple-observation of the
    entry, value BL). `non_substitution_reason` is printed with "non substituable" (MTE, EFG, CIF…)."""

    ald: bool = False  # FR-En-rapport-avec-ALD, MED-574
    accident_travail: bool = False  # FR-En-rapport-avec-accident-travail (AT/MP), GEN-180
    prevention: bool = False  # FR-En-rapport-avec-la-prevention, GEN-295
    non_remboursable: bool = False  # FR-Non-remboursable, GEN-181
    hors_amm: bool = False  # FR-Hors-AMM, GEN-179: medicines only
    non_substitution_reason: str = ""


@dataclass(frozen=True)
class PatientContact:
    """The patient's address and phone, which the volet requires in the header (Entete_EP-MED-DM_2024.01.sch)
    and the ordonnance's model does not hold. `phone` is a number (spaces and dots allowed); `email` optional."""

    address: Address
    phone: str
    email: str = ""


# (template, code, display, narrative column, Mentions field) of each mention, in the example's order
_MENTIONS = (
    ("1.2.250.1.213.1.1.3.48.13", "MED-574", "En rapport avec une ALD", "ALD", "ald"),
    (
        "1.2.250.1.213.1.1.3.48.14",
        "GEN-180",
        "En rapport avec un accident du travail ou une maladie professionnelle",
        "ATMP",
        "accident_travail",
    ),
    ("1.2.250.1.213.1.1.3.48.34", "GEN-295", "En rapport avec la prévention", "prev", "prevention"),
    ("1.2.250.1.213.1.1.3.48.15", "GEN-181", "Non remboursable", "non-remb", "non_remboursable"),
    ("1.2.250.1.213.1.1.3.48.12", "GEN-179", "Hors Autorisation de Mise sur le Marché (AMM)", "horsamm", "hors_amm"),
)
_MEDICINE_MENTIONS = _MENTIONS  # E_traitementPrescrit_fr.sch: ALD, AT, non remboursable, hors AMM [1..1]
_DEVICE_MENTIONS = _MENTIONS[:4]  # E_dispositifMedicalPrescrit.sch: ALD, AT, prévention, non remboursable [1..1]


def ep_med_dm_n3(
    prescription: Prescription,
    patient: PatientIdentity,
    author: Professional,
    pdf: bytes,
    *,
    reference_path: Path,
    document_root: str,
    contact: PatientContact,
    mentions: Mapping[int, Mentions] | None = None,
    setting: Code = AMBULATOIRE,
    facility: Code = CABINET_INDIVIDUEL,
    version: int = 1,
    confidentiality: str = "N",
) -> bytes:
    """The eP-MED-DM 2024.01 N3 of `prescription`, an ordonnance of medicines and/or medical devices.

    `patient` is the INS identity the copy is filed under, `author` the prescriber, `pdf` the ordonnance
    as printed (embedded as FR-Document-PDF-copie). `document_root` is the producing software's OID
    arc, the same as for the N1 (module docstring: the N3's ids derive from the N1's). `contact` is the
    patient's address and phone (required by the volet's header). `mentions` maps a line number to its
    `Mentions` (default: every mention false, substitution as the line says). `setting` (J04) and
    `facility` (J02) are where the prescriber works; `version` > 1 replaces the previous version (RPLC).

    Raises InvalidInput, before writing anything, for what the volet refuses: a line that is neither a
    medicine nor a device (biology and other acts have their own volets), a line the volet cannot code,
    an ordonnance not active, an author who is not the prescriber, a patient without INS, a missing
    contact, a mention for a line that does not exist, a body that is not a PDF."""
    mentions = dict(mentions or {})
    _check(prescription, patient, author, pdf, contact, mentions, version)
    kind = document_type(prescription, reference_path)  # 57833-6 with JDV_J07's display, checked in the pack
    if kind.code != TYPE_CODE:  # cannot happen for medicines and devices (dmp_copie.document_type)
        raise InvalidInput(f"type {kind.code} : eP-MED-DM a le type {TYPE_CODE}", code="ordonnance-type")
    _, n1_set = document_ids(prescription, document_root, 1)
    set_id = f"{n1_set}.0"
    unique_id = f"{set_id}.{version}"
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
    write_header(w, header, (TEMPLATE_PRE, TEMPLATE_PCC, TEMPLATE_EP_MED_DM))
    _patient_contact(w, contact)
    event = w.root.find(f"{{{V3}}}documentationOf/{{{V3}}}serviceEvent")
    event.insert(0, etree.Element(f"{{{V3}}}id", root=OID_EPRESCRIPTION_NUMBER, extension=prescription.number))
    doc = _Doc(w, unique_id, created, prescription.prescribed_on)
    body = w.add(w.add(w.root, "component"), "structuredBody")
    medicines = [line for line in prescription.lines if line.kind is LineKind.MEDICAMENT]
    devices = [line for line in prescription.lines if line.kind is LineKind.DISPOSITIF]
    if medicines:
        _medicines(doc, w.add(w.add(body, "component"), "section"), medicines, mentions)
    if devices:
        _devices(doc, w.add(w.add(body, "component"), "section"), devices, mentions)
    pdf_copy_section(w, w.add(w.add(body, "component"), "section"), pdf, "Copie PDF de l'ordonnance", doc.uid)
    return etree.tostring(w.root, xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------------------------------------- checks


def _check(
    prescription: Prescription,
    patient: PatientIdentity,
    author: Professional,
    pdf: bytes,
    contact: PatientContact,
    mentions: dict[int, Mentions],
    version: int,
) -> None:
    check_copy(prescription, patient, author, pdf, version)
    if not prescription.lines:
        raise InvalidInput("ordonnance sans ligne", code="ordonnance-vide")
    others = [line for line in prescription.lines if line.kind not in (LineKind.MEDICAMENT, LineKind.DISPOSITIF)]
    if others:
        listed = ", ".join(f"ligne {line.number} ({line.kind.value})" for line in others)
        raise InvalidInput(
            f"eP-MED-DM ne porte que des médicaments et des dispositifs médicaux : {listed} "
            "relève d'un autre volet (EP-BIO pour la biologie)",
            code="ep-med-dm-ligne",
        )
    for line in prescription.lines:
        _writable(line)
    numbers = [line.number for line in prescription.lines]
    if len(set(numbers)) != len(numbers):
        raise InvalidInput("numéros de ligne en double", code="ordonnance-lignes")
    by_number = {line.number: line for line in prescription.lines}
    for number, said in mentions.items():
        mentioned = by_number.get(number)
        if mentioned is None:
            raise InvalidInput(f"mentions pour la ligne {number}, absente de l'ordonnance", code="ep-med-dm-mentions")
        if said.hors_amm and mentioned.kind is LineKind.DISPOSITIF:
            raise InvalidInput(f"ligne {number} : « hors AMM » ne concerne qu'un médicament", code="ep-med-dm-mentions")
    a = contact.address
    if not (a.street.strip() and a.postal_code.strip() and a.city.strip()):
        raise InvalidInput(
            "adresse du patient incomplète (voie, code postal, commune) : exigée par Entete_EP-MED-DM_2024.01.sch",
            code="ep-med-dm-patient",
        )
    if not _PHONE.match(_phone(contact.phone)):
        raise InvalidInput(
            f"téléphone du patient « {contact.phone} » invalide : exigé par Entete_EP-MED-DM_2024.01.sch",
            code="ep-med-dm-patient",
        )


def _writable(line: Line) -> None:
    """A line the volet can code: a medicine in CIS, CIP13, UCD or as a substance (SMS), a device in LPP
    or in free text. The base accepts no other (it checked the codes themselves at creation)."""
    if line.kind is LineKind.MEDICAMENT and (line.system not in CDA_SYSTEMS or line.system == SYS_LPP or not line.code):
        raise InvalidInput(
            f"ligne {line.number} : médicament sans code CIS, CIP13, UCD ou substance (SMS)", code="ep-med-dm-ligne"
        )
    if line.kind is LineKind.DISPOSITIF and line.code and line.system != SYS_LPP:
        raise InvalidInput(f"ligne {line.number} : dispositif codé hors LPP", code="ep-med-dm-ligne")


def _phone(number: str) -> str:
    return re.sub(r"[\s.\-()]", "", number)


# ---------------------------------------------------------------------------------------------- writing


@dataclass
class _Doc:
    w: Writer
    unique_id: str
    created: datetime
    prescribed_on: date

    def uid(self, name: str) -> str:
        """A name-based UUID of the document id: the same document is written the same way twice."""
        return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{self.unique_id}/{name}")).upper()


def _patient_contact(w: Writer, contact: PatientContact) -> None:
    """addr and telecom of patientRole, between its ids and `patient` (CDA order)."""
    role = w.root.find(f"{{{V3}}}recordTarget/{{{V3}}}patientRole")
    patient = role.find(f"{{{V3}}}patient")
    at = list(role).index(patient)
    addr = etree.Element(f"{{{V3}}}addr")
    a = contact.address
    for tag, value in (
        ("houseNumber", a.house_number),
        ("streetName", a.street),
        ("postalCode", a.postal_code),
        ("city", a.city),
    ):
        if value:
            etree.SubElement(addr, f"{{{V3}}}{tag}").text = value
    nodes = [addr, etree.Element(f"{{{V3}}}telecom", value=f"tel:{_phone(contact.phone)}")]
    if contact.email:
        nodes.append(etree.Element(f"{{{V3}}}telecom", value=f"mailto:{contact.email}"))
    for offset, node in enumerate(nodes):
        role.insert(at + offset, node)


def _templates(w: Writer, parent: etree._Element, roots: tuple[str, ...]) -> None:
    for root in roots:
        w.add(parent, "templateId", root=root)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _day(day: date) -> str:
    return day.strftime("%Y%m%d")


def _period(line: Line, start: date) -> tuple[date, date] | None:
    """The treatment's first and last day (IVL_TS low/high, both required by E_medications_int.sch)."""
    if not line.duration_days:
        return None
    return start, start + timedelta(days=line.duration_days - 1)


def _fr(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _yes_no(value: bool) -> str:
    return "Oui" if value else "Non"


def _medicines(doc: _Doc, section: etree._Element, lines: list[Line], mentions: dict[int, Mentions]) -> None:
    w = doc.w
    _templates(w, section, SECTION_MEDICINES)
    w.add(section, "id", root=doc.uid("section-medicaments"))
    w.code(section, "code", Code("57828-6", LOINC, "Prescriptions"))
    w.add(section, "title", "Prescription de médicaments")
    text = w.add(section, "text")
    table = w.add(text, "table", border="1")
    head = w.add(w.add(table, "thead"), "tr")
    for title in (
        "Médicament",
        "Posologie",
        "Durée du traitement",
        "Quantité",
        "Substitution",
        "Nombre de renouvel.",
        "En rapport ALD",
        "En rapport AT/MP",
        "En rapport Prévention",
        "Non remboursable",
        "Hors AMM",
    ):
        w.add(head, "th", title)
    tbody = w.add(table, "tbody")
    for line in lines:
        said = mentions.get(line.number, Mentions())
        key = f"med-{line.number}"
        tr = w.add(tbody, "tr")
        w.add(w.add(tr, "td"), "content", line.label, ID=key)
        w.add(w.add(tr, "td"), "content", line.instructions or "-", ID=f"{key}-poso")
        period = _period(line, doc.prescribed_on)
        w.add(tr, "td", f"du {_fr(period[0])} au {_fr(period[1])}" if period else "-")
        w.add(tr, "td", f"{_number(line.quantity)} {line.unit}".strip() if line.quantity is not None else "-")
        shown = (
            "Oui"
            if line.substitutable
            else "Non substituable" + (f" ({said.non_substitution_reason})" if said.non_substitution_reason else "")
        )
        w.add(w.add(tr, "td"), "content", shown, ID=f"{key}-substitution")
        w.add(tr, "td", str(line.renewals))
        for _, _, _, column, field in _MEDICINE_MENTIONS:
            w.add(w.add(tr, "td"), "content", _yes_no(getattr(said, field)), ID=f"{key}-{column}")
    for line in lines:
        _medicine(doc, w.add(section, "entry"), line, mentions.get(line.number, Mentions()))


def _medicine(doc: _Doc, entry: etree._Element, line: Line, said: Mentions) -> None:
    """FR-Traitement-prescrit in the "doses normales" mode, as E_traitementPrescrit_fr.sch and
    E_traitementPrescrit_int.sch want it (repeatNumber, substitution and four mentions required)."""
    w, key = doc.w, f"med-{line.number}"
    sa = w.add(entry, "substanceAdministration", classCode="SBADM", moodCode="INT")
    _templates(w, sa, (*ENTRY_PRESCRIBED, MODE_NORMAL))
    w.add(sa, "id", root=doc.uid(key))
    w.code(sa, "code", Code("DRUG", SYS_ACT_CODE, "Médicament"))
    w.add(w.add(sa, "text"), "reference", value=f"#{key}")
    w.add(sa, "statusCode", code="completed")
    period = _period(line, doc.prescribed_on)
    if period:
        interval = w.add(sa, "effectiveTime", **{_XSI_TYPE: "IVL_TS"})
        w.add(interval, "low", value=_day(period[0]))
        w.add(interval, "high", value=_day(period[1]))
    w.add(sa, "repeatNumber", value=str(line.renewals))  # the renewals; dispensations = repeatNumber + 1
    product = w.add(w.add(sa, "consumable"), "manufacturedProduct", classCode="MANU")
    _templates(w, product, ENTRY_PRODUCT)
    material = w.add(product, "manufacturedMaterial", classCode="MMAT", determinerCode="KIND")
    w.add(material, "templateId", root=ENTRY_MEDICINE)
    system = CDA_SYSTEMS[line.system]
    if line.system == SYS_CIS:
        code = w.code(material, "code", Code(line.code, system, line.label))
        w.add(w.add(code, "originalText"), "reference", value=f"#{key}")
    else:
        code = w.add(material, "code", nullFlavor="OTH")
        w.add(w.add(code, "originalText"), "reference", value=f"#{key}")
        if line.system != SYS_SMS:
            w.code(code, "translation", Code(line.code, system, line.label))
    w.add(material, "name", line.label)
    if line.system == SYS_SMS:  # a prescription in DC: the substance is the product's active ingredient
        ingredient = etree.SubElement(material, f"{{{PHARM}}}ingredient", classCode="ACTI", nsmap={"pharm": PHARM})
        substance = etree.SubElement(ingredient, f"{{{PHARM}}}ingredient", classCode="MMAT", determinerCode="KIND")
        etree.SubElement(substance, f"{{{PHARM}}}code", code=line.code, codeSystem=system, displayName=line.label)
        etree.SubElement(substance, f"{{{PHARM}}}name").text = line.label
    if line.instructions.strip():
        _instructions(doc, sa, f"#{key}-poso")
    if line.quantity is not None:
        supply = w.add(w.add(sa, "entryRelationship", typeCode="COMP"), "supply", classCode="SPLY", moodCode="RQO")
        _templates(w, supply, ENTRY_QUANTITY)
        w.add(supply, "independentInd", value="false")
        w.add(supply, "quantity", value=_number(line.quantity), **({"unit": line.unit} if line.unit else {}))
    act = w.add(w.add(sa, "entryRelationship", typeCode="COMP"), "act", classCode="ACT", moodCode="DEF")
    _templates(w, act, ENTRY_SUBSTITUTION)
    substitution = w.code(act, "code", SUBSTITUTION[line.substitutable])
    w.add(w.add(substitution, "originalText"), "reference", value=f"#{key}-substitution")
    w.add(act, "statusCode", code="completed")
    _mentions(doc, sa, key, said, _MEDICINE_MENTIONS)


def _instructions(doc: _Doc, parent: etree._Element, reference: str) -> None:
    """FR-Instructions-au-patient: the free-text posology."""
    w = doc.w
    act = w.add(
        w.add(parent, "entryRelationship", typeCode="SUBJ", inversionInd="true"), "act", classCode="ACT", moodCode="INT"
    )
    _templates(w, act, ENTRY_INSTRUCTIONS)
    w.code(act, "code", Code("PINSTRUCT", SYS_IHE_ACT))
    w.add(w.add(act, "text"), "reference", value=reference)
    w.add(act, "statusCode", code="completed")


def _mentions(doc: _Doc, parent: etree._Element, key: str, said: Mentions, which: tuple) -> None:
    w = doc.w
    for template, code, display, column, field in which:
        obs = w.add(w.add(parent, "entryRelationship", typeCode="COMP"), "observation", classCode="OBS", moodCode="EVN")
        _templates(w, obs, (*ENTRY_SIMPLE_OBSERVATION, template))
        w.add(obs, "id", root=doc.uid(f"{key}-{column}"))
        w.code(obs, "code", Code(code, SYS_TA_ASIP, display))
        w.add(w.add(obs, "text"), "reference", value=f"#{key}-{column}")
        w.add(obs, "statusCode", code="completed")
        w.add(obs, "effectiveTime", value=ts(doc.created))
        w.add(obs, "value", **{_XSI_TYPE: "BL"}, value="true" if getattr(said, field) else "false")


def _devices(doc: _Doc, section: etree._Element, lines: list[Line], mentions: dict[int, Mentions]) -> None:
    w = doc.w
    _templates(w, section, SECTION_DEVICES)
    w.add(section, "id", root=doc.uid("section-dispositifs"))
    w.code(section, "code", Code("46264-8", LOINC, "Dispositifs médicaux"))
    w.add(section, "title", "Prescription de dispositifs médicaux")
    table = w.add(w.add(section, "text"), "table", border="1")
    head = w.add(w.add(table, "thead"), "tr")
    for title in (
        "Dispositif médical",
        "Instructions",
        "Quantité",
        "Nombre de renouvellements",
        "En rapport ALD",
        "En rapport AT/MP",
        "En rapport Prévention",
        "Non remboursable",
    ):
        w.add(head, "th", title)
    tbody = w.add(table, "tbody")
    for line in lines:
        said = mentions.get(line.number, Mentions())
        key = f"dm-{line.number}"
        tr = w.add(tbody, "tr")
        shown = f"{line.label} [LPP {line.code}]" if line.code else line.label
        w.add(w.add(tr, "td"), "content", shown, ID=key)
        w.add(w.add(tr, "td"), "content", line.instructions or "-", ID=f"{key}-instructions")
        w.add(tr, "td", f"{_number(line.quantity)} {line.unit}".strip() if line.quantity is not None else "-")
        w.add(tr, "td", str(line.renewals))
        for _, _, _, column, field in _DEVICE_MENTIONS:
            w.add(w.add(tr, "td"), "content", _yes_no(getattr(said, field)), ID=f"{key}-{column}")
    for line in lines:
        _device(doc, w.add(section, "entry"), line, mentions.get(line.number, Mentions()))


def _device(doc: _Doc, entry: etree._Element, line: Line, said: Mentions) -> None:
    """FR-Dispositif-medical, as E_dispositifMedical-2_ANS.sch and E_dispositifMedicalPrescrit.sch want
    it: one effectiveTime, repeatNumber, one participant DEV/MANU/playingDevice, four mentions."""
    w, key = doc.w, f"dm-{line.number}"
    supply = w.add(entry, "supply", classCode="SPLY", moodCode="INT")
    _templates(w, supply, ENTRY_DEVICE)
    w.add(supply, "id", root=doc.uid(key))
    w.add(w.add(supply, "text"), "reference", value=f"#{key}")
    interval = w.add(supply, "effectiveTime", **{_XSI_TYPE: "IVL_TS"})
    period = _period(line, doc.prescribed_on)
    w.add(interval, "low", value=_day(doc.prescribed_on))
    if period:
        w.add(interval, "high", value=_day(period[1]))
    w.add(supply, "repeatNumber", value=str(line.renewals))
    if line.quantity is not None:
        w.add(supply, "quantity", value=_number(line.quantity), **({"unit": line.unit} if line.unit else {}))
    role = w.add(w.add(supply, "participant", typeCode="DEV"), "participantRole", classCode="MANU")
    device = w.add(role, "playingDevice", classCode="DEV", determinerCode="INSTANCE")
    if line.code:
        code = w.code(device, "code", Code(line.code, CDA_SYSTEMS[SYS_LPP], line.label))
    else:  # seed 000 L3650: devices are mostly prescribed in free text
        code = w.add(device, "code", nullFlavor="OTH")
    w.add(w.add(code, "originalText"), "reference", value=f"#{key}")
    if line.instructions.strip():
        _instructions(doc, supply, f"#{key}-instructions")
    _mentions(doc, supply, key, said, _DEVICE_MENTIONS)
