"""HTTP adapter of the patient's login to Mon espace santé (JSON; errors as OperationOutcome).

- `POST /mes/connexion` `{"identifiant", "motDePasse"}` → 202 `{"transaction", "canal", "destinataire"}`
  and the code goes to the patient's e-mail or phone (the outbox);
- `POST /mes/connexion/code` `{"transaction", "code"}` → the access token, the patient's INS and the
  minors he or she represents;
- too many failures for the identifier or from the address: 429 with `Retry-After` (RFC 6585 §4);
- `POST /mes/representation` `{"ins"}` with the token → a token acting for that minor;
- `GET /mes/moi` with the token → whose espace, and who acts.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maison.core.authz import PATIENT, accepts, public
from maison.core.errors import Unauthenticated
from maison.formats import openapi as doc
from maison.formats.body import json_response, read_json_object, required_text
from maison.identite.mes.login import PatientLogin

# the OpenAPI of the routes below (issue 21 §3.1)
STARTED = doc.json_answer(
    doc.json_object(["transaction"], {"transaction": doc.text(), "canal": doc.text(), "destinataire": doc.text()}),
    202,
    "Code envoyé",
)
TOKEN = doc.json_answer(doc.json_object(["access_token"], {"access_token": doc.text()}), 200, "Jeton d'accès")
LOGIN = "la connexion du patient : identifiant, mot de passe puis code à usage unique"


def issuer_for(base_url: str) -> str:
    """The issuer of the patient tokens of the house at `base_url` (its configured public URL: never a
    request's Host or X-Forwarded headers, so that a token is valid whichever name reached the house)."""
    return base_url.rstrip("/") + "/mes"


def _json(data: dict, status: int = 200) -> Response:
    return json_response(data, status, no_store=True)


def _source(request: Request) -> str:
    """The caller's address, which the login throttle counts failures by (maison.core.lockout)."""
    return request.client.host if request.client else ""


def router(login: PatientLogin, max_body_bytes: int, issuer: str) -> APIRouter:
    r = APIRouter()

    def _patient(request: Request):
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise Unauthenticated("jeton patient requis (Authorization: Bearer)", code="auth-absente")
        return login.verify(header[7:].strip(), issuer)

    @r.post(
        "/connexion",
        openapi_extra=doc.extra(
            doc.json_body(doc.required_texts("identifiant", "motDePasse")), STARTED, doc.errors(401, 429)
        ),
    )
    @public(LOGIN)
    async def start(request: Request) -> Response:
        data = await read_json_object(request, max_body_bytes)
        return _json(
            await run_in_threadpool(
                login.start,
                required_text(data, "identifiant"),
                required_text(data, "motDePasse"),
                source=_source(request),
            ),
            202,
        )

    @r.post(
        "/connexion/code",
        openapi_extra=doc.extra(doc.json_body(doc.required_texts("transaction", "code")), TOKEN, doc.errors(401, 429)),
    )
    @public(LOGIN)
    async def finish(request: Request) -> Response:
        data = await read_json_object(request, max_body_bytes)
        return _json(
            await run_in_threadpool(
                login.finish,
                required_text(data, "transaction"),
                required_text(data, "code"),
                issuer,
                source=_source(request),
            )
        )

    @r.post("/representation", openapi_extra=doc.extra(doc.json_body(doc.required_texts("ins")), TOKEN))
    @accepts(PATIENT)  # verified by the login service itself (`_patient`): it needs the token's own claims
    async def represent(request: Request) -> Response:
        patient = _patient(request)
        data = await read_json_object(request, max_body_bytes)
        return _json(login.act_for(patient, required_text(data, "ins"), issuer))

    @r.get("/moi")
    @accepts(PATIENT)
    async def me(request: Request) -> Response:
        patient = _patient(request)
        return _json({"patient": patient.ins, "agit": patient.acting, "representation": patient.acting != patient.ins})

    return r
