"""The producer's side of PDSm: the ITI-65 Bundle a DPI, a lab or a PFI sends for its CDA documents.

The metadata is read from each document's own header (the CI-SIS XDS ↔ CDA mapping), so what is
declared is what the document says; the hash and size are those of the exact bytes sent. The
demo, the benchmark and the tests feed the DMP through this, as a vendor's software would: it is the
hospital wing's, and knows the DMP only by its wire format (maison.formats.pdsm, xds_codes).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from maison.formats import xmlsafe
from maison.formats.cda.document import format_code
from maison.formats.cda.header import INS_ROOTS, parse_ts, read_header
from maison.formats.pdsm import (
    EXT_DESIGNATION_TYPE,
    EXT_IS_ARCHIVED,
    EXT_SOURCE_ID,
    MHD_LIST_TYPES,
    PROFILE_PROVIDE_BUNDLE,
    SYS_IDNATPS,
    SYS_IDNATSTRUCT,
    SYS_TYPE_COMPLEMENTAIRE,
    URL_CLASS,
    URL_CONFIDENTIALITY,
    URL_FACILITY,
    URL_FORMAT,
    URL_LOINC,
    URL_PRACTICE,
    URL_TYPE_COMPLEMENTAIRE,
    URL_VISIBILITY,
)
from maison.formats.xds_codes import TYPE_CLASS, VOLET_FORMAT


@dataclass
class Produced:
    """One document to send: its bytes and what the producer decides beside the header."""

    cda: bytes
    visibility: tuple[str, ...] = ()
    transforms: int | None = None  # index (in the same Bundle) of the N1 this N3 is the structured form of
    replaces: str | None = None  # "DocumentReference/<id>" of the version this one replaces
    archived: bool = False
    overrides: dict = field(default_factory=dict)  # metadata to send differently (tests of mismatches)


def _iso(ts: datetime | None) -> str:
    return (ts or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")


def _type_system(oid: str) -> str:
    """The FHIR system of a typeCode: LOINC, or the TRE_A05 terminology of the codes LOINC lacks
    (PRESC-BIO, PRESC-KINE…), as the CDA header names it."""
    return URL_TYPE_COMPLEMENTAIRE if oid == SYS_TYPE_COMPLEMENTAIRE else URL_LOINC


def document_reference(doc: Produced, binary_url: str, related: list[dict[str, Any]]) -> dict[str, Any]:
    header = read_header(xmlsafe.parse(doc.cda, max_bytes=len(doc.cda) + 1))
    ins = header.patient.ins
    # a produced document carries these (the producer's CDA passed the header rules)
    assert ins is not None and header.custodian is not None and header.type_code is not None
    assert header.confidentiality is not None and header.facility_type is not None
    assert header.practice_setting is not None
    author = header.authors[0]
    birth = header.patient.birth_date
    practitioner = {
        "resourceType": "Practitioner",
        "id": "auteur",
        "identifier": [{"system": SYS_IDNATPS, "value": author.idnatps}],
        "name": [{"family": author.family, "given": [author.given]}],
    }
    patient = {
        "resourceType": "Patient",
        "id": "patient",
        "identifier": [{"system": f"urn:oid:{ins.root}", "value": ins.extension}],
        "name": [{"family": header.patient.birth_family, "given": header.patient.birth_givens.split()}],
        "gender": {"M": "male", "F": "female"}.get(header.patient.gender, "unknown"),
        "birthDate": f"{birth[:4]}-{birth[4:6]}-{birth[6:8]}",
    }
    fmt = format_code(header, VOLET_FORMAT)
    labels = [{"coding": [{"system": URL_CONFIDENTIALITY, "code": header.confidentiality.code}]}]
    labels += [{"coding": [{"system": URL_VISIBILITY, "code": code}]} for code in doc.visibility]
    period = {"start": _iso(parse_ts(header.service_start) if header.service_start else None)}
    if header.service_stop:
        period["end"] = _iso(parse_ts(header.service_stop))
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "contained": [practitioner, patient],
        "extension": [{"url": EXT_IS_ARCHIVED, "valueBoolean": doc.archived}],
        "masterIdentifier": {"use": "usual", "system": "urn:ietf:rfc:3986", "value": f"urn:oid:{header.unique_id}"},
        "status": "current",
        "type": {
            "coding": [
                {
                    "system": _type_system(header.type_code.system),
                    "code": header.type_code.code,
                    "display": header.type_code.display,
                }
            ]
        },
        "category": [{"coding": [{"system": URL_CLASS, "code": TYPE_CLASS.get(header.type_code.code, "")}]}],
        "subject": {"identifier": {"system": f"urn:oid:{ins.root}", "value": ins.extension}},
        "date": _iso(None),
        "author": [{"reference": "#auteur"}],
        "custodian": {"identifier": {"system": SYS_IDNATSTRUCT, "value": header.custodian.extension}},
        "securityLabel": labels,
        "content": [
            {
                "attachment": {
                    "contentType": "text/xml",
                    "language": "fr-FR",
                    "url": binary_url,
                    "size": len(doc.cda),
                    "hash": base64.b64encode(hashlib.sha1(doc.cda).digest()).decode(),
                    "title": header.title,
                    "creation": _iso(header.creation),
                },
                "format": {"system": URL_FORMAT, "code": fmt},
            }
        ],
        "context": {
            "period": period,
            "facilityType": {"coding": [{"system": URL_FACILITY, "code": header.facility_type.code}]},
            "practiceSetting": {"coding": [{"system": URL_PRACTICE, "code": header.practice_setting.code}]},
            "sourcePatientInfo": {"reference": "#patient"},
        },
    }
    pointers = [(uid, "urn:ihe:iti:xds:2016:studyInstanceUID") for uid in header.study_instance_uids]
    pointers += [(number, "urn:ihe:iti:xds:2013:accession") for number in header.accession_numbers]
    if pointers:  # the imaging pointer: the PACS study beside its report (000 L3542; PDSm referenceIdList)
        resource["context"]["related"] = [
            {"identifier": {"type": {"coding": [{"system": "urn:ietf:rfc:3986", "code": code}]}, "value": value}}
            for value, code in pointers
        ]
    if header.event_codes:
        resource["context"]["event"] = [{"coding": [{"system": URL_LOINC, "code": c.code}]} for c in header.event_codes]
    if related:
        resource["relatesTo"] = related
    for path, value in doc.overrides.items():  # "a.b.c" → value
        node: Any = resource
        *parents, last = path.split(".")
        for key in parents:
            node = node[int(key)] if (key.isascii() and key.isdigit()) else node[key]
        node[int(last) if (last.isascii() and last.isdigit()) else last] = value
    return resource


def provide_bundle(
    documents: list[Produced],
    *,
    source_id: str = "1.2.250.1.213.4.1.9.1",
    submission_id: str | None = None,
    title: str = "",
) -> dict:
    """An ITI-65 transaction Bundle: the submission set, then each DocumentReference and its Binary."""
    header = read_header(xmlsafe.parse(documents[0].cda, max_bytes=len(documents[0].cda) + 1))
    ins = header.patient.ins
    if ins is None or ins.root not in INS_ROOTS:
        raise ValueError("le document ne porte pas d'INS")
    assert header.facility_type is not None  # a produced document carries it (the header rules)
    urls = [(f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}") for _ in documents]
    submission = {
        "resourceType": "List",
        "status": "current",
        "mode": "working",
        "title": title or header.title,
        "extension": [
            {"url": EXT_SOURCE_ID, "valueIdentifier": {"value": f"urn:oid:{source_id}"}},
            {
                "url": EXT_DESIGNATION_TYPE,
                "valueCodeableConcept": {"coding": [{"system": URL_FACILITY, "code": header.facility_type.code}]},
            },
        ],
        "identifier": [
            {
                "use": "usual",
                "system": "urn:ietf:rfc:3986",
                "value": submission_id or f"urn:oid:1.2.250.1.999.2.{uuid.uuid4().int}",
            }
        ],
        "code": {"coding": [{"system": MHD_LIST_TYPES[0], "code": "submissionset"}]},
        "subject": {"identifier": {"system": f"urn:oid:{ins.root}", "value": ins.extension}},
        "date": _iso(None),
        "entry": [{"item": {"reference": doc_url}} for doc_url, _b in urls],
    }
    entries = [
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": submission, "request": {"method": "POST", "url": "List"}}
    ]
    for doc, (doc_url, binary_url) in zip(documents, urls, strict=False):
        related = []
        if doc.transforms is not None:
            related.append({"code": "transforms", "target": {"reference": urls[doc.transforms][0]}})
        if doc.replaces:
            related.append({"code": "replaces", "target": {"reference": doc.replaces}})
        entries.append(
            {
                "fullUrl": doc_url,
                "resource": document_reference(doc, binary_url, related),
                "request": {"method": "POST", "url": "DocumentReference"},
            }
        )
        entries.append(
            {
                "fullUrl": binary_url,
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "text/xml",
                    "data": base64.b64encode(doc.cda).decode(),
                },
                "request": {"method": "POST", "url": "Binary"},
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "meta": {"profile": [PROFILE_PROVIDE_BUNDLE]},
        "entry": entries,
    }
