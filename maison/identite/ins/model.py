"""Domain types of the INS referential and of INSi answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from maison.core.ins_traits import Traits


class CodeCR(StrEnum):
    """INSi answer codes (compte rendu): exactly one identity, none, several."""

    TROUVE = "00"
    AUCUN = "01"
    PLUSIEURS = "02"


LIBELLE_CR = {
    CodeCR.TROUVE: "OK",
    CodeCR.AUCUN: "Aucune identite trouvee",
    CodeCR.PLUSIEURS: "Plusieurs identites trouvees",
}


class Environment(StrEnum):
    """Which OID the referential stamps on NIR-based INS: production, test (qualification) or demo."""

    PRODUCTION = "production"
    TEST = "test"
    DEMO = "demo"


@dataclass(frozen=True, slots=True)
class InsRef:
    """One matricule INS as INSi returns it (INSACTIF or INSHISTO)."""

    number: str
    cle: str
    type: str  # NIR / NIA
    oid: str
    date_deb: date | None = None
    date_fin: date | None = None

    @property
    def value(self) -> str:
        return self.number + self.cle


@dataclass(frozen=True, slots=True)
class Individu:
    active: InsRef
    history: tuple[InsRef, ...]
    traits: Traits


@dataclass(frozen=True, slots=True)
class InsiResult:
    code: CodeCR
    individu: Individu | None = None
    candidates: int = 0

    @property
    def libelle(self) -> str:
        return LIBELLE_CR[self.code]


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
