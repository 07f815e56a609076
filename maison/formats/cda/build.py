"""Producing CDA R2 documents on the producer's side: the header every volet shares, and an N1 body.

The header follows the CI-SIS Structuration minimale as `rules.py` checks it and as the official
N1 example (reference/cisis/ExemplesCDA/DOC_NON_STRUCTURE_CDA-R2-N1.xml) shows it: realm FR, the
HL7 France and CI-SIS templateIds, the patient by INS with every INS trait (SM:52), the author by
IdNatPS with his J01 speciality, the custodian by IdNatStruct, the legal authenticator, the first
documentationOf with its performer and practice setting (J04), the encounter's facility type (J02).
An N1 is that header around a PDF (IHE XDS-SD: nonXMLBody, application/pdf, B64; SM:23-24).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from lxml import etree

from maison.core.identifiers.professionals import OID_IDNATPS, OID_IDNATSTRUCT
from maison.formats.cda.header import TEMPLATE_CISIS, TEMPLATE_HL7_FRANCE, TEMPLATE_XDS_SD, V3, Code

XSI = "http://www.w3.org/2001/XMLSchema-instance"
LOINC = "2.16.840.1.113883.6.1"
SYS_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
SYS_GENDER = "2.16.840.1.113883.5.1"
SYS_SPECIALTY = "1.2.250.1.213.1.1.4.5"  # TRE_G15 / J01 author specialty
SYS_PRACTICE = "1.2.250.1.213.1.1.4.9"  # J04 practice setting
SYS_FACILITY = "1.2.250.1.71.4.2.4"  # J02 / TRE_R02 secteur d'activité
_PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class PatientIdentity:
    ins: str  # matricule INS with its key
    ins_oid: str
    birth_family: str
    birth_givens: str  # the list of birth first names, space separated
    gender: str  # M / F / U
    birth_date: str  # YYYY-MM-DD
    birthplace_cog: str
    local_id: tuple[str, str] | None = None  # (root, extension): the IPP in the producing structure


@dataclass(frozen=True)
class Professional:
    idnatps: str
    family: str
    given: str
    specialty: Code  # J01, e.g. G15_10/SM54
    structure: str  # IdNatStruct
    structure_name: str


@dataclass(frozen=True)
class DocumentHeader:
    unique_id: str  # an OID (the DMP refuses root^extension)
    set_id: str
    version: int
    type: Code  # J07 (LOINC)
    title: str
    created: datetime
    patient: PatientIdentity
    author: Professional
    service_event: Code
    service_start: datetime
    service_stop: datetime | None
    practice_setting: Code  # J04
    facility_type: Code  # J02
    confidentiality: str = "N"
    replaces: str | None = None  # the unique id of the version this one replaces (RPLC)


def ts(moment: datetime) -> str:
    """HL7 TS in French local time with its offset, as the CI-SIS examples write it."""
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(_PARIS)
    return local.strftime("%Y%m%d%H%M%S%z")


class _Writer:
    def __init__(self) -> None:
        self.root = etree.Element(f"{{{V3}}}ClinicalDocument", nsmap={None: V3, "xsi": XSI})

    def add(self, parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
        node = etree.SubElement(parent, f"{{{V3}}}{tag}", {k.rstrip("_"): v for k, v in attrs.items()})
        if text is not None:
            node.text = text
        return node

    def code(self, parent: etree._Element, tag: str, code: Code) -> etree._Element:
        attrs = {"code": code.code, "codeSystem": code.system}
        if code.display:
            attrs["displayName"] = code.display
        return self.add(parent, tag, **attrs)


def _header(w: _Writer, h: DocumentHeader, templates: tuple[str, ...]) -> None:
    r = w.root
    w.add(r, "realmCode", code="FR")
    w.add(r, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    for template in (TEMPLATE_HL7_FRANCE, TEMPLATE_CISIS, *templates):
        w.add(r, "templateId", root=template)
    w.add(r, "id", root=h.unique_id)
    w.code(r, "code", h.type)
    w.add(r, "title", h.title)
    w.add(r, "effectiveTime", value=ts(h.created))
    w.add(r, "confidentialityCode", code=h.confidentiality, codeSystem=SYS_CONFIDENTIALITY)
    w.add(r, "languageCode", code="fr-FR")
    w.add(r, "setId", root=h.set_id)
    w.add(r, "versionNumber", value=str(h.version))
    p = h.patient
    role = w.add(w.add(r, "recordTarget"), "patientRole")
    w.add(role, "id", root=p.ins_oid, extension=p.ins)
    if p.local_id:
        w.add(role, "id", root=p.local_id[0], extension=p.local_id[1])
    patient = w.add(role, "patient", classCode="PSN")
    name = w.add(patient, "name")
    w.add(name, "family", p.birth_family, qualifier="BR")
    w.add(name, "given", p.birth_givens)
    w.add(name, "given", p.birth_givens.split(" ")[0], qualifier="BR")
    w.add(name, "family", p.birth_family, qualifier="CL")
    w.add(name, "given", p.birth_givens.split(" ")[0], qualifier="CL")
    w.add(patient, "administrativeGenderCode", code=p.gender, codeSystem=SYS_GENDER)
    w.add(patient, "birthTime", value=p.birth_date.replace("-", ""))
    w.add(w.add(w.add(w.add(patient, "birthplace"), "place"), "addr"), "county", p.birthplace_cog)
    a = h.author
    author = w.add(r, "author")
    w.add(author, "time", value=ts(h.created))
    assigned = w.add(author, "assignedAuthor")
    _person(w, assigned, a, with_specialty=True)
    custodian = w.add(w.add(w.add(r, "custodian"), "assignedCustodian"), "representedCustodianOrganization")
    w.add(custodian, "id", root=OID_IDNATSTRUCT, extension=a.structure)
    w.add(custodian, "name", a.structure_name)
    legal = w.add(r, "legalAuthenticator")
    w.add(legal, "time", value=ts(h.created))
    w.add(legal, "signatureCode", code="S")
    _person(w, w.add(legal, "assignedEntity"), a, with_specialty=False)
    event = w.add(w.add(r, "documentationOf"), "serviceEvent")
    w.code(event, "code", h.service_event)
    period = w.add(event, "effectiveTime")
    w.add(period, "low", value=ts(h.service_start))
    if h.service_stop:
        w.add(period, "high", value=ts(h.service_stop))
    performer = w.add(w.add(event, "performer", typeCode="PRF"), "assignedEntity")
    w.add(performer, "id", root=OID_IDNATPS, extension=a.idnatps)
    org = w.add(performer, "representedOrganization")
    w.add(org, "id", root=OID_IDNATSTRUCT, extension=a.structure)
    w.add(org, "name", a.structure_name)
    w.code(org, "standardIndustryClassCode", h.practice_setting)
    if h.replaces:  # CDA order: documentationOf, relatedDocument, componentOf
        w.add(w.add(w.add(r, "relatedDocument", typeCode="RPLC"), "parentDocument"), "id", root=h.replaces)
    encounter = w.add(w.add(r, "componentOf"), "encompassingEncounter")
    w.add(w.add(encounter, "effectiveTime"), "low", value=ts(h.service_start))
    facility = w.add(w.add(encounter, "location"), "healthCareFacility")
    w.code(facility, "code", h.facility_type)


def _person(w: _Writer, parent: etree._Element, a: Professional, *, with_specialty: bool) -> None:
    w.add(parent, "id", root=OID_IDNATPS, extension=a.idnatps)
    if with_specialty:
        w.code(parent, "code", a.specialty)
    person = w.add(w.add(parent, "assignedPerson"), "name")
    w.add(person, "given", a.given)
    w.add(person, "family", a.family)
    org = w.add(parent, "representedOrganization")
    w.add(org, "id", root=OID_IDNATSTRUCT, extension=a.structure)
    w.add(org, "name", a.structure_name)


def n1_from_pdf(header: DocumentHeader, pdf: bytes) -> bytes:
    """A CDA R2 N1 document: the header and the PDF as its non-structured body (XDS-SD)."""
    if not pdf.startswith(b"%PDF-"):
        raise ValueError("le corps d'un document N1 est un PDF")
    w = _Writer()
    _header(w, header, (TEMPLATE_XDS_SD,))
    body = w.add(w.add(w.root, "component"), "nonXMLBody")
    w.add(body, "text", base64.b64encode(pdf).decode(), mediaType="application/pdf", representation="B64")
    return etree.tostring(w.root, xml_declaration=True, encoding="UTF-8")
