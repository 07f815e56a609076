"""The vaccinations a professional recorded, read from the notes de vaccination (VAC-NOTE N3) in the DMP.

Seed 000 L3293: the vaccinations rubrique "présente l'ensemble des vaccins, saisis par l'utilisateur
ainsi que ceux saisis par le professionnel de santé". The professional's side is the volet VAC-NOTE:
each `substanceAdministration` of its immunization section (example
reference/cisis/ExemplesCDA/VAC-NOTE_2023.01.xml:348-494) becomes one FHIR Immunization, marked as
recorded by its primary source and pointing to the DMP document it comes from — by an extension
of Maison's own, under the deployment's namespace (issue 21 §3.3), as the rubrique tag's code system.
"""

from __future__ import annotations

from typing import Any

from maison.formats import xmlsafe
from maison.formats.namespace import Namespace

TYPE_NOTE_VACCINATION = "87273-9"  # LOINC, the VAC-NOTE document type
RUBRIQUE = "espace-rubrique"  # the code system of the profil médical's rubriques (ns.code_system)
SOURCE_DOCUMENT = "espace-document-source"  # the DMP document an Immunization was read from (ns.structure)
_V3 = "urn:hl7-org:v3"
_NS = {"v3": _V3}


def _day(value: str | None) -> str | None:
    if not value or len(value) < 8 or not (value[:8].isascii() and value[:8].isdigit()):
        return None
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}"


def immunizations(cda: bytes, document_id: str, ins: str, ns: Namespace) -> list[dict]:
    """One Immunization per administration the note records."""
    root = xmlsafe.parse(cda, max_bytes=len(cda) + 1)
    out: list[dict[str, Any]] = []
    for administration in root.iterfind(".//v3:substanceAdministration[@moodCode='EVN']", _NS):
        material = administration.find("v3:consumable/v3:manufacturedProduct/v3:manufacturedMaterial", _NS)
        if material is None:
            continue
        code = material.find("v3:code", _NS)
        when = administration.find("v3:effectiveTime", _NS)
        day = _day(when.get("value") if when is not None else None) or _day(
            when.find("v3:low", _NS).get("value") if when is not None and when.find("v3:low", _NS) is not None else None
        )
        if code is None or day is None:
            continue
        vaccine = {"text": code.get("displayName") or code.get("code")}
        if code.get("code") and code.get("codeSystem"):
            vaccine["coding"] = [
                {
                    "system": f"urn:oid:{code.get('codeSystem')}",
                    "code": code.get("code"),
                    "display": code.get("displayName"),
                }
            ]
        resource = {
            "resourceType": "Immunization",
            "id": f"{document_id}-{len(out) + 1}",
            "status": "not-done" if administration.get("negationInd") == "true" else "completed",
            "vaccineCode": vaccine,
            "patient": {"reference": f"Patient/{ins}"},
            "occurrenceDateTime": day,
            "primarySource": True,
            "meta": {"tag": [{"system": ns.code_system(RUBRIQUE), "code": "vaccinations"}]},
            "extension": [
                {
                    "url": ns.structure(SOURCE_DOCUMENT),
                    "valueReference": {"reference": f"DocumentReference/{document_id}"},
                }
            ],
        }
        lot = material.findtext("v3:lotNumberText", namespaces=_NS)
        if lot:
            resource["lotNumber"] = lot.strip()
        out.append(resource)
    return out
