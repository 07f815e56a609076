"""The measures of Mon espace santé: their kinds, units, plausible ranges, and the computed BMI.

The seed lists the first measures and their units (000 L3306-3317): weight in kg, height in metres,
BMI "calculé automatiquement", waist in cm, temperature, glycaemia, pain level, heart rate, then the
number of steps. Each kind is kept in one canonical UCUM unit and coded in LOINC as the FHIR
vital-signs profile codes it; a value typed in another unit of the same dimension is converted
(g → kg, cm → m, [degF] → Cel, g/L and mmol/L → mg/dL). A value outside the range a human body can
show is refused rather than stored: it is a typing slip, and a BMI computed from it would mislead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from maison.core.errors import InvalidInput

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
GLUCOSE_MG_PER_MMOL = 18.016  # molar mass of glucose, 180.16 g/mol: 1 mmol/L = 18.016 mg/dL


@dataclass(frozen=True)
class Kind:
    name: str
    loinc: str
    display: str
    unit: str  # canonical UCUM unit
    low: float
    high: float
    conversions: dict[str, Callable[[float], float]]
    integer: bool = False
    computed: bool = False


def _same(value: float) -> float:
    return value


KINDS = {
    k.name: k
    for k in (
        Kind("poids", "29463-7", "Body weight", "kg", 0.3, 400, {"kg": _same, "g": lambda v: v / 1000}),
        Kind("taille", "8302-2", "Body height", "m", 0.2, 2.6, {"m": _same, "cm": lambda v: v / 100}),
        Kind("imc", "39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 5, 150, {"kg/m2": _same}, computed=True),
        Kind(
            "tour-de-taille",
            "8280-0",
            "Waist Circumference at umbilicus by Tape measure",
            "cm",
            20,
            300,
            {"cm": _same, "m": lambda v: v * 100},
        ),
        Kind(
            "temperature",
            "8310-5",
            "Body temperature",
            "Cel",
            25,
            45,
            {"Cel": _same, "[degF]": lambda v: (v - 32) * 5 / 9},
        ),
        Kind(
            "glycemie",
            "2339-0",
            "Glucose [Mass/volume] in Blood",
            "mg/dL",
            10,
            1500,
            {"mg/dL": _same, "g/L": lambda v: v * 100, "mmol/L": lambda v: v * GLUCOSE_MG_PER_MMOL},
        ),
        Kind(
            "douleur",
            "72514-3",
            "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
            "{score}",
            0,
            10,
            {"{score}": _same},
            integer=True,
        ),
        Kind("frequence-cardiaque", "8867-4", "Heart rate", "/min", 20, 300, {"/min": _same}),
        Kind(
            "pas",
            "55423-8",
            "Number of steps in unspecified time Pedometer",
            "{steps}",
            0,
            200_000,
            {"{steps}": _same},
            integer=True,
        ),
    )
}


def normalise(kind_name: str, value: object, unit: str) -> tuple[Kind, float]:
    """The measure in its kind's canonical unit, or InvalidInput naming what is wrong."""
    kind = KINDS.get(kind_name)
    if kind is None:
        raise InvalidInput(
            f"mesure {kind_name!r} inconnue : {', '.join(k for k in KINDS if not KINDS[k].computed)}",
            code="mesure-inconnue",
            expression="code",
        )
    if kind.computed:  # 000 L3309: "L'IMC (calculé automatiquement)"
        raise InvalidInput(
            "l'IMC est calculé automatiquement à partir du poids et de la taille",
            code="mesure-calculee",
            expression="code",
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput("valueQuantity.value : un nombre", code="valeur-invalide", expression="valueQuantity.value")
    convert = kind.conversions.get(unit)
    if convert is None:
        raise InvalidInput(
            f"unité {unit!r} pour {kind.name} : {', '.join(kind.conversions)} (UCUM)",
            code="unite-invalide",
            expression="valueQuantity.code",
        )
    if kind.integer and value != int(value):
        raise InvalidInput(f"{kind.name} : un nombre entier", code="valeur-invalide", expression="valueQuantity.value")
    canonical = round(convert(float(value)), 4)
    if not kind.low <= canonical <= kind.high:
        raise InvalidInput(
            f"{kind.name} {value} {unit} hors des valeurs possibles ({kind.low:g}–{kind.high:g} {kind.unit})",
            code="valeur-improbable",
            expression="valueQuantity.value",
        )
    return kind, canonical


def bmi(weight_kg: float, height_m: float) -> float:
    """Body mass index, kg/m², to one decimal as clinicians read it."""
    return round(weight_kg / (height_m * height_m), 1)


def kind_of_loinc(code: str) -> str | None:
    return next((k.name for k in KINDS.values() if k.loinc == code), None)
