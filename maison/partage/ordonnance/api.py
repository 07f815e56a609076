"""HTTP adapter of the base ordonnance numérique, in FHIR R4 (the French medication guide where it
applies: RequestGroup of MedicationRequest/DeviceRequest/ServiceRequest; MedicationDispense,
SupplyDelivery and Task for what was executed).

Prescriber side (Pro Santé Connect token of a prescribing profession):
- `POST /ordonnance/RequestGroup` — create from a Bundle without patient identity (`Idempotency-Key`
  honoured) → 201, the envelope with the prescription number and the QR code payload; or from the
  RequestGroup alone, its requests contained → 201, the RequestGroup; the measures the lines were
  prescribed on (the guide's Observations: weight, height…, by `supportingInformation`) are kept and
  given back in the envelope, and contained in a line read alone;
- `GET /ordonnance/RequestGroup?date=ge…&date=le…&status=…&_count=…` — search one's own;
- `GET /ordonnance/RequestGroup/{numero}` — read one's own RequestGroup; each line at the URL its
  action names (`GET /ordonnance/{MedicationRequest|DeviceRequest|ServiceRequest}/{numero}-{ligne}`);
- `GET /ordonnance/RequestGroup/{numero}/$enveloppe` — the whole envelope (execution included with the OUI);
- `GET /ordonnance/RequestGroup/{numero}/$executions` — execution data, 403 with the NON;
- `DELETE /ordonnance/RequestGroup/{numero}` — cancel one nobody executed.
Dispenser side (pharmacist, nurse, physiotherapist, biologist…, or an LPP provider's API key):
- `GET /ordonnance/RequestGroup/{numero}/$dispensation` — read after scanning the QR code;
- `POST /ordonnance/RequestGroup/{numero}/$executer` — record execution line by line (Parameters).
Public: `GET /ordonnance/$compteurs` — the national counters (001 L424-462), aggregates only;
`GET /ordonnance/metadata` — the CapabilityStatement.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maison.core.actor import KeyScope
from maison.core.authz import Accepts, Authorizer, accepts, keys, public
from maison.core.errors import InvalidInput, NotFound
from maison.formats import fhir_capability
from maison.formats import openapi as doc
from maison.formats.body import json_response, read_json_object
from maison.formats.fhir import RESULT_PARAMETERS, count_bundle, fhir_response, result_controls
from maison.formats.fhir_capability import Operation, ResourceCapability
from maison.formats.namespace import Namespace
from maison.formats.path_ids import FhirId, Identifier, ascii_digits
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


OPERATIONS = (Operation("executions"), Operation("dispensation"), Operation("executer"), Operation("enveloppe"))
REQUESTS = ("MedicationRequest", "DeviceRequest", "ServiceRequest")
SEARCH = {"date": "date", "status": "token"}  # the RequestGroup search, as the route reads it

# the OpenAPI of the routes below (issue 21 §3.1)
REQUEST_GROUP = doc.resource("RequestGroup")
ENVELOPE = doc.extra(doc.fhir_answer(doc.bundle_schema()))
CREATE = doc.extra(
    doc.fhir_body(
        {
            "type": "object",
            "required": ["resourceType"],
            "properties": {"resourceType": {"enum": ["RequestGroup", "Bundle"]}},
            "description": "La prescription : son RequestGroup seul, ou l'enveloppe (Bundle) avec ses lignes",
        }
    ),
    doc.answers(201, {doc.FHIR_JSON: {"anyOf": [REQUEST_GROUP, doc.bundle_schema()]}}, "Créée (Location)"),
    {"parameters": [{"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}}]},
    doc.errors(409, 422),
)
EXECUTE = doc.extra(
    doc.fhir_body(doc.parameters_schema(), description="Parameters : la ligne exécutée et ce qui a été délivré"),
    doc.fhir_answer(doc.bundle_schema(), 201, "Exécution enregistrée"),
    doc.errors(409, 422),
)


def capability_statement(here: str, ns: Namespace) -> dict:
    """The base as its routes serve it: the prescription (RequestGroup) created from its envelope,
    read, searched and cancelled; each prescribed line read as its request; the envelope, what was
    executed and the dispensation as operations; `$compteurs` public."""
    group = ResourceCapability(
        "RequestGroup",
        ("read", "create", "delete", "search-type"),
        SEARCH,
        profile=fhir.FR_MEDICATION + "fr-requestgroup-for-prescription",
        operations=OPERATIONS,
    )
    lines = [ResourceCapability(kind, ("read",)) for kind in REQUESTS]
    return fhir_capability.capability_statement(
        name="base ordonnance numérique",
        description="Ordonnance numérique — la base des e-prescriptions (FHIR R4)",
        base=here,
        resources=[group, *lines],
        date="2026-12-07",
        operations=[Operation("compteurs")],
        ns=ns,
    )


def router(base: Base, authorizer: Authorizer, max_body_bytes: int, units, *, ns: Namespace) -> APIRouter:
    """`units()` gives the UCUM units the CI-SIS accepts (read once from the reference pack)."""
    r = APIRouter()

    def who(request: Request):
        return authorizer.caller(request)

    def here(request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/ordonnance"

    @r.get("/metadata", openapi_extra=doc.fhir_answer(doc.resource("CapabilityStatement")))
    @public("la déclaration de capacités FHIR est publique")
    async def metadata(request: Request) -> Response:
        return fhir_response(capability_statement(here(request), ns))

    @r.post("/RequestGroup", openapi_extra=CREATE)
    @accepts(PRESCRIBER)
    async def create(request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        caller = await run_in_threadpool(who, request)
        draft = fhir.draft_from_fhir(body, units=units(), ns=ns)
        key = request.headers.get("idempotency-key")
        prescription = await run_in_threadpool(base.create, caller, draft, idempotency_key=key)
        if body.get("resourceType") == "RequestGroup":  # a plain create answers the resource created
            response = fhir_response(fhir.request_group(prescription, here(request), ns), 201)
        else:  # the envelope answers the envelope, each line with its id and URL
            response = fhir_response(fhir.prescription_bundle(prescription, None, base_url=here(request), ns=ns), 201)
        response.headers["Location"] = f"{here(request)}/RequestGroup/{prescription.number}"
        return response

    @r.get("/RequestGroup", openapi_extra=doc.fhir_search(SEARCH, ("_count", "_summary")))
    @accepts(PRESCRIBER)
    async def search(request: Request) -> Response:
        params = request.query_params
        unknown = set(params) - set(SEARCH) - RESULT_PARAMETERS
        if unknown:
            raise InvalidInput(
                f"paramètres non pris en charge : {', '.join(sorted(unknown))}", code="recherche-parametre"
            )
        # _count (0: the total alone), _summary=count; no _elements nor _sort here (issue 20 §4.3)
        controls = result_controls(params.multi_items(), max_count=500)
        since, until = _date_bounds(params.getlist("date"))
        status = {"active": "active", "revoked": "annulee", None: None}.get(params.get("status"), "?")
        if status == "?":
            raise InvalidInput("status : active ou revoked", code="recherche-statut", expression="status")
        caller = await run_in_threadpool(who, request)
        count = 0 if controls.count_only else 50 if controls.count is None else controls.count
        found, total = await run_in_threadpool(
            base.search, caller, since=since, until=until, status=status, count=count
        )
        if controls.count_only:
            return fhir_response(count_bundle(total))
        return fhir_response(fhir.search_bundle(found, base_url=here(request), total=total, ns=ns))

    @r.get("/RequestGroup/{numero}", openapi_extra=doc.fhir_answer(REQUEST_GROUP))
    @accepts(PRESCRIBER)
    async def consult(numero: Identifier, request: Request) -> Response:
        """A read answers the resource it names (R4 http.html §3.1.0.3): the RequestGroup; its lines
        are read at their own URLs (`action.resource`), the whole envelope by `$enveloppe`."""
        caller = await run_in_threadpool(who, request)
        prescription, _executions = await run_in_threadpool(base.read_as_prescriber, caller, numero)
        return fhir_response(fhir.request_group(prescription, here(request), ns))

    @r.get("/RequestGroup/{numero}/$enveloppe", openapi_extra=ENVELOPE)
    @accepts(PRESCRIBER)
    async def envelope(numero: Identifier, request: Request) -> Response:
        """The envelope: the RequestGroup, its requests and, with the patient's OUI, what was executed."""
        caller = await run_in_threadpool(who, request)
        prescription, executions = await run_in_threadpool(base.read_as_prescriber, caller, numero)
        return fhir_response(fhir.prescription_bundle(prescription, executions, base_url=here(request), ns=ns))

    async def read_line(kind: str, line_id: str, request: Request) -> Response:
        """A prescribed line, read by its prescriber at the URL the RequestGroup's action names."""
        numero, _, line = line_id.rpartition("-")
        if not numero or not ascii_digits(line, 2):
            raise NotFound(f"{kind}/{line_id} inconnu", code="ligne-inconnue")
        caller = await run_in_threadpool(who, request)
        prescription, _executions = await run_in_threadpool(base.read_as_prescriber, caller, numero)
        found = fhir.line_request(prescription, int(line), here(request), ns)
        if found is None or found["resourceType"] != kind:
            raise NotFound(f"{kind}/{line_id} inconnu", code="ligne-inconnue")
        return fhir_response(found)

    def line_reader(kind: str):
        async def read_request(line_id: FhirId, request: Request) -> Response:
            return await read_line(kind, line_id, request)

        return accepts(PRESCRIBER)(read_request)

    for kind in REQUESTS:
        r.add_api_route(
            f"/{kind}/{{line_id}}",
            line_reader(kind),
            methods=["GET"],
            openapi_extra=doc.fhir_answer(doc.resource(kind)),
        )

    @r.get("/RequestGroup/{numero}/$executions", openapi_extra=ENVELOPE)
    @accepts(PRESCRIBER)
    async def executions(numero: Identifier, request: Request) -> Response:
        caller = await run_in_threadpool(who, request)
        prescription, done = await run_in_threadpool(base.executions_for_prescriber, caller, numero)
        return fhir_response(fhir.prescription_bundle(prescription, done, base_url=here(request), ns=ns))

    @r.delete("/RequestGroup/{numero}", openapi_extra=doc.extra(ENVELOPE, doc.errors(409, 422)))
    @accepts(PRESCRIBER)
    async def cancel(numero: Identifier, request: Request) -> Response:
        caller = await run_in_threadpool(who, request)
        prescription = await run_in_threadpool(base.cancel, caller, numero)
        return fhir_response(fhir.prescription_bundle(prescription, None, base_url=here(request), ns=ns))

    @r.get("/RequestGroup/{numero}/$dispensation", openapi_extra=ENVELOPE)
    @accepts(DISPENSER)
    async def dispensation(numero: Identifier, request: Request) -> Response:
        caller = await run_in_threadpool(who, request)
        prescription, done = await run_in_threadpool(base.read_as_dispenser, caller, numero)
        return fhir_response(fhir.prescription_bundle(prescription, done, base_url=here(request), ns=ns))

    @r.post("/RequestGroup/{numero}/$executer", openapi_extra=EXECUTE)
    @accepts(DISPENSER)
    async def execute(numero: Identifier, request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        caller = await run_in_threadpool(who, request)
        prescription, execution = await run_in_threadpool(
            base.execute_request, caller, numero, lambda p: fhir.execution_from_fhir(body, p)
        )
        return fhir_response(fhir.prescription_bundle(prescription, [execution], base_url=here(request), ns=ns), 201)

    @r.get("/$compteurs", openapi_extra=doc.json_answer({"type": "object"}))
    @public("les compteurs nationaux sont publics : des agrégats, aucune donnée de santé (001 L424-462)")
    async def counters() -> Response:
        return json_response(await run_in_threadpool(base.counters))

    return r
