"""Who acts: the house's one type for it, read by authorization and recorded by the audit trail.

`Actor` is what `maison.core.authz` establishes of a request (a professional by Pro Santé Connect
or his structure's provider, a patient by Mon espace santé, a structure's software by its API key)
and what every service hands to `maison.core.audit` — the same object, so that what the trail
records is what the access rules decided on (issue 19: "one type says who acts"). The house's own
processes (the command line, the relay, the operators) act as a `system` actor, authenticated by
nothing of a request (`credential` None).

The trail records `person`, `structure` and `software` in their own columns, and `role` (or the
profession when there is no role), `department` and `extra` in the record's detail: the other
fields are authorization's.

This module is the bottom of the ground floor: it imports nothing of the house.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from enum import StrEnum


class Credential(StrEnum):
    """How an actor was authenticated."""

    PSC = "psc"
    LOCAL_IDP = "idp-local"
    API_KEY = "cle"
    PATIENT = "mon-espace-sante"


class KeyScope(StrEnum):
    """What a structure API key may do (`maison.core.auth`)."""

    ADMINISTRATEUR_STRUCTURE = "administrateur-structure"
    LOGICIEL = "logiciel"
    ACCUEIL = "accueil"
    OPERATEUR_MSS = "operateur-mss"
    FOURNISSEUR_LPP = "fournisseur-lpp"
    ADMINISTRATEUR_MAISON = "administrateur-maison"


_CREDENTIAL_OF_KIND = {"professional": Credential.PSC, "patient": Credential.PATIENT, "software": Credential.API_KEY}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a person (IdNatPS, patient INS, or `system:<name>`), in a structure, through a software.

    `extra` is left out of the hash (a dict is not hashable), so an actor may still be a set member
    or a dictionary key; two actors are equal only if their extras are too."""

    person: str  # IdNatPS, the person an API key was issued to, the patient (or representative), or `system:…`
    structure: str
    software: str
    _: KW_ONLY
    kind: str = "system"  # professional / software / patient / system
    profession: str = ""  # TRE_G15 (or TRE_R85 for RPPS+ professionals)
    role: str = ""
    structures: tuple[str, ...] = ()  # every structure the professional practises in
    patient: str = ""  # for a patient: whose espace (the minor when a representative acts)
    credential: Credential | None = None  # how it was verified; by default from `kind` (None: the house itself)
    scope: KeyScope | None = None  # for an API key
    department: str = ""  # the structure's département, for statistics by territory
    extra: dict[str, str] = field(default_factory=dict, hash=False)  # more for the trail's record

    def __post_init__(self) -> None:
        if self.credential is None and self.kind in _CREDENTIAL_OF_KIND:
            object.__setattr__(self, "credential", _CREDENTIAL_OF_KIND[self.kind])
