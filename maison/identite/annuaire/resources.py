"""Building Annuaire resources as the public (DP) profiles shape them.

Used by the synthetic directory and by RPPS+ registration; the JSON built here is what is stored
and served. Civilité, profession, savoir-faire, fonction, genre and mode d'exercice, secteur and
catégorie use the NOS code systems of `vocabulary`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from maison.identite.annuaire.activites import ACTIVITE, ACTIVITE_SOCIALE, FORME, MODALITE
from maison.identite.annuaire.vocabulary import (
    CS_ACTIVITE_SANITAIRE,
    CS_ACTIVITE_SOCIALE,
    CS_AUTORITE,
    CS_CATEGORIE_ETAB,
    CS_CATEGORIE_PRO,
    CS_COMMUNE,
    CS_FONCTION,
    CS_FORME_ACTIVITE,
    CS_GENRE_ACTIVITE,
    CS_ID_TYPE,
    CS_MODALITE_ACTIVITE,
    CS_MODE_EXERCICE,
    CS_ORG_TYPE,
    CS_PROFESSION,
    CS_SAVOIR_FAIRE,
    CS_SECTEUR,
    CS_TYPE_BAL,
    CS_TYPE_CARTE,
    CS_TYPE_MESSAGERIE,
    EXT_AUTHORIZATION,
    EXT_DATA_TRACE,
    EXT_EMAIL_TYPE,
    EXT_INSEE,
    EXT_MAILBOX,
    EXT_ORG_TYPES,
    EXT_SMARTCARD,
    EXT_SUPPORTED_CAPACITY,
    PROFILE,
    SOURCE,
    SYS_ARHGOS,
    SYS_FINESS,
    SYS_IDNATPS,
    SYS_IDNATSTRUCT,
    SYS_RPPS,
    SYS_SIRENE,
)

# The registration authority (TRE_R60, JDV_J83) of the professions whose Ordre registers them.
AUTORITE = {"10": "CNOM", "21": "CNOP"}


Json = dict[str, Any]  # a FHIR element as JSON


def _meta(rtype: str, updated: str, system: str, autorite: str | None = None, profile: str | None = None) -> dict:
    """meta with the data trace of rs-as-core (rulesets.fsh L1-7): the information system the data
    comes from (RPPS / FINESS / CG), its registration authority, its date at that authority."""
    trace: list[Json] = [{"url": "systeme-information", "valueCode": system}]
    if autorite:
        trace.append(
            {
                "url": "autorite-enregistrement",
                "valueCodeableConcept": {"coding": [{"system": CS_AUTORITE, "code": autorite}]},
            }
        )
    trace.append({"url": "date-maj-ae", "valueDate": updated[:10]})
    return {
        "versionId": "1",
        "lastUpdated": updated,
        "source": SOURCE,
        "profile": PROFILE[profile or rtype],
        "extension": [{"url": EXT_DATA_TRACE, "extension": trace}],
    }


def _identifier(system: str, value: str, type_code: str | None = None) -> dict:
    out: dict = {"use": "official", "system": system, "value": value}
    if type_code:
        out["type"] = {"coding": [{"system": CS_ID_TYPE, "code": type_code}]}
    return out


def mailbox(
    address: str,
    kind: str,
    *,
    liste_rouge: bool = False,
    description: str = "",
    service: str = "",
    rank: int | None = None,
) -> dict:
    """A BAL MSSanté in `telecom` (as-mailbox-mss): email type MSSANTE and the mailbox metadata."""
    meta: list[Json] = [{"url": "type", "valueCodeableConcept": {"coding": [{"system": CS_TYPE_BAL, "code": kind}]}}]
    if description:
        meta.append({"url": "description", "valueString": description})
    if service:
        meta.append({"url": "service", "valueString": service})
    meta.append({"url": "listeRouge", "valueBoolean": liste_rouge})
    out: Json = {
        "extension": [
            {"url": EXT_EMAIL_TYPE, "valueCoding": {"system": CS_TYPE_MESSAGERIE, "code": "MSSANTE"}},
            {"url": EXT_MAILBOX, "extension": meta},
        ],
        "system": "email",
        "value": address,
    }
    if rank is not None:
        out["rank"] = rank
    return out


def practitioner(
    rpps: str,
    family: str,
    given: str,
    civilite: str,
    profession: str,
    categorie: str,
    savoir_faire: str | None,
    updated: str,
    *,
    mailboxes: Sequence[Json] = (),
    card: tuple[str, str] | None = None,
    active: bool = True,
) -> dict:
    qualifications = [
        {
            "code": {
                "coding": [
                    {"system": CS_PROFESSION, "code": profession},
                    {"system": CS_CATEGORIE_PRO, "code": categorie},
                ]
            }
        }
    ]
    if savoir_faire:
        qualifications.append({"code": {"coding": [{"system": CS_SAVOIR_FAIRE, "code": savoir_faire}]}})
    resource = {
        "resourceType": "Practitioner",
        "id": f"8{rpps}",
        "meta": _meta("Practitioner", updated, "RPPS", AUTORITE.get(profession)),
        "language": "fr",
        "identifier": [_identifier(SYS_IDNATPS, f"8{rpps}", "IDNPS"), _identifier(SYS_RPPS, rpps, "RPPS")],
        "active": active,
        "name": [{"use": "usual", "family": family, "given": [given], "suffix": [civilite]}],
        "qualification": qualifications,
    }
    if card:
        kind, number = card
        resource["extension"] = [
            {
                "url": EXT_SMARTCARD,
                "extension": [
                    {"url": "type", "valueCodeableConcept": {"coding": [{"system": CS_TYPE_CARTE, "code": kind}]}},
                    {"url": "number", "valueString": number},
                ],
            }
        ]
    if mailboxes:
        resource["telecom"] = list(mailboxes)
    return resource


def organization(
    idnatstruct: str,
    name: str,
    updated: str,
    *,
    finess: tuple[str, str] | None = None,
    siret: str | None = None,
    entity: str = "GEOGRAPHICAL-ENTITY",
    secteur: str | None = None,
    categorie: str | None = None,
    partof: str | None = None,
    city: str = "",
    postal_code: str = "",
    insee: str = "",
    line: str = "",
    mailboxes: Sequence[Json] = (),
    active: bool = True,
) -> dict:
    identifiers = [_identifier(SYS_IDNATSTRUCT, idnatstruct, "IDNST")]
    if finess:
        identifiers.append(_identifier(SYS_FINESS, finess[0], finess[1]))  # FINEJ (entité juridique) / FINEG
    if siret:
        identifiers.append(_identifier(SYS_SIRENE, siret, "SIRET"))
    types = [
        {
            "extension": [{"url": EXT_ORG_TYPES, "valueCode": "organizationType"}],
            "coding": [{"system": CS_ORG_TYPE, "code": entity}],
        }
    ]
    if secteur:
        types.append(
            {
                "extension": [{"url": EXT_ORG_TYPES, "valueCode": "secteurActiviteRASS"}],
                "coding": [{"system": CS_SECTEUR, "code": secteur}],
            }
        )
    if categorie:
        types.append({"coding": [{"system": CS_CATEGORIE_ETAB, "code": categorie}]})
    resource: dict = {
        "resourceType": "Organization",
        "id": idnatstruct,
        "meta": _meta("Organization", updated, "FINESS" if finess else "CG"),
        "language": "fr",
        "identifier": identifiers,
        "active": active,
        "type": types,
        "name": name,
    }
    if city or postal_code:
        # R4 json.html: no empty arrays nor strings — an element without a value is left out
        parts = {"line": [line] if line else None, "city": city, "postalCode": postal_code, "country": "FRANCE"}
        address: dict = {k: v for k, v in parts.items() if v}
        if insee:
            address["extension"] = [{"url": EXT_INSEE, "valueCoding": {"system": CS_COMMUNE, "code": insee}}]
        resource["address"] = [address]
    if partof:
        resource["partOf"] = {"reference": f"Organization/{partof}"}
    if mailboxes:
        resource["telecom"] = list(mailboxes)
    return resource


def practitioner_role(
    role_id: str,
    practitioner_id: str,
    organization_id: str | None,
    updated: str,
    *,
    fonction: str | None,
    genre: str = "GENR01",
    mode: str = "S",
    mailboxes: Sequence[Json] = (),
    active: bool = True,
) -> dict:
    codes = [
        {"coding": [{"system": CS_GENRE_ACTIVITE, "code": genre}]},
        {"coding": [{"system": CS_MODE_EXERCICE, "code": mode}]},
    ]
    if fonction:
        codes.append({"coding": [{"system": CS_FONCTION, "code": fonction}]})
    resource: dict = {
        "resourceType": "PractitionerRole",
        "id": role_id,
        "meta": _meta("PractitionerRole", updated, "RPPS"),
        "language": "fr",
        "identifier": [{"system": SYS_RPPS, "value": role_id}],
        "active": active,
        "practitioner": {"reference": f"Practitioner/{practitioner_id}"},
        "code": codes,
    }
    if organization_id:
        resource["organization"] = {"reference": f"Organization/{organization_id}"}
    if mailboxes:
        resource["telecom"] = list(mailboxes)
    return resource


def healthcare_activity(
    arhgos: str,
    etablissement: str,
    activite: str,
    modalite: str,
    forme: str,
    updated: str,
    *,
    authorised_on: str,
    first_use: str,
    ends_on: str,
    active: bool = True,
) -> dict:
    """One authorised activité de soins of an établissement (as-dp-healthcareservice-healthcare-activity):
    ARHGOS number (1..1 in DP, L30), providedBy the FINESS ET, modalité in `category`, activité in
    `type`, forme in `characteristic`; `specialty` is 0..0 in DP (L32) though the generic profile binds
    it; the authorisation's dates in as-ext-authorization."""
    return {
        "resourceType": "HealthcareService",
        "id": f"{etablissement}-{arhgos}",
        "meta": _meta("HealthcareService", updated, "FINESS"),
        "language": "fr",
        "extension": [
            {
                "url": EXT_AUTHORIZATION,
                "extension": [
                    {"url": "dateAuthorization", "valueDate": authorised_on},
                    {"url": "periodAuthorization", "valuePeriod": {"start": first_use, "end": ends_on}},
                    {"url": "deletedAuthorization", "valueBoolean": not active},
                ],
            }
        ],
        "identifier": [{"system": SYS_ARHGOS, "value": arhgos}],
        "active": active,
        "providedBy": {"reference": f"Organization/{etablissement}"},
        "category": [{"coding": [{"system": CS_MODALITE_ACTIVITE, "code": modalite, "display": MODALITE[modalite]}]}],
        "type": [{"coding": [{"system": CS_ACTIVITE_SANITAIRE, "code": activite, "display": ACTIVITE[activite]}]}],
        "characteristic": [{"coding": [{"system": CS_FORME_ACTIVITE, "code": forme, "display": FORME[forme]}]}],
    }


def social_equipment(
    etablissement: str,
    discipline: str,
    updated: str,
    *,
    places: int,
    installed: int,
    authorised_on: str,
    active: bool = True,
) -> dict:
    """One équipement social of a médico-social établissement (as-dp-healthcareservice-social-equipment):
    no identifier and no category in DP (L25-30), the discipline in `type`, places authorised and
    installed in as-ext-supported-capacity."""
    return {
        "resourceType": "HealthcareService",
        "id": f"{etablissement}-{discipline}",
        "meta": _meta("HealthcareService", updated, "FINESS", profile="HealthcareService/social"),
        "language": "fr",
        "extension": [
            {"url": EXT_AUTHORIZATION, "extension": [{"url": "dateAuthorization", "valueDate": authorised_on}]},
            {
                "url": EXT_SUPPORTED_CAPACITY,
                "extension": [
                    {"url": "capacityAvailable", "valueInteger": places},
                    {"url": "installedCapacity", "valueInteger": installed},
                ],
            },
        ],
        "active": active,
        "providedBy": {"reference": f"Organization/{etablissement}"},
        "type": [
            {"coding": [{"system": CS_ACTIVITE_SOCIALE, "code": discipline, "display": ACTIVITE_SOCIALE[discipline]}]}
        ],
    }
