"""The profil médical of Mon espace santé: what each rubrique holds and how an entry is checked.

Seed 000 L3281-3296: an administrative part in three rubriques — identity and contact details,
emergency contacts, wishes (directives anticipées and organ donation) — then narrative rubriques the
patient writes in his own words: maladies et sujets de santé, traitements (with their periods),
allergies, vaccinations. The identity itself is the INS identity of the national referential: the
patient reads it, he does not type it (the referential is the authority, seed 000 L2076).

Each narrative entry is kept as the FHIR R4 resource a DPI would exchange (Condition,
MedicationStatement, AllergyIntolerance, Immunization, RelatedPerson); the checks below are the ones
that make an entry useful to a professional reading the synthesis: a text saying what it is, dates
that parse and are in order, a way to reach an emergency contact.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TypeVar

from maison.core.errors import InvalidInput

# rubrique → FHIR resource type (seed 000 L3283-3295)
RUBRIQUES = {
    "contacts-urgence": "RelatedPerson",
    "maladies": "Condition",
    "traitements": "MedicationStatement",
    "allergies": "AllergyIntolerance",
    "vaccinations": "Immunization",
}
ORGAN_DONATION = ("non-renseigne", "favorable", "opposition")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 .-]{6,20}$")
_MAX_TEXT = 4000


T = TypeVar("T")


def shaped(value: object, kind: type[T], where: str, default: T | None = None) -> T:
    """`value` if it has the JSON shape the element needs (object, list…), `default` when absent,
    else InvalidInput naming the element — malformed FHIR is a 400, never a crash."""
    if value is None and default is not None:
        return default
    if not isinstance(value, kind):
        raise InvalidInput(
            f"{where} : {'un objet' if kind is dict else 'une liste'} est attendu", code="structure", expression=where
        )
    return value


def narrative(value: object, where: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{where} : un texte est attendu", code="texte-obligatoire", expression=where)
    if len(value) > _MAX_TEXT:
        raise InvalidInput(f"{where} : {_MAX_TEXT} caractères au plus", code="texte-trop-long", expression=where)
    return value.strip()


def _date(value: object, where: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{where} : une date AAAA-MM-JJ est attendue", code="date-invalide", expression=where)
    try:
        parsed = date.fromisoformat(value[:10])
    except ValueError:
        raise InvalidInput(
            f"{where} : date {value!r} invalide (AAAA-MM-JJ)", code="date-invalide", expression=where
        ) from None
    if parsed > date.today():
        raise InvalidInput(f"{where} : {value} est dans le futur", code="date-future", expression=where)
    return value


def _concept_text(concept: object, where: str) -> str:
    """A CodeableConcept the patient fills in his words: its text, or the display of its first coding."""
    if not isinstance(concept, dict):
        raise InvalidInput(f"{where} : un CodeableConcept est attendu", code="texte-obligatoire", expression=where)
    codings = shaped(concept.get("coding"), list, f"{where}.coding", [])
    return narrative(
        concept.get("text") or next((c.get("display") for c in codings if isinstance(c, dict)), None), f"{where}.text"
    )  # type: ignore[return-value]  # required: never None


def _telecoms(values: object, where: str) -> list[dict]:
    if not isinstance(values, list):
        raise InvalidInput(
            f"{where} : une liste de ContactPoint est attendue", code="contact-invalide", expression=where
        )
    out = []
    for i, point in enumerate(values):
        path = f"{where}[{i}]"
        if not isinstance(point, dict) or point.get("system") not in ("phone", "email", "sms"):
            raise InvalidInput(f"{path}.system : phone, sms ou email", code="contact-invalide", expression=path)
        value = narrative(point.get("value"), f"{path}.value")
        pattern = _EMAIL if point["system"] == "email" else _PHONE
        if not pattern.match(value or ""):
            raise InvalidInput(
                f"{path}.value : {value!r} n'est pas un {point['system']} valide",
                code="contact-invalide",
                expression=f"{path}.value",
            )
        out.append(
            {
                "system": point["system"],
                "value": value,
                **({"use": point["use"]} if point.get("use") in ("home", "work", "mobile") else {}),
            }
        )
    return out


def check_item(rubrique: str, resource: object) -> dict:
    """The entry as it will be kept, or InvalidInput naming the element at fault."""
    expected = RUBRIQUES.get(rubrique)
    if expected is None:
        raise InvalidInput(f"rubrique {rubrique!r} inconnue : {', '.join(RUBRIQUES)}", code="rubrique-inconnue")
    if not isinstance(resource, dict) or resource.get("resourceType") != expected:
        raise InvalidInput(
            f"la rubrique {rubrique} contient des ressources {expected}",
            code="type-ressource",
            expression="resourceType",
        )
    kept = {k: v for k, v in resource.items() if k not in ("id", "meta", "patient", "subject")}
    notes = kept.get("note", [])
    if not isinstance(notes, list) or any(not isinstance(n, dict) or not isinstance(n.get("text"), str) for n in notes):
        raise InvalidInput("note : une liste d'Annotation {text}", code="note-invalide", expression="note")
    if expected == "RelatedPerson":
        names = resource.get("name")
        if (
            not isinstance(names, list)
            or not names
            or not isinstance(names[0], dict)
            or not (names[0].get("family") or names[0].get("text"))
        ):
            raise InvalidInput(
                "name : le nom du contact d'urgence est obligatoire", code="nom-obligatoire", expression="name"
            )
        kept["telecom"] = _telecoms(resource.get("telecom"), "telecom")
        if not kept["telecom"]:  # an emergency contact nobody can call is of no use
            raise InvalidInput(
                "telecom : un moyen de joindre le contact d'urgence", code="contact-injoignable", expression="telecom"
            )
    elif expected == "Condition":
        _concept_text(resource.get("code"), "code")
        _date(resource.get("onsetDateTime"), "onsetDateTime")
    elif expected == "MedicationStatement":
        _concept_text(resource.get("medicationCodeableConcept"), "medicationCodeableConcept")
        period = resource.get("effectivePeriod") or {}
        if not isinstance(period, dict):
            raise InvalidInput("effectivePeriod : une Period", code="periode-invalide", expression="effectivePeriod")
        start = _date(period.get("start"), "effectivePeriod.start")
        end = period.get("end")
        if end is not None:  # a treatment may end in the future: only its order is checked
            end = _date_any(end, "effectivePeriod.end")
            if start and end[:10] < start[:10]:
                raise InvalidInput(
                    "effectivePeriod : la fin précède le début",
                    code="periode-invalide",
                    expression="effectivePeriod.end",
                )
        kept.setdefault("status", "completed" if end and end[:10] < date.today().isoformat() else "active")
    elif expected == "AllergyIntolerance":
        _concept_text(resource.get("code"), "code")
    elif expected == "Immunization":
        _concept_text(resource.get("vaccineCode"), "vaccineCode")
        _date(resource.get("occurrenceDateTime"), "occurrenceDateTime", required=True)
        kept.setdefault("status", "completed")
        kept["primarySource"] = False  # told by the patient, not recorded by the vaccinator
    return kept


def _date_any(value: object, where: str) -> str:
    """A date, past or future (the planned end of a treatment)."""
    try:
        if not isinstance(value, str):
            raise ValueError
        date.fromisoformat(value[:10])
    except ValueError:
        raise InvalidInput(
            f"{where} : date {value!r} invalide (AAAA-MM-JJ)", code="date-invalide", expression=where
        ) from None
    return value


def check_coordonnees(body: object) -> dict:
    """Contact details the patient may change: telecom and address (his identity is the INS one)."""
    if not isinstance(body, dict) or set(body) - {"telecom", "address"}:
        raise InvalidInput(
            "coordonnées : telecom et address seulement (l'identité est celle de l'INS)", code="coordonnees-invalides"
        )
    out: dict = {"telecom": _telecoms(body.get("telecom", []), "telecom")}
    addresses = body.get("address", [])
    if not isinstance(addresses, list) or any(not isinstance(a, dict) for a in addresses):
        raise InvalidInput("address : une liste d'Address", code="adresse-invalide", expression="address")
    for i, a in enumerate(addresses):
        code = a.get("postalCode")
        if code is not None and not re.fullmatch(r"\d{5}", str(code)):
            raise InvalidInput(
                f"address[{i}].postalCode : cinq chiffres",
                code="adresse-invalide",
                expression=f"address[{i}].postalCode",
            )
    out["address"] = addresses
    return out


def check_volontes(body: object) -> dict:
    """The wishes (000 L3287): directives anticipées, organ donation, personne de confiance."""
    if not isinstance(body, dict) or set(body) - {"directivesAnticipees", "donOrganes", "personneDeConfiance"}:
        raise InvalidInput(
            "volontés : directivesAnticipees, donOrganes, personneDeConfiance", code="volontes-invalides"
        )
    out: dict = {}
    directives = body.get("directivesAnticipees")
    if directives is not None:
        if not isinstance(directives, dict) or not isinstance(directives.get("redigees"), bool):
            raise InvalidInput(
                "directivesAnticipees.redigees : vrai ou faux",
                code="volontes-invalides",
                expression="directivesAnticipees.redigees",
            )
        out["directivesAnticipees"] = {
            "redigees": directives["redigees"],
            "lieu": narrative(directives.get("lieu"), "directivesAnticipees.lieu", required=False),
            "texte": narrative(directives.get("texte"), "directivesAnticipees.texte", required=False),
        }
    donation = body.get("donOrganes", "non-renseigne")
    if donation not in ORGAN_DONATION:
        raise InvalidInput(
            f"donOrganes : {', '.join(ORGAN_DONATION)}", code="volontes-invalides", expression="donOrganes"
        )
    out["donOrganes"] = donation
    trusted = body.get("personneDeConfiance")
    if trusted is not None:
        out["personneDeConfiance"] = (
            check_item("contacts-urgence", {**trusted, "resourceType": "RelatedPerson"})
            if isinstance(trusted, dict)
            else check_item("contacts-urgence", trusted)
        )
    return out
