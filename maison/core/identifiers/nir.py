"""NIR and NIA: the matricule of the INS (seed 000 L183: NIR, or failing that NIA).

Layout of the 13 characters: sex (1) · year (2) · month (2) · département (2, `2A`/`2B` for Corsica)
· commune or country (3) · order (3); then a 2-digit key = 97 − (number mod 97), where Corsica's
`2A` counts as `19` and `2B` as `18` (SPEC §1; test vector seed 003 L229: `2 77 01 01 154 003 29`).

The first digit says what the number is: 1/2 a NIR (man/woman), 3/4 a provisional NIR given to
people born abroad while their registration is checked, 7/8 a NIA (numéro d'identification
d'attente) given by the national registration service before a NIR exists. The same rule
(odd = man, even = woman) gives the sex the number carries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from maison.core.errors import InvalidInput

_NUMBER = re.compile(r"^[0-9]{5}(?:[0-9]{2}|2[AB])[0-9]{6}$")  # 2A/2B: Corsica, in the department place only
_SEPARATORS = re.compile(r"[\s.\-]")


class MatriculeType(StrEnum):
    NIR = "NIR"
    NIA = "NIA"


# OIDs of the INS identifier systems (SPEC §1; ANS Référentiel INS).
OID_INS_NIR = "1.2.250.1.213.1.4.8"
OID_INS_NIA = "1.2.250.1.213.1.4.9"
OID_INS_NIR_TEST = "1.2.250.1.213.1.4.10"
OID_INS_NIR_DEMO = "1.2.250.1.213.1.4.11"


def _numeric(number: str) -> int:
    # SPEC §1: Corsica 2A → 19, 2B → 18 for the computation of the key.
    return int(number.replace("2A", "19").replace("2B", "18"))


def nir_key(number: str) -> str:
    """The 2-digit key of a 13-character NIR or NIA."""
    if not _NUMBER.match(number):
        raise InvalidInput(f"numéro '{number}' : 13 caractères attendus (chiffres, 2A/2B en Corse)", code="nir-format")
    return f"{97 - _numeric(number) % 97:02d}"


@dataclass(frozen=True, slots=True)
class Matricule:
    """A checked NIR or NIA: 13 characters plus the key."""

    number: str
    key: str

    @property
    def type(self) -> MatriculeType:
        return MatriculeType.NIA if self.number[0] in "78" else MatriculeType.NIR

    @property
    def value(self) -> str:
        return self.number + self.key

    @property
    def oid(self) -> str:
        return OID_INS_NIA if self.type is MatriculeType.NIA else OID_INS_NIR

    @property
    def sex(self) -> str:
        return "M" if int(self.number[0]) % 2 == 1 else "F"

    @property
    def year(self) -> str:
        return self.number[1:3]

    @property
    def month(self) -> str:
        return self.number[3:5]

    @property
    def place(self) -> str:
        """Département + commune (or 99 + country): compare with the COG code of the birth place."""
        return self.number[5:10]

    def __str__(self) -> str:
        return self.value


def parse_matricule(text: str, key: str | None = None) -> Matricule:
    """Parse a NIR/NIA written with or without its key, spaces or dots; check format and key.

    Raises `InvalidInput` with code `nir-format` or `nir-key` so that adapters can say precisely why.
    """
    raw = _SEPARATORS.sub("", text or "").upper()
    if key is not None:
        raw += _SEPARATORS.sub("", key)
    if len(raw) != 15:
        raise InvalidInput(f"matricule '{text}' : 15 caractères attendus (13 + clé)", code="nir-format")
    number, given_key = raw[:13], raw[13:]
    if not _NUMBER.match(number) or not (given_key.isascii() and given_key.isdigit()):
        raise InvalidInput(f"matricule '{text}' : format invalide", code="nir-format")
    if number[0] not in "123478":
        raise InvalidInput(f"matricule '{text}' : premier chiffre {number[0]} inconnu", code="nir-format")
    if nir_key(number) != given_key:
        raise InvalidInput(f"matricule '{text}' : clé {given_key} invalide", code="nir-key")
    return Matricule(number, given_key)


def consistency_problems(
    matricule: Matricule, *, sex: str | None, birth_date: str | None, birth_place: str | None
) -> list[str]:
    """Where the matricule disagrees with the traits (SPEC §1: sex digit, year, month, place when known).

    `birth_date` is `YYYY-MM-DD` where day or month may be `00` (date lunaire, unknown).
    A NIR month above 12 is a pseudo-month (unknown month): it agrees with any date.
    Corsicans born before 1976 carry département `20`, which agrees with a COG in 2A or 2B.
    """
    problems: list[str] = []
    if sex in ("M", "F") and matricule.sex != sex:
        problems.append(f"sexe {sex} mais le matricule commence par {matricule.number[0]}")
    if birth_date:
        year, month = birth_date[2:4], birth_date[5:7]
        if matricule.year != year:
            problems.append(f"année {birth_date[:4]} mais le matricule porte {matricule.year}")
        if month != "00" and matricule.month <= "12" and matricule.month != month:
            problems.append(f"mois {month} mais le matricule porte {matricule.month}")
    if birth_place and len(birth_place) == 5:
        place = matricule.place
        if place[:2] == "20" and birth_place[:2] in ("2A", "2B"):
            place = birth_place[:2] + place[2:]
        if place != birth_place.upper():
            problems.append(f"lieu {birth_place} mais le matricule porte {matricule.place}")
    return problems
