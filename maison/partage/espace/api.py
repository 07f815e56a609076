"""HTTP adapter of Mon espace santé for the patient (a Mon espace santé token), in FHIR R4 JSON.

- `GET /espace/profil` — the whole profil médical (Bundle collection), the download of 000 L3298;
- `GET|PUT /espace/profil/coordonnees|volontes` — contact details, wishes;
- `GET|POST /espace/profil/{rubrique}`, `PUT|DELETE /espace/profil/{rubrique}/{id}` — contacts-urgence,
  maladies, traitements, allergies, vaccinations;
- `POST /espace/profil/$partager` — the profil médical synthesis saved in the DMP (000 L3300);
- `GET|POST /espace/mesures`, `DELETE /espace/mesures/{id}` — Observations (the BMI is computed);
- `GET|POST /espace/agenda`, `PUT|DELETE /espace/agenda/{id}` — Appointments;
- `GET /espace/documents/categories`, `POST /espace/documents`, `DELETE /espace/documents/{id}` — the
  patient's own documents in his DMP categories (reading them is ITI-67/68 on /dmp with the same token);
- `GET /espace/export` — the full export archive (ZIP: FHIR Bundle + original documents).
"""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maison.core.authz import PATIENT, Authorizer, accepts
from maison.core.errors import InvalidInput
from maison.formats import openapi as doc
from maison.formats.body import json_response, read_json_object
from maison.formats.fhir import (
    RESULT_PARAMETERS,
    ResultControls,
    bundle,
    count_bundle,
    fhir_response,
    local_url,
    result_controls,
)
from maison.formats.path_ids import Code, FhirId
from maison.partage.dmp.api import who_of
from maison.partage.espace.export import export_archive
from maison.partage.espace.profil import RUBRIQUES, shaped
from maison.partage.espace.service import Espace

# the OpenAPI of the routes below (issue 21 §3.1)
LIST = doc.fhir_search({}, ("_count", "_summary"))
NO_CONTENT = doc.extra(doc.no_content(), doc.errors(409))  # 409: read-only while the DMP dossier is opposed or closed
CREATED = doc.no_content(201, "Créé (Location : la fiche DMP)")
PART = doc.extra(
    doc.json_body({"type": "object"}, description="La partie du profil, entière"), doc.json_answer({"type": "object"})
)
RUBRIQUE = {"parameters": [{"name": "rubrique", "in": "path", "required": True, "schema": {"enum": list(RUBRIQUES)}}]}
ITEM = doc.any_resource(f"Selon la rubrique : {', '.join(f'{k} → {v}' for k, v in RUBRIQUES.items())}")
OBSERVATION_IN = doc.resource(
    "Observation",
    ["code", "valueQuantity", "effectiveDateTime"],
    {
        "code": doc.json_object(
            ["coding"],
            {"coding": {"type": "array", "items": doc.json_object((), {"system": doc.text(), "code": doc.text()})}},
        ),
        "valueQuantity": doc.json_object(["value"], {"value": {"type": "number"}, "code": doc.text("unité UCUM")}),
        "effectiveDateTime": {"type": "string", "minLength": 10, "description": "dateTime FHIR, pas dans le futur"},
    },
)
OBSERVATION = doc.resource("Observation")
OBSERVATION_IN["examples"] = [
    {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "valueQuantity": {"value": 72.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
        "effectiveDateTime": "2026-01-15T08:00:00+01:00",
    }
]
APPOINTMENT = doc.resource(
    "Appointment",
    ["start"],
    {"start": {"type": "string", "minLength": 10, "description": "dateTime FHIR"}, "end": {"type": ["string", "null"]}},
)
APPOINTMENT["examples"] = [
    {
        "resourceType": "Appointment",
        "status": "booked",
        "start": "2027-03-01T09:00:00+01:00",
        "end": "2027-03-01T09:30:00+01:00",
        "description": "Consultation de suivi",
    }
]
DEPOSIT = doc.resource(
    "DocumentReference",
    ["content"],
    {
        "type": doc.json_object((), {"coding": {"type": "array", "items": doc.json_object((), {"code": doc.text()})}}),
        "description": doc.text(),
        "content": {
            "type": "array",
            "minItems": 1,
            "items": doc.json_object(
                ["attachment"],
                {
                    "attachment": doc.json_object(
                        ["data"],
                        {
                            "data": {"type": "string", "contentEncoding": "base64"},
                            "contentType": doc.text(),
                            "title": doc.text(),
                        },
                    )
                },
            ),
        },
    },
)


def _controls(request: Request) -> ResultControls:
    """The FHIR result parameters of a list (issue 20 §4.3): `_count` and `_summary=count`; `_sort`,
    `_elements` and another `_summary` refused before anything is read."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k in RESULT_PARAMETERS]
    return result_controls(params, max_count=10_000)


def _bundle(resources: list[dict], controls: ResultControls) -> dict:
    """A searchset of the patient's own entries (urn:uuid fullUrls: they have no RESTful URL of their
    own), without `entry` when there is none (R4 json.html); the total alone for `_summary=count`."""
    if controls.count_only:
        return count_bundle(len(resources))
    shown = resources if controls.count is None else resources[: controls.count]
    entries = [{"fullUrl": local_url(r), "resource": r, "search": {"mode": "match"}} for r in shown]
    return bundle("searchset", entries, total=len(resources))


def router(espace: Espace, authorizer: Authorizer, max_body_bytes: int) -> APIRouter:
    r = APIRouter()
    max_upload = espace.max_document_bytes * 4 // 3 + 65_536  # base64 in a JSON DocumentReference

    def who(request: Request):
        return who_of(authorizer, request)

    @r.get("/profil", openapi_extra=doc.fhir_answer(doc.bundle_schema()))
    @accepts(PATIENT)
    async def profile(request: Request) -> Response:
        return fhir_response(await run_in_threadpool(espace.profile, who(request)))

    @r.get("/profil/volontes", openapi_extra=doc.json_answer({"type": "object"}))
    @accepts(PATIENT)
    async def wishes(request: Request) -> Response:
        return json_response(await run_in_threadpool(espace.volontes, who(request)))

    @r.put("/profil/coordonnees", openapi_extra=doc.extra(PART, doc.errors(409, 422)))
    @accepts(PATIENT)
    async def contact_details(request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        return json_response(await run_in_threadpool(espace.set_profile_part, who(request), "coordonnees", body))

    @r.put("/profil/volontes", openapi_extra=doc.extra(PART, doc.errors(409, 422)))
    @accepts(PATIENT)
    async def set_wishes(request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        return json_response(await run_in_threadpool(espace.set_profile_part, who(request), "volontes", body))

    @r.post("/profil/$partager", openapi_extra=doc.extra(doc.ignored_body(), CREATED, doc.errors(409, 422)))
    @accepts(PATIENT)
    async def share(request: Request) -> Response:
        id_ = await run_in_threadpool(espace.share_profile, who(request))
        return Response(status_code=201, headers={"Location": f"/dmp/DocumentReference/{id_}"})

    @r.get("/profil/{rubrique}", openapi_extra=doc.extra(RUBRIQUE, LIST))
    @accepts(PATIENT)
    async def items(rubrique: Code, request: Request) -> Response:
        controls = _controls(request)
        return fhir_response(_bundle(await run_in_threadpool(espace.items, who(request), rubrique), controls))

    @r.post(
        "/profil/{rubrique}",
        openapi_extra=doc.extra(
            RUBRIQUE, doc.fhir_body(ITEM), doc.fhir_answer(ITEM, 201, "Ajouté"), doc.errors(409, 422)
        ),
    )
    @accepts(PATIENT)
    async def add_item(rubrique: Code, request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        return fhir_response(await run_in_threadpool(espace.put_item, who(request), rubrique, body), 201)

    @r.put(
        "/profil/{rubrique}/{id_}",
        openapi_extra=doc.extra(RUBRIQUE, doc.fhir_body(ITEM), doc.fhir_answer(ITEM), doc.errors(409, 422)),
    )
    @accepts(PATIENT)
    async def replace_item(rubrique: Code, id_: FhirId, request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        return fhir_response(await run_in_threadpool(espace.put_item, who(request), rubrique, body, id_))

    @r.delete("/profil/{rubrique}/{id_}", openapi_extra=doc.extra(RUBRIQUE, NO_CONTENT))
    @accepts(PATIENT)
    async def delete_item(rubrique: Code, id_: FhirId, request: Request) -> Response:
        await run_in_threadpool(espace.delete_item, who(request), rubrique, id_)
        return Response(status_code=204)

    @r.get("/mesures", openapi_extra=doc.extra(doc.query_parameters({"code": "token"}), LIST))
    @accepts(PATIENT)
    async def measures(request: Request) -> Response:
        kind, controls = request.query_params.get("code"), _controls(request)
        return fhir_response(_bundle(await run_in_threadpool(espace.measures, who(request), kind), controls))

    @r.post(
        "/mesures",
        openapi_extra=doc.extra(
            doc.fhir_body(OBSERVATION_IN), doc.fhir_answer(OBSERVATION, 201, "Ajoutée"), doc.errors(409, 422)
        ),
    )
    @accepts(PATIENT)
    async def add_measure(request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        return fhir_response(await run_in_threadpool(espace.add_measure, who(request), body), 201)

    @r.delete("/mesures/{id_}", openapi_extra=NO_CONTENT)
    @accepts(PATIENT)
    async def delete_measure(id_: FhirId, request: Request) -> Response:
        await run_in_threadpool(espace.delete_measure, who(request), id_)
        return Response(status_code=204)

    @r.get("/agenda", openapi_extra=doc.extra(doc.query_parameters({"debut": "date", "fin": "date"}), LIST))
    @accepts(PATIENT)
    async def events(request: Request) -> Response:
        q, controls = request.query_params, _controls(request)
        found = await run_in_threadpool(espace.events, who(request), q.get("debut"), q.get("fin"))
        return fhir_response(_bundle(found, controls))

    @r.post(
        "/agenda",
        openapi_extra=doc.extra(
            doc.fhir_body(APPOINTMENT), doc.fhir_answer(APPOINTMENT, 201, "Ajouté"), doc.errors(409, 422)
        ),
    )
    @accepts(PATIENT)
    async def add_event(request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        return fhir_response(await run_in_threadpool(espace.put_event, who(request), body), 201)

    @r.put(
        "/agenda/{id_}",
        openapi_extra=doc.extra(doc.fhir_body(APPOINTMENT), doc.fhir_answer(APPOINTMENT), doc.errors(409, 422)),
    )
    @accepts(PATIENT)
    async def replace_event(id_: FhirId, request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        return fhir_response(await run_in_threadpool(espace.put_event, who(request), body, id_))

    @r.delete("/agenda/{id_}", openapi_extra=NO_CONTENT)
    @accepts(PATIENT)
    async def delete_event(id_: FhirId, request: Request) -> Response:
        await run_in_threadpool(espace.delete_event, who(request), id_)
        return Response(status_code=204)

    @r.get(
        "/documents/categories",
        openapi_extra=doc.json_answer(
            {"type": "array", "items": doc.json_object(["code"], {"code": doc.text(), "display": doc.text()})}
        ),
    )
    @accepts(PATIENT)
    async def categories() -> Response:
        return json_response([{"code": c, "display": d} for c, d in sorted(espace.categories().items())])

    @r.post("/documents", openapi_extra=doc.extra(doc.fhir_body(DEPOSIT), CREATED, doc.errors(409, 422)))
    @accepts(PATIENT)
    async def deposit(request: Request) -> Response:
        body = await read_json_object(request, max_upload)
        if body.get("resourceType") != "DocumentReference":
            raise InvalidInput(
                "une ressource DocumentReference est attendue", code="type-ressource", expression="resourceType"
            )
        kind = shaped(body.get("type"), dict, "type", {})
        codings = shaped(kind.get("coding"), list, "type.coding", []) or [{}]
        contents = shaped(body.get("content"), list, "content", []) or [{}]
        attachment = contents[0].get("attachment") if isinstance(contents[0], dict) else None
        category = codings[0].get("code", "") if isinstance(codings[0], dict) else ""
        if not isinstance(attachment, dict) or not isinstance(attachment.get("data"), str):
            raise InvalidInput(
                "content[0].attachment.data (base64) est obligatoire",
                code="contenu-absent",
                expression="content[0].attachment.data",
            )
        try:
            data = base64.b64decode(attachment["data"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                "content[0].attachment.data : base64 invalide", code="base64", expression="content[0].attachment.data"
            ) from None
        id_ = await run_in_threadpool(
            espace.deposit,
            who(request),
            str(category),
            body.get("description") or attachment.get("title") or "",
            str(attachment.get("contentType", "")),
            data,
        )
        return Response(status_code=201, headers={"Location": f"/dmp/DocumentReference/{id_}"})

    @r.delete("/documents/{id_}", openapi_extra=doc.extra(NO_CONTENT, doc.errors(409)))
    @accepts(PATIENT)
    async def remove_document(id_: FhirId, request: Request) -> Response:
        await run_in_threadpool(espace.remove_document, who(request), id_)
        return Response(status_code=204)

    @r.get(
        "/export",
        openapi_extra=doc.answers(200, {"application/zip": {"type": "string", "format": "binary"}}, "Archive ZIP"),
    )
    @accepts(PATIENT)
    async def export(request: Request) -> Response:
        data = await run_in_threadpool(export_archive, espace, who(request))
        return Response(
            data,
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="mon-espace-sante.zip"', "Cache-Control": "no-store"},
        )

    return r
