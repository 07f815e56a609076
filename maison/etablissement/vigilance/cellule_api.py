"""HTTP adapter of the identitovigilance cell: its declarations, its review queue, its semester report.

JSON under `/identitovigilance`; errors as FHIR OperationOutcome like every other adapter of the
house. Every call is authenticated (`Authorization: Bearer`, a key of the structure) and acts for
the key's structure only.

- `POST /reunions` `{"date", "compteRendu", "participants": []}`
- `POST /incidents` `{"type", "description", "patientId"?, "date"?}`
- `POST /procedures` `{"type", "titre", "adopteeLe", "reference"?}`
- `POST /detection` scans the index for doublons; `GET /alertes` lists open alerts;
  `POST /alertes/{id}/fusion` `{"conserver": id}`, `POST /alertes/{id}/ecarter`
- `GET /rapport?semestre=2026-S1[&structure=…&structure=…]` the activity report (several
  structures: the GHT report, for a caller of a structure of that GHT with the cell's or the
  identitovigilance referent's role; otherwise 403, recorded as a security event).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from maison.core.actor import Actor
from maison.core.authz import HOSPITAL_STAFF, Authorizer, accepts
from maison.core.errors import InvalidInput, NotFound
from maison.etablissement.vigilance.cellule import INCIDENT_KINDS, REQUIRED_PROCEDURES, Cellule
from maison.etablissement.vigilance.service import PatientIndex
from maison.formats import openapi as doc
from maison.formats.body import json_response, read_json_object, required_text
from maison.formats.path_ids import RowId

# the OpenAPI of the routes below (issue 21 §3.1): the members each route reads
CREATED = doc.json_answer(doc.json_object(["id"], {"id": {"type": "integer"}}), 201, "Enregistré")
MEETING = doc.extra(
    doc.json_body(
        doc.required_texts("date", "compteRendu", optional={"participants": {"type": "array", "items": doc.text()}})
    ),
    CREATED,
    doc.errors(422),
)
INCIDENT = doc.extra(
    doc.json_body(
        doc.required_texts(
            "type",
            "description",
            optional={
                "type": {"enum": list(INCIDENT_KINDS)},
                "patientId": {"type": "integer"},
                "date": doc.text("AAAA-MM-JJ"),
            },
        )
    ),
    CREATED,
    doc.errors(404, 422),
)
PROCEDURE = doc.extra(
    doc.json_body(
        doc.required_texts(
            "type",
            "adopteeLe",
            optional={"type": {"enum": list(REQUIRED_PROCEDURES)}, "titre": doc.text(), "reference": doc.text()},
        )
    ),
    CREATED,
    doc.errors(422),
)
ALERTS = doc.json_answer({"type": "array", "items": {"type": "object"}})
MERGE = doc.extra(
    doc.json_body(
        doc.json_object((), {"conserver": {"type": "integer", "description": "Le dossier gardé"}}), required=False
    ),
    doc.json_answer(
        doc.json_object(["conserve", "fusionne"], {"conserve": {"type": "integer"}, "fusionne": {"type": "integer"}})
    ),
    doc.errors(409, 422),
)


def router(cellule: Cellule, index: PatientIndex, max_body_bytes: int, authorizer: Authorizer) -> APIRouter:
    r = APIRouter()

    async def _body(request: Request) -> dict:
        return await read_json_object(request, max_body_bytes, empty_as={})

    def _actor(request: Request) -> Actor:
        """The caller (a structure's API key, or a professional's Pro Santé Connect token) as an audit actor."""
        return authorizer.caller(request)

    @r.post("/reunions", openapi_extra=MEETING)
    @accepts(HOSPITAL_STAFF)
    async def meeting(request: Request) -> Response:
        actor, data = _actor(request), await _body(request)
        participants = data.get("participants", [])
        if not isinstance(participants, list) or not all(isinstance(p, str) for p in participants):
            raise InvalidInput("'participants' : liste de noms attendue", code="participants")
        return json_response(
            {
                "id": cellule.record_meeting(
                    actor, required_text(data, "date"), required_text(data, "compteRendu"), participants
                )
            },
            201,
        )

    @r.post("/incidents", openapi_extra=INCIDENT)
    @accepts(HOSPITAL_STAFF)
    async def incident(request: Request) -> Response:
        actor, data = _actor(request), await _body(request)
        patient = data.get("patientId")
        if patient is not None and (not isinstance(patient, int) or isinstance(patient, bool)):
            raise InvalidInput("'patientId' : entier attendu", code="patient-id")
        if data.get("date") is not None and not isinstance(data["date"], str):
            raise InvalidInput("'date' : date AAAA-MM-JJ (texte) attendue", code="date-format")
        return json_response(
            {
                "id": cellule.report_incident(
                    actor, required_text(data, "type"), required_text(data, "description"), patient, data.get("date")
                )
            },
            201,
        )

    @r.post("/procedures", openapi_extra=PROCEDURE)
    @accepts(HOSPITAL_STAFF)
    async def procedure(request: Request) -> Response:
        actor, data = _actor(request), await _body(request)
        if any(not isinstance(data.get(k, ""), str) for k in ("titre", "reference")):
            raise InvalidInput("'titre', 'reference' : textes attendus", code="champ-invalide")
        return json_response(
            {
                "id": cellule.adopt_procedure(
                    actor,
                    required_text(data, "type"),
                    str(data.get("titre", "")),
                    required_text(data, "adopteeLe"),
                    str(data.get("reference", "")),
                )
            },
            201,
        )

    @r.post(
        "/detection",
        openapi_extra=doc.extra(
            doc.ignored_body(), doc.json_answer(doc.json_object(["alertes"], {"alertes": {"type": "integer"}}))
        ),
    )
    @accepts(HOSPITAL_STAFF)
    async def detection(request: Request) -> Response:
        actor = _actor(request)
        return json_response({"alertes": index.detect_duplicates(actor, actor.structure)})

    @r.get(
        "/alertes",
        openapi_extra=doc.extra(
            doc.query_parameters(["etat"], description="ouvert (défaut), fusionne, ecarte"), ALERTS
        ),
    )
    @accepts(HOSPITAL_STAFF)
    async def alerts(request: Request) -> Response:
        actor = _actor(request)
        return json_response(index.reviews(actor, actor.structure, request.query_params.get("etat", "ouvert")))

    def _review(actor, review_id: int) -> dict:
        review = next((x for x in index.reviews(actor, actor.structure, "ouvert") if x["id"] == review_id), None)
        if review is None:
            raise NotFound(f"alerte ouverte {review_id} inconnue", code="alerte-inconnue")
        return review

    @r.post("/alertes/{review_id}/fusion", openapi_extra=MERGE)
    @accepts(HOSPITAL_STAFF)
    async def merge(review_id: RowId, request: Request) -> Response:
        actor, data = _actor(request), await _body(request)
        review = _review(actor, review_id)
        pair = (review["patient_a"], review["patient_b"])
        keep = data.get("conserver", pair[0])
        if keep not in pair:
            raise InvalidInput("'conserver' doit désigner l'un des deux dossiers de l'alerte", code="conserver")
        drop = pair[1] if keep == pair[0] else pair[0]
        identity = index.merge(actor, keep, drop, review_id)
        return json_response({"conserve": identity.id, "fusionne": drop})

    @r.post(
        "/alertes/{review_id}/ecarter",
        openapi_extra=doc.extra(
            doc.ignored_body(), doc.json_answer(doc.json_object(["ecartee"], {"ecartee": {"type": "integer"}}))
        ),
    )
    @accepts(HOSPITAL_STAFF)
    async def dismiss(review_id: RowId, request: Request) -> Response:
        actor = _actor(request)
        _review(actor, review_id)
        index.dismiss_review(actor, review_id)
        return json_response({"ecartee": review_id})

    @r.get(
        "/rapport",
        openapi_extra=doc.extra(
            doc.query_parameters(["semestre", "structure"], description="AAAA-S1|S2 ; structures du GHT"),
            doc.json_answer({"type": "object"}),
        ),
    )
    @accepts(HOSPITAL_STAFF)
    async def report(request: Request) -> Response:
        actor = _actor(request)
        semester = request.query_params.get("semestre", "")
        structures = request.query_params.getlist("structure") or None
        return json_response(cellule.report(actor, semester, structures))

    return r
