"""The OID registry: the identifier systems and code systems Maison speaks, by name and by OID.

Documents (CDA), metadata (XDS/PDSm) and FHIR all name systems by OID; FHIR also by URI
(`urn:oid:<oid>`). One table so that no module hard-codes an OID twice.
"""

from __future__ import annotations

from maison.core.identifiers.nir import OID_INS_NIA, OID_INS_NIR, OID_INS_NIR_DEMO, OID_INS_NIR_TEST
from maison.core.identifiers.professionals import OID_IDNATPS, OID_IDNATSTRUCT

REGISTRY: dict[str, tuple[str, str]] = {
    "INS-NIR": (OID_INS_NIR, "INS : matricule NIR"),
    "INS-NIA": (OID_INS_NIA, "INS : matricule NIA"),
    "INS-NIR-TEST": (OID_INS_NIR_TEST, "INS : NIR de test"),
    "INS-NIR-DEMO": (OID_INS_NIR_DEMO, "INS : NIR de démonstration"),
    "IdNatPS": (OID_IDNATPS, "Identifiant national des professionnels de santé"),
    "IdNatStruct": (OID_IDNATSTRUCT, "Identifiant national des structures"),
    "LOINC": ("2.16.840.1.113883.6.1", "LOINC"),
    "UCUM": ("2.16.840.1.113883.6.8", "UCUM"),
    "SNOMED-CT": ("2.16.840.1.113883.6.96", "SNOMED CT"),
    "CIM-10": ("2.16.840.1.113883.6.3", "CIM-10"),
    "TRE_R20-Pays": ("1.2.250.1.213.2.25", "Pays (COG)"),
    "TRE_R13-CommuneOM": ("1.2.250.1.213.2.26", "Communes (COG)"),
    "AdministrativeGender": ("2.16.840.1.113883.5.1", "HL7 AdministrativeGender"),
    "Maison-IPP": ("1.2.250.1.999.1.1", "IPP locaux des structures de démonstration Maison"),
    # XDS SubmissionSet.sourceId is an OID (IHE ITI TF-3 §4.2.3.3, SubmissionSet metadata; MHD's
    # ihe-sourceId: "The format of the identifier is an OID"; ≤ 64 characters in XDS): Mon espace
    # santé's, for the lots a patient deposits. Maison owns no OID arc, so a UUID-derived OID (ITU-T
    # X.667 / RFC 4122 §1: 2.25.<UUID as an integer>), unique without a registry; it replaced
    # `urn:maison:mon-espace-sante` (issue 21 §3.3).
    "Maison-MES": ("2.25.11982646499975699409319070283480242007", "Mon espace santé : lots déposés par le patient"),
}

_BY_OID = {oid: name for name, (oid, _label) in REGISTRY.items()}


def oid_of(name: str) -> str:
    return REGISTRY[name][0]


def name_of(oid: str) -> str | None:
    return _BY_OID.get(oid.removeprefix("urn:oid:"))


def as_uri(oid: str) -> str:
    return oid if oid.startswith("urn:oid:") else f"urn:oid:{oid}"
