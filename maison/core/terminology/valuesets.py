"""Concepts and value sets, as the CI-SIS publishes them (IHE SVS `RetrieveValueSetResponse`).

A concept carries its own validity: the NOS retires codes by setting `dateFin` rather than by
removing them, so a document dated before the retirement may still use the code. Validity is
checked by day, both ends included: the files stamp times of day (`20241213120000`) that a
document's date of care cannot be compared with more finely.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class Concept:
    code: str
    code_system: str  # OID of the code system
    display: str
    valid_from: date | None = None
    valid_to: date | None = None  # the NOS `dateFin`: last day the code may be used

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True, slots=True)
class ValueSet:
    oid: str
    name: str  # the NOS name, e.g. JDV_J143_AdministrativeGender_CISIS
    concepts: tuple[Concept, ...]
    source_file: str  # file name in the jeuxDeValeurs directory it was read from

    def contains(self, code: str, code_system: str | None = None, on: date | None = None) -> bool:
        """Whether `code` is in the set (in `code_system` if given) and, if `on` is given, valid that day."""
        return any(
            c.code == code and (code_system is None or c.code_system == code_system) and (on is None or c.valid_on(on))
            for c in self.concepts
        )
