"""HTTP adapter of the base ordonnance numérique, in FHIR R4 (the French medication guide where it
applies: RequestGroup of MedicationRequest/DeviceRequest/ServiceRequest; MedicationDispense,
SupplyDelivery and Task for what was executed).

Prescriber side (Pro Santé Connect token of a prescribing profession):
- `POST /ordonnance/RequestGroup` — create from a Bundle without patient identity (`Idempotency-Key`
  honoured) → 201, the RequestGroup with the prescription number and the QR code payload;
- `GET /ordonnance/RequestGroup?date=ge…&date=le…&status=…&_count=…` — search one's own;
- `GET /ordonnance/RequestGroup/{numero}` — consult one's own (execution included with the OUI);
- `GET /ordonnance/RequestGroup/{numero}/$executions` — execution data, 403 with the NON;
- `DELETE /ordonnance/RequestGroup/{numero}` — cancel one nobody executed.
Dispenser side (pharmacist, nurse, physiotherapist, biologist…, or an LPP provider's API key):
- `GET /ordonnance/RequestGroup/{numero}/$dispensation` — read after scanning the QR code;
- `POST /ordonnance/RequestGroup/{numero}/$executer` — record execution line by line (Parameters).
Public: `GET /ordonnance/$compteurs` — the national counters (001 L424-462), aggregates only.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maison.core.actor import KeyScope
from maison.core.authz import Accepts, Authorizer, accepts, keys, public
from maison.core.errors import InvalidInput
from maison.formats.body import json_response, read_json_object
from maison.formats.fhir import fhir_response
from maison.formats.path_ids import Identifier
from maison.partage.ordonnance import fhir
from maison.partage.ordonnance.service import Base


def _date_bounds(values: list[str]) -> tuple[date | None, date | None]:
    since = until = None
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2] in ("ge", "le", "eq") else ("eq", value)
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise InvalidInput(
                f"date {value!r} : AAAA-MM-JJ avec ge, le ou eq", code="recherche-date", expression="date"
            ) from None
        if prefix in ("ge", "eq"):
            since = day
        if prefix in ("le", "eq"):
            until = day
    return since, until


# seed 002 L573: Pro Santé Connect is generalised to the services socles, the ordonnance numérique (ON)
# among them — a prescriber or a dispenser acts with his PSC token; an LPP provider, who has no RPPS, with
# its structure's key of that scope (issue 6 §1.4).
PRESCRIBER = Accepts(psc=True)
DISPENSER = Accepts(psc=True, scopes=keys(KeyScope.FOURNISSEUR_LPP))


def router(base: Base, authorizer: Authorizer, max_body_bytes: int, units) -> APIRouter:
    """`units()` gives the UCUM units the CI-SIS accepts (read once from the reference pack)."""
    r = APIRouter()

    def who(request: Request):
        return authorizer.caller(request)

    def here(request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/ordonnance"

    @r.post("/RequestGroup")
    @accepts(PRESCRIBER)
    async def create(request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        caller = await run_in_threadpool(who, request)
        draft = fhir.draft_from_fhir(body, units=units())
        key = request.headers.get("idempotency-key")
        prescription = await run_in_threadpool(base.create, caller, draft, idempotency_key=key)
        response = fhir_response(fhir.prescription_bundle(prescription, None, base_url=here(request)), 201)
        response.headers["Location"] = f"{here(request)}/RequestGroup/{prescription.number}"
        return response

    @r.get("/RequestGroup")
    @accepts(PRESCRIBER)
    async def search(request: Request) -> Response:
        params = request.query_params
        unknown = set(params) - {"date", "status", "_count"}
        if unknown:
            raise InvalidInput(
                f"paramètres non pris en charge : {', '.join(sorted(unknown))}", code="recherche-parametre"
            )
        since, until = _date_bounds(params.getlist("date"))
        try:
            count = int(params.get("_count", "50"))
        except ValueError:
            raise InvalidInput("_count : un entier", code="recherche-count", expression="_count") from None
        status = {"active": "active", "revoked": "annulee", None: None}.get(params.get("status"), "?")
        if status == "?":
            raise InvalidInput("status : active ou revoked", code="recherche-statut", expression="status")
        caller = await run_in_threadpool(who, request)
        found = await run_in_threadpool(base.search, caller, since=since, until=until, status=status, count=count)
        return fhir_response(fhir.search_bundle(found, base_url=here(request), total=len(found)))

    @r.get("/RequestGroup/{numero}")
    @accepts(PRESCRIBER)
    async def consult(numero: Identifier, request: Request) -> Response:
        caller = await run_in_threadpool(who, request)
        prescription, executions = await run_in_threadpool(base.read_as_prescriber, caller, numero)
        return fhir_response(fhir.prescription_bundle(prescription, executions, base_url=here(request)))

    @r.get("/RequestGroup/{numero}/$executions")
    @accepts(PRESCRIBER)
    async def executions(numero: Identifier, request: Request) -> Response:
        caller = await run_in_threadpool(who, request)
        prescription, done = await run_in_threadpool(base.executions_for_prescriber, caller, numero)
        return fhir_response(fhir.prescription_bundle(prescription, done, base_url=here(request)))

    @r.delete("/RequestGroup/{numero}")
    @accepts(PRESCRIBER)
    async def cancel(numero: Identifier, request: Request) -> Response:
        caller = await run_in_threadpool(who, request)
        prescription = await run_in_threadpool(base.cancel, caller, numero)
        return fhir_response(fhir.prescription_bundle(prescription, None, base_url=here(request)))

    @r.get("/RequestGroup/{numero}/$dispensation")
    @accepts(DISPENSER)
    async def dispensation(numero: Identifier, request: Request) -> Response:
        caller = await run_in_threadpool(who, request)
        prescription, done = await run_in_threadpool(base.read_as_dispenser, caller, numero)
        return fhir_response(fhir.prescription_bundle(prescription, done, base_url=here(request)))

    @r.post("/RequestGroup/{numero}/$executer")
    @accepts(DISPENSER)
    async def execute(numero: Identifier, request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        caller = await run_in_threadpool(who, request)
        prescription, execution = await run_in_threadpool(
            base.execute_request, caller, numero, lambda p: fhir.execution_from_fhir(body, p)
        )
        return fhir_response(fhir.prescription_bundle(prescription, [execution], base_url=here(request)), 201)

    @r.get("/$compteurs")
    @public("les compteurs nationaux sont publics : des agrégats, aucune donnée de santé (001 L424-462)")
    async def counters() -> Response:
        return json_response(await run_in_threadpool(base.counters))

    return r
