"""HTTP adapter of the PFI's worklist, for the structure's identitovigilance desk (its API key or a
professional's Pro Santé Connect token; the structure is the caller's own):

- `GET /pfi/liste-travail?etat=a-traiter` — the documents waiting, with the guide's code (902-906),
  the reason and the candidate patients of the local index (each entry's reading audited: it
  names a patient by INS);
- `GET /pfi/liste-travail/{id}/document` — the waiting CDA, to check the identity (audited);
- `POST /pfi/liste-travail/{id}/rattacher` `{"patient": <local id>}` — integrate it (as `manuel`);
- `POST /pfi/liste-travail/{id}/rejeter` `{"motif": …}` — reject it.
Refusals are OperationOutcome-shaped errors like the rest of the house (404 for an unknown entry
or patient, 400 for a malformed body).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maison.core.authz import HOSPITAL_STAFF, Authorizer, accepts
from maison.core.blobs import Blobs
from maison.core.errors import InvalidInput
from maison.core.storage import Database
from maison.etablissement.pfi.service import Worklist
from maison.etablissement.vigilance.service import PatientIndex
from maison.formats import openapi as doc
from maison.formats.body import json_response, read_json_object, required_text
from maison.formats.download import received_document_response
from maison.formats.path_ids import FhirId

STATES = ("a-traiter", "rattache", "rejete")
# the OpenAPI of the routes below (issue 21 §3.1)
WORKLIST = doc.json_answer(doc.json_object(["entrees"], {"entrees": {"type": "array", "items": {"type": "object"}}}))
ATTACH = doc.extra(
    doc.json_body(doc.json_object(["patient"], {"patient": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}})),
    doc.json_answer(doc.json_object(["document", "patient"], {"patient": {"type": "integer"}}), 201, "Rattaché"),
    doc.errors(409, 422),
)
REJECT = doc.extra(
    doc.json_body(doc.required_texts("motif")),
    doc.json_answer(doc.json_object(["id", "etat"], {"id": doc.text(), "etat": doc.text()})),
    doc.errors(409, 422),
)


def router(
    db: Database, blobs: Blobs, authorizer: Authorizer, max_body_bytes: int, patients: PatientIndex | None = None
) -> APIRouter:
    patients = patients or PatientIndex(db)
    r = APIRouter()

    def caller(request: Request):
        actor = authorizer.caller(request)
        if not actor.structure:
            raise InvalidInput("l'appelant n'est rattaché à aucune structure", code="structure-absente")
        return actor, Worklist(db, blobs, actor.structure, patients=patients)

    @r.get("/liste-travail", openapi_extra=WORKLIST)
    @accepts(HOSPITAL_STAFF)
    async def waiting(request: Request, etat: str = "a-traiter") -> Response:
        if etat not in STATES:
            raise InvalidInput(f"etat : {', '.join(STATES)}", code="etat")
        actor, worklist = caller(request)
        rows = await run_in_threadpool(worklist.worklist, actor, etat)
        return json_response(
            {
                "structure": actor.structure,
                "etat": etat,
                "entrees": [
                    {
                        "id": w.id,
                        "code": w.code,
                        "motif": w.reason,
                        "ins": w.ins,
                        "document": w.unique_id,
                        "message_id": w.message_id,
                        "boite": w.mailbox,
                        "recu": w.created_at,
                        "candidats": json.loads(w.candidates),
                    }
                    for w in rows
                ],
            }
        )

    @r.get(
        "/liste-travail/{entry_id}/document",
        openapi_extra=doc.answers(200, {"text/xml": {"type": "string"}}, "Le CDA reçu"),
    )
    @accepts(HOSPITAL_STAFF)
    async def document(entry_id: FhirId, request: Request) -> Response:
        actor, worklist = caller(request)
        _row, cda = await run_in_threadpool(worklist.document, actor, entry_id)
        return received_document_response(cda, "text/xml", f"{entry_id}.xml")  # the sender's XML, not run

    @r.post("/liste-travail/{entry_id}/rattacher", openapi_extra=ATTACH)
    @accepts(HOSPITAL_STAFF)
    async def attach(entry_id: FhirId, request: Request) -> Response:
        actor, worklist = caller(request)
        body = await read_json_object(request, max_body_bytes)
        patient = body.get("patient")
        if not isinstance(patient, int) or isinstance(patient, bool) or not 0 < patient < 2**31:
            raise InvalidInput("patient : identifiant local (entier) attendu", code="patient")
        document_id = await run_in_threadpool(worklist.attach, actor, entry_id, patient)
        return json_response({"document": document_id, "patient": patient}, 201)

    @r.post("/liste-travail/{entry_id}/rejeter", openapi_extra=REJECT)
    @accepts(HOSPITAL_STAFF)
    async def reject(entry_id: FhirId, request: Request) -> Response:
        actor, worklist = caller(request)
        body = await read_json_object(request, max_body_bytes)
        await run_in_threadpool(worklist.reject, actor, entry_id, required_text(body, "motif"))
        return json_response({"id": entry_id, "etat": "rejete"})

    return r
