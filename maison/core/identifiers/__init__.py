"""National identifiers: patients (NIR/NIA), professionals (RPPS, ADELI, IdNatPS), structures
(FINESS, SIREN, SIRET, IdNatStruct), the N° Assurance Maladie, and the OID registry."""

from maison.core.identifiers.checksums import is_luhn_valid, luhn_check_digit
from maison.core.identifiers.nir import Matricule, MatriculeType, nir_key, parse_matricule

__all__ = ["Matricule", "MatriculeType", "is_luhn_valid", "luhn_check_digit", "nir_key", "parse_matricule"]
