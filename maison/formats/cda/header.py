"""Reading the header of a CDA R2 document into the metadata a document registry indexes.

The CI-SIS ties every XDS/PDSm metadata field to one place in the CDA header (annex "Lien entre
l'en-tête CDA et les métadonnées XDS", digested in docs/research/cisis-cda.md §2.1): typeCode is
`code`, creationTime `effectiveTime`, practiceSetting the first `documentationOf` performer's
organisation `standardIndustryClassCode`, facility type the encounter's `healthCareFacility/code`,
and so on. This module reads those places and nothing else; judging them is `rules.py`'s job, so a
broken header still yields whatever it holds (an inspector must be able to show it).
"""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from lxml import etree

from maison.core.identifiers.nir import OID_INS_NIA, OID_INS_NIR, OID_INS_NIR_DEMO, OID_INS_NIR_TEST
from maison.core.identifiers.professionals import OID_IDNATPS

V3 = "urn:hl7-org:v3"
NS = {"h": V3, "xsi": "http://www.w3.org/2001/XMLSchema-instance", "dicom": "urn:dicom-org:ps3-20"}
INS_ROOTS = {
    OID_INS_NIR: "INS-NIR",
    OID_INS_NIA: "INS-NIA",
    OID_INS_NIR_TEST: "INS-NIR-TEST",
    OID_INS_NIR_DEMO: "INS-NIR-DEMO",
}
TEMPLATE_HL7_FRANCE = "2.16.840.1.113883.2.8.2.1"
TEMPLATE_CISIS = "1.2.250.1.213.1.1.1.1"
TEMPLATE_XDS_SD = "1.3.6.1.4.1.19376.1.2.20"  # IHE XDS-SD: the N1 (PDF) document
FORMAT_N1_PDF = "urn:ihe:iti:xds-sd:pdf:2008"
IMAGING_TEMPLATE_PREFIX = "1.2.840.10008.9."  # DICOM SR templates of the imaging volets (IMG-CR-IMG, IMG-DA-IMG)
_PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class Code:
    code: str
    system: str = ""
    display: str = ""


@dataclass(frozen=True)
class InstanceId:
    root: str
    extension: str = ""

    def __str__(self) -> str:
        return f"{self.root}^{self.extension}" if self.extension else self.root


@dataclass(frozen=True)
class Party:
    """An author, legal authenticator or performer: who, with which profession, for which organisation."""

    ids: tuple[InstanceId, ...] = ()
    family: str = ""
    given: str = ""
    code: Code | None = None
    organization: InstanceId | None = None
    organization_name: str = ""
    practice_setting: Code | None = None
    device: str = ""  # softwareName of an assignedAuthoringDevice
    time: str = ""

    @property
    def idnatps(self) -> str | None:
        return next((i.extension for i in self.ids if i.root == OID_IDNATPS and i.extension), None)


@dataclass(frozen=True)
class Patient:
    ids: tuple[InstanceId, ...] = ()
    birth_family: str = ""  # family[@qualifier='BR']
    birth_given_first: str = ""  # given[@qualifier='BR']
    birth_givens: str = ""  # given without qualifier: the list of the birth certificate
    used_family: str = ""
    used_given: str = ""
    gender: str = ""
    birth_date: str = ""
    birthplace_cog: str = ""

    @property
    def ins(self) -> InstanceId | None:
        return next((i for i in self.ids if i.root in INS_ROOTS), None)

    @property
    def local_ids(self) -> tuple[InstanceId, ...]:
        return tuple(i for i in self.ids if i.root not in INS_ROOTS)


@dataclass(frozen=True)
class CdaHeader:
    id: InstanceId | None
    set_id: str
    version: int | None
    template_ids: tuple[str, ...]
    level: str  # N1 (nonXMLBody) or N3 (structuredBody)
    type_code: Code | None
    title: str
    effective_time: str
    confidentiality: Code | None
    language: str
    patient: Patient
    authors: tuple[Party, ...]
    custodian: InstanceId | None
    custodian_name: str
    legal_authenticator: Party | None
    performer: Party | None  # first documentationOf/serviceEvent/performer
    service_start: str
    service_stop: str
    event_codes: tuple[Code, ...]
    facility_type: Code | None
    replaces: str | None  # relatedDocument[@typeCode='RPLC']/parentDocument/id
    study_instance_uids: tuple[str, ...] = ()
    accession_numbers: tuple[str, ...] = ()
    order_ids: tuple[str, ...] = ()
    body_media_type: str = ""
    body_representation: str = ""
    realm: str = ""
    type_id: InstanceId | None = None
    encounter_id: InstanceId | None = None  # componentOf/encompassingEncounter/id: the stay

    @property
    def unique_id(self) -> str:
        return str(self.id) if self.id else ""

    @property
    def volet_templates(self) -> tuple[str, ...]:
        return tuple(t for t in self.template_ids if t not in (TEMPLATE_HL7_FRANCE, TEMPLATE_CISIS))

    @property
    def creation(self) -> datetime | None:
        return parse_ts(self.effective_time)

    @property
    def practice_setting(self) -> Code | None:
        return self.performer.practice_setting if self.performer else None


def parse_ts(value: str) -> datetime | None:
    """An HL7 v3 TS (`YYYY[MM[DD[HH[MM[SS[.S]]]]]][+-ZZZZ]`) as an aware UTC datetime. Without an
    offset the time is French local time, where the documents are written."""
    if not value:
        return None
    text, offset = value, None
    for sign in ("+", "-"):
        if sign in value[4:]:
            cut = value.rindex(sign)
            text, zone = value[:cut], value[cut + 1 :]
            if len(zone) != 4 or not _digits(zone) or int(zone[:2]) > 14 or int(zone[2:]) > 59:
                return None
            minutes = int(zone[:2]) * 60 + int(zone[2:])
            offset = timezone(timedelta(minutes=minutes if sign == "+" else -minutes))
            break
    text = text.split(".")[0]
    if not _digits(text) or len(text) not in (4, 6, 8, 10, 12, 14):
        return None
    padded = text + "0101000000"[len(text) - 4 :] if len(text) < 14 else text
    try:
        moment = datetime.strptime(padded[:14], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return moment.replace(tzinfo=offset or _PARIS).astimezone(UTC)


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²' or '٣', which int() and strptime refuse."""
    return text.isascii() and text.isdigit()


def _text(node: etree._Element | None) -> str:
    return " ".join((node.text or "").split()) if node is not None else ""


_compiled = threading.local()  # lxml's XPath objects are not shared between threads


def _first(root: etree._Element, path: str) -> etree._Element | None:
    # Compiled once per thread: `root.xpath(path)` compiled the expression on each of the ~60 calls a
    # header read makes, a millisecond and a half of each DMP submission (bench/dmp.py).
    cache = _compiled.__dict__.setdefault("xpaths", {})
    xpath = cache.get(path)
    if xpath is None:
        xpath = cache[path] = etree.XPath(path, namespaces=NS)
    found = xpath(root)
    return found[0] if found else None


def _code(node: etree._Element | None) -> Code | None:
    if node is None or node.get("code") is None:
        return None
    return Code(node.get("code", ""), node.get("codeSystem", ""), node.get("displayName", ""))


def _id(node: etree._Element | None) -> InstanceId | None:
    if node is None or not node.get("root"):
        return None
    return InstanceId(node.get("root", ""), node.get("extension", ""))


def _ids(nodes: list[etree._Element]) -> tuple[InstanceId, ...]:
    return tuple(i for i in (_id(n) for n in nodes) if i)


def _party(node: etree._Element | None, entity: str, person: str, organization: str) -> Party | None:
    if node is None:
        return None
    holder = _first(node, f"h:{entity}")
    if holder is None:
        return Party(time=_first(node, "h:time/@value") or "")
    org = _first(holder, f"h:{organization}")
    name = _first(holder, f"h:{person}/h:name")
    return Party(
        ids=_ids(holder.xpath("h:id", namespaces=NS)),
        family=_text(_first(name, "h:family")) if name is not None else "",
        given=" ".join(_text(g) for g in name.xpath("h:given", namespaces=NS)) if name is not None else "",
        code=_code(_first(holder, "h:code")),
        organization=_id(_first(org, "h:id")) if org is not None else None,
        organization_name=_text(_first(org, "h:name")) if org is not None else "",
        practice_setting=_code(_first(org, "h:standardIndustryClassCode")) if org is not None else None,
        device=_text(_first(holder, "h:assignedAuthoringDevice/h:softwareName")),
        time=str(_first(node, "h:time/@value") or ""),
    )


def _patient(root: etree._Element) -> Patient:
    role = _first(root, "h:recordTarget/h:patientRole")
    if role is None:
        return Patient()
    name = _first(role, "h:patient/h:name")

    def part(tag: str, qualifier: str | None) -> str:
        if name is None:
            return ""
        test = f"h:{tag}[@qualifier='{qualifier}']" if qualifier else f"h:{tag}[not(@qualifier)]"
        return _text(_first(name, test))

    return Patient(
        ids=_ids(role.xpath("h:id", namespaces=NS)),
        birth_family=part("family", "BR"),
        birth_given_first=part("given", "BR"),
        birth_givens=part("given", None),
        used_family=part("family", "CL"),
        used_given=part("given", "CL"),
        gender=str(_first(role, "h:patient/h:administrativeGenderCode/@code") or ""),
        birth_date=str(_first(role, "h:patient/h:birthTime/@value") or ""),
        birthplace_cog=_text(_first(role, "h:patient/h:birthplace/h:place/h:addr/h:county")),
    )


def read_header(root: etree._Element) -> CdaHeader:
    """The header of a parsed ClinicalDocument (see `maison.formats.xmlsafe.parse`)."""
    event = _first(root, "h:documentationOf[1]/h:serviceEvent")
    version = str(_first(root, "h:versionNumber/@value") or "")
    body = _first(root, "h:component/h:nonXMLBody/h:text")
    service_events = root.xpath("h:documentationOf/h:serviceEvent", namespaces=NS)
    return CdaHeader(
        id=_id(_first(root, "h:id")),
        set_id=str(_first(root, "h:setId/@root") or ""),
        version=int(version) if _digits(version) else None,
        template_ids=tuple(root.xpath("h:templateId/@root", namespaces=NS)),
        level="N1" if _first(root, "h:component/h:nonXMLBody") is not None else "N3",
        type_code=_code(_first(root, "h:code")),
        title=_text(_first(root, "h:title")),
        effective_time=str(_first(root, "h:effectiveTime/@value") or ""),
        confidentiality=_code(_first(root, "h:confidentialityCode")),
        language=str(_first(root, "h:languageCode/@code") or ""),
        patient=_patient(root),
        authors=tuple(
            p
            for p in (
                _party(a, "assignedAuthor", "assignedPerson", "representedOrganization")
                for a in root.xpath("h:author", namespaces=NS)
            )
            if p
        ),
        custodian=_id(_first(root, "h:custodian/h:assignedCustodian/h:representedCustodianOrganization/h:id")),
        custodian_name=_text(_first(root, "h:custodian/h:assignedCustodian/h:representedCustodianOrganization/h:name")),
        legal_authenticator=_party(
            _first(root, "h:legalAuthenticator"), "assignedEntity", "assignedPerson", "representedOrganization"
        ),
        performer=_party(_first(event, "h:performer"), "assignedEntity", "assignedPerson", "representedOrganization")
        if event is not None
        else None,
        service_start=str(_first(event, "h:effectiveTime/h:low/@value") or "") if event is not None else "",
        service_stop=str(_first(event, "h:effectiveTime/h:high/@value") or "") if event is not None else "",
        event_codes=tuple(c for c in (_code(_first(e, "h:code")) for e in service_events) if c),
        facility_type=_code(
            _first(root, "h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code")
        ),
        replaces=str(_first(root, "h:relatedDocument[@typeCode='RPLC']/h:parentDocument/h:id/@root") or "") or None,
        # IMG-CR-IMG: each documentationOf/serviceEvent/id is the exam's DICOM Study Instance UID (an OID, no extension)
        study_instance_uids=tuple(
            str(x) for x in root.xpath("h:documentationOf/h:serviceEvent/h:id[not(@extension)]/@root", namespaces=NS)
        )
        if any(t.startswith(IMAGING_TEMPLATE_PREFIX) for t in root.xpath("h:templateId/@root", namespaces=NS))
        else (),
        accession_numbers=tuple(
            str(x.get("extension") or x.get("root"))
            for x in root.xpath("h:inFulfillmentOf/h:order/dicom:accessionNumber", namespaces=NS)
        ),
        order_ids=tuple(str(i) for i in _ids(root.xpath("h:inFulfillmentOf/h:order/h:id", namespaces=NS))),
        body_media_type=body.get("mediaType", "") if body is not None else "",
        body_representation=body.get("representation", "") if body is not None else "",
        realm=str(_first(root, "h:realmCode/@code") or ""),
        type_id=_id(_first(root, "h:typeId")),
        encounter_id=_id(_first(root, "h:componentOf/h:encompassingEncounter/h:id")),
    )


def embedded_pdf(root: etree._Element) -> bytes | None:
    """The PDF of an N1 document (nonXMLBody/text, base64), or None if there is none or it is not base64."""
    body = _first(root, "h:component/h:nonXMLBody/h:text")
    if body is None or body.get("representation") != "B64":
        return None
    try:
        return base64.b64decode("".join((body.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        return None
