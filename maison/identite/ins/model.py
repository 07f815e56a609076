"""Domain types of the INS referential and of INSi requests (the answers are wire format: `maison.formats.insi`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Environment(StrEnum):
    """Which OID the referential stamps on NIR-based INS: production, test (qualification) or demo."""

    PRODUCTION = "production"
    TEST = "test"
    DEMO = "demo"


@dataclass(frozen=True, slots=True)
class TraitsQuery:
    """A `rechercherInsAvecTraitsIdentite` request: birth name, first name(s), sex, birth date, place (optional)."""

    nom_naissance: str
    prenoms: tuple[str, ...]
    sexe: str
    date_naissance: str
    lieu_naissance: str | None = None


@dataclass(frozen=True, slots=True)
class CarteVitaleQuery:
    """A `rechercherInsAvecCarteVitale` request: the matricules read on the card, birth date, rang."""

    matricule_individu: str | None
    matricule_od: str | None
    date_naissance: str
    rang_naissance: int | None = None
    nom_naissance: str | None = None


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the caller's SOAP headers said (ContexteLPS, VIHF, MessageID), recorded with every call."""

    structure: str
    software: str
    software_version: str = ""
    professional: str = ""
    message_id: str = ""
    department: str = ""
    extra: dict[str, str] = field(default_factory=dict)
