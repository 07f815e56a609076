"""HTTP adapter of the patient's messagerie in Mon espace santé (a Mon espace santé token):

- `GET /espace/messagerie` — the messages professionals sent to the patient;
- `GET /espace/messagerie/{uid}` — one message (text, attachments), marked read;
- `GET /espace/messagerie/{uid}/pieces/{n}` — its n-th attachment (e.g. the ordonnance PDF);
- `POST /espace/messagerie/{uid}/reponse` `{"texte": …}` — answer the professional who wrote;
- `POST /espace/messagerie/{uid}/transfert` `{"destinataire": …, "texte": …}` — forward to a pharmacy.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maison.core.authz import PATIENT, Authorizer, accepts
from maison.core.errors import InvalidInput, NotFound
from maison.formats import openapi as doc
from maison.formats.body import json_response, read_json_object, required_text
from maison.formats.download import attachment_response
from maison.formats.path_ids import Index, RowId
from maison.partage.dmp.api import who_of
from maison.partage.espace.service import Espace
from maison.partage.mss.messagerie import Messagerie

# the OpenAPI of the routes below (issue 21 §3.1)
SENT = doc.extra(
    doc.json_answer(doc.json_object(["message_id"], {"message_id": doc.text()}), 201, "Envoyé"), doc.errors(409, 422)
)
INBOX = doc.json_answer(doc.json_object(["messages"], {"messages": {"type": "array", "items": {"type": "object"}}}))
MESSAGE = doc.json_answer(doc.json_object(["uid"], {"uid": {"type": "integer"}, "pieces": {"type": "array"}}))


def router(messagerie: Messagerie, authorizer: Authorizer, max_body_bytes: int) -> APIRouter:
    r = APIRouter()

    def ins(request: Request) -> str:
        return Espace.owner(who_of(authorizer, request))

    @r.get("", openapi_extra=INBOX)
    @r.get("/", openapi_extra=INBOX)
    @accepts(PATIENT)
    async def inbox(request: Request) -> Response:
        summaries = await run_in_threadpool(messagerie.inbox, ins(request))
        return json_response(
            {
                "messages": [
                    {
                        "uid": m.uid,
                        "expediteur": m.sender,
                        "objet": m.subject,
                        "recu": m.received_at,
                        "lu": m.seen,
                        "echange_clos": m.closed,
                        "pieces": list(m.attachments),
                    }
                    for m in summaries
                ]
            }
        )

    @r.get("/{uid}", openapi_extra=MESSAGE)
    @accepts(PATIENT)
    async def read(uid: RowId, request: Request) -> Response:
        parsed, row = await run_in_threadpool(messagerie.read, ins(request), uid)
        return json_response(
            {
                "uid": uid,
                "message_id": parsed.message_id,
                "expediteur": parsed.sender,
                "objet": parsed.subject,
                "recu": row.received_at,
                "texte": parsed.body,
                "echange_clos": parsed.end_of_exchange,
                "pieces": [
                    {"n": i, "nom": a.filename, "type": a.content_type, "taille": len(a.data)}
                    for i, a in enumerate(parsed.attachments)
                ],
            }
        )

    @r.get(
        "/{uid}/pieces/{n}",
        openapi_extra=doc.answers(200, {"*/*": {"type": "string", "format": "binary"}}, "La pièce jointe"),
    )
    @accepts(PATIENT)
    async def attachment(uid: RowId, n: Index, request: Request) -> Response:
        parsed, _row = await run_in_threadpool(messagerie.read, ins(request), uid)
        if not 0 <= n < len(parsed.attachments):
            raise NotFound(f"pièce {n} absente du message {uid}", code="piece-inconnue")
        a = parsed.attachments[n]
        return attachment_response(a.data, a.filename, a.content_type)  # the sender's name and type, made safe

    @r.post("/{uid}/reponse", openapi_extra=doc.extra(doc.json_body(doc.required_texts("texte")), SENT))
    @accepts(PATIENT)
    async def answer(uid: RowId, request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        message_id = await run_in_threadpool(messagerie.answer, ins(request), uid, required_text(body, "texte"))
        return json_response({"message_id": message_id}, 201)

    @r.post(
        "/{uid}/transfert",
        openapi_extra=doc.extra(
            doc.json_body(doc.required_texts("destinataire", optional={"texte": doc.text()})), SENT
        ),
    )
    @accepts(PATIENT)
    async def forward(uid: RowId, request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        text = body.get("texte", "")
        if not isinstance(text, str):
            raise InvalidInput("texte : chaîne attendue", code="texte")
        message_id = await run_in_threadpool(
            messagerie.forward, ins(request), uid, required_text(body, "destinataire"), text
        )
        return json_response({"message_id": message_id}, 201)

    return r
