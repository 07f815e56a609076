"""IHE XDM (ITI-32) archives as MSSanté carries them: `IHE_XDM.ZIP` attached to the message.

Layout (SPEC §4, IHE ITI TF-2b §3.32.4.1): `INDEX.HTM` and `README.TXT` at the root,
`IHE_XDM/SUBSET01/METADATA.XML` (an ebRS `SubmitObjectsRequest`: the submission set, one document
entry per document, a `HasMember` association each) and the documents beside it (`DOC0001.XML`,
ISO 9660 8.3 upper-case names). The metadata is read from each CDA's own header (CI-SIS XDS ↔ CDA
mapping, reference/xds-cda-metadata), as the DMP producer does for PDSm, so what is declared is what
the document says.

Reading is for archives from anybody on the trust space, so it is hostile-input reading: a zip
bomb, a path that climbs out (`../`, absolute, drive letter, backslash), a symlink, an encrypted
member, too many members, a member whose real size differs from its header, a document whose size
or SHA-1 differs from METADATA.XML — each refused with an `XdmError` whose `mdn_code` is the code
the receiving PFI puts in its MDN (mss-courriel error-codes.md: 906 "Erreur 'Autre'" for archive
faults; patient errors 902-905 are decided later, against the local patient index).
"""

from __future__ import annotations

import hashlib
import io
import stat
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath

from lxml import etree

from maison.core.errors import MaisonError
from maison.formats import xmlsafe
from maison.formats.cda.document import format_code
from maison.formats.cda.header import CdaHeader, read_header
from maison.formats.xds_codes import TYPE_CLASS, VOLET_FORMAT

NS_LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
NS_RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NS = {"lcm": NS_LCM, "rim": NS_RIM}

# ebRIM identifiers of XDS metadata (IHE ITI TF-3 §4.2.5, table 4.2.5-1)
SUBMISSION_SET = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
STABLE_DOCUMENT = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_EVENT = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
DE_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
REPLACES = "urn:ihe:iti:2007:AssociationType:RPLC"
OBJECT_REGISTRY_PACKAGE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
CLASSIFICATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"

# coding schemes of the CI-SIS (JDV_J07 type LOINC, JDV_J57 class TRE_A03, JDV_J08 confidentiality…)
SCHEME_LOINC = "2.16.840.1.113883.6.1"
SCHEME_CLASS = "1.2.250.1.213.1.1.4.1"
SCHEME_FORMAT = "1.2.250.1.213.1.1.4.2.282"
SCHEME_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
SCHEME_VISIBILITY = "1.2.250.1.213.1.1.4.13"  # MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX
SCHEME_CONTENT_TYPE = "1.2.250.1.213.2.2"
VISIBILITY_CODES = ("MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX")

SUBSET = "IHE_XDM/SUBSET01"

# Hostile-input limits (the operator's message size limit bounds the archive itself)
MAX_MEMBERS = 256
MAX_EXPANDED_BYTES = 200_000_000  # everything the archive inflates to
MAX_RATIO = 200  # inflated / compressed, per member, beyond a small floor
RATIO_FLOOR = 1_000_000  # members smaller than this inflated are never ratio bombs worth refusing


class XdmError(MaisonError):
    """An archive the PFI cannot take; `mdn_code`: the code of its MDN (processed/Error)."""

    http_status = 422
    code = "xdm-invalide"
    mdn_code = "906"


@dataclass(frozen=True)
class DocumentEntry:
    """One document entry of METADATA.XML, with the document's bytes read from the archive."""

    entry_uuid: str
    unique_id: str
    patient_id: str  # CX: "<matricule INS>^^^&<OID>&ISO"
    type_code: str
    type_display: str
    class_code: str
    format_code: str
    confidentiality: tuple[str, ...]  # N/R/V and the visibility codes
    mime_type: str
    creation_time: str
    title: str
    uri: str
    size: int
    sha1: str  # hex, as XDS hash
    data: bytes = field(repr=False, default=b"")
    replaces: str | None = None  # uniqueId of the document this one replaces (RPLC)

    @property
    def ins(self) -> tuple[str, str]:
        """(matricule, OID) of the patientId."""
        value, _, rest = self.patient_id.partition("^^^")
        return value, rest.strip("&").split("&")[0] if rest else ""


@dataclass(frozen=True)
class XdmContent:
    submission_unique_id: str
    source_id: str
    patient_id: str
    submission_time: str
    author_institution: str
    documents: tuple[DocumentEntry, ...]
    warnings: tuple[str, ...] = ()


@dataclass
class XdmDocument:
    """A document to put in an archive: the CDA and what the sender decides beside its header."""

    cda: bytes
    visibility: tuple[str, ...] = ()
    replaces: str | None = None  # uniqueId (OID) of the version it replaces


# --- writing ------------------------------------------------------------------------------------------


def _el(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    ns, name = tag.split(":")
    return etree.SubElement(parent, f"{{{NS[ns]}}}{name}", {k: v for k, v in attrs.items() if v is not None})


def _slot(parent: etree._Element, name: str, *values: str) -> None:
    slot = _el(parent, "rim:Slot", name=name)
    vl = _el(slot, "rim:ValueList")
    for value in values:
        _el(vl, "rim:Value").text = value


def _name(parent: etree._Element, text: str) -> None:
    _el(_el(parent, "rim:Name"), "rim:LocalizedString", value=text)


def _classification(
    parent: etree._Element, scheme: str, obj: str, code: str, coding_scheme: str, display: str = ""
) -> None:
    c = _el(
        parent,
        "rim:Classification",
        id=f"urn:uuid:{uuid.uuid4()}",
        objectType=CLASSIFICATION,
        classificationScheme=scheme,
        classifiedObject=obj,
        nodeRepresentation=code,
    )
    _slot(c, "codingScheme", coding_scheme)
    _name(c, display or code)


def _external_id(parent: etree._Element, scheme: str, obj: str, value: str, name: str) -> None:
    e = _el(
        parent,
        "rim:ExternalIdentifier",
        id=f"urn:uuid:{uuid.uuid4()}",
        registryObject=obj,
        identificationScheme=scheme,
        value=value,
    )
    _name(e, name)


def _author(parent: etree._Element, scheme: str, obj: str, header: CdaHeader) -> None:
    author = header.authors[0] if header.authors else None
    c = _el(
        parent,
        "rim:Classification",
        id=f"urn:uuid:{uuid.uuid4()}",
        objectType=CLASSIFICATION,
        classificationScheme=scheme,
        classifiedObject=obj,
        nodeRepresentation="",
    )
    if author is not None:
        idnatps = next((i.extension for i in author.ids if i.extension), "")
        _slot(c, "authorPerson", f"{idnatps}^{author.family}^{author.given}^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS")
        if author.organization is not None:
            _slot(
                c,
                "authorInstitution",
                f"{author.organization_name}^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^{author.organization.extension}",
            )
        if author.code is not None:
            _slot(c, "authorSpecialty", f"{author.code.code}^{author.code.display}^{author.code.system}")


def _cx(header: CdaHeader) -> str:
    ins = header.patient.ins
    if ins is None:
        raise XdmError("le document ne porte pas d'INS (recordTarget)", code="xdm-sans-ins")
    return f"{ins.extension}^^^&{ins.root}&ISO"


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def metadata(
    documents: list[tuple[XdmDocument, CdaHeader, str]],
    *,
    source_id: str,
    submission_id: str,
    content_type: tuple[str, str] = ("04", "Hospitalisation de jour"),
    now: datetime | None = None,
) -> bytes:
    """METADATA.XML for `(document, its header, its file name)`; one patient per archive."""
    patients = {_cx(h) for _d, h, _f in documents}
    if len(patients) != 1:
        raise XdmError("une archive XDM ne concerne qu'un patient (ECO.2.1.1)", code="xdm-plusieurs-patients")
    patient = patients.pop()
    now = now or datetime.now(UTC)
    root = etree.Element(f"{{{NS_LCM}}}SubmitObjectsRequest", nsmap={"lcm": NS_LCM, "rim": NS_RIM})
    objects = _el(root, "rim:RegistryObjectList")
    ss_id = f"urn:uuid:{uuid.uuid4()}"
    entry_ids = []
    for doc, header, file_name in documents:
        de_id = f"urn:uuid:{uuid.uuid4()}"
        entry_ids.append(de_id)
        eo = _el(objects, "rim:ExtrinsicObject", id=de_id, mimeType="text/xml", objectType=STABLE_DOCUMENT)
        _slot(eo, "creationTime", header.effective_time[:14])
        _slot(eo, "hash", hashlib.sha1(doc.cda).hexdigest())
        _slot(eo, "languageCode", header.language or "fr-FR")
        _slot(eo, "size", str(len(doc.cda)))
        _slot(eo, "sourcePatientId", patient)
        p = header.patient
        _slot(
            eo,
            "sourcePatientInfo",
            f"PID-5|{p.birth_family}^{p.birth_givens}^^^^^L",
            f"PID-7|{p.birth_date}",
            f"PID-8|{p.gender}",
        )
        if header.service_start:
            _slot(eo, "serviceStartTime", header.service_start[:14])
        if header.service_stop:
            _slot(eo, "serviceStopTime", header.service_stop[:14])
        _slot(eo, "URI", file_name)
        _name(eo, header.title)
        _author(eo, DE_AUTHOR, de_id, header)
        type_code = header.type_code.code if header.type_code else ""
        _classification(eo, DE_CLASS, de_id, TYPE_CLASS.get(type_code, ""), SCHEME_CLASS)
        if header.confidentiality is not None:
            _classification(eo, DE_CONFIDENTIALITY, de_id, header.confidentiality.code, SCHEME_CONFIDENTIALITY)
        for code in doc.visibility:
            if code not in VISIBILITY_CODES:
                raise XdmError(f"code de visibilité inconnu {code!r} (JDV_J08)", code="xdm-visibilite")
            _classification(eo, DE_CONFIDENTIALITY, de_id, code, SCHEME_VISIBILITY)
        for event in header.event_codes:
            _classification(eo, DE_EVENT, de_id, event.code, event.system or SCHEME_LOINC, event.display)
        _classification(eo, DE_FORMAT, de_id, format_code(header, VOLET_FORMAT) or "", SCHEME_FORMAT)
        if header.facility_type is not None:
            _classification(
                eo,
                DE_FACILITY,
                de_id,
                header.facility_type.code,
                header.facility_type.system,
                header.facility_type.display,
            )
        setting = header.practice_setting  # documentationOf/serviceEvent/performer (CI-SIS mapping)
        if setting is not None:
            _classification(eo, DE_PRACTICE, de_id, setting.code, setting.system, setting.display)
        _classification(
            eo,
            DE_TYPE,
            de_id,
            type_code,
            header.type_code.system if header.type_code else SCHEME_LOINC,
            header.type_code.display if header.type_code else "",
        )
        _external_id(eo, DE_PATIENT_ID, de_id, patient, "XDSDocumentEntry.patientId")
        assert header.id is not None  # a CDA's id is required by its header rules, checked before packing
        unique = header.id.root + (f"^{header.id.extension}" if header.id.extension else "")
        _external_id(eo, DE_UNIQUE_ID, de_id, unique, "XDSDocumentEntry.uniqueId")
    package = _el(objects, "rim:RegistryPackage", id=ss_id, objectType=OBJECT_REGISTRY_PACKAGE)
    _slot(package, "submissionTime", _ts(now))
    _name(package, documents[0][1].title)
    _author(package, SS_AUTHOR, ss_id, documents[0][1])
    _classification(package, SS_CONTENT_TYPE, ss_id, content_type[0], SCHEME_CONTENT_TYPE, content_type[1])
    _external_id(package, SS_UNIQUE_ID, ss_id, submission_id, "XDSSubmissionSet.uniqueId")
    _external_id(package, SS_SOURCE_ID, ss_id, source_id, "XDSSubmissionSet.sourceId")
    _external_id(package, SS_PATIENT_ID, ss_id, patient, "XDSSubmissionSet.patientId")
    _el(
        objects,
        "rim:Classification",
        id=f"urn:uuid:{uuid.uuid4()}",
        classifiedObject=ss_id,
        classificationNode=SUBMISSION_SET,
    )
    for de_id, (doc, _h, _f) in zip(entry_ids, documents, strict=False):
        a = _el(
            objects,
            "rim:Association",
            id=f"urn:uuid:{uuid.uuid4()}",
            associationType=HAS_MEMBER,
            sourceObject=ss_id,
            targetObject=de_id,
        )
        _slot(a, "SubmissionSetStatus", "Original")
        if doc.replaces:
            _el(
                objects,
                "rim:Association",
                id=f"urn:uuid:{uuid.uuid4()}",
                associationType=REPLACES,
                sourceObject=de_id,
                targetObject=doc.replaces,
            )
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return data


def _index(documents: list[tuple[XdmDocument, CdaHeader, str]]) -> bytes:
    rows = "".join(f'<li><a href="{SUBSET}/{name}">{_escape(h.title)}</a></li>' for _d, h, name in documents)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
        f"<head><title>IHE_XDM</title></head><body><h1>Documents</h1><ul>{rows}</ul>"
        f'<p><a href="README.TXT">README.TXT</a></p></body></html>\n'
    ).encode()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def build(
    documents: list[XdmDocument],
    *,
    source_id: str,
    submission_id: str | None = None,
    vendor: str = "Maison",
    now: datetime | None = None,
) -> bytes:
    """The `IHE_XDM.ZIP` bytes for one patient's documents."""
    if not documents:
        raise XdmError("une archive XDM contient au moins un document", code="xdm-vide")
    named = [
        (doc, read_header(xmlsafe.parse(doc.cda, max_bytes=len(doc.cda) + 1)), f"DOC{i:04d}.XML")
        for i, doc in enumerate(documents, 1)
    ]
    meta = metadata(
        named, source_id=source_id, submission_id=submission_id or f"1.2.250.1.999.3.{uuid.uuid4().int}", now=now
    )
    readme = (
        f"Archive IHE XDM (ITI-32) produite par {vendor}.\r\nContenu : {len(documents)} document(s) CDA R2 "
        f"d'un patient, métadonnées dans {SUBSET}/METADATA.XML.\r\n"
    ).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("INDEX.HTM", _index(named))
        z.writestr("README.TXT", readme)
        z.writestr(f"{SUBSET}/METADATA.XML", meta)
        for doc, _h, name in named:
            z.writestr(f"{SUBSET}/{name}", doc.cda)
    return out.getvalue()


# --- reading --------------------------------------------------------------------------------------------


def _safe_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":") or "\x00" in name:
        raise XdmError(f"chemin interdit dans l'archive : {name!r}", code="xdm-chemin")
    parts = PurePosixPath(name).parts
    if any(part in ("..", ".") for part in parts) or len(parts) > 8:
        raise XdmError(f"chemin interdit dans l'archive : {name!r}", code="xdm-chemin")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise XdmError(f"lien symbolique refusé dans l'archive : {name!r}", code="xdm-lien")
    if info.flag_bits & 0x1:
        raise XdmError(f"membre chiffré refusé : {name!r}", code="xdm-chiffre")
    return name


def _members(data: bytes, max_expanded: int) -> dict[str, bytes]:
    """Every file of the archive, inflated with bounds checked while reading (headers can lie)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise XdmError(f"IHE_XDM.ZIP illisible : {exc}", code="xdm-illisible") from None
    if len(infos) > MAX_MEMBERS:
        raise XdmError(f"{len(infos)} membres dans l'archive (au plus {MAX_MEMBERS})", code="xdm-trop-de-membres")
    files: dict[str, bytes] = {}
    budget = max_expanded
    for info in infos:
        name = _safe_name(info)
        if info.is_dir():
            continue
        key = name.upper()
        if key in files:
            raise XdmError(f"membre en double : {name!r}", code="xdm-doublon")
        limit = min(budget, max(RATIO_FLOOR, info.compress_size * MAX_RATIO))
        if info.file_size > limit:
            raise XdmError(
                f"{name} se décompresse en {info.file_size} octets : bombe de décompression refusée", code="xdm-bombe"
            )
        try:
            with archive.open(info) as member:
                content = member.read(limit + 1)
        except NotImplementedError:  # zipfile's answer to a compression method it does not implement
            raise XdmError(
                f"{name} : méthode de compression {info.compress_type} non prise en charge", code="xdm-compression"
            ) from None
        except (zipfile.BadZipFile, RuntimeError, ValueError, EOFError, OSError) as exc:
            raise XdmError(f"{name} illisible : {exc}", code="xdm-illisible") from None
        if len(content) > limit:
            raise XdmError(
                f"{name} se décompresse au-delà de {limit} octets : bombe de décompression refusée", code="xdm-bombe"
            )
        if len(content) != info.file_size:
            raise XdmError(
                f"{name} : taille réelle {len(content)} ≠ taille déclarée {info.file_size}", code="xdm-taille"
            )
        budget -= len(content)
        files[key] = content
    return files


def _slots(el: etree._Element) -> dict[str, list[str]]:
    return {
        s.get("name", ""): [v.text or "" for v in s.iterfind("rim:ValueList/rim:Value", NS)]
        for s in el.iterfind("rim:Slot", NS)
    }


def _first(values: dict[str, list[str]], name: str) -> str:
    return (values.get(name) or [""])[0]


def _classified(el: etree._Element, scheme: str) -> list[tuple[str, str]]:
    return [
        (
            c.get("nodeRepresentation", ""),
            (
                c.find("rim:Name/rim:LocalizedString", NS).get("value", "")
                if c.find("rim:Name/rim:LocalizedString", NS) is not None
                else ""
            ),
        )
        for c in el.iterfind("rim:Classification", NS)
        if c.get("classificationScheme") == scheme
    ]


def _external(el: etree._Element, scheme: str) -> str:
    found = [
        e.get("value", "") for e in el.iterfind("rim:ExternalIdentifier", NS) if e.get("identificationScheme") == scheme
    ]
    return found[0] if found else ""


def read(data: bytes, *, max_expanded: int = MAX_EXPANDED_BYTES) -> XdmContent:
    """Open an `IHE_XDM.ZIP` received by mail: its submission set and documents, checked."""
    files = _members(data, max_expanded)
    warnings = [f"{name} absent de l'archive (IHE ITI-32)" for name in ("INDEX.HTM", "README.TXT") if name not in files]
    metadata_paths = sorted(n for n in files if n.startswith("IHE_XDM/") and n.endswith("/METADATA.XML"))
    if not metadata_paths:
        raise XdmError("IHE_XDM/<sous-lot>/METADATA.XML absent de l'archive", code="xdm-sans-metadonnees")
    if len(metadata_paths) > 1:
        raise XdmError("plusieurs sous-lots dans l'archive : un seul est accepté", code="xdm-plusieurs-lots")
    base = metadata_paths[0].rsplit("/", 1)[0]
    try:
        root = xmlsafe.parse(files[metadata_paths[0]], max_bytes=5_000_000)
    except MaisonError as exc:
        raise XdmError(f"METADATA.XML : {exc.message}", code="xdm-metadonnees") from None
    if root.tag != f"{{{NS_LCM}}}SubmitObjectsRequest":
        raise XdmError("METADATA.XML n'est pas un lcm:SubmitObjectsRequest", code="xdm-metadonnees")
    objects = root.find("rim:RegistryObjectList", NS)
    if objects is None:
        raise XdmError("METADATA.XML sans rim:RegistryObjectList", code="xdm-metadonnees")
    packages = objects.findall("rim:RegistryPackage", NS)
    submission_ids = {
        c.get("classifiedObject")
        for c in objects.iterfind("rim:Classification", NS)
        if c.get("classificationNode") == SUBMISSION_SET
    }
    sets = [p for p in packages if p.get("id") in submission_ids] or packages
    if len(sets) != 1:
        raise XdmError("METADATA.XML doit contenir exactement un lot de soumission", code="xdm-metadonnees")
    ss = sets[0]
    ss_patient = _external(ss, SS_PATIENT_ID)
    members = {
        a.get("targetObject")
        for a in objects.iterfind("rim:Association", NS)
        if a.get("associationType") == HAS_MEMBER and a.get("sourceObject") == ss.get("id")
    }
    replaced = {
        a.get("sourceObject"): a.get("targetObject")
        for a in objects.iterfind("rim:Association", NS)
        if a.get("associationType") == REPLACES
    }
    documents = []
    for eo in objects.iterfind("rim:ExtrinsicObject", NS):
        documents.append(_entry(eo, files, base, replaced.get(eo.get("id"))))
        if eo.get("id") not in members:
            raise XdmError(f"fiche {eo.get('id')} sans association HasMember au lot", code="xdm-metadonnees")
    if not documents:
        raise XdmError("l'archive ne contient aucun document", code="xdm-vide")
    patients = {d.patient_id.split("^")[0] for d in documents} | ({ss_patient.split("^")[0]} if ss_patient else set())
    if len(patients) != 1:
        raise XdmError("les documents de l'archive concernent plusieurs patients", code="xdm-plusieurs-patients")
    return XdmContent(
        _external(ss, SS_UNIQUE_ID),
        _external(ss, SS_SOURCE_ID),
        ss_patient or documents[0].patient_id,
        _first(_slots(ss), "submissionTime"),
        _institution(ss),
        tuple(documents),
        tuple(warnings),
    )


def _institution(package: etree._Element) -> str:
    for c in package.iterfind("rim:Classification", NS):
        if c.get("classificationScheme") == SS_AUTHOR:
            return _first(_slots(c), "authorInstitution")
    return ""


def _entry(eo: etree._Element, files: dict[str, bytes], base: str, replaces: str | None) -> DocumentEntry:
    slots = _slots(eo)
    uri = _first(slots, "URI")
    where = eo.get("id", "?")
    if not uri:
        raise XdmError(f"fiche {where} sans URI", code="xdm-metadonnees")
    candidates = [f"{base}/{uri}".upper(), f"IHE_XDM/{uri}".upper(), uri.upper()]
    if any(part == ".." for part in PurePosixPath(uri).parts) or uri.startswith("/"):
        raise XdmError(f"URI interdite : {uri!r}", code="xdm-chemin")
    data = next((files[c] for c in candidates if c in files), None)
    if data is None:
        raise XdmError(f"document {uri} annoncé par METADATA.XML absent de l'archive", code="xdm-document-absent")
    size, sha1 = _first(slots, "size"), _first(slots, "hash").lower()
    if not (size.isascii() and size.isdigit()) or int(size) != len(data):
        raise XdmError(f"{uri} : taille déclarée {size!r} ≠ taille reçue {len(data)}", code="xdm-taille")
    if sha1 != hashlib.sha1(data).hexdigest():
        raise XdmError(f"{uri} : empreinte SHA-1 déclarée ≠ empreinte du document", code="xdm-empreinte")
    types = _classified(eo, DE_TYPE)
    unique = _external(eo, DE_UNIQUE_ID)
    patient = _external(eo, DE_PATIENT_ID)
    if not unique or not patient:
        raise XdmError(f"fiche {where} sans uniqueId ou patientId", code="xdm-metadonnees")
    title = eo.find("rim:Name/rim:LocalizedString", NS)
    return DocumentEntry(
        where,
        unique,
        patient,
        types[0][0] if types else "",
        types[0][1] if types else "",
        next((c for c, _ in _classified(eo, DE_CLASS)), ""),
        next((c for c, _ in _classified(eo, DE_FORMAT)), ""),
        tuple(c for c, _ in _classified(eo, DE_CONFIDENTIALITY)),
        eo.get("mimeType", ""),
        _first(slots, "creationTime"),
        title.get("value", "") if title is not None else "",
        uri,
        len(data),
        sha1,
        data,
        replaces,
    )
