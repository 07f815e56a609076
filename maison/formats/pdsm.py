"""The vocabulary of PDSm (MHD France) on the wire: the URLs and systems an ITI-65 Provide Bundle and
the DocumentReferences it carries are written with.

Both sides of the exchange use them: a producer's software writing a Bundle (the hospital wing's
producer, Mon espace santé depositing a patient's own document) and the DMP reading it and writing
its DocumentReferences back. They are the specifications' (PDSm IG, IHE MHD, the NOS terminologies
of the ANS, HL7), not a service's, so they live here once and every side imports them.
"""

from __future__ import annotations

from typing import Final

from maison.core.identifiers.nir import OID_INS_NIA, OID_INS_NIR, OID_INS_NIR_DEMO, OID_INS_NIR_TEST
from maison.core.identifiers.professionals import OID_IDNATPS, OID_IDNATSTRUCT

# PDSm IG and IHE MHD: profiles and extensions
PDSM: Final = "https://interop.esante.gouv.fr/ig/fhir/pdsm"
EXT_IS_ARCHIVED: Final = f"{PDSM}/StructureDefinition/pdsm-ext-is-archived"
PROFILE_DOCREF: Final = f"{PDSM}/StructureDefinition/pdsm-comprehensive-document-reference"
PROFILE_SUBMISSION_SET: Final = f"{PDSM}/StructureDefinition/pdsm-submissionset-comprehensive"
PROFILE_PROVIDE_BUNDLE: Final = (
    "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Comprehensive.ProvideBundle"
)
# MHD's code system of List types: both spellings are met in the field (the IG's https, older http).
MHD_LIST_TYPES: Final = (
    "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
    "http://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
)
EXT_SOURCE_ID: Final = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId"
EXT_DESIGNATION_TYPE: Final = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType"

# Identifier systems: the patient's INS (by the OID of its kind), professionals and structures
INS_SYSTEMS: Final = {f"urn:oid:{oid}": oid for oid in (OID_INS_NIR, OID_INS_NIA, OID_INS_NIR_TEST, OID_INS_NIR_DEMO)}
SYS_IDNATPS: Final = f"urn:oid:{OID_IDNATPS}"
SYS_IDNATSTRUCT: Final = f"urn:oid:{OID_IDNATSTRUCT}"

# Code systems of the document metadata (CI-SIS XDS ↔ CDA mapping, NOS terminologies)
URL_LOINC: Final = "http://loinc.org"
SYS_TYPE_COMPLEMENTAIRE: Final = "1.2.250.1.213.1.1.4.12"  # TRE_A05: the typeCodes LOINC lacks (PRESC-BIO…)
URL_TYPE_COMPLEMENTAIRE: Final = (
    "https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire"
)
URL_CLASS: Final = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
URL_FORMAT: Final = "https://mos.esante.gouv.fr/NOS/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode"
URL_PRACTICE: Final = "https://mos.esante.gouv.fr/NOS/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice"
URL_FACILITY: Final = "https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite"
# JDV_J08 / TRE_A07-StatusVisibiliteDocument (reference/cisis/jeuxDeValeurs/JDV_J08… L22-30)
URL_VISIBILITY: Final = (
    "https://mos.esante.gouv.fr/NOS/TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument"
)
URL_CONFIDENTIALITY: Final = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
