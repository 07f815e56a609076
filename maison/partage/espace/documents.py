"""Documents the patient deposits in his DMP from Mon espace santé, in the categories reserved to him.

Each major class of the DMP has one item reserved to the patient (seed 000 L3267-3269: "CR déposés
par le patient" beside the professionals' sixteen kinds of CR); the CI-SIS lists them in JDV_J07 as
the TRE_A05 codes DOCPAT01-09, read here from the reference pack. DOCPAT08 (the profil médical
synthesis) is written by Mon espace santé itself when the patient shares his profile (000 L3300).
A deposited file is kept as it is (PDF or image, IHE formatCode "mimeTypeSufficient"): its bytes must
be what its declared type says, checked by their signature, not by the name the patient gave it.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from lxml import etree

from maison.core.errors import InvalidInput, TooLarge
from maison.formats import xmlsafe
from maison.formats.pdsm import (
    EXT_IS_ARCHIVED,
    INS_SYSTEMS,
    SYS_TYPE_COMPLEMENTAIRE,
    URL_CLASS,
    URL_CONFIDENTIALITY,
    URL_FORMAT,
    URL_TYPE_COMPLEMENTAIRE,
)
from maison.formats.xds_codes import TYPE_CLASS

FORMAT_MIME_SUFFICIENT = "urn:ihe:iti:xds:2017:mimeTypeSufficient"
PROFILE_SYNTHESIS = "DOCPAT08"  # "Profil médical Mon espace santé"
# The signature each accepted type starts with.
SIGNATURES = {"application/pdf": (b"%PDF-",), "image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",)}


@cache
def patient_categories(reference_path: Path) -> dict[str, str]:
    """DOCPATxx → display, from JDV_J07 (the CI-SIS value set of document types)."""
    path = reference_path / "cisis" / "jeuxDeValeurs" / "JDV_J07_XdsTypeCode_CISIS.xml"
    data = path.read_bytes()
    root = xmlsafe.parse(data, max_bytes=len(data) + 1)
    return {
        c.get("code"): c.get("displayName")
        for c in root.iter(etree.Element)
        if etree.QName(c).localname == "Concept"
        and (c.get("code") or "").startswith("DOCPAT")
        and c.get("codeSystem") == SYS_TYPE_COMPLEMENTAIRE
    }


def check_upload(
    categories: dict[str, str],
    category: str,
    content_type: str,
    data: bytes,
    max_bytes: int,
    *,
    by_service: bool = False,
) -> None:
    if category not in categories:
        raise InvalidInput(
            f"catégorie {category!r} : une des catégories du patient ({', '.join(sorted(categories))})",
            code="categorie-inconnue",
            expression="type",
        )
    if category == PROFILE_SYNTHESIS and not by_service:
        raise InvalidInput(
            "la synthèse du profil médical est produite par Mon espace santé (partage du profil)",
            code="categorie-reservee",
            expression="type",
        )
    if content_type not in SIGNATURES:
        raise InvalidInput(
            f"type {content_type!r} : {', '.join(SIGNATURES)}",
            code="format-non-accepte",
            expression="content.attachment.contentType",
        )
    if len(data) > max_bytes:
        raise TooLarge(f"document de {len(data)} octets : {max_bytes} au plus", code="document-trop-gros")
    if not data.startswith(SIGNATURES[content_type]):
        raise InvalidInput(
            f"le contenu n'est pas un {content_type}", code="contenu-incoherent", expression="content.attachment.data"
        )


def document_reference(
    *,
    ins: str,
    ins_oid: str,
    unique_id: str,
    category: str,
    display: str,
    title: str,
    content_type: str,
    data: bytes,
    created: datetime,
) -> dict:
    """The fiche of a patient document, in the shape of the PDSm DocumentReference the DMP keeps."""
    system = next((s for s, oid in INS_SYSTEMS.items() if oid == ins_oid), f"urn:oid:{ins_oid}")
    when = created.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {
        "resourceType": "DocumentReference",
        "extension": [{"url": EXT_IS_ARCHIVED, "valueBoolean": False}],
        "masterIdentifier": {"use": "usual", "system": "urn:ietf:rfc:3986", "value": f"urn:oid:{unique_id}"},
        "status": "current",
        "type": {"coding": [{"system": URL_TYPE_COMPLEMENTAIRE, "code": category, "display": display}]},
        "category": [{"coding": [{"system": URL_CLASS, "code": TYPE_CLASS.get(category, "90")}]}],
        "subject": {"identifier": {"system": system, "value": ins}},
        "date": when,
        "author": [{"identifier": {"system": system, "value": ins}, "display": "déposé par le patient"}],
        "description": title,
        "securityLabel": [{"coding": [{"system": URL_CONFIDENTIALITY, "code": "N"}]}],
        "content": [
            {
                "attachment": {
                    "contentType": content_type,
                    "language": "fr-FR",
                    "size": len(data),
                    "hash": base64.b64encode(hashlib.sha1(data).digest()).decode(),
                    "title": title,
                    "creation": when,
                },
                "format": {"system": URL_FORMAT, "code": FORMAT_MIME_SUFFICIENT},
            }
        ],
        "context": {"period": {"start": when}},
    }


def new_unique_id() -> str:
    """An OID under the UUID arc (ITU-T X.667), as the DMP requires OIDs for uniqueIds."""
    return f"2.25.{uuid.uuid4().int}"
