"""The ordonnance numérique's domain: one envelope of prescription lines, and what dispensers did.

Seed 000 L3660-3670: the unified e-prescription carries, in one envelope, medicines (coded),
medical devices (LPP) and every other act as free text — everything except patient transport.
Biology requests are coded in LOINC, quantities in UCUM (000 L3680-3684). The base holds no
patient identity at creation (000 L3697); a dispenser may add the INS at execution, only for a
qualified identity (000 L3692-3694). The prescriber sees execution only with the patient's OUI
(001 L399-418, printed on the paper copy).

Validity periods are not in the seeds: Maison applies the Code de la santé publique as pharmacies
do — a first execution within 3 months of the prescription (R.5132-22), renewals within the
treatment's duration and never past 12 months (R.5132-21) — and says so in the refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from maison.core.errors import InvalidInput
from maison.formats.ordonnance import (
    FIRST_EXECUTION_MONTHS,
    MAX_TREATMENT_MONTHS,
    SYS_CIP,
    SYS_CIS,
    SYS_LOINC,
    SYS_LPP,
    SYS_SMS,
    SYS_UCD,
    add_months,
)

MAX_LINES = 100  # one envelope; a bigger one is not an ordonnance but a mistake
MAX_TEXT = 2000  # characters of a free-text field (an act, a posology)
MAX_RENEWALS = 11  # monthly renewals within 12 months

# The code systems are the wire format's (maison.formats.ordonnance)
MEDICINE_SYSTEMS = {SYS_CIP: "CIP13", SYS_UCD: "UCD", SYS_CIS: "CIS", SYS_SMS: "SMS"}


class LineKind(StrEnum):
    MEDICAMENT = "medicament"  # coded (CIP13, UCD, CIS, or a substance for a prescription in DC)
    DISPOSITIF = "dispositif"  # medical device, LPP code
    BIOLOGIE = "biologie"  # LOINC request code
    ACTE = "acte"  # any other act, free text (nursing, physiotherapy…)


# Who may execute what (seed 001 L351: "le prescrit de son choix"; 000 L3666-3670 names them).
# TRE_G15 professions: 21 pharmacien, 60 infirmier, 70 masseur-kinésithérapeute, 10 médecin
# (biologiste), 26 audioprothésiste, 28 opticien, 80 pédicure-podologue, 91 orthophoniste,
# 92 orthoptiste. An LPP provider (prestataire, no RPPS) acts through its structure's API key.
EXECUTANTS = {
    LineKind.MEDICAMENT: {"21"},
    LineKind.DISPOSITIF: {"21", "26", "28", "80", "prestataire-lpp"},
    LineKind.BIOLOGIE: {"21", "10", "60"},  # biologists (pharmacists or physicians), nurses who sample
    LineKind.ACTE: {"60", "70", "80", "91", "92", "21"},
}
# Who may prescribe in the base (seed 001 L466-468: médecins first, then nurses, kinés, others).
PRESCRIBERS = {"10", "40", "50", "60", "70"}


class Outcome(StrEnum):
    """What a dispenser did with one line (issue 6 §1.4; seed 000 L3636: adapted by the pharmacist)."""

    DELIVRE = "delivre"
    PARTIEL = "partiel"
    SUBSTITUE = "substitue"
    ADAPTE = "adapte"
    NON_DELIVRE = "non-delivre"


@dataclass(frozen=True, slots=True)
class Line:
    number: int  # 1-based, the order on the paper copy
    kind: LineKind
    label: str  # libellé as printed
    code: str = ""
    system: str = ""
    instructions: str = ""  # posology, or the act's description
    quantity: float | None = None
    unit: str = ""  # UCUM for biology and medicines when given
    renewals: int = 0  # renouvellements: the line may be executed 1 + renewals times
    substitutable: bool = True  # "non substituable" printed when False
    duration_days: int | None = None  # treatment duration, bounds renewals


# --- the prescription's context: the guide's Observations ----------------------------------------
#
# reference/eprescription (FRObservationForPrescription, PN13-FHIR-observation-conceptmap,
# transformation-PN13-vers-FHIR "Observation", prescription-Modelisation "dose calculée"): a
# prescription may carry the patient's weight, height… as Observations its lines reference by
# `supportingInformation`. The ConceptMap maps PN13's Rens_compl 1, 2, 3 and 5 (the others "ne sont
# pas mappés") to these LOINC codes, valued by a UCUM quantity; the units below are those a code's
# dimension admits (mass, length, area), the guide's example for 33558-8 is in umol/L.
# code: (label as printed, UCUM units accepted or None for any CI-SIS unit, a vital sign)
OBSERVATION_CODES: dict[str, tuple[str, frozenset[str] | None, bool]] = {
    "29463-7": ("Poids", frozenset({"kg", "g"}), True),  # Code_rens_compl_1, fr-core-observation-body-weight
    "8302-2": ("Taille", frozenset({"cm", "m"}), True),  # Code_rens_compl_2, fr-core-observation-body-height
    "8277-6": ("Surface corporelle", frozenset({"m2"}), True),  # Code_rens_compl_3
    "33558-8": ("", None, False),  # Code_rens_compl_5, umol/L in the guide's perfusion example
}
OBSERVATION_STATUSES = ("final", "amended", "corrected", "preliminary")  # a measure one may prescribe on
MAX_OBSERVATIONS = 20


@dataclass(frozen=True, slots=True)
class ContextObservation:
    """One measure the prescription was made on, and the lines (1-based) that reference it."""

    code: str  # LOINC, one of OBSERVATION_CODES
    value: float
    unit: str  # UCUM
    status: str = "final"
    effective: str = ""  # FHIR dateTime as sent, when the measure was taken
    lines: tuple[int, ...] = ()


def check_observation(obs: ContextObservation, where: str) -> None:
    """Refuse a measure the guide does not document, or one without a plausible UCUM value."""
    if obs.code not in OBSERVATION_CODES:
        raise InvalidInput(
            f"Observation : code LOINC {obs.code!r} non documenté par le guide de prescription "
            f"({', '.join(OBSERVATION_CODES)})",
            code="observation-code",
            expression=f"{where}.code",
        )
    if obs.status not in OBSERVATION_STATUSES:
        raise InvalidInput(
            f"Observation : statut {obs.status!r} ({', '.join(OBSERVATION_STATUSES)} attendu)",
            code="observation-statut",
            expression=f"{where}.status",
        )
    label, units, vital = OBSERVATION_CODES[obs.code]
    if units is not None and obs.unit not in units:
        raise InvalidInput(
            f"Observation {label or obs.code} : unité {obs.unit!r} ({', '.join(sorted(units))} attendu, UCUM)",
            code="observation-unite",
            expression=f"{where}.valueQuantity.code",
        )
    if not (0 < obs.value if vital else 0 <= obs.value) or obs.value >= 1e6:
        raise InvalidInput(
            f"Observation {label or obs.code} : valeur {obs.value:g} impossible",
            code="observation-valeur",
            expression=f"{where}.valueQuantity.value",
        )


@dataclass(frozen=True, slots=True)
class Draft:
    """What a prescriber's software sends: no patient identity (000 L3697)."""

    prescribed_on: date
    consent: bool  # the patient's OUI/NON to the prescriber seeing execution (001 L408)
    lines: tuple[Line, ...]
    observations: tuple[ContextObservation, ...] = ()


@dataclass(frozen=True, slots=True)
class Prescriber:
    idnatps: str
    structure: str
    software: str
    profession: str


@dataclass(frozen=True, slots=True)
class Prescription:
    number: str
    prescriber: Prescriber
    created_at: datetime
    prescribed_on: date
    consent: bool
    lines: tuple[Line, ...]
    status: str = "active"  # active | annulee
    observations: tuple[ContextObservation, ...] = ()

    @property
    def first_execution_until(self) -> date:
        return add_months(self.prescribed_on, FIRST_EXECUTION_MONTHS)

    @property
    def treatment_until(self) -> date:
        return add_months(self.prescribed_on, MAX_TREATMENT_MONTHS)


@dataclass(frozen=True, slots=True)
class LineExecution:
    line: int
    outcome: Outcome
    quantity: float | None = None
    code: str = ""  # what was actually given (the substitute, the adapted product, the LPP code)
    system: str = ""
    label: str = ""
    reason: str = ""  # required for ADAPTE and NON_DELIVRE


@dataclass(frozen=True, slots=True)
class PatientIns:
    """The INS a dispenser records: only for a qualified identity (000 L3692-3694)."""

    matricule: str  # 15 characters with key, NIR or NIA
    oid: str
    status: str  # identity status in the dispenser's software: only QUAL is accepted


@dataclass(frozen=True, slots=True)
class Execution:
    id: str
    number: str
    dispenser: str
    structure: str
    software: str
    profession: str
    executed_at: datetime
    at_delivery: bool  # recorded at the counter, while delivering (001 L473)
    lines: tuple[LineExecution, ...]
    ins: str = ""  # matricule, when recorded
    ins_oid: str = ""
    extra: dict = field(default_factory=dict)


# --- invariants of one line --------------------------------------------------------------------

_LPP = re.compile(r"^\d{7}$")
_LOINC = re.compile(r"^(\d{1,7})-(\d)$")
_DIGITS = re.compile(r"^\d+$")


def loinc_check_digit(body: str) -> str:
    """LOINC's mod-10 check digit (LOINC Users' Guide, appendix: the Luhn variant it specifies)."""
    digits = [int(c) for c in body]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


def ean13_valid(code: str) -> bool:
    """CIP13 codes are EAN-13 (GS1 prefix 34009): the 13th digit is the GS1 check digit."""
    if len(code) != 13 or not (code.isascii() and code.isdigit()):
        return False
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(code[:12]))
    return (10 - total % 10) % 10 == int(code[12])


def check_line(line: Line, where: str) -> None:
    """Refuse a line the base would not accept, naming the field (`where` is its FHIR path)."""
    if not line.label.strip() and line.kind is not LineKind.ACTE:
        raise InvalidInput(f"ligne {line.number} : libellé obligatoire", code="ligne-libelle", expression=where)
    if len(line.label) > MAX_TEXT or len(line.instructions) > MAX_TEXT:
        raise InvalidInput(
            f"ligne {line.number} : texte de plus de {MAX_TEXT} caractères", code="ligne-texte", expression=where
        )
    if not 0 <= line.renewals <= MAX_RENEWALS:
        raise InvalidInput(
            f"ligne {line.number} : {line.renewals} renouvellements (0 à {MAX_RENEWALS}, "
            f"traitement de {MAX_TREATMENT_MONTHS} mois au plus, CSP R.5132-21)",
            code="ligne-renouvellements",
            expression=where,
        )
    if line.quantity is not None and not 0 < line.quantity < 1e6:
        raise InvalidInput(f"ligne {line.number} : quantité {line.quantity}", code="ligne-quantite", expression=where)
    if line.kind is LineKind.MEDICAMENT:
        kind = MEDICINE_SYSTEMS.get(line.system)
        if kind is None:
            raise InvalidInput(
                f"ligne {line.number} : un médicament est prescrit codé (CIP13, UCD, CIS ou "
                "substance en DC) — 000 L3663",
                code="medicament-non-code",
                expression=where,
            )
        if kind == "CIP13" and not (ean13_valid(line.code) and line.code.startswith("34009")):
            raise InvalidInput(
                f"ligne {line.number} : code CIP13 {line.code!r} invalide (34009…, clé EAN-13)",
                code="medicament-code",
                expression=where,
            )
        if kind in ("UCD", "CIS") and not (
            _DIGITS.match(line.code) and len(line.code) in ((7, 13) if kind == "UCD" else (8,))
        ):
            raise InvalidInput(
                f"ligne {line.number} : code {kind} {line.code!r} invalide", code="medicament-code", expression=where
            )
        if kind == "SMS" and not line.code.strip():
            raise InvalidInput(f"ligne {line.number} : substance sans code", code="medicament-code", expression=where)
    elif line.kind is LineKind.DISPOSITIF:
        # seed 000 L3650: devices are mostly prescribed as free text; a code, when given, is LPP
        if (line.code or line.system) and (line.system != SYS_LPP or not _LPP.match(line.code)):
            raise InvalidInput(
                f"ligne {line.number} : le code d'un dispositif médical est un code LPP (7 chiffres)",
                code="dispositif-lpp",
                expression=where,
            )
    elif line.kind is LineKind.BIOLOGIE:
        m = _LOINC.match(line.code)
        if line.system != SYS_LOINC or not m:
            raise InvalidInput(
                f"ligne {line.number} : un examen de biologie est codé en LOINC — 000 L3680",
                code="biologie-loinc",
                expression=where,
            )
        if loinc_check_digit(m.group(1)) != m.group(2):
            raise InvalidInput(
                f"ligne {line.number} : code LOINC {line.code!r} : chiffre de contrôle faux",
                code="biologie-loinc",
                expression=where,
            )
    elif line.kind is LineKind.ACTE and not (line.instructions.strip() or line.label.strip()):
        raise InvalidInput(f"ligne {line.number} : acte sans texte", code="acte-texte", expression=where)


def check_execution(line: Line, done: LineExecution, where: str) -> None:
    """What a dispenser reports for one line must say enough to be read back by the prescriber."""
    if done.outcome in (Outcome.ADAPTE, Outcome.NON_DELIVRE) and not done.reason.strip():
        raise InvalidInput(
            f"ligne {done.line} : {done.outcome.value} sans motif", code="execution-motif", expression=where
        )
    if done.outcome is Outcome.SUBSTITUE:
        if not line.substitutable:
            raise InvalidInput(
                f"ligne {done.line} : prescrite non substituable", code="non-substituable", expression=where
            )
        if line.kind is not LineKind.MEDICAMENT:
            raise InvalidInput(
                f"ligne {done.line} : seule une ligne de médicament se substitue",
                code="substitution-type",
                expression=where,
            )
        if not done.code:
            raise InvalidInput(
                f"ligne {done.line} : substitution sans le code du produit délivré",
                code="substitution-code",
                expression=where,
            )
    if (
        line.kind is LineKind.DISPOSITIF
        and done.outcome is not Outcome.NON_DELIVRE
        and (done.system or SYS_LPP, bool(_LPP.match(done.code or line.code))) != (SYS_LPP, True)
    ):
        # seed 000 L3652: after execution the e-prescription holds at least the LPP code
        raise InvalidInput(
            f"ligne {done.line} : dispositif délivré sans son code LPP (7 chiffres)",
            code="execution-lpp",
            expression=where,
        )
    if done.outcome is Outcome.PARTIEL and done.quantity is None:
        raise InvalidInput(
            f"ligne {done.line} : délivrance partielle sans quantité", code="execution-quantite", expression=where
        )
    if done.quantity is not None and not 0 <= done.quantity < 1e6:
        raise InvalidInput(f"ligne {done.line} : quantité {done.quantity}", code="execution-quantite", expression=where)
