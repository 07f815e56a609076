"""HTTP adapter of Pro Santé Connect's client registration (RFC 7591) and its management (RFC 7592),
at Keycloak's path: `<realm>/clients-registrations/openid-connect` and `…/{client_id}`.

The registration endpoint takes the initial access token, the client configuration endpoint the
registration access token, both as a Bearer token (RFC 6750 §2.1) — not the house's credentials, so
the routes are public to the house's guard and authenticate their caller themselves, before reading
the body. JSON in and out (RFC 7591 §3.1); errors are OAuth's JSON (§3.2.2), a refused token 401 with
`WWW-Authenticate: Bearer error="invalid_token"` (`api.oauth_error_response`).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maison.core.authz import public
from maison.formats.body import json_response, read_limited
from maison.formats.path_ids import FhirId
from maison.identite.psc.client_metadata import AUTH_METHODS, GRANTS, MAX_URIS
from maison.identite.psc.provider import OAuthError
from maison.identite.psc.registration import ENDPOINT, Registrar

DCR = (
    "enregistrement dynamique des clients (RFC 7591 / 7592) : l'appelant s'authentifie par le jeton "
    "d'accès initial remis par l'administrateur, puis par le jeton d'enregistrement du client (Bearer)"
)

# --- the OpenAPI description: the bodies and the answers, as a client generator needs them -----------

_URIS = {"type": "array", "maxItems": MAX_URIS, "items": {"type": "string", "format": "uri", "maxLength": 500}}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 100}
METADATA_PROPERTIES: dict[str, Any] = {
    "redirect_uris": {**_URIS, "description": "https exactes (http sur la boucle locale seulement), sans fragment"},
    "post_logout_redirect_uris": _URIS,
    "grant_types": {"type": "array", "items": {"type": "string", "enum": list(GRANTS)}, "uniqueItems": True},
    "response_types": {"type": "array", "maxItems": 1, "items": {"type": "string", "enum": ["code"]}},
    "token_endpoint_auth_method": {"type": "string", "enum": list(AUTH_METHODS), "default": AUTH_METHODS[0]},
    "backchannel_token_delivery_mode": {"type": "string", "enum": ["poll"], "description": "requis avec CIBA"},
    "client_name": _TEXT,
    "client_uri": {"type": "string", "format": "uri", "maxLength": 500},
    "logo_uri": {"type": "string", "format": "uri", "maxLength": 500},
    "tos_uri": {"type": "string", "format": "uri", "maxLength": 500},
    "policy_uri": {"type": "string", "format": "uri", "maxLength": 500},
    "contacts": {"type": "array", "maxItems": 10, "items": {"type": "string", "minLength": 1, "maxLength": 200}},
    "software_id": _TEXT,
    "software_version": _TEXT,
    "scope": {"type": "string", "maxLength": 200, "example": "openid scope_all"},
    "application_type": {"type": "string", "enum": ["web", "native"], "default": "web"},
    "id_token_signed_response_alg": {"type": "string", "enum": ["RS256"]},
}
METADATA = {"type": "object", "properties": METADATA_PROPERTIES}
INFORMATION = {
    "type": "object",
    "required": [
        "client_id",
        "client_id_issued_at",
        "client_secret_expires_at",
        "registration_access_token",
        "registration_client_uri",
    ],
    "properties": {
        "client_id": {"type": "string"},
        "client_secret": {"type": "string", "description": "à l'enregistrement seulement (empreinte gardée)"},
        "client_id_issued_at": {"type": "integer"},
        "client_secret_expires_at": {"type": "integer", "enum": [0]},
        "registration_access_token": {"type": "string", "description": "nouveau à chaque lecture ou modification"},
        "registration_client_uri": {"type": "string", "format": "uri"},
        **METADATA_PROPERTIES,
    },
}


def _error(description: str, codes: list[str]) -> dict[str, Any]:
    """OAuth's error object (RFC 7591 §3.2.2, RFC 6750 §3) with the codes this answer carries."""
    schema = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "enum": codes}, "error_description": {"type": "string"}},
    }
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_UNAUTHORIZED = {
    **_error("jeton absent, inconnu, expiré ou épuisé ; client inconnu (RFC 7592 §2.1)", ["invalid_token"]),
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": 'Bearer error="invalid_token"'}},
}
_INVALID = _error("métadonnées refusées (RFC 7591 §3.2.2)", ["invalid_redirect_uri", "invalid_client_metadata"])
_TOO_LARGE = {"description": "corps trop grand (OperationOutcome)"}
# a client_id that no client could have (maison.formats.path_ids.FhirId) is refused by the house's path
# validation before the route, as an OperationOutcome
_MALFORMED_ID = {"application/fhir+json": {"schema": {"type": "object", "required": ["resourceType", "issue"]}}}


def _with_malformed_id(answer: dict[str, Any]) -> dict[str, Any]:
    return {**answer, "content": {**answer.get("content", {}), **_MALFORMED_ID}}


_BAD_ID = _with_malformed_id({"description": "client_id mal formé (OperationOutcome)"})


def _json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"required": True, "description": description, "content": {"application/json": {"schema": schema}}}


def _answer(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": INFORMATION}}}


REGISTER_DOC = {
    "requestBody": _json_body(METADATA, "Métadonnées du client (RFC 7591 §2) ; les champs inconnus sont ignorés"),
    "responses": {
        "201": _answer("Client enregistré (RFC 7591 §3.2.1)"),
        "400": _INVALID,
        "401": _UNAUTHORIZED,
        "413": _TOO_LARGE,
    },
}
READ_DOC = {
    "responses": {"200": _answer("Le client tel qu'enregistré (RFC 7592 §3)"), "400": _BAD_ID, "401": _UNAUTHORIZED}
}
UPDATE_DOC = {
    "requestBody": _json_body(
        {
            **METADATA,
            "required": ["client_id"],
            "properties": {
                **METADATA_PROPERTIES,
                "client_id": {"type": "string"},
                "client_secret": {"type": "string", "description": "s'il est envoyé : le secret en vigueur"},
            },
        },
        "Toutes les métadonnées du client : elles remplacent les précédentes (RFC 7592 §2.2)",
    ),
    "responses": {
        "200": _answer("Le client modifié (RFC 7592 §3)"),
        "400": _with_malformed_id(_INVALID),
        "401": _UNAUTHORIZED,
        "413": _TOO_LARGE,
    },
}
DELETE_DOC = {
    "responses": {"204": {"description": "Client supprimé (RFC 7592 §2.3)"}, "400": _BAD_ID, "401": _UNAUTHORIZED}
}


def _bearer(request: Request) -> str:
    """The Bearer token of the Authorization header (RFC 6750 §2.1), '' when there is none."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _source(request: Request) -> str:
    return request.client.host if request.client else ""


async def _metadata(request: Request, max_body_bytes: int) -> dict[str, Any]:
    """The JSON object of the request (RFC 7591 §3.1); anything else is `invalid_client_metadata`."""
    raw = await read_limited(request, max_body_bytes)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise OAuthError("invalid_client_metadata", "corps JSON (application/json) mal formé") from None
    if not isinstance(body, dict):
        raise OAuthError("invalid_client_metadata", "un objet JSON de métadonnées est attendu")
    return body


def add_routes(r: APIRouter, registrar: Registrar, realm: str, issuer: str, max_body_bytes: int) -> None:
    """The registration endpoint and the client configuration endpoint, on PSC's router."""
    path = realm + ENDPOINT

    @r.post(path, status_code=201, openapi_extra=REGISTER_DOC)
    @public(DCR)
    async def register_client(request: Request) -> Response:
        """RFC 7591: a software registers itself as a client, with an initial access token."""
        token = _bearer(request)
        await run_in_threadpool(registrar.check_initial_token, token, source=_source(request))
        body = await _metadata(request, max_body_bytes)
        done = await run_in_threadpool(registrar.register, token, body, issuer, source=_source(request))
        return json_response(done, 201, no_store=True)

    @r.get(path + "/{client_id}", openapi_extra=READ_DOC)
    @public(DCR)
    async def read_client(request: Request, client_id: FhirId) -> Response:
        """RFC 7592 §2.1: the client's registration, with a new registration access token."""
        done = await run_in_threadpool(registrar.read, client_id, _bearer(request), issuer, source=_source(request))
        return json_response(done, no_store=True)

    @r.put(path + "/{client_id}", openapi_extra=UPDATE_DOC)
    @public(DCR)
    async def update_client(request: Request, client_id: FhirId) -> Response:
        """RFC 7592 §2.2: the client's metadata replaced, with a new registration access token."""
        token = _bearer(request)
        await run_in_threadpool(registrar.check_registration_token, client_id, token, source=_source(request))
        body = await _metadata(request, max_body_bytes)
        done = await run_in_threadpool(registrar.update, client_id, token, body, issuer, source=_source(request))
        return json_response(done, no_store=True)

    @r.delete(path + "/{client_id}", status_code=204, openapi_extra=DELETE_DOC)
    @public(DCR)
    async def delete_client(request: Request, client_id: FhirId) -> Response:
        """RFC 7592 §2.3: the client removed; its tokens stop working."""
        await run_in_threadpool(registrar.delete, client_id, _bearer(request), source=_source(request))
        return Response(status_code=204)
