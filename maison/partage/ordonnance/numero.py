"""The prescription number: 18 upper-case alphanumeric characters, unique, unguessable, checked.

Seed 001 L406 shows one, `N°01527BP22JCNZZYGHZ`, printed under the QR code. The CNAM's cahier des
charges that defines how the real base builds it is not among the seeds, so Maison builds its own
in the same form (and says so here):

- 16 characters drawn uniformly from [0-9A-Z] with `secrets` — 36**16 ≈ 2**82.7 possibilities, so
  a dispenser who holds no ordonnance cannot find one by trying numbers;
- 2 check characters of ISO/IEC 7064 MOD 1271-36 (the pure two-character system for alphanumeric
  strings): a mistyped number — one character wrong, two adjacent characters swapped — is detected
  before any lookup and answered as such, not as "unknown prescription".

Uniqueness is the base's unique constraint; a collision (one in 2**82 per pair) draws again.
"""

from __future__ import annotations

import secrets

from maison.core.errors import InvalidInput

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LENGTH = 18  # seed 001 L406
_RANDOM = LENGTH - 2
_MODULUS, _RADIX = 1271, 36  # ISO/IEC 7064 MOD 1271-36
_VALUE = {c: i for i, c in enumerate(ALPHABET)}


def _check(payload: str) -> str:
    """The two check characters of ISO/IEC 7064 MOD 1271-36 for `payload` (pure system)."""
    p = 0
    for c in payload:
        p = ((p + _VALUE[c]) * _RADIX) % _MODULUS
    p = (p * _RADIX) % _MODULUS
    checksum = (_MODULUS + 1 - p) % _MODULUS
    return ALPHABET[checksum // _RADIX] + ALPHABET[checksum % _RADIX]


def new_number() -> str:
    payload = "".join(secrets.choice(ALPHABET) for _ in range(_RANDOM))
    return payload + _check(payload)


def normalise(text: str) -> str:
    """What a person typed or a scanner read, as the number: spaces and dashes dropped, upper case."""
    return "".join(ch for ch in text.strip().upper() if ch not in " -")


def parse_number(text: str) -> str:
    """The number, or InvalidInput saying precisely what is wrong with it."""
    number = normalise(text)
    if len(number) != LENGTH:
        raise InvalidInput(
            f"numéro de prescription : {LENGTH} caractères attendus, {len(number)} reçus", code="numero-longueur"
        )
    bad = sorted({c for c in number if c not in _VALUE})
    if bad:
        raise InvalidInput(
            f"numéro de prescription : caractères interdits {''.join(bad)!r} (A-Z, 0-9)", code="numero-caracteres"
        )
    if _check(number[:_RANDOM]) != number[_RANDOM:]:
        raise InvalidInput(
            "numéro de prescription erroné : la clé de contrôle ne correspond pas (erreur de saisie ?)",
            code="numero-cle",
        )
    return number
