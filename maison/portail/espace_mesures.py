"""The measures of Mon espace santé as web pages: list, add, delete, a chart over time per kind and
the BMI (issue 24 §1; 000 L3306-3317).

The pages call what the API's `/espace/mesures` routes call — `Espace.measures`, `add_measure` (the
form becomes the FHIR Observation the API receives: LOINC code, UCUM quantity, effectiveDateTime),
`delete_measure` — as the same patient Actor, so the units, ranges, conversions and refusals are the
service's. Each kind's values are drawn by the observatory's chart code (`maison.observatoire.charts`,
inline SVG with its `<title>`, `<desc>` and a `<title>` per point), the same values given as a table
beside it. The BMI shown is `mesures.bmi` (weight in kg divided by the square of the height in m,
to one decimal) of the latest weight and the latest height, with the WHO's adult class in French.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from maison.core.authz import public
from maison.core.errors import InvalidInput
from maison.formats.path_ids import FhirId
from maison.observatoire.charts import svg
from maison.observatoire.report import Table
from maison.partage.espace.mesures import KINDS, LOINC, UCUM, bmi
from maison.partage.espace.service import Espace
from maison.portail.patient import BASE, SESSION_PAGE, PatientPortal
from maison.portail.web import PortalRoute, page

PAGE = f"{BASE}/mesures"
PARIS = ZoneInfo("Europe/Paris")
LABELS = {
    "poids": "Poids",
    "taille": "Taille",
    "imc": "IMC",
    "tour-de-taille": "Tour de taille",
    "temperature": "Température",
    "glycemie": "Glycémie",
    "douleur": "Douleur (0 à 10)",
    "frequence-cardiaque": "Fréquence cardiaque",
    "pas": "Nombre de pas",
}
UNITS = {
    "kg": "kg",
    "g": "g",
    "m": "m",
    "cm": "cm",
    "kg/m2": "kg/m²",
    "Cel": "°C",
    "[degF]": "°F",
    "mg/dL": "mg/dL",
    "g/L": "g/L",
    "mmol/L": "mmol/L",
    "{score}": "sur 10",
    "/min": "battements par minute",
    "{steps}": "pas",
}
# The WHO's classes of the adult BMI (WHO, "A healthy lifestyle - WHO recommendations", 2010;
# Technical Report Series 894), as French health sites name them: (upper bound excluded, class)
WHO_CLASSES = (
    (18.5, "insuffisance pondérale (maigreur)"),
    (25.0, "corpulence normale"),
    (30.0, "surpoids"),
    (35.0, "obésité modérée (classe I)"),
    (40.0, "obésité sévère (classe II)"),
    (float("inf"), "obésité morbide ou massive (classe III)"),
)


def who_class(value: float) -> str:
    return next(label for bound, label in WHO_CLASSES if value < bound)


def number(value: float) -> str:
    """A value as a French reader writes it (decimal comma, no trailing zeros)."""
    return f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",")


@dataclass(frozen=True)
class Point:
    id: str
    when: str
    value: str
    deletable: bool


@dataclass(frozen=True)
class Serie:
    kind: str
    label: str
    unit: str
    points: list[Point]
    chart: str | None


@dataclass(frozen=True)
class Bmi:
    weight: str
    height: str
    value: str
    who_class: str


def _when(iso: str) -> str:
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if moment.time() == time(0) and moment.utcoffset() is not None and not moment.utcoffset():
        return moment.strftime("%d/%m/%Y")  # a date without its hour (midnight UTC)
    return moment.astimezone(PARIS).strftime("%d/%m/%Y %H:%M")


def series(observations: list[dict]) -> list[Serie]:
    """Each kind measured, in the order of the seed's list, its values oldest first with its chart."""
    by_kind: dict[str, list[dict]] = {}
    for o in observations:
        by_kind.setdefault(o["code"]["text"], []).append(o)
    out = []
    for name, kind in KINDS.items():
        found = sorted(by_kind.get(name, []), key=lambda o: o["effectiveDateTime"])
        if not found:
            continue
        label, unit = LABELS[name], UNITS.get(kind.unit, kind.unit)
        points = [
            Point(o["id"], _when(o["effectiveDateTime"]), number(o["valueQuantity"]["value"]), not kind.computed)
            for o in found
        ]
        table = Table(
            f"{label} ({unit}) au fil du temps",
            ("Date", f"{label} ({unit})"),
            tuple((p.when, o["valueQuantity"]["value"]) for p, o in zip(points, found, strict=True)),
            chart="line",
        )
        out.append(Serie(name, label, unit, points, svg(table)))
    return out


def latest_bmi(observations: list[dict]) -> Bmi | None:
    """The BMI of the latest weight and the latest height, None while one of them is missing."""
    latest: dict[str, dict] = {}
    for o in sorted(observations, key=lambda o: o["effectiveDateTime"]):
        latest[o["code"]["text"]] = o
    if "poids" not in latest or "taille" not in latest:
        return None
    weight, height = latest["poids"]["valueQuantity"]["value"], latest["taille"]["valueQuantity"]["value"]
    value = bmi(weight, height)
    return Bmi(number(weight), number(height), number(value), who_class(value))


def observation_of(form: dict[str, str]) -> dict:
    """The FHIR Observation the API's `POST /espace/mesures` receives for this form."""
    name, _, unit = form.get("mesure", "").partition(":")
    kind = KINDS.get(name)
    if kind is None or kind.computed or unit not in kind.conversions:
        raise InvalidInput("mesure : choisissez une mesure et son unité dans la liste", code="mesure-inconnue")
    typed = form.get("valeur", "").strip().replace(",", ".").replace(" ", "")
    try:
        value: float = float(typed)
    except ValueError:
        raise InvalidInput(
            f"valeur {form.get('valeur', '')!r} : un nombre est attendu (par exemple 72,5)", code="valeur-invalide"
        ) from None
    day, hour = form.get("date", "").strip(), form.get("heure", "").strip()
    try:
        effective = (
            datetime.combine(datetime.strptime(day, "%Y-%m-%d").date(), time.fromisoformat(hour), PARIS).isoformat()
            if hour
            else datetime.strptime(day, "%Y-%m-%d").date().isoformat()
        )
    except ValueError:
        raise InvalidInput(
            f"date {day!r} {hour!r} : une date JJ/MM/AAAA et une heure HH:MM sont attendues", code="date-invalide"
        ) from None
    quantity = {"value": int(value) if kind.integer and value == int(value) else value, "system": UCUM, "code": unit}
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": kind.loinc}]},
        "valueQuantity": quantity,
        "effectiveDateTime": effective,
    }


def choices() -> list[tuple[str, str]]:
    """Each measure the patient may type, in each unit the service converts from."""
    return [
        (f"{name}:{unit}", f"{LABELS[name]} ({UNITS.get(unit, unit)})")
        for name, kind in KINDS.items()
        if not kind.computed
        for unit in kind.conversions
    ]


def router(portal: PatientPortal, espace: Espace) -> APIRouter:
    r = APIRouter(route_class=PortalRoute)

    @r.get("/mesures")
    @public(SESSION_PAGE)
    async def measures(request: Request) -> Response:
        session = portal.session(request)
        observations = await run_in_threadpool(espace.measures, portal.who(session))
        context = portal.context(
            session,
            PAGE,
            series=series(observations),
            bmi=latest_bmi(observations),
            choices=choices(),
            today=datetime.now(PARIS).date().isoformat(),
        )
        return page("mesures.html", **context)

    @r.post("/mesures")
    @public(SESSION_PAGE)
    async def add(request: Request) -> Response:
        session, form = await portal.posted(request)
        observation = observation_of(form)
        added = await run_in_threadpool(espace.add_measure, portal.who(session), observation)
        return RedirectResponse(f"{PAGE}#{added['code']['text']}", 303)

    @r.post("/mesures/{id_}/suppression")
    @public(SESSION_PAGE)
    async def delete(id_: FhirId, request: Request) -> Response:
        session, _ = await portal.posted(request)
        await run_in_threadpool(espace.delete_measure, portal.who(session), id_)
        return RedirectResponse(PAGE, 303)

    return r
