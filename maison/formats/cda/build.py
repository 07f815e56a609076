"""Producing CDA R2 documents on the producer's side: the header every volet shares, and an N1 body.

The header follows the CI-SIS Structuration minimale as `rules.py` checks it and as the official
N1 example (reference/cisis/ExemplesCDA/DOC_NON_STRUCTURE_CDA-R2-N1.xml) shows it: realm FR, the
HL7 France and CI-SIS templateIds, the patient by INS with every INS trait (SM:52), the author by
IdNatPS with his J01 speciality, the custodian by IdNatStruct, the legal authenticator, the first
documentationOf with its performer and practice setting (J04), the encounter's facility type (J02).
An N1 is that header around a PDF (IHE XDS-SD: nonXMLBody, application/pdf, B64; SM:23-24).

`write_header` is public because the N3 volets (e.g. `crbio.py`) write the same header with a few
pieces of their own: a versioned volet templateId, header participants (the prescriber), the
order they fulfil, a templated performer with its time, one documentationOf per act, the
encounter's responsible party. Every such piece is optional and absent from an N1.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
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
# SM:177 (SMDS_CDAClinicalDocument) wants confidentialityCode@displayName: JDV_HL7_Confidentiality_CISIS's
CONFIDENTIALITY = {
    "L": "Bas",
    "M": "Modéré",
    "N": "Normal",
    "R": "Restreint",
    "U": "Non restreint",
    "V": "Très restreint",
}


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
class Address:
    """Written in the structured form (CI-SISAddr, SM template 1.2.250.1.213.1.1.1.1.10.18 takes
    either that or streetAddressLine alone)."""

    street: str  # streetName, e.g. "Rue Frédéric Bastia"
    postal_code: str
    city: str
    house_number: str = ""


@dataclass(frozen=True)
class Professional:
    idnatps: str
    family: str
    given: str
    specialty: Code  # J01, e.g. G15_10/SM54
    structure: str  # IdNatStruct
    structure_name: str
    # Contact details, written wherever the professional appears when given; some volets require
    # them (CR-BIO: the laboratory's performer, Entete_CR-BIO.sch).
    address: Address | None = None
    telecom: str = ""  # an URL: tel:0174589607, mailto:…
    structure_address: Address | None = None
    structure_telecom: str = ""


@dataclass(frozen=True)
class Participant:
    """A header participant (CDA participant1), e.g. the prescriber of a laboratory order (REF)."""

    type_code: str  # REF, PRF, INF…
    who: Professional
    time: datetime | None = None  # written as an IVL_TS high, as the CI-SIS examples do
    template: str | None = None


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
    # componentOf/encompassingEncounter/id: the stay (root: the structure's numbering authority, extension:
    # the stay number), which ties a document fed outside the PFI to its stay (SUN-ES, seed 004 L191-194)
    encounter_id: tuple[str, str] | None = None


def ts(moment: datetime) -> str:
    """HL7 TS in French local time with its offset, as the CI-SIS examples write it."""
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(_PARIS)
    return local.strftime("%Y%m%d%H%M%S%z")


class Writer:
    """A ClinicalDocument under construction: the root element and helpers to add children in the V3 namespace."""

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


def write_header(
    w: Writer,
    h: DocumentHeader,
    templates: Sequence[str | tuple[str, str]],
    *,
    participants: Sequence[Participant] = (),
    orders: Sequence[tuple[str, str]] = (),
    performer: Professional | None = None,
    performer_template: str | None = None,
    performed: datetime | None = None,
    other_events: Sequence[Code] = (),
    responsible: Professional | None = None,
) -> None:
    """The CDA header, in CDA order. `templates` are the volet's templateIds, a root or (root, extension).
    The performer of the first documentationOf is `performer` (default: the author), carrying
    `performer_template` and the time `performed` when given; each of `other_events` gets a
    documentationOf of its own; `orders` are (root, extension) of the orders the document fulfils."""
    r = w.root
    w.add(r, "realmCode", code="FR")
    w.add(r, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    for template in (TEMPLATE_HL7_FRANCE, TEMPLATE_CISIS, *templates):
        root, extension = (template, None) if isinstance(template, str) else template
        w.add(r, "templateId", root=root, **({"extension": extension} if extension else {}))
    w.add(r, "id", root=h.unique_id)
    w.code(r, "code", h.type)
    w.add(r, "title", h.title)
    w.add(r, "effectiveTime", value=ts(h.created))
    confidentiality = Code(h.confidentiality, SYS_CONFIDENTIALITY, CONFIDENTIALITY.get(h.confidentiality, ""))
    w.code(r, "confidentialityCode", confidentiality)
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
    _contact(w, custodian, a.structure_telecom, a.structure_address)
    legal = w.add(r, "legalAuthenticator")
    w.add(legal, "time", value=ts(h.created))
    w.add(legal, "signatureCode", code="S")
    _person(w, w.add(legal, "assignedEntity"), a, with_specialty=False)
    for participant in participants:
        _participant(w, participant)
    for root, extension in orders:
        w.add(w.add(w.add(r, "inFulfillmentOf"), "order"), "id", root=root, extension=extension)
    event = w.add(w.add(r, "documentationOf"), "serviceEvent")
    w.code(event, "code", h.service_event)
    period = w.add(event, "effectiveTime")
    w.add(period, "low", value=ts(h.service_start))
    if h.service_stop:
        w.add(period, "high", value=ts(h.service_stop))
    performing = w.add(event, "performer", typeCode="PRF")
    if performer_template:
        w.add(performing, "templateId", root=performer_template)
    if performed:
        w.add(w.add(performing, "time"), "high", value=ts(performed))
    # the performer's name too, as the official N1 example writes it (DOC_NON_STRUCTURE_CDA-R2-N1.xml)
    # and CR-BIO requires it (Entete_CR-BIO.sch)
    _person(
        w,
        w.add(performing, "assignedEntity"),
        performer or a,
        with_specialty=False,
        practice_setting=h.practice_setting,
    )
    for other in other_events:
        w.code(w.add(w.add(r, "documentationOf"), "serviceEvent"), "code", other)
    if h.replaces:  # CDA order: documentationOf, relatedDocument, componentOf
        w.add(w.add(w.add(r, "relatedDocument", typeCode="RPLC"), "parentDocument"), "id", root=h.replaces)
    encounter = w.add(w.add(r, "componentOf"), "encompassingEncounter")
    if h.encounter_id:  # CDA order: id, code, effectiveTime
        w.add(encounter, "id", root=h.encounter_id[0], extension=h.encounter_id[1])
    w.add(w.add(encounter, "effectiveTime"), "low", value=ts(h.service_start))
    if responsible:
        _person(w, w.add(w.add(encounter, "responsibleParty"), "assignedEntity"), responsible, with_specialty=True)
    facility = w.add(w.add(encounter, "location"), "healthCareFacility")
    w.code(facility, "code", h.facility_type)


def _person(
    w: Writer, parent: etree._Element, a: Professional, *, with_specialty: bool, practice_setting: Code | None = None
) -> None:
    """An assignedAuthor/assignedEntity, in CDA order: id, code, addr, telecom, person, organisation."""
    w.add(parent, "id", root=OID_IDNATPS, extension=a.idnatps)
    if with_specialty:
        w.code(parent, "code", a.specialty)
    _contact(w, parent, a.telecom, a.address, address_first=True)
    person = w.add(w.add(parent, "assignedPerson"), "name")
    w.add(person, "given", a.given)
    w.add(person, "family", a.family)
    org = w.add(parent, "representedOrganization")
    w.add(org, "id", root=OID_IDNATSTRUCT, extension=a.structure)
    w.add(org, "name", a.structure_name)
    _contact(w, org, a.structure_telecom, a.structure_address)
    if practice_setting:
        w.code(org, "standardIndustryClassCode", practice_setting)


def _contact(
    w: Writer, parent: etree._Element, telecom: str, address: Address | None, *, address_first: bool = False
) -> None:
    """addr and telecom, in the order the parent's CDA class wants (roles: addr first; organisations: telecom first)."""

    def add_address() -> None:
        if address:
            addr = w.add(parent, "addr")
            if address.house_number:
                w.add(addr, "houseNumber", address.house_number)
            w.add(addr, "streetName", address.street)
            w.add(addr, "postalCode", address.postal_code)
            w.add(addr, "city", address.city)

    if address_first:
        add_address()
    if telecom:
        w.add(parent, "telecom", value=telecom)
    if not address_first:
        add_address()


def _participant(w: Writer, p: Participant) -> None:
    node = w.add(w.root, "participant", typeCode=p.type_code)
    if p.template:
        w.add(node, "templateId", root=p.template)
    if p.time:
        w.add(w.add(node, "time", **{f"{{{XSI}}}type": "IVL_TS"}), "high", value=ts(p.time))
    entity = w.add(node, "associatedEntity", classCode="PROV")
    who = p.who
    w.add(entity, "id", root=OID_IDNATPS, extension=who.idnatps)
    w.code(entity, "code", who.specialty)
    _contact(w, entity, who.telecom, who.address, address_first=True)
    name = w.add(w.add(entity, "associatedPerson"), "name")
    w.add(name, "given", who.given)
    w.add(name, "family", who.family)
    org = w.add(entity, "scopingOrganization")
    w.add(org, "id", root=OID_IDNATSTRUCT, extension=who.structure)
    w.add(org, "name", who.structure_name)
    _contact(w, org, who.structure_telecom, who.structure_address)


def n1_from_pdf(header: DocumentHeader, pdf: bytes) -> bytes:
    """A CDA R2 N1 document: the header and the PDF as its non-structured body (XDS-SD)."""
    if not pdf.startswith(b"%PDF-"):
        raise ValueError("le corps d'un document N1 est un PDF")
    w = Writer()
    write_header(w, header, (TEMPLATE_XDS_SD,))
    body = w.add(w.add(w.root, "component"), "nonXMLBody")
    w.add(body, "text", base64.b64encode(pdf).decode(), mediaType="application/pdf", representation="B64")
    data: bytes = etree.tostring(w.root, xml_declaration=True, encoding="UTF-8")
    return data
