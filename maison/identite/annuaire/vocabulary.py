"""The URLs and codes of the Annuaire Santé FHIR API (IG fhir-annuaire 1.2.0, FR Core 2.2.0).

Collected in one place so that resources, indexes and searches agree on every system. Sources:
the IG's FSH (`shared/reference/annuaire/input/fsh`), profiles, extensions and examples.
"""

from __future__ import annotations

IG = "https://interop.esante.gouv.fr/ig/fhir/annuaire"
FR_CORE = "https://hl7.fr/ig/fhir/core"
IG_VERSION = "1.2.0-snapshot-2"
SOURCE = "https://annuaire.esante.gouv.fr"  # meta.source, fixed by the IG rulesets


def nos(tre: str) -> str:
    """`TRE_G15-ProfessionSante` → its FHIR code-system URL on the MOS/NOS."""
    return f"https://mos.esante.gouv.fr/NOS/{tre}/FHIR/{tre.replace('_', '-')}"


PROFILE = {
    "Practitioner": [
        f"{FR_CORE}/StructureDefinition/fr-core-practitioner|2.2.0",
        f"{IG}/StructureDefinition/as-dp-practitioner|{IG_VERSION}",
    ],
    "PractitionerRole": [
        f"{FR_CORE}/StructureDefinition/fr-core-practitioner-role|2.2.0",
        f"{IG}/StructureDefinition/as-dp-practitionerrole|{IG_VERSION}",
    ],
    "Organization": [
        f"{FR_CORE}/StructureDefinition/fr-core-organization|2.2.0",
        f"{IG}/StructureDefinition/as-dp-organization|{IG_VERSION}",
    ],
    "HealthcareService": [f"{IG}/StructureDefinition/as-dp-healthcareservice-healthcare-activity|{IG_VERSION}"],
    "HealthcareService/social": [f"{IG}/StructureDefinition/as-dp-healthcareservice-social-equipment|{IG_VERSION}"],
}

# identifiers
CS_ID_TYPE = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
SYS_IDNATPS = "urn:oid:1.2.250.1.71.4.2.1"
SYS_IDNATSTRUCT = "urn:oid:1.2.250.1.71.4.2.2"
SYS_RPPS = "https://rpps.esante.gouv.fr"
SYS_FINESS = "https://finess.esante.gouv.fr"
SYS_SIRENE = "https://sirene.fr"
SYS_RPPS_RANG = "https://rppsrang.esante.gouv.fr"
SYS_ARHGOS = "https://arhgos.ars.sante.fr"  # as-healthcareservice-healthcare-activity L22-24

# code systems
CS_PROFESSION = nos("TRE_G15-ProfessionSante")
CS_CATEGORIE_PRO = nos("TRE_R09-CategorieProfessionnelle")
CS_SAVOIR_FAIRE = nos("TRE_R38-SpecialiteOrdinale")
CS_TYPE_SAVOIR_FAIRE = nos("TRE_R04-TypeSavoirFaire")
CS_FONCTION = nos("TRE_R21-Fonction")
CS_GENRE_ACTIVITE = nos("TRE_R22-GenreActivite")
CS_MODE_EXERCICE = nos("TRE_R23-ModeExercice")
CS_SECTEUR = nos("TRE_R02-SecteurActivite")
CS_CATEGORIE_ETAB = nos("TRE_R66-CategorieEtablissement")
CS_COMMUNE = nos("TRE_R13-Commune")
CS_TYPE_MESSAGERIE = nos("TRE_R256-TypeMessagerie")
CS_TYPE_BAL = nos("TRE_R257-TypeBAL")
CS_TYPE_CARTE = nos("TRE_R87-TypeCarte")  # bound through JDV_J128-TypeCarte-RASS; not in the local IG files
CS_ORG_TYPE = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-3307"
CS_AUTORITE = nos("TRE_R60-AutoriteEnregistrement")  # bound through JDV_J83-AutoriteEnregistrement-RASS
# Activités sanitaires régulées (HealthcareService): the IG binds JDV_J133 / J132 / J134, which draw
# their codes from these three TRE (JDV_J133_ActiviteSanitaireRegulee_RASS, OID 1.2.250.1.213.1.6.1.219).
CS_ACTIVITE_SANITAIRE = nos("TRE_R274-ActiviteSanitaireRegulee")
CS_MODALITE_ACTIVITE = nos("TRE_R275-ModaliteActivite")
CS_FORME_ACTIVITE = nos("TRE_R276-FormeActivite")
# Équipements sociaux (social-equipment HealthcareService): JDV_J379 draws from TRE_R401 on the SMT.
CS_ACTIVITE_SOCIALE = "https://smt.esante.gouv.fr/fhir/CodeSystem/tre-r401-activite-sociale-regulee"

# extensions
EXT_EMAIL_TYPE = f"{FR_CORE}/StructureDefinition/fr-core-contact-point-email-type"
EXT_MAILBOX = f"{IG}/StructureDefinition/as-ext-mailbox-mss-metadata"
EXT_SMARTCARD = f"{IG}/StructureDefinition/as-ext-smartcard"
EXT_ORG_TYPES = f"{IG}/StructureDefinition/as-ext-organization-types"
EXT_INSEE = f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
EXT_DATA_TRACE = f"{IG}/StructureDefinition/as-ext-data-trace"
EXT_AUTHORIZATION = f"{IG}/StructureDefinition/as-ext-authorization"
EXT_SUPPORTED_CAPACITY = f"{IG}/StructureDefinition/as-ext-supported-capacity"

MAILBOX_TYPES = ("PER", "ORG", "APP", "CAB")

# Token systems are stored under short aliases (millions of token rows repeat a handful of URLs).
SYSTEM_ALIASES = {
    url: alias
    for alias, url in {
        "g15": CS_PROFESSION,
        "r09": CS_CATEGORIE_PRO,
        "r38": CS_SAVOIR_FAIRE,
        "r21": CS_FONCTION,
        "r22": CS_GENRE_ACTIVITE,
        "r23": CS_MODE_EXERCICE,
        "r02": CS_SECTEUR,
        "r66": CS_CATEGORIE_ETAB,
        "r87": CS_TYPE_CARTE,
        "3307": CS_ORG_TYPE,
        "0203": CS_ID_TYPE,
        "idnps": SYS_IDNATPS,
        "idnst": SYS_IDNATSTRUCT,
        "rpps": SYS_RPPS,
        "finess": SYS_FINESS,
        "sirene": SYS_SIRENE,
        "rppsrang": SYS_RPPS_RANG,
        "r274": CS_ACTIVITE_SANITAIRE,
        "r275": CS_MODALITE_ACTIVITE,
        "r276": CS_FORME_ACTIVITE,
        "arhgos": SYS_ARHGOS,
        "r60": CS_AUTORITE,
        "r401": CS_ACTIVITE_SOCIALE,
    }.items()
}


def system_alias(system: str) -> str:
    return SYSTEM_ALIASES.get(system, system)
