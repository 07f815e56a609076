"""HTTP adapter of the observatory under `/observatoire` (issue 23 §4): each report as signed JSON,
the SUN-ES explanations, the HTML report, and the SUN-ES indicators as FHIR R4 `Measure` /
`MeasureReport`.

- `GET /sunes?structure=FINESS|ght=CODE&periode=2026-S1` — the DS indicators and DS4.3
- `GET /sunes/explication/{indicateur}?…&page=1&taille=50&filtre=tous` — one page of the stays,
  reports or correspondents, counted or not, why, with the whole explanation's totals (what a person
  reads: a GHT's semester holds ~150 000 stays); without `page`, `taille` or `filtre`: every element
  at once (the full export, the same elements in the same order — seconds for a GHT's semester)
- `GET /prerequis?…`, `GET /maturin?structure=…&type=…` — the PS checks and volets; MATURIN-H
- `GET /national?periode=2026-05`, `GET /conformite?periode=…` — ARS and ANS agents only
- `GET /rapport.html?structure=…|ght=…&periode=…` — SUN-ES (with its rates per month and per service),
  prerequisites (and MATURIN-H for a structure) as one HTML page with charts; `GET /national.html`,
  `GET /conformite.html` — the agents' reports as pages (rates per month, per software)
- `GET /fhir/Measure`, `GET /fhir/Measure/{id}` — the indicators' definitions (public: no data)
- `GET /fhir/MeasureReport?structure=…|ght=…&periode=…` — a signed Bundle of MeasureReports
- `GET /cle` — the public key (JWK) that verifies every report's signature (public)

Who reads what is `maison.observatoire.service`'s (403 OperationOutcome, recorded); at the door, a
professional by Pro Santé Connect or a structure's key (its software's or its administrator's):
patients and the house's administrator key are refused there. The period defaults to the current
semester (the current month for the national statistics); a bad period or scope is a 400, an unknown
structure or GHT a 404 — never a 500. The computing routes are plain functions: FastAPI runs them in
its thread pool, so that a semester's computation never holds the event loop.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from maison.core.actor import KeyScope
from maison.core.authz import Accepts, Authorizer, accepts, keys, public
from maison.core.errors import InvalidInput
from maison.formats import openapi as doc
from maison.formats.body import json_response
from maison.formats.fhir import fhir_response
from maison.formats.namespace import Namespace
from maison.formats.path_ids import FhirId
from maison.observatoire import measure
from maison.observatoire.page import render
from maison.observatoire.report import Period
from maison.observatoire.service import Observatoire
from maison.observatoire.sunes.model import Scope

# an ARS/ANS agent (by PSC, or a key the administrator issued with the role) or a structure's own callers
READERS = Accepts(psc=True, scopes=keys(KeyScope.LOGICIEL, KeyScope.ADMINISTRATEUR_STRUCTURE))

_SCOPE = {
    "structure": "La structure (FINESS, IdNatStruct ou SIRET) — ou ght",
    "ght": "Le GHT (son code) — ou structure",
    "periode": "2026-S1, 2026-05 ou 2026-01-01..2026-03-31 (par défaut le semestre en cours)",
}
_SERVED = doc.json_object(
    ["rapport", "titre", "contenu", "signature"],
    {
        "rapport": doc.text(),
        "titre": doc.text(),
        "contenu": {"type": "object"},
        "signature": {"type": "object", "description": "JWS détaché (RFC 7515 annexe F) ou motif de non-signature"},
    },
)
SCOPED = doc.extra(doc.query_parameters(_SCOPE), doc.json_answer(_SERVED), doc.errors(400, 403, 404))
PERIOD_ONLY = doc.extra(
    doc.query_parameters({"periode": "La période (par défaut le mois ou le semestre en cours)"}),
    doc.json_answer(_SERVED),
    doc.errors(400, 403),
)
MATURIN = doc.extra(
    doc.query_parameters({**_SCOPE, "type": "Type d'établissement MATURIN-H (par défaut CH-PARTIE-GHT)"}),
    doc.json_answer(_SERVED),
    doc.errors(400, 403, 404),
)
HTML = doc.extra(
    doc.query_parameters(_SCOPE),
    doc.answers(200, {"text/html": {"type": "string"}}, "Le rapport HTML"),
    doc.errors(400, 403, 404),
)
PERIOD_HTML = doc.extra(
    doc.query_parameters({"periode": "La période (par défaut le mois ou le semestre en cours)"}),
    doc.answers(200, {"text/html": {"type": "string"}}, "Le rapport HTML"),
    doc.errors(400, 403),
)
MEASURES = doc.fhir_answer(doc.bundle_schema(doc.resource("Measure")))
MEASURE = doc.extra(doc.fhir_answer(doc.resource("Measure")), doc.errors(404))
REPORTS = doc.extra(
    doc.query_parameters(_SCOPE),
    doc.fhir_answer(doc.bundle_schema(doc.resource("MeasureReport"))),
    doc.errors(400, 403, 404),
)
EXPLAINED = doc.extra(
    doc.query_parameters(
        {
            **_SCOPE,
            "page": "La page (à partir de 1) ; sans page, taille ni filtre : toute l'explication",
            "taille": "Éléments par page, de 1 à 500 (50 par défaut)",
            "filtre": "tous, comptes, non-comptes ou hors (hors dénominateur)",
        }
    ),
    doc.json_answer(_SERVED),
    doc.errors(400, 403, 404),
)
KEY = doc.json_answer(doc.json_object(["kty", "crv", "x", "kid"], {}))


def period_of(text: str | None, *, monthly: bool = False) -> Period:
    """The period asked, or the current semester (month for `monthly`)."""
    if text:
        return Period.parse(text)
    today = datetime.now(UTC).date()
    return Period.month(today.year, today.month) if monthly else Period.semester_of(today)


def count_of(text: str, name: str) -> int:
    """A page number or a page size: a positive integer, else a 400 naming the parameter."""
    if not (text.isascii() and text.isdigit()) or len(text) > 6 or int(text) < 1:
        raise InvalidInput(f"{name} {text!r} invalide : un entier à partir de 1", code=f"{name}-invalide")
    return int(text)


def scope_of(structure: str | None, ght: str | None) -> Scope:
    if bool(structure) == bool(ght):
        raise InvalidInput("préciser soit structure, soit ght", code="perimetre")
    return Scope.structure(structure.strip()) if structure else Scope.ght(str(ght).strip())


def router(obs: Observatoire, authorizer: Authorizer, ns: Namespace) -> APIRouter:
    r = APIRouter()

    @r.get("/sunes", openapi_extra=SCOPED)
    @accepts(READERS)
    def sunes(
        request: Request, structure: str | None = None, ght: str | None = None, periode: str | None = None
    ) -> Response:
        served = obs.sunes(authorizer.caller(request), scope_of(structure, ght), period_of(periode))
        return json_response(served.as_dict())

    @r.get("/sunes/explication/{indicateur}", openapi_extra=EXPLAINED)
    @accepts(READERS)
    def explication(
        request: Request,
        indicateur: FhirId,
        structure: str | None = None,
        ght: str | None = None,
        periode: str | None = None,
        page: str | None = None,
        taille: str | None = None,
        filtre: str | None = None,
    ) -> Response:
        actor, scope, period = authorizer.caller(request), scope_of(structure, ght), period_of(periode)
        if page is None and taille is None and filtre is None:
            return json_response(obs.explain(actor, scope, period, indicateur).as_dict())  # the full export
        number, size = count_of(page or "1", "page"), count_of(taille or "50", "taille")
        served = obs.explain_page(actor, scope, period, indicateur, number=number, size=size, filtre=filtre or "tous")
        return json_response(served.as_dict())

    @r.get("/prerequis", openapi_extra=SCOPED)
    @accepts(READERS)
    def prerequis(
        request: Request, structure: str | None = None, ght: str | None = None, periode: str | None = None
    ) -> Response:
        served = obs.prerequis(authorizer.caller(request), scope_of(structure, ght), period_of(periode))
        return json_response(served.as_dict())

    @r.get("/maturin", openapi_extra=MATURIN)
    @accepts(READERS)
    def maturin(
        request: Request, structure: str | None = None, periode: str | None = None, type: str = "CH-PARTIE-GHT"
    ) -> Response:
        scope = scope_of(structure, None)
        served = obs.maturin(authorizer.caller(request), scope.code, period_of(periode), type)
        return json_response(served.as_dict())

    @r.get("/national", openapi_extra=PERIOD_ONLY)
    @accepts(READERS)
    def national(request: Request, periode: str | None = None) -> Response:
        served = obs.national(authorizer.caller(request), period_of(periode, monthly=True))
        return json_response(served.as_dict())

    @r.get("/conformite", openapi_extra=PERIOD_ONLY)
    @accepts(READERS)
    def conformite(request: Request, periode: str | None = None) -> Response:
        served = obs.conformite(authorizer.caller(request), period_of(periode))
        return json_response(served.as_dict())

    @r.get("/rapport.html", openapi_extra=HTML)
    @accepts(READERS)
    def page(
        request: Request, structure: str | None = None, ght: str | None = None, periode: str | None = None
    ) -> Response:
        actor, scope, period = authorizer.caller(request), scope_of(structure, ght), period_of(periode)
        reports = [obs.sunes(actor, scope, period), obs.prerequis(actor, scope, period)]
        if scope.kind == "structure":
            reports.append(obs.maturin(actor, scope.code, period))
        series = [obs.sunes_by_month(actor, scope, period), obs.sunes_by_service(actor, scope, period)]
        reports.append(obs.series(f"Séries SUN-ES — {scope.kind} {scope.code} — {period.label}", series))
        html = render(f"Observatoire — {scope.kind} {scope.code} — {period.label}", reports)
        return Response(html, media_type="text/html; charset=utf-8")

    @r.get("/national.html", openapi_extra=PERIOD_HTML)
    @accepts(READERS)
    def national_page(request: Request, periode: str | None = None) -> Response:
        served = obs.national(authorizer.caller(request), period_of(periode, monthly=True))
        return Response(render(served.title, [served]), media_type="text/html; charset=utf-8")

    @r.get("/conformite.html", openapi_extra=PERIOD_HTML)
    @accepts(READERS)
    def conformite_page(request: Request, periode: str | None = None) -> Response:
        served = obs.conformite(authorizer.caller(request), period_of(periode))
        return Response(render(served.title, [served]), media_type="text/html; charset=utf-8")

    @r.get("/fhir/Measure", openapi_extra=MEASURES)
    @public("les définitions des indicateurs SUN-ES (Measure) ne portent aucune donnée")
    async def measures() -> Response:
        return fhir_response(measure.measures(ns))

    @r.get("/fhir/Measure/{id_}", openapi_extra=MEASURE)
    @public("les définitions des indicateurs SUN-ES (Measure) ne portent aucune donnée")
    async def one_measure(id_: FhirId) -> Response:
        return fhir_response(measure.measure_of(id_, ns))

    @r.get("/fhir/MeasureReport", openapi_extra=REPORTS)
    @accepts(READERS)
    def measure_reports(
        request: Request, structure: str | None = None, ght: str | None = None, periode: str | None = None
    ) -> Response:
        actor = authorizer.caller(request)
        return fhir_response(obs.sunes_measure_reports(actor, scope_of(structure, ght), period_of(periode), ns))

    @r.get("/cle", openapi_extra=KEY)
    @public("la clé publique qui vérifie les signatures des rapports")
    async def key() -> Response:
        return json_response(obs.sealer.public_jwk())

    return r
