"""The CI-SIS header rules ("Structuration minimale des documents de santé") checked in Python.

The ANS publishes these rules as an ART-DECOR schematron (`profils/structurationMinimale`, cited
`SM:<line>` below, file `include/1.2.250.1.213.1.1.1.1-2017-12-13T103531.sch`); `schematron.py`
runs it when the pack is configured. These checks are the ones a document registry cannot do
without — every metadata field it indexes and every identity it files under comes from them — so
they run on every document, fast, with a precise code and message per failure, whatever the pack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from maison.core.identifiers.professionals import OID_IDNATSTRUCT
from maison.core.terminology import Terminology
from maison.formats.cda.header import (
    INS_ROOTS,
    TEMPLATE_CISIS,
    TEMPLATE_HL7_FRANCE,
    TEMPLATE_XDS_SD,
    CdaHeader,
    Code,
    Party,
    parse_ts,
)

OID_PATIENT_ORGANISATION = "1.2.250.1.213.4.1"  # custodian of documents the patient produces (SM:2531-2568)
VS_TYPE = "1.2.250.1.213.1.1.5.471"  # JDV_J07_XdsTypeCode_CISIS
VS_FACILITY = "1.2.250.1.213.1.1.5.466"  # JDV_J02_XdsHealthcareFacilityTypeCode_CISIS
VS_PRACTICE = "1.2.250.1.213.1.1.5.467"  # JDV_J04_XdsPracticeSettingCode_CISIS
VS_SPECIALTY = "1.2.250.1.213.1.1.5.461"  # JDV_J01_XdsAuthorSpecialty_CISIS
VS_GENDER = "1.2.250.1.213.1.1.5.590"  # JDV_J143_AdministrativeGender_CISIS
VS_CONFIDENTIALITY = "2.16.840.1.113883.1.11.10228"  # JDV_HL7_Confidentiality_CISIS
_LANGUAGE = re.compile(r"^[a-z]{2}-[A-Z]{2}$")


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    location: str
    source: str
    severity: str = "error"


def _in(terminology: Terminology, value_set: str, code: Code | None) -> bool:
    return code is not None and terminology.contains(value_set, code.code, code.system or None)


def _person(findings: list[Finding], party: Party, where: str, code: str, source: str) -> None:
    if not party.ids:
        findings.append(Finding(code, f"{where} : identifiant absent", where, source))
    for ident in party.ids:
        if not ident.extension:
            findings.append(Finding(code, f"{where} : identifiant {ident.root} sans extension", where, source))


def check_header(header: CdaHeader, terminology: Terminology, *, for_dmp: bool = True) -> list[Finding]:
    """Every failed header rule, in document order; empty when the header conforms."""
    f: list[Finding] = []

    def add(code: str, message: str, where: str, source: str) -> None:
        f.append(Finding(code, message, where, source))

    if header.realm != "FR":
        add("cda-realm", "realmCode doit valoir FR", "realmCode", "SM:25-26")
    if header.type_id is None or (header.type_id.root, header.type_id.extension) != (
        "2.16.840.1.113883.1.3",
        "POCD_HD000040",
    ):
        add("cda-typeid", "typeId doit être 2.16.840.1.113883.1.3 / POCD_HD000040", "typeId", "SM:27-28")
    for template, label in ((TEMPLATE_HL7_FRANCE, "HL7 France"), (TEMPLATE_CISIS, "CI-SIS")):
        if template not in header.template_ids:
            add("cda-template", f"templateId {label} ({template}) absent", "templateId", "SM:29-32")
    if not header.volet_templates:
        add("cda-template", "aucun templateId de volet", "templateId", "SM:33")
    if header.level == "N1":
        # SM:23-24: an N1 document carries exactly these three templateIds, XDS-SD replacing the volet's
        if sorted(header.template_ids) != sorted((TEMPLATE_HL7_FRANCE, TEMPLATE_CISIS, TEMPLATE_XDS_SD)):
            add(
                "cda-n1-templates",
                f"un document N1 porte exactement les templateId {TEMPLATE_HL7_FRANCE}, "
                f"{TEMPLATE_CISIS} et {TEMPLATE_XDS_SD}",
                "templateId",
                "SM:23-24",
            )
        if (header.body_media_type, header.body_representation) != ("application/pdf", "B64"):
            add(
                "cda-n1-corps",
                "nonXMLBody/text : mediaType application/pdf et representation B64 attendus",
                "component/nonXMLBody/text",
                "SM:7448-7452; XDS-SD",
            )
    if header.id is None:
        add("cda-id", "identifiant du document (id@root) absent", "id", "SM:34-35")
    elif for_dmp and header.id.extension:
        add(
            "cda-id",
            "le DMP n'accepte pas d'identifiant de document au format OID^extension",
            "id",
            "xds-cda-metadata profils-messages.md:1384",
        )
    if not _in(terminology, VS_TYPE, header.type_code):
        got = f"{header.type_code.code}@{header.type_code.system}" if header.type_code else "absent"
        add("cda-type", f"code du document {got} hors JDV_J07_XdsTypeCode_CISIS", "code", "SM:136-147")
    if not header.title:
        add("cda-titre", "titre du document absent", "title", "SM:38-39")
    if parse_ts(header.effective_time) is None:
        add("cda-date", f"effectiveTime '{header.effective_time}' invalide", "effectiveTime", "SM:162-167")
    if not _in(terminology, VS_CONFIDENTIALITY, header.confidentiality):
        add(
            "cda-confidentialite",
            "confidentialityCode hors JDV_HL7_Confidentiality_CISIS",
            "confidentialityCode",
            "SM:174-184",
        )
    if not _LANGUAGE.match(header.language):
        add(
            "cda-langue",
            f"languageCode '{header.language}' : format ll-CC attendu (fr-FR)",
            "languageCode",
            "SM:190-197",
        )
    if not header.set_id:
        add("cda-setid", "setId@root absent", "setId", "SM:204-209")
    if header.version is None or header.version < 1:
        add("cda-version", "versionNumber : entier positif attendu", "versionNumber", "SM:216-222")
    _patient_rules(header, terminology, f, for_dmp)
    if not header.authors:
        add("cda-auteur", "au moins un auteur est requis", "author", "SM:53")
    for n, author in enumerate(header.authors, 1):
        where = f"author[{n}]/assignedAuthor"
        _person(f, author, where, "cda-auteur", "SM:1138, 1151-1157")
        if not author.time:
            add("cda-auteur", f"author[{n}]/time absent", f"author[{n}]/time", "SM:1090-1091")
        if not author.device and not author.family:
            add(
                "cda-auteur",
                f"{where} : assignedPerson/name/family ou assignedAuthoringDevice requis",
                where,
                "SM:1141-1143, 1376-1392",
            )
        if author.code is not None and not _in(terminology, VS_SPECIALTY, author.code):
            add(
                "cda-auteur-specialite",
                f"{where}/code {author.code.code} hors JDV_J01_XdsAuthorSpecialty_CISIS",
                f"{where}/code",
                "SM:1164-1173",
            )
    if (
        header.custodian is None
        or header.custodian.root not in (OID_IDNATSTRUCT, OID_PATIENT_ORGANISATION)
        or not header.custodian.extension
    ):
        add(
            "cda-gardien",
            f"custodian : identifiant de structure ({OID_IDNATSTRUCT}) requis",
            "custodian/assignedCustodian/representedCustodianOrganization/id",
            "SM:55-56, 2531-2568",
        )
    if header.legal_authenticator is None or not header.legal_authenticator.ids:
        add("cda-responsable", "legalAuthenticator (responsable du document) requis", "legalAuthenticator", "SM:57-58")
    else:
        _person(f, header.legal_authenticator, "legalAuthenticator/assignedEntity", "cda-responsable", "SM:3284-3354")
        if not header.legal_authenticator.time:
            add("cda-responsable", "legalAuthenticator/time absent", "legalAuthenticator/time", "SM:3284-3354")
    if header.performer is None or not header.service_start:
        add(
            "cda-acte",
            "le premier documentationOf porte un serviceEvent avec effectiveTime/low et un performer",
            "documentationOf[1]/serviceEvent",
            "SM:21-22, 5080-5089",
        )
    if not _in(terminology, VS_PRACTICE, header.practice_setting):
        add(
            "cda-cadre-exercice",
            "standardIndustryClassCode du performer hors JDV_J04_XdsPracticeSettingCode_CISIS",
            "documentationOf[1]/serviceEvent/performer/assignedEntity/representedOrganization/standardIndustryClassCode",
            "SM:5524-5539, 5763-5771",
        )
    if not _in(terminology, VS_FACILITY, header.facility_type):
        add(
            "cda-secteur",
            "healthCareFacility/code hors JDV_J02_XdsHealthcareFacilityTypeCode_CISIS",
            "componentOf/encompassingEncounter/location/healthCareFacility/code",
            "SM:7186-7237",
        )
    return f


def _patient_rules(header: CdaHeader, terminology: Terminology, f: list[Finding], for_dmp: bool) -> None:
    patient = header.patient
    where = "recordTarget/patientRole"
    if not patient.ids:
        f.append(Finding("cda-patient", "identifiant du patient absent", f"{where}/id", "SM:241"))
    for ident in patient.ids:
        if not ident.extension:
            f.append(
                Finding("cda-patient", f"identifiant patient {ident.root} sans extension", f"{where}/id", "SM:250-256")
            )
    if patient.ins is None:
        if for_dmp:  # seed 000 L2076: the matricule INS is the DMP's pivot identifier
            f.append(
                Finding(
                    "cda-ins",
                    f"le patient doit être identifié par son INS ({', '.join(INS_ROOTS)})",
                    f"{where}/id",
                    "SM:52; SPEC §3",
                )
            )
        return
    # SM:52: with an INS, the traits of the INS identity are all required
    missing = [
        label
        for label, value in (
            ("nom de naissance (family BR)", patient.birth_family),
            ("premier prénom de naissance (given BR)", patient.birth_given_first),
            ("prénoms de naissance (given)", patient.birth_givens),
            ("date de naissance", patient.birth_date),
            ("sexe", patient.gender),
            ("lieu de naissance (code COG)", patient.birthplace_cog),
        )
        if not value
    ]
    if missing:
        f.append(Finding("cda-ins-traits", f"traits INS manquants : {', '.join(missing)}", f"{where}/patient", "SM:52"))
    if patient.gender and not terminology.contains(VS_GENDER, patient.gender):
        f.append(
            Finding(
                "cda-ins-traits",
                f"sexe '{patient.gender}' hors JDV_J143_AdministrativeGender_CISIS",
                f"{where}/patient/administrativeGenderCode",
                "SM:519-524",
            )
        )
