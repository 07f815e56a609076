"""Local identities as FHIR R4 Patient resources following FR Core Patient INS.

- `identifier`: the IPP (type PI) always; the INS (type INS-NIR / INS-NIA, system the INS OID)
  only for a qualified identity (seed 000 L2007-2009: the matricule is shared only then).
- `extension` identity reliability (`fr-core-identity-reliability`): identityStatus (PROV, VALI,
  RECUP, QUAL from `fr-core-cs-identity-status`), methodCollection, validationMode (the document).
- `name`: the birth name (use `official`) with `given` = first birth first name and the
  `fr-core-patient-birth-list-given-name` extension carrying the whole list; the used name
  (use `usual`) when known.
- `birthDate`, `gender`, and `patient-birthPlace` with the INSEE COG code of the birth place.
Unknown day or month (`00`) is written as the FHIR partial date (`1980-03`, `1980`).

What INSi answered the index's own call (`$recuperer-ins`) is told to the DPI that asked, so it
never calls INSi a second time to show it: the `insi-reponse` extension (`insi_answer`) — on the
returned Patient when INSi found the identity, on the OperationOutcome's issue when the
transition is refused — with INSi's code CR (`codeCR`, seed 002: 00 one identity, 01 none, 02
several) and the number of searches the client's retry rule made (`essais`). FR Core defines no
such element; it is the house's own extension, carried only by the operation's answer, never stored.

The house's own URLs — that extension, its code system of CR codes, the IPP's identifier system of
each structure — are under the deployment's namespace (`maison.formats.namespace`, issue 21 §3.3;
they were URNs under an unregistered NID, `urn:maison:…`). An IPP system a client kept from an older
answer is still understood (`is_ipp_system`); a reader that does not know the server's base
recognises the extension by its path (`read_insi_answer`).
"""

from __future__ import annotations

from maison.core.identifiers.nir import OID_INS_NIA
from maison.etablissement.vigilance.model import LocalIdentity
from maison.formats.namespace import CODE_SYSTEM, STRUCTURE, Namespace, names

FR_CORE = "https://hl7.fr/ig/fhir/core"
EXT_RELIABILITY = f"{FR_CORE}/StructureDefinition/fr-core-identity-reliability"
EXT_BIRTH_LIST = f"{FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
EXT_INSEE = f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
EXT_BIRTHPLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
CS_IDENTITY_STATUS = f"{FR_CORE}/CodeSystem/fr-core-cs-identity-status"
CS_METHOD = f"{FR_CORE}/CodeSystem/fr-core-cs-method-collection"
CS_VALIDATION = f"{FR_CORE}/CodeSystem/fr-core-cs-mode-validation-identity"
CS_ID_TYPE = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
CS_V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
COMMUNES = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
GENDER = {"M": "male", "F": "female"}
INSI_ANSWER = f"{STRUCTURE}/insi-reponse"  # paths under the namespace
INSI_CR = f"{CODE_SYSTEM}/insi-code-cr"


def insi_answer(ns: Namespace, code: str, attempts: int) -> dict:
    """The `insi-reponse` extension: INSi's code CR and the searches the retry rule made."""
    return {
        "url": ns.url(INSI_ANSWER),
        "extension": [
            {"url": "codeCR", "valueCoding": {"system": ns.url(INSI_CR), "code": code}},
            {"url": "essais", "valuePositiveInt": attempts},
        ],
    }


def read_insi_answer(resource: dict) -> tuple[str, int] | None:
    """(code CR, attempts) from a Patient or an OperationOutcome answering `$recuperer-ins`, if told."""
    holders = [resource, *resource.get("issue", [])]
    for ext in (e for holder in holders for e in holder.get("extension", [])):
        if names(ext.get("url"), INSI_ANSWER):
            parts = {part["url"]: part for part in ext["extension"]}
            return parts["codeCR"]["valueCoding"]["code"], parts["essais"]["valuePositiveInt"]
    return None


def fhir_date(value: str) -> str:
    year, month, day = value.split("-")
    if month == "00":
        return year
    if day == "00":
        return f"{year}-{month}"
    return value


def ipp_system(ns: Namespace, structure: str) -> str:
    """The identifier system of a structure's IPPs (each structure numbers its own patients)."""
    return ns.url(f"ipp/{structure}")


def is_ipp_system(ns: Namespace, system: str, structure: str) -> bool:
    """Whether `system` names `structure`'s IPPs: under the namespace, or as Maison named it before."""
    return ns.understands(system, f"ipp/{structure}", f"urn:maison:ipp:{structure}")


def patient_resource(identity: LocalIdentity, ns: Namespace) -> dict:
    t = identity.traits
    identifiers = [
        {
            "use": "usual",
            "type": {"coding": [{"system": CS_V2_0203, "code": "PI"}]},
            "system": ipp_system(ns, identity.structure),
            "value": identity.ipp,
        }
    ]
    ins = identity.shareable_ins
    if ins:
        kind = "INS-NIA" if identity.ins_oid == OID_INS_NIA else "INS-NIR"
        identifiers.append(
            {
                "use": "official",
                "type": {"coding": [{"system": CS_ID_TYPE, "code": kind}]},
                "system": f"urn:oid:{identity.ins_oid}",
                "value": ins,
            }
        )
    reliability = [
        {"url": "identityStatus", "valueCoding": {"system": CS_IDENTITY_STATUS, "code": identity.status.value}},
        {"url": "methodCollection", "valueCoding": {"system": CS_METHOD, "code": identity.collection_method}},
    ]
    if identity.document_type:
        reliability.append(
            {"url": "validationMode", "valueCoding": {"system": CS_VALIDATION, "code": identity.document_type}}
        )
    names = [
        {
            "extension": [{"url": EXT_BIRTH_LIST, "valueString": t.liste_prenoms}],
            "use": "official",
            "family": t.nom_naissance,
            "given": [t.premier_prenom],
        }
    ]
    if identity.nom_utilise or identity.prenom_utilise:
        names.append(
            {
                "use": "usual",
                "family": identity.nom_utilise or t.nom_naissance,
                "given": [identity.prenom_utilise or t.premier_prenom],
            }
        )
    resource: dict = {
        "resourceType": "Patient",
        "id": str(identity.id),
        # no meta.versionId: the index keeps no readable past versions (no vread, R4 http.html §3.1.0.5),
        # so it claims none; its version counter stays an internal guard against lost updates
        "meta": {
            "profile": [
                f"{FR_CORE}/StructureDefinition/fr-core-patient-ins"
                if ins
                else f"{FR_CORE}/StructureDefinition/fr-core-patient"
            ],
        },
        "extension": [{"url": EXT_RELIABILITY, "extension": reliability}],
        "identifier": identifiers,
        "active": identity.merged_into is None,
        "name": names,
        "gender": GENDER[t.sexe],
        "birthDate": fhir_date(t.date_naissance),
    }
    if t.lieu_naissance:
        resource["extension"].append(
            {
                "url": EXT_BIRTHPLACE,
                "valueAddress": {
                    "extension": [{"url": EXT_INSEE, "valueCoding": {"system": COMMUNES, "code": t.lieu_naissance}}]
                },
            }
        )
    if identity.merged_into is not None:
        resource["link"] = [{"other": {"reference": f"Patient/{identity.merged_into}"}, "type": "replaced-by"}]
    return resource
