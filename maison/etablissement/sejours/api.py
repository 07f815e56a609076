"""FHIR R4 adapter of the stays: `Encounter` read and search at the hospital wing's FHIR base
(`/fhir`, beside the patient index's Patient; issue 22 §1.3).

`GET /fhir/Encounter?patient=&date=&status=&class=&service=`: `patient` a Patient id (or
`Patient/<id>`), `date` a day or bounds with R4's prefixes (ge, gt, le, lt, eq) that the stay's
period (admission to discharge, open while in progress) meets, `status`
an Encounter status, `class` a v3 ActCode (IMP, AMB, EMER), `service` a unit (UF code, ZBE-7) the
patient is in or passed through during the stay (a movement not cancelled). The caller's structure's
stays only; every read is audited.
"""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maison.core.authz import HOSPITAL_STAFF, Authorizer, accepts
from maison.core.errors import InvalidInput
from maison.etablissement.sejours.fhir import FR_CORE_ENCOUNTER, encounter_resource
from maison.etablissement.sejours.model import CLASSES, StayStatus
from maison.etablissement.sejours.service import Sejours
from maison.formats import openapi as doc
from maison.formats.fhir import RESULT_PARAMETERS, bundle, count_bundle, fhir_response, result_controls
from maison.formats.fhir_capability import ResourceCapability
from maison.formats.namespace import Namespace
from maison.formats.path_ids import RowId

SEARCH = {"patient": "reference", "date": "date", "status": "token", "class": "token", "service": "token"}
CAPABILITY = ResourceCapability(
    "Encounter",
    ("read", "search-type"),
    SEARCH,
    profile=FR_CORE_ENCOUNTER,
    documentation="Séjours annoncés par la GAM (IHE PAM France 2.11) ; service = code de l'UF (ZBE-7)",
)


def _day_after(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def date_bounds(values: list[str]) -> tuple[str | None, str | None]:
    """`date` parameters as the interval [since, until) the stay's period must meet (R4 search.html
    §3.1.1.4.2 prefixes, read on a Period as its overlap)."""
    since = until = None
    for value in values:
        prefix, day = (value[:2], value[2:]) if value[:2] in ("ge", "gt", "le", "lt", "eq") else ("eq", value)
        try:
            date.fromisoformat(day[:10])
        except ValueError:
            raise InvalidInput(f"date {value!r} : AAAA-MM-JJ attendu", code="date", expression="date") from None
        day = day[:10]
        if prefix in ("ge", "eq"):
            since = max(since or day, day)
        if prefix == "gt":
            since = max(since or "", _day_after(day))
        if prefix in ("le", "eq"):
            until = min(until or _day_after(day), _day_after(day))
        if prefix == "lt":
            until = min(until or day, day)
    return since, until


def criteria(params: Request) -> dict[str, object]:
    p = params.query_params
    unknown = set(p) - set(SEARCH) - RESULT_PARAMETERS
    if unknown:
        raise InvalidInput(f"paramètres inconnus : {', '.join(sorted(unknown))}", code="parametre")
    wanted: dict[str, object] = {}
    if "patient" in p:
        ref = p["patient"].removeprefix("Patient/")
        if not (ref.isascii() and ref.isdigit() and len(ref) <= 18):  # Unicode digits and BIGINT overflow
            raise InvalidInput(f"patient {p['patient']!r} : Patient/<id> attendu", code="patient", expression="patient")
        wanted["patient_id"] = int(ref)
    if "status" in p:
        if p["status"] not in {s.value for s in StayStatus}:
            raise InvalidInput(f"status {p['status']!r} inconnu", code="status", expression="status")
        wanted["status"] = p["status"]
    if "class" in p:
        code = p["class"].rpartition("|")[2]
        classes = [k for k, (c, _) in CLASSES.items() if c == code]
        if not classes:
            raise InvalidInput(f"class {p['class']!r} : IMP, AMB ou EMER attendu", code="class", expression="class")
        wanted["patient_classes"] = classes
    if "service" in p:
        wanted["unit"] = p["service"].rpartition("|")[2]
    since, until = date_bounds(p.getlist("date"))
    wanted |= {"since": since, "until": until}
    return wanted


def router(sejours: Sejours, authorizer: Authorizer, *, ns: Namespace) -> APIRouter:
    r = APIRouter()

    def _base(request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/fhir"

    @r.get("/Encounter/{stay_id}", openapi_extra=doc.fhir_answer(doc.resource("Encounter")))
    @accepts(HOSPITAL_STAFF)
    async def read(stay_id: RowId, request: Request) -> Response:
        stay = await run_in_threadpool(sejours.get, authorizer.caller(request), stay_id)
        return fhir_response(encounter_resource(stay, ns))

    @r.get("/Encounter", openapi_extra=doc.fhir_search(SEARCH, ("_count", "_summary"), doc.resource("Encounter")))
    @accepts(HOSPITAL_STAFF)
    async def search(request: Request) -> Response:
        actor = authorizer.caller(request)
        wanted = criteria(request)
        controls = result_controls(request.query_params.multi_items(), max_count=200)
        limit = 200 if controls.count_only else 50 if controls.count is None else controls.count
        stays = await run_in_threadpool(sejours.search, actor, limit=limit, **wanted)
        if controls.count_only:
            return fhir_response(count_bundle(len(stays)))
        base = _base(request)
        entries = [
            {"fullUrl": f"{base}/Encounter/{s.id}", "resource": encounter_resource(s, ns), "search": {"mode": "match"}}
            for s in stays
        ]
        return fhir_response(bundle("searchset", entries, total=len(stays)))

    return r
