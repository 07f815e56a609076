"""The ordonnance numérique on the wire: what the base, the prescriber's software and the dispensers'
share whoever runs them — the prescription number's syntax, the code systems and FHIR extensions of
the envelope, and the validity an ordonnance carries.

The base (maison.partage.ordonnance) enforces all of it; the prescriber's software in the hospital
wing (maison.etablissement.ordonnance) prints the number, reads the base's FHIR answers and writes
the validity into the DMP copy (eP-MED-DM's serviceEvent). One definition here keeps both sides
agreeing, without the wing importing the base.

The prescription number: 18 upper-case alphanumeric characters, unique, unguessable, checked.

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
from datetime import date

from maison.core.errors import InvalidInput
from maison.formats.namespace import STRUCTURE, Namespace

# Code systems of the lines (reference/eprescription/input/fsh/aliases.fsh)
SYS_CIP = "http://data.esante.gouv.fr/ansm/medicament/Presentation"  # CIP 13
SYS_UCD = "http://data.esante.gouv.fr/ansm/medicament/UCD"
SYS_CIS = "http://data.esante.gouv.fr/ansm/medicament/SpecialitePharmaceutique"
SYS_SMS = "http://data.esante.gouv.fr/ansm/medicament/codeSMS"  # substance: prescription en DC
SYS_LPP = "http://data.esante.gouv.fr/cnam/LPP"
SYS_LOINC = "http://loinc.org"
SYS_UCUM = "http://unitsofmeasure.org"

# FHIR extensions of the envelope that both sides read (the base's own are in its fhir.py). The
# patient's OUI/NON (001 L408) has no extension in the e-prescription guide: it is Maison's, named under
# the deployment's namespace (maison.formats.namespace; issue 21 §3.3), `ext_consent(ns)`.
CONSENT = "ordonnance-consentement-execution"
CONSENT_PATH = f"{STRUCTURE}/{CONSENT}"
EXT_DEVICE_QUANTITY = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DeviceRequest.quantity"
EXT_RENDERED_DOSAGE = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-MedicationRequest.renderedDosageInstruction"
)

# Validity (not in the seeds: the Code de la santé publique, as pharmacies apply it): a first
# execution within 3 months of the prescription (R.5132-22), a treatment of 12 months at most (R.5132-21).
FIRST_EXECUTION_MONTHS = 3
MAX_TREATMENT_MONTHS = 12


def ext_consent(ns: Namespace) -> str:
    """The URL of the consent extension in namespace `ns`."""
    return ns.structure(CONSENT)


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
    return number_of("".join(secrets.choice(ALPHABET) for _ in range(_RANDOM)))


def number_of(payload: str) -> str:
    """The number made of a given payload and its check characters: the sandbox's fixed test
    prescriptions (`maison sandbox`, issue 21 §2) are numbered so; the base draws its own at random."""
    if len(payload) != _RANDOM or any(c not in _VALUE for c in payload):
        raise ValueError(f"{_RANDOM} characters of {ALPHABET} expected")
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


def add_months(day: date, months: int) -> date:
    """`day` plus `months` calendar months, on the month's last day when it is shorter (31 Jan + 1 → 28/29 Feb)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")
