"""The Luhn check used by RPPS, ADELI, N° Assurance Maladie, FINESS, SIREN and SIRET."""

from __future__ import annotations


def _luhn_sum(digits: str, double_first: bool) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if (i % 2 == 1) != double_first:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total


def is_luhn_valid(number: str) -> bool:
    """True when `number` (digits only, check digit last) passes the Luhn test."""
    if not number.isdigit() or not number.isascii():
        return False
    return _luhn_sum(number, double_first=False) % 10 == 0


def luhn_check_digit(payload: str) -> str:
    """The digit to append to `payload` so that the whole passes the Luhn test."""
    if not payload.isdigit() or not payload.isascii():
        raise ValueError("Luhn payload must be digits")
    return str((10 - _luhn_sum(payload, double_first=True) % 10) % 10)
