"""PDSm (MHD France) on the wire: reading an ITI-65 Provide Bundle, writing the resources back.

Reading checks the Bundle's own structure, as MHD and PDSm define it (one submission set List, one
or more DocumentReference, their Binary in the same Bundle, the elements PDSm makes 1..1); the
business rules (INS, CDA header ↔ metadata, N1/N3, replacement) are `service.py`'s. Errors carry
the XDS error codes MHD refers to (ITI TF-3 Table 4.2.4.1-2, docs/research/pdsm.md §4) so that a
producer's log reads as it would against the national DMP.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from maison.core.errors import MaisonError, MalformedRequest
from maison.formats.fhir import bundle, full_url
from maison.formats.pdsm import (
    EXT_IS_ARCHIVED,
    EXT_SOURCE_ID,
    INS_SYSTEMS,
    MHD_LIST_TYPES,
    PROFILE_DOCREF,
    SYS_IDNATPS,
    URL_CONFIDENTIALITY,
    URL_VISIBILITY,
)
from maison.partage.dmp.model import (
    CONFIDENTIALITY_CODES,
    INVISIBLE_PATIENT,
    INVISIBLE_REPRESENTANTS_LEGAUX,
    MASQUE_PS,
    VISIBILITY_ALIASES,
    VISIBILITY_CODES,
    DocumentEntry,
)

RELATIONS = {"replaces": "RPLC", "transforms": "XFRM"}


class RegistryError(MaisonError):
    """A submission the registry refuses; `code` is the XDS error code."""

    http_status = 422
    fhir_issue = "business-rule"
    code = "XDSRegistryMetadataError"


@dataclass
class SubmittedDocument:
    index: int  # position in Bundle.entry
    full_url: str
    resource: dict
    unique_id: str
    ins: str
    ins_oid: str
    type_code: str
    class_code: str
    format_code: str
    confidentiality: str
    visibility: set[str]
    authors: tuple[str, ...]  # IdNatPS of the contained authors
    creation: datetime | None
    period_start: str
    period_end: str
    setting: str
    facility: str
    size: int | None
    hash: str | None
    content_type: str
    binary_url: str
    relates: list[tuple[str, str]]  # (replaces / transforms, target reference)
    archived: bool
    study_uids: tuple[str, ...] = ()  # context.related referenceIdList: the PACS pointer (DRIM-M)
    accession_numbers: tuple[str, ...] = ()
    data: bytes = b""


@dataclass
class SubmissionSet:
    index: int
    full_url: str
    resource: dict
    unique_id: str
    source_id: str
    ins: str
    ins_oid: str


@dataclass
class ProvideRequest:
    submission: SubmissionSet
    documents: list[SubmittedDocument]
    binaries: dict[str, int]  # fullUrl → entry index
    order: list[tuple[str, str]]  # each Bundle entry: ("List"|"DocumentReference"|"Binary"|…, key)
    warnings: list[str] = field(default_factory=list)


def _where(index: int, path: str = "") -> str:
    return f"Bundle.entry[{index}].resource{'.' + path if path else ''}"


def _coding(concept: object) -> dict:
    if isinstance(concept, dict):
        codings = concept.get("coding")
        if isinstance(codings, list) and codings and isinstance(codings[0], dict):
            return codings[0]
    return {}


def code_of(concept: object) -> str:
    value = _coding(concept).get("code")
    return value if isinstance(value, str) else ""


def _patient(resource: dict, element: str, index: int, patients: dict[str, dict]) -> tuple[str, str]:
    """The INS (value, OID) a reference names: logical (identifier) or a Patient in the Bundle/contained."""
    ref = resource.get(element)
    if not isinstance(ref, dict):
        raise RegistryError(f"{element} absent", code="XDSRegistryMetadataError", expression=_where(index, element))
    target = ref.get("identifier")
    if target is None and isinstance(ref.get("reference"), str):
        key = ref["reference"]
        patient = patients.get(key)
        if patient is None and key.startswith("#"):
            patient = next(
                (c for c in resource.get("contained", []) if isinstance(c, dict) and c.get("id") == key[1:]), None
            )
        if patient is None:
            raise RegistryError(
                f"{element} : Patient {key} introuvable dans la transaction",
                code="XDSUnknownPatientId",
                expression=_where(index, element),
            )
        target = next(
            (i for i in patient.get("identifier", []) if isinstance(i, dict) and i.get("system") in INS_SYSTEMS), None
        )
    if not isinstance(target, dict) or target.get("system") not in INS_SYSTEMS:
        raise RegistryError(
            f"{element} : le patient doit être identifié par son INS (système urn:oid:1.2.250.1.213.1.4.8/9/10/11)",
            code="XDSUnknownPatientId",
            expression=_where(index, element),
        )
    value = target.get("value")
    if not isinstance(value, str) or not value:
        raise RegistryError(
            f"{element} : matricule INS absent", code="XDSUnknownPatientId", expression=_where(index, element)
        )
    return value, INS_SYSTEMS[target["system"]]


def _idnatps(resource: dict, ref: object) -> str | None:
    """The IdNatPS of an author: a logical reference, or a contained Practitioner (possibly through a
    contained PractitionerRole's `practitioner`)."""
    contained = {c.get("id"): c for c in resource.get("contained", []) if isinstance(c, dict)}
    for _hop in range(3):
        if not isinstance(ref, dict):
            return None
        identifier = ref.get("identifier")
        if isinstance(identifier, dict) and identifier.get("system") == SYS_IDNATPS:
            return identifier.get("value")
        key = ref.get("reference")
        if not (isinstance(key, str) and key.startswith("#")):
            return None
        target = contained.get(key[1:], {})
        if target.get("resourceType") == "Practitioner":
            return next(
                (
                    i.get("value")
                    for i in target.get("identifier", [])
                    if isinstance(i, dict) and i.get("system") == SYS_IDNATPS
                ),
                None,
            )
        ref = target.get("practitioner")
    return None


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None


def is_archived(resource: dict) -> bool:
    extensions = resource.get("extension")
    for ext in extensions if isinstance(extensions, list) else []:
        if isinstance(ext, dict) and ext.get("url") == EXT_IS_ARCHIVED:
            return ext.get("valueBoolean") is True
    return False


def security_labels(labels: object, index: int | None = None) -> tuple[str, set[str]]:
    """(confidentiality N/R/V, visibility codes) of a securityLabel list (JDV_J08)."""
    where = _where(index, "securityLabel") if index is not None else "DocumentReference.securityLabel"
    if not isinstance(labels, list) or not labels:
        raise RegistryError("securityLabel absent (1..* JDV_J08)", expression=where)
    confidentiality, visibility = "", set()
    for label in labels:
        codings = label.get("coding") if isinstance(label, dict) else None
        for coding in codings if isinstance(codings, list) else []:
            code = coding.get("code") if isinstance(coding, dict) else None
            code = VISIBILITY_ALIASES.get(code, code) if isinstance(code, str) else None
            if code in CONFIDENTIALITY_CODES:
                confidentiality = code
            elif code in VISIBILITY_CODES:
                visibility.add(code)
            else:
                raise RegistryError(f"securityLabel : code {code!r} hors JDV_J08", expression=where)
    if not confidentiality:
        raise RegistryError("securityLabel : niveau de confidentialité N, R ou V absent", expression=where)
    return confidentiality, visibility


def parse_provide(bundle: dict) -> ProvideRequest:
    """The ITI-65 Bundle's parts, checked for structure; raises RegistryError / MalformedRequest."""
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        raise MalformedRequest("ITI-65 : un Bundle de type transaction est attendu", code="resource-type")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise MalformedRequest("Bundle.entry vide", code="bundle-vide")
    patients, binaries, lists, docrefs, order = {}, {}, [], [], []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise MalformedRequest(f"Bundle.entry[{index}] sans ressource", code="bundle-entree")
        kind = resource.get("resourceType")
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else ""
        request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
        if kind != "Patient" and request.get("method") != "POST":
            raise MalformedRequest(
                f"Bundle.entry[{index}].request.method doit être POST (ITI-65)",
                code="bundle-methode",
                expression=f"Bundle.entry[{index}].request",
            )
        if kind == "Patient":
            patients[full_url] = resource
            order.append(("Patient", full_url))
        elif kind == "Binary":
            binaries[full_url] = index
            order.append(("Binary", full_url))
        elif kind == "List":
            lists.append((index, full_url, resource))
            order.append(("List", full_url))
        elif kind == "DocumentReference":
            docrefs.append((index, full_url, resource))
            order.append(("DocumentReference", full_url))
        else:
            raise RegistryError(
                f"Bundle.entry[{index}] : ressource {kind} inattendue dans un ITI-65",
                expression=f"Bundle.entry[{index}]",
            )
    submission_sets = [x for x in lists if _list_code(x[2]) == "submissionset"]
    folders = [x for x in lists if _list_code(x[2]) == "folder"]
    if len(submission_sets) != 1 or len(lists) != len(submission_sets) + len(folders):
        raise RegistryError(
            "ITI-65 : exactement un lot de soumission (List code submissionset) est attendu",
            code="XDSRegistryMetadataError",
        )
    if not docrefs:  # PDSm st_ajout.md L11: one or more fiches
        raise RegistryError(
            "ITI-65 : au moins une fiche (DocumentReference) est attendue", code="XDSMissingDocumentMetadata"
        )
    warnings = [
        f"PartialFolderContentNotProcessed: classeur {f[1] or f[0]} ignoré (non géré par le DMP)" for f in folders
    ]
    submission = _submission_set(*submission_sets[0], patients)
    documents = [_document(i, u, r, patients, binaries, entries) for i, u, r in docrefs]
    referenced = {d.binary_url for d in documents}
    orphan = next((u for u in binaries if u not in referenced), None)
    if orphan is not None:
        raise RegistryError(
            f"Binary {orphan} sans fiche qui le décrive",
            code="XDSMissingDocumentMetadata",
            expression=_where(binaries[orphan]),
        )
    for label, value in [("lot : uniqueId", submission.unique_id), ("lot : sourceId", submission.source_id)] + [
        (f"{d.unique_id[:40]} : {name}", v)
        for d in documents
        for name, v in (("masterIdentifier", d.unique_id), ("classCode", d.class_code))
    ]:
        if len(value) > (40 if label.endswith("classCode") else 128):  # the registry's column widths
            raise RegistryError(f"{label} trop long ({len(value)} caractères)", code="XDSRegistryMetadataError")
    unique_ids = [d.unique_id for d in documents] + [submission.unique_id]
    if len(set(unique_ids)) != len(unique_ids):
        raise RegistryError(
            "identifiant unique (masterIdentifier) en double dans la transaction",
            code="XDSRegistryDuplicateUniqueIdInMessage",
        )
    return ProvideRequest(submission, documents, binaries, order, warnings)


def _list_code(resource: dict) -> str:
    coding = _coding(resource.get("code"))
    return coding.get("code", "") if coding.get("system") in MHD_LIST_TYPES else ""


def _submission_set(index: int, full_url: str, resource: dict, patients: dict) -> SubmissionSet:
    unique = next(
        (i.get("value") for i in resource.get("identifier", []) if isinstance(i, dict) and i.get("use") == "usual"),
        None,
    )
    if not isinstance(unique, str) or not unique:
        raise RegistryError(
            "lot de soumission sans identifier[uniqueId] (use=usual)", expression=_where(index, "identifier")
        )
    source = next(
        (
            e.get("valueIdentifier", {}).get("value")
            for e in resource.get("extension", [])
            if isinstance(e, dict) and e.get("url") == EXT_SOURCE_ID
        ),
        None,
    )
    if not isinstance(source, str) or not source:
        raise RegistryError("lot de soumission sans extension ihe-sourceId", expression=_where(index, "extension"))
    ins, oid = _patient(resource, "subject", index, patients)
    return SubmissionSet(index, full_url, resource, unique, source, ins, oid)


def _document(
    index: int, full_url: str, resource: dict, patients: dict, binaries: dict[str, int], entries: list
) -> SubmittedDocument:
    master = resource.get("masterIdentifier")
    unique = master.get("value") if isinstance(master, dict) else None
    if not isinstance(unique, str) or not unique:
        raise RegistryError(
            "masterIdentifier (identifiant unique du document) absent", expression=_where(index, "masterIdentifier")
        )
    ins, oid = _patient(resource, "subject", index, patients)
    contents = resource.get("content")
    if not isinstance(contents, list) or len(contents) != 1 or not isinstance(contents[0], dict):
        raise RegistryError("content : exactement un élément attendu", expression=_where(index, "content"))
    attachment = _object(contents[0].get("attachment"))
    url = attachment.get("url")
    if not isinstance(url, str) or url not in binaries:
        raise RegistryError(
            f"content.attachment.url {url!r} ne désigne aucun Binary de la transaction",
            code="XDSMissingDocument",
            expression=_where(index, "content[0].attachment.url"),
        )
    binary = entries[binaries[url]]["resource"]
    try:
        data = base64.b64decode(binary.get("data", ""), validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise MalformedRequest(
            "Binary.data n'est pas du base64", code="base64", expression=_where(binaries[url], "data")
        ) from None
    if not data:
        raise RegistryError("Binary vide", code="XDSMissingDocument", expression=_where(binaries[url], "data"))
    context = _object(resource.get("context"))
    period = _object(context.get("period"))
    confidentiality, visibility = security_labels(resource.get("securityLabel"), index)
    authors = tuple(a for a in (_idnatps(resource, ref) for ref in resource.get("author", []) or []) if a)
    relates = []
    for relation in resource.get("relatesTo", []) or []:
        code = relation.get("code") if isinstance(relation, dict) else None
        target = relation.get("target", {}) if isinstance(relation, dict) else {}
        reference = target.get("reference") if isinstance(target, dict) else None
        if not reference and isinstance(target, dict) and isinstance(target.get("identifier"), dict):
            reference = "identifier:" + str(target["identifier"].get("value", ""))
        if code not in RELATIONS or not isinstance(reference, str):
            raise RegistryError(
                f"relatesTo {code!r} non pris en charge (replaces, transforms)",
                code="PartialReplaceContentNotProcessed",
                expression=_where(index, "relatesTo"),
            )
        relates.append((code, reference))
    size, digest = attachment.get("size"), attachment.get("hash")
    return SubmittedDocument(
        index=index,
        full_url=full_url,
        resource=resource,
        unique_id=unique,
        ins=ins,
        ins_oid=oid,
        type_code=code_of(resource.get("type")),
        class_code=code_of(
            (resource.get("category") or [None])[0] if isinstance(resource.get("category"), list) else None
        ),
        format_code=code_of(
            {"coding": [contents[0].get("format")]} if isinstance(contents[0].get("format"), dict) else None
        ),
        confidentiality=confidentiality,
        visibility=visibility,
        authors=authors,
        creation=_instant(attachment.get("creation")),
        period_start=str(period.get("start", "")),
        period_end=str(period.get("end", "") or ""),
        setting=code_of(context.get("practiceSetting")),
        facility=code_of(context.get("facilityType")),
        size=size if isinstance(size, int) else None,
        hash=digest if isinstance(digest, str) else None,
        content_type=str(attachment.get("contentType") or binary.get("contentType") or ""),
        binary_url=url,
        relates=relates,
        archived=is_archived(resource),
        data=data,
        study_uids=_reference_ids(context, "urn:ihe:iti:xds:2016:studyInstanceUID"),
        accession_numbers=_reference_ids(context, "urn:ihe:iti:xds:2013:accession"),
    )


def _reference_ids(context: dict, kind: str) -> tuple[str, ...]:
    """PDSm context.related[referenceIdList] values of one kind (study instance UID, accession number)."""
    found = []
    for related in context.get("related", []) or []:
        identifier = related.get("identifier", {}) if isinstance(related, dict) else {}
        if isinstance(identifier, dict) and code_of(identifier.get("type")) == kind:
            found.append(str(identifier.get("value", "")))
    return tuple(found)


def render_document(entry: DocumentEntry, base: str) -> dict:
    """The stored DocumentReference with its current state: what ITI-67 and read return."""
    # A copy of what is changed below (the top level and the first attachment), not a deep copy:
    # ITI-67 renders every entry of a dossier and the deep copy was a tenth of a search's time.
    resource = dict(entry.resource)
    content = [dict(c) if isinstance(c, dict) else c for c in resource.get("content", [])]
    if content and isinstance(content[0], dict):
        content[0]["attachment"] = dict(content[0].get("attachment", {}))
    resource["content"] = content
    resource["id"] = entry.id
    resource["meta"] = {"versionId": str(entry.version), "lastUpdated": entry.last_updated, "profile": [PROFILE_DOCREF]}
    resource["status"] = "superseded" if entry.status.value == "superseded" else "current"
    identifiers = [i for i in resource.get("identifier", []) if isinstance(i, dict) and i.get("use") != "official"]
    resource["identifier"] = [
        *identifiers,
        {"use": "official", "system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{entry.id}"},
    ]
    labels = [{"coding": [{"system": URL_CONFIDENTIALITY, "code": entry.confidentiality}]}]
    labels += [
        {"coding": [{"system": URL_VISIBILITY, "code": code}]}
        for code in (MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX)
        if code in entry.visibility
    ]
    resource["securityLabel"] = labels
    resource["extension"] = [e for e in resource.get("extension", []) if e.get("url") != EXT_IS_ARCHIVED] + [
        {"url": EXT_IS_ARCHIVED, "valueBoolean": entry.archived}
    ]
    resource["content"][0]["attachment"]["url"] = f"{base}/Binary/{entry.id}"
    return resource


def _object(value: object) -> dict[str, Any]:
    """A JSON member that must be an object, as an empty one when it is not."""
    return value if isinstance(value, dict) else {}


def searchset(resources: list[dict], base: str, rtype: str, query: str, warnings: Sequence[str] = ()) -> dict:
    """The searchset of one search on `{base}/{rtype}`: each fullUrl is the resource's own URL on the
    base (R4 §2.36.4), the warnings in an OperationOutcome entry, no `entry` when there is none."""
    entries = [{"fullUrl": full_url(base, r), "resource": r, "search": {"mode": "match"}} for r in resources]
    if warnings:
        entries.append(
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "warning", "code": "informational", "diagnostics": w} for w in warnings],
                },
                "search": {"mode": "outcome"},
            }
        )
    url = f"{base}/{rtype}"
    link = [{"relation": "self", "url": f"{url}?{query}" if query else url}]
    return bundle("searchset", entries, total=len(resources), link=link)
