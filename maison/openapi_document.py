"""The house's OpenAPI document, completed from what the routes state (issue 21 §3.1).

FastAPI infers what it can see — path and query parameters, a `200 application/json` — but the
house's routes read their bodies raw and state their callers with `@accepts(...)` / `@public(...)`
(`maison.core.authz`), which FastAPI does not know. This one post-processing step, run when the
document is first asked for, adds what is systematic so that a new route is documented by what it
already states:

- the security schemes (OpenAPI 3.1 §4.8.27) and, on each operation, the requirement derived from
  its route's policy: Pro Santé Connect's bearer, a structure's own provider (IAM.80), Mon espace
  santé's bearer, a structure API key with its scopes, the administrator token; `security: []`
  on a public route (which authenticates otherwise, or not at all, as its policy says);
- the error answers each protocol really sends, in their shapes: a FHIR `OperationOutcome`
  (`application/fhir+json`) on the house's HTTP APIs, OAuth 2.0's error object on Pro Santé
  Connect's endpoints (RFC 6749 §5.2, RFC 6750 §3.1), an HTML page on its browser-facing login, a
  SOAP 1.2 fault on INSi (500 as the national service answers, CNAM INSi guide); the statuses are
  those the house's error mapping gives the route's kind (`errors()` in `maison.formats.openapi`
  adds those particular to a route); FastAPI's `422 HTTPValidationError` is removed — the house
  answers a parameter's error 400 with an OperationOutcome (`maison.formats.path_ids`);
- where a route states its success answers, FastAPI's guessed `application/json {}` is removed;
  on a FHIR base, an answer a route does not state is a FHIR resource (`application/fhir+json`);
- a parameter a route states again (same name and place) refines FastAPI's instead of doubling it.

A route that states no policy refuses everyone (`maison.core.authz`): no security requirement says
that, so the document is not built (a ValueError naming the route) rather than show it as public.

What is particular to a route (its body, its search parameters, its answers' schemas) is stated
next to it with `maison.formats.openapi`'s fragments.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from maison.core.actor import KeyScope
from maison.core.authz import Accepts, Public, policy_of
from maison.formats.openapi import ERRORS_KEY, FHIR_JSON

PSC = "proSanteConnect"
LOCAL_IDP = "fournisseurIdentiteLocal"
PATIENT = "monEspaceSante"
STRUCTURE_KEY = "cleStructure"
STRUCTURE_KEY_BEARER = "cleStructureBearer"
ADMINISTRATOR = "administrateur"
ADMINISTRATOR_BEARER = "administrateurBearer"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    PSC: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Jeton d'accès Pro Santé Connect d'un professionnel (flux code ou CIBA, /psc). "
        "Avec plusieurs situations d'exercice, l'en-tête X-Structure nomme la structure où il agit.",
    },
    LOCAL_IDP: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Jeton du fournisseur d'identité propre à la structure (IAM.80, SSO local) : "
        "services de la structure seulement.",
    },
    PATIENT: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Jeton d'un patient (ou de son représentant légal) connecté à Mon espace santé "
        "(/mes/connexion).",
    },
    STRUCTURE_KEY: {
        "type": "apiKey",
        "in": "header",
        "name": "ESANTE-API-KEY",
        "description": "Clé d'API d'une structure (mk_…), de la portée exigée par l'opération "
        f"({', '.join(s.value for s in KeyScope if s is not KeyScope.ADMINISTRATEUR_MAISON)}) ; "
        "émise par l'administrateur (/admin/cles).",
    },
    STRUCTURE_KEY_BEARER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "mk_…",
        "description": "La même clé d'API de structure, envoyée en Authorization: Bearer mk_…",
    },
    ADMINISTRATOR: {
        "type": "apiKey",
        "in": "header",
        "name": "ESANTE-API-KEY",
        "description": "Jeton d'administrateur de la maison (clé de portée administrateur-maison), créé au "
        "premier démarrage et affiché une fois.",
    },
    ADMINISTRATOR_BEARER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "mk_…",
        "description": "Le même jeton d'administrateur, envoyé en Authorization: Bearer mk_…",
    },
}


def security_of(policy: Accepts | Public) -> list[dict[str, list[str]]]:
    """The operation's security requirement (alternatives) from the route's policy."""
    if isinstance(policy, Public):
        return []  # public: the route authenticates otherwise (its policy's `why`), or serves everyone
    requirement: list[dict[str, list[str]]] = []
    if policy.psc:
        requirement.append({PSC: []})
    if policy.local_idp:
        requirement.append({LOCAL_IDP: []})
    if policy.patient:
        requirement.append({PATIENT: []})
    if KeyScope.ADMINISTRATEUR_MAISON in policy.scopes:
        admin = [KeyScope.ADMINISTRATEUR_MAISON.value]
        requirement += [{ADMINISTRATOR: admin}, {ADMINISTRATOR_BEARER: admin}]
    scopes = sorted(s.value for s in policy.scopes if s is not KeyScope.ADMINISTRATEUR_MAISON)
    if scopes:
        requirement += [{STRUCTURE_KEY: scopes}, {STRUCTURE_KEY_BEARER: scopes}]
    return requirement


# --- error answers, per protocol ------------------------------------------------------------------

OPERATION_OUTCOME = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "description": "FHIR R4 OperationOutcome : l'erreur, son code machine (details.coding) et son texte",
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "details": {"type": "object"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}
OAUTH_ERROR = {
    "type": "object",
    "required": ["error"],
    "description": "Erreur OAuth 2.0 (RFC 6749 §5.2, RFC 6750 §3.1)",
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
SCHEMAS = {"OperationOutcome": OPERATION_OUTCOME, "OAuthError": OAUTH_ERROR}

STATUS_TEXT = {
    400: "Requête invalide",
    401: "Non authentifié",
    403: "Refusé",
    404: "Introuvable",
    405: "Méthode non permise",
    406: "Format non servi",
    409: "Conflit",
    410: "Disparu",
    412: "Précondition échouée",
    413: "Requête trop grande",
    415: "Type de média non pris en charge",
    422: "Règle métier",
    429: "Trop de tentatives",
    500: "Refus du service national (faute SOAP)",
    502: "Service amont en erreur",
}


OUTCOME_REF = {"$ref": "#/components/schemas/OperationOutcome"}


class Protocol:
    """How a protocol answers its errors: media type, schema, and the statuses it always may use.
    `parameter_errors`: a path or query parameter FastAPI refuses is answered by the house's one
    handler, an OperationOutcome (`maison.formats.path_ids.parameter_error`), whatever the protocol."""

    def __init__(
        self, media_type: str, schema: dict[str, Any], always: Iterable[int] = (400,), *, parameter_errors: bool = False
    ) -> None:
        self.media_type = media_type
        self.schema = schema
        self.always = frozenset(always)
        self.parameter_errors = parameter_errors

    def response(self, status: int) -> dict[str, Any]:
        content = {self.media_type: {"schema": self.schema}}
        if status == 400 and self.parameter_errors:
            content[FHIR_JSON] = {"schema": OUTCOME_REF}
        answer: dict[str, Any] = {"description": STATUS_TEXT.get(status, "Erreur"), "content": content}
        if status in HEADERS:
            answer["headers"] = HEADERS[status]
        return answer


# Headers an error may carry (not always: a client authentication refused answers no Bearer challenge)
HEADERS = {
    401: {
        "WWW-Authenticate": {
            "schema": {"type": "string"},
            "description": "Le défi d'authentification (RFC 6750 §3 : Bearer error=…, RFC 6749 §5.2 : Basic)",
        }
    },
    429: {
        "Retry-After": {
            "schema": {"type": "string"},
            "description": "Secondes à attendre avant un nouvel essai (RFC 6585 §4)",
        }
    },
}


FHIR = Protocol(FHIR_JSON, OUTCOME_REF)
OAUTH = Protocol("application/json", {"$ref": "#/components/schemas/OAuthError"}, parameter_errors=True)
HTML = Protocol("text/html", {"type": "string"})
SOAP = Protocol("application/soap+xml", {"type": "string", "description": "Faute SOAP 1.2"}, (400, 413, 415, 500))

OIDC = "/psc/auth/realms/esante-wallet/protocol/openid-connect"
# Where the house speaks another protocol than FHIR's OperationOutcome: (path prefix, method) → protocol
PROTOCOLS: tuple[tuple[str, str | None, Protocol], ...] = (
    ("/insi/lps", "POST", SOAP),
    (f"{OIDC}/auth", None, HTML),  # the browser-facing login (and its form)
    (f"{OIDC}/logout", None, HTML),
    (OIDC, None, OAUTH),
    ("/psc/ecps", None, OAUTH),  # the e-CPS app's side of CIBA
    ("/psc/auth/realms/esante-wallet/clients-registrations", None, OAUTH),  # RFC 7591 §3.2.2, RFC 7592
)
FHIR_BASES = ("/fhir", "/annuaire", "/dmp", "/espace", "/ordonnance")


def _on_fhir_base(path: str) -> bool:
    return any(path == b or path.startswith(b + "/") for b in FHIR_BASES)


def protocol_of(path: str, method: str) -> Protocol:
    for prefix, wanted, protocol in PROTOCOLS:
        if path.startswith(prefix) and wanted in (None, method):
            return protocol
    return FHIR


def error_statuses(path: str, method: str, operation: dict[str, Any], policy: Accepts | Public) -> set[int]:
    """The error statuses the house's mapping gives this kind of operation, plus its own."""
    statuses = set(protocol_of(path, method).always)
    if isinstance(policy, Accepts):
        statuses |= {401, 403}
    if "{" in path:
        statuses.add(404)  # a path id that names nothing
    if "requestBody" in operation:
        statuses.add(413)  # every body is read under the house's size limit (maison.formats.body)
    if _on_fhir_base(path):
        statuses.add(406)  # the FHIR bases serve JSON only (maison.formats.fhir_format)
    return statuses | set(operation.pop(ERRORS_KEY, []))


# --- the post-processor -----------------------------------------------------------------------------


OVERVIEW = """Les services socles de la maison du numérique en santé, tels qu'un logiciel les appelle.

**Authentification** (`securitySchemes`, et `security` de chaque opération) : un professionnel par son jeton
Pro Santé Connect (`/psc`), un patient par son jeton Mon espace santé (`/mes/connexion`), un logiciel par la
clé d'API de sa structure (`ESANTE-API-KEY`, portée exigée par l'opération), l'administrateur par son jeton ;
INSi authentifie par le certificat du logiciel, les points d'accès OAuth 2.0 par le client (secret).

**Erreurs** : une ressource FHIR `OperationOutcome` (code précis dans `issue.details.coding`), sauf
les protocoles qui ont les leurs : erreur OAuth 2.0 sur Pro Santé Connect, faute SOAP (HTTP 500) sur INSi."""


def complete(document: dict[str, Any], routes: Iterable[Any]) -> dict[str, Any]:
    """Add security, errors and cleanup to FastAPI's document (in place; returned for convenience)."""
    document.setdefault("info", {}).setdefault("description", OVERVIEW)
    components = document.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    schemas = components.setdefault("schemas", {})
    for route in iter_route_contexts(list(routes)):  # the routes of included routers too (FastAPI ≥ 0.16x)
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        policy = policy_of(route.endpoint)
        path = route.path_format or ""
        if policy is None:  # it would refuse everyone (maison.core.authz): no requirement says that
            raise ValueError(f"{path} : la route n'énonce pas ses appelants (@accepts / @public)")
        for method in route.methods or ():
            operation = document["paths"].get(path, {}).get(method.lower())
            if operation is not None:
                _complete_operation(path, method, operation, policy)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.update(SCHEMAS)
    return document


def _complete_operation(path: str, method: str, operation: dict[str, Any], policy: Accepts | Public) -> None:
    operation["security"] = security_of(policy)
    if isinstance(policy, Public):
        operation["description"] = f"{operation.get('description', '')}\n\nPublique : {policy.why}.".strip()
    _refine_parameters(operation)
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's HTTPValidationError: the house answers 400 OperationOutcome
    _drop_guessed_success(responses, on_fhir_base=_on_fhir_base(path))
    protocol = protocol_of(path, method)
    for status in sorted(error_statuses(path, method, operation, policy)):
        responses.setdefault(str(status), protocol.response(status))


def _refine_parameters(operation: dict[str, Any]) -> None:
    """A parameter a route states again in its `openapi_extra` (same name, same place) refines the one
    FastAPI inferred from its signature — e.g. a path segment's enum — instead of being listed twice."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for parameter in operation.get("parameters", []):
        key = (parameter["name"], parameter["in"])
        merged[key] = {**merged.get(key, {}), **parameter}
    if merged:
        operation["parameters"] = list(merged.values())


GUESSED: dict[str, Any] = {"schema": {}}
FHIR_RESOURCE = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string"}},
    "description": "Une ressource FHIR R4",
}


def _drop_guessed_success(responses: dict[str, Any], *, on_fhir_base: bool) -> None:
    """FastAPI guesses `200 application/json {}` for a handler returning a Response. Where the route
    states its answers (another 2xx, or 200 in another media type, or without a body: `content: None`),
    the guess goes; on a FHIR base, where a route states nothing, its answer is a FHIR resource
    (`application/fhir+json`, `maison.formats.fhir.fhir_response`)."""
    for status, answer in list(responses.items()):
        if status.startswith("2") and answer.get("content", GUESSED) is None:
            del answer["content"]  # stated: no body
    guessed = responses.get("200")
    if not guessed or guessed.get("content", {}).get("application/json") != GUESSED:
        return
    if len(guessed["content"]) > 1:
        del guessed["content"]["application/json"]
    elif any(s.startswith("2") and s != "200" for s in responses):
        del responses["200"]
    elif on_fhir_base:
        guessed["content"] = {FHIR_JSON: {"schema": FHIR_RESOURCE}}
    if "200" in responses and guessed["description"] == "Successful Response":
        guessed["description"] = "Succès"


def install(app: FastAPI) -> None:
    """Make `app.openapi()` (and /openapi.json) the completed document, built once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                routes=app.routes,
                description=app.description,
                tags=app.openapi_tags,
            )
            app.openapi_schema = complete(document, app.routes)
        return app.openapi_schema

    setattr(app, "openapi", openapi)  # noqa: B010 (FastAPI's documented way: replace app.openapi)
