"""Identifiers of professionals and structures, and the national forms IdNatPS / IdNatStruct.

- RPPS: 11 digits, Luhn (test vector seed 001 L383: `99900038441`).
- N° Assurance Maladie of a prescriber: 9 digits, Luhn (test vector seed 001 L384: `991118019`).
- ADELI: 9 digits, Luhn.
- FINESS: 9 characters (département may be 2A/2B, counted as 20), Luhn.
- SIREN 9 digits and SIRET 14 digits, Luhn (La Poste's SIRETs, SIREN 356000000, are checked by
  the sum of digits being a multiple of 5, as INSEE does).
- IdNatPS (OID 1.2.250.1.71.4.2.1): `8` + RPPS, `0` + ADELI, `3` + structure + `/` + local id.
- IdNatStruct (OID 1.2.250.1.71.4.2.2): `1` + FINESS, `2` + SIREN, `3` + SIRET, `4` + RPPS + rang (cabinet).
"""

from __future__ import annotations

from dataclasses import dataclass

from maison.core.errors import InvalidInput
from maison.core.identifiers.checksums import is_luhn_valid

OID_IDNATPS = "1.2.250.1.71.4.2.1"
OID_IDNATSTRUCT = "1.2.250.1.71.4.2.2"


def _digits(value: str, length: int) -> bool:
    return len(value) == length and value.isascii() and value.isdigit()


def is_rpps(value: str) -> bool:
    return _digits(value, 11) and is_luhn_valid(value)


def is_adeli(value: str) -> bool:
    return _digits(value, 9) and is_luhn_valid(value)


def is_am_number(value: str) -> bool:
    return _digits(value, 9) and is_luhn_valid(value)


def is_finess(value: str) -> bool:
    if len(value) != 9:
        return False
    normalised = value[:2].replace("2A", "20").replace("2B", "20") + value[2:]
    return _digits(normalised, 9) and is_luhn_valid(normalised)


def is_siren(value: str) -> bool:
    return _digits(value, 9) and is_luhn_valid(value)


def is_siret(value: str) -> bool:
    if not _digits(value, 14):
        return False
    if value.startswith("356000000") and value != "35600000000048":
        return sum(int(c) for c in value) % 5 == 0
    return is_luhn_valid(value)


@dataclass(frozen=True, slots=True)
class IdNat:
    """An IdNatPS or IdNatStruct: the national identifier with its type prefix split out."""

    value: str
    kind: str  # RPPS, ADELI, STRUCTURE-LOCAL, FINESS, SIREN, SIRET, CABINET-RPPS
    local: str  # the identifier without its prefix

    @property
    def oid(self) -> str:
        return OID_IDNATPS if self.kind in ("RPPS", "ADELI", "STRUCTURE-LOCAL") else OID_IDNATSTRUCT


def idnatps_from_rpps(rpps: str) -> str:
    if not is_rpps(rpps):
        raise InvalidInput(f"RPPS '{rpps}' invalide (11 chiffres, clé de Luhn)", code="rpps")
    return "8" + rpps


def parse_idnatps(value: str) -> IdNat:
    if value.startswith("8") and is_rpps(value[1:]):
        return IdNat(value, "RPPS", value[1:])
    if value.startswith("0") and is_adeli(value[1:]):
        return IdNat(value, "ADELI", value[1:])
    if value.startswith("3") and "/" in value and len(value) <= 64:
        return IdNat(value, "STRUCTURE-LOCAL", value[1:])
    raise InvalidInput(f"IdNatPS '{value}' invalide", code="idnatps")


def parse_idnatstruct(value: str) -> IdNat:
    kinds = {"1": ("FINESS", is_finess), "2": ("SIREN", is_siren), "3": ("SIRET", is_siret)}
    if value[:1] in kinds:
        kind, check = kinds[value[0]]
        if check(value[1:]):
            return IdNat(value, kind, value[1:])
    if value.startswith("4") and is_rpps(value[1:12]) and value[12:].isascii() and value[12:].isdigit():
        return IdNat(value, "CABINET-RPPS", value[1:])
    raise InvalidInput(f"IdNatStruct '{value}' invalide", code="idnatstruct")


def department_of_structure(idnatstruct: str) -> str:
    """The département of a structure known by FINESS (its first characters), else ''.

    Used to break INSi statistics down by département (seed 003 L316-322). FINESS numbers of
    overseas départements start with 97 followed by the département's third digit.
    """
    if idnatstruct.startswith("1") and len(idnatstruct) == 10:
        finess = idnatstruct[1:]
        return finess[:3] if finess.startswith("97") else finess[:2]
    return ""
