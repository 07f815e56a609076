"""HTTP adapter of the Annuaire Santé: FHIR R4 read and search, as the ANS API serves them.

`GET /annuaire/{type}?…` and `POST /annuaire/{type}/_search` (form body) search;
`GET /annuaire/{type}/{id}` reads; `GET /annuaire/metadata` is the CapabilityStatement. Callers
present an API key, as the real API's `ESANTE-API-KEY` header (or `Authorization: Bearer`).
Directory data is public professional data, not health data: reads are authenticated, not audited;
MSSanté operators (API keys with the role `operateur-mss`) publish mailboxes by PATCH, audited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse

from maison.core import audit
from maison.core.actor import Actor, KeyScope
from maison.core.authz import Accepts, Authorizer, accepts, keys, public
from maison.core.errors import Forbidden, InvalidInput, MaisonError, MalformedRequest, NotFound, UnsupportedMediaType
from maison.core.storage import Database
from maison.core.terminology import Terminology
from maison.formats import fhir_capability
from maison.formats import openapi as doc
from maison.formats.body import json_response, parameter_values, read_json_object, read_limited
from maison.formats.fhir import fhir_response
from maison.formats.fhir_capability import Operation, ResourceCapability
from maison.formats.namespace import Namespace
from maison.formats.path_ids import Code, FhirId, FileName
from maison.identite.annuaire import mailbox_patch, rpps_plus, search
from maison.identite.annuaire.export import Exports
from maison.identite.annuaire.index import get
from maison.identite.annuaire.operators import MailboxRegistry, OperatorScope
from maison.identite.annuaire.vocabulary import IG, PROFILE

OPERATOR_ROLE = "operateur-mss"  # the role of the API keys MSSanté operators write mailboxes with
# Directory data is public professional data: any key of the trust space or a professional may read it
# (the real API's ESANTE-API-KEY); patients read it through their own services.
READER = Accepts(psc=True, scopes=frozenset(KeyScope), structure_required=False)
STRUCTURE_ADMINISTRATOR = Accepts(scopes=keys(KeyScope.ADMINISTRATEUR_STRUCTURE))  # RPPS+ (issue 18 §1.1)
RPPS_PLUS_MANAGER = Accepts(scopes=keys(KeyScope.ADMINISTRATEUR_MAISON))
RPPS_PLUS_PARTIES = Accepts(scopes=keys(KeyScope.ADMINISTRATEUR_STRUCTURE, KeyScope.ADMINISTRATEUR_MAISON))
MSS_OPERATOR = Accepts(scopes=keys(KeyScope.OPERATEUR_MSS))


def _actor(authorizer: Authorizer, request: Request) -> Actor:
    """An API key (`ESANTE-API-KEY` as the real API, or Bearer) or a professional's PSC token."""
    return authorizer.caller(request)


def _declaration(
    declaration: rpps_plus.Declaration, practitioner: dict | None = None, role: dict | None = None, base: str = ""
) -> dict:
    """An RPPS+ declaration as FHIR Parameters: its id and status and, once validated, what it made."""
    parameters: list[dict] = [
        {"name": "declaration", "valueString": declaration.id},
        {"name": "statut", "valueCode": declaration.status.value},
    ]
    for resource in (practitioner, role):
        if resource is not None:
            parameters.append({"name": resource["resourceType"], "resource": search.public(resource)})
    return {"resourceType": "Parameters", "parameter": parameters}


def _authenticate(authorizer: Authorizer, request: Request) -> str:
    """Who calls (structure, software and person), as one string."""
    actor = _actor(authorizer, request)
    return f"{actor.structure}/{actor.software}/{actor.person}"


_SEARCH_TYPE = {  # the kinds of search.PARAMS as R4 SearchParamType
    "id": "token",
    "bool": "token",
    "mailbox-type": "token",
    "token": "token",
    "date": "date",
    "reference": "reference",
    "profile": "uri",
}
# the OpenAPI of the routes below (issue 21 §3.1): each type's search parameters from search.PARAMS
SEARCH_PARAMETERS = doc.search_by_type(
    {
        rtype: {name: _SEARCH_TYPE.get(kind, "string") for name, (kind, _t) in params.items()}
        for rtype, params in search.PARAMS.items()
    }
)
RESOURCE_TYPE = {
    "parameters": [
        {"name": "rtype", "in": "path", "required": True, "schema": {"enum": sorted(search.PARAMS)}},
    ]
}
SEARCH_RESULTS = ("_count", "_total", "_include", "_revinclude", "_elements", "_summary")
RPPS_PLUS_ANSWER = doc.fhir_answer(doc.parameters_schema())
MAILBOX_PATCH = doc.extra(
    doc.fhir_body(doc.parameters_schema(), description="FHIRPath Patch (Parameters) sur telecom : les BAL MSSanté"),
    doc.fhir_answer(doc.any_resource("La ressource modifiée")),
    doc.errors(404, 409, 412, 415, 422),
)
OPERATIONS = (
    Operation("export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"),  # ours: the real API has none
    Operation("rpps-plus"),  # a médico-social professional declared by his employer (issue 18 §1.1)
    Operation("valider"),  # ... validated by the registry: `$rpps-plus/{declaration}/$valider`
    Operation("refuser"),  # ... or refused
)


def capability_statement(base: str, ns: Namespace) -> dict:
    """What this directory serves, read from the tables the routes use (search.PARAMS, INCLUDES,
    REVINCLUDES, mailbox_patch.CARRIERS). PATCH is also conditional (`PATCH /{type}?identifier=`),
    which R4 has no flag for (R5's conditionalPatch): it is said in the documentation."""
    patchable = mailbox_patch.CARRIERS["PER"] | mailbox_patch.CARRIERS["ORG"]
    resources = [
        ResourceCapability(
            type=rtype,
            profile=PROFILE[rtype][-1].split("|")[0],
            supported_profiles=[
                p.split("|")[0] for key, vs in PROFILE.items() if key.split("/")[0] == rtype for p in vs[-1:]
            ],
            interactions=("read", "search-type", *(("patch",) if rtype in patchable else ())),
            search={name: _SEARCH_TYPE.get(kind, "string") for name, (kind, _t) in sorted(params.items())},
            includes=[*sorted(search.INCLUDES[rtype]), *(["*"] if search.INCLUDES[rtype] else [])],
            revincludes=sorted(search.REVINCLUDES[rtype]),
            documentation=(
                f"PATCH (FHIRPath Patch) par les opérateurs MSSanté, aussi conditionnel : PATCH /{rtype}?identifier=…"
                if rtype in patchable
                else ""
            ),
        )
        for rtype, params in search.PARAMS.items()
    ]
    return fhir_capability.capability_statement(
        name="Annuaire Santé",
        description="Annuaire Santé (FHIR R4, IG fhir-annuaire)",
        base=base,
        resources=resources,
        date="2026-12-07",
        instantiates=[f"{IG}/CapabilityStatement/AsServerDPCapabilityStatement"],
        operations=OPERATIONS,
        ns=ns,
    )


def router(
    db: Database,
    max_body_bytes: int,
    exports: Exports,
    terminology: Callable[[], Terminology],
    authorizer: Authorizer,
    mailbox_registry: MailboxRegistry | None = None,
    *,
    ns: Namespace,
) -> APIRouter:
    """`mailbox_registry`: the MSSanté trust space's view of operators and their mailboxes (plugged in
    by the house); without it no operator may write mailboxes."""
    r = APIRouter()
    trail = audit.Trail(db)

    async def _refused(actor: Actor, exc: Forbidden, resource: str) -> Forbidden:
        """A refused write leaves a security event, through the journal (the refused transaction is
        rolled back, and a write transaction only to audit would serialise refusals on the chain head);
        the answer waits for the record, without holding the event loop."""
        await asyncio.wrap_future(
            trail.security_later(
                "acces-refuse",
                actor,
                outcome="failure",
                detail={
                    "operation": "annuaire.mailbox-patch",
                    "resource": resource,
                    "raison": exc.code,
                    "message": exc.message,
                },
            )
        )
        return exc

    def _recording(request: Request, rtype: str, operation: str) -> asyncio.Future[None]:
        """Who read the Annuaire (API key or PSC token) and which resource type, handed to the journal:
        the observatory counts each software's use of the Annuaire (issue 23 §3.1, seed 001 L196-216).
        The caller awaits the returned future before it answers (or refuses) — in a `finally` — so the
        record commits (the journal's group commit) while the search runs, not before it: no answer
        leaves before its record is durable, and a read waits for the longer of the two, not their sum
        (bench/annuaire.py)."""
        actor = _actor(authorizer, request)
        detail = {"type": rtype, "operation": operation}
        return asyncio.wrap_future(trail.read_later(actor, "annuaire.lire", purpose="TREAT", detail=detail))

    def _base(request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/annuaire"

    def _search(rtype: str, params: list[tuple[str, str]], base: str) -> dict:
        query = search.parse(rtype, params)
        with db.read() as conn:
            return search.run(conn, query, base)

    @r.get("/metadata", openapi_extra=doc.fhir_answer(doc.resource("CapabilityStatement")))
    @public("la déclaration de capacités FHIR est publique")
    async def metadata(request: Request) -> Response:
        return fhir_response(capability_statement(_base(request), ns))

    # --- bulk export (FHIR Bulk Data); declared before /{rtype} so that `$export` is not a type ---

    @r.get(
        "/$export",
        openapi_extra=doc.extra(
            {
                "parameters": [
                    {"name": "Prefer", "in": "header", "required": True, "schema": {"const": "respond-async"}}
                ]
            },
            doc.query_parameters(["_type", "_since", "_outputFormat"], description="FHIR Bulk Data (kick-off)"),
            doc.no_content(202, "Export lancé (Content-Location : son statut)"),
        ),
    )
    @accepts(READER)
    async def export_kickoff(request: Request) -> Response:
        requester = _authenticate(authorizer, request)
        if "respond-async" not in request.headers.get("prefer", ""):
            raise MalformedRequest("en-tête 'Prefer: respond-async' requis par FHIR Bulk Data", code="prefer")
        unknown = set(request.query_params) - {"_type", "_since", "_outputFormat"}
        if unknown:
            raise InvalidInput(f"paramètres inconnus : {', '.join(sorted(unknown))}", code="parametre-inconnu")
        fmt = request.query_params.get("_outputFormat", "application/fhir+ndjson")
        if fmt not in ("application/fhir+ndjson", "application/ndjson", "ndjson"):
            raise InvalidInput("_outputFormat : seul NDJSON est produit", code="format")
        job = exports.start(
            requester, str(request.url), request.query_params.get("_type"), request.query_params.get("_since")
        )
        return Response(status_code=202, headers={"Content-Location": f"{_base(request)}/$export-status/{job}"})

    @r.get(
        "/$export-status/{job}",
        openapi_extra=doc.extra(
            doc.json_answer(doc.json_object(["output"], {"output": {"type": "array", "items": {"type": "object"}}})),
            doc.no_content(202, "Export en cours"),
        ),
    )
    @accepts(READER)
    async def export_status(job: FhirId, request: Request) -> Response:
        row = exports.status(_authenticate(authorizer, request), job)
        if row["status"] == "en-cours":
            return Response(status_code=202, headers={"X-Progress": "export en cours", "Retry-After": "2"})
        if row["status"] == "annule":
            raise NotFound(f"export {job} annulé", code="export-annule")
        if row["status"] == "erreur":
            error = MaisonError(f"l'export a échoué : {row['error']}", code="export-erreur")
            error.http_status, error.fhir_issue = 500, "exception"
            raise error
        base = _base(request)
        manifest = {
            "transactionTime": row["created_at"],
            "request": row["request"],
            "requiresAccessToken": True,
            "output": [
                {"type": o["type"], "url": f"{base}/$export-file/{job}/{o['file']}", "count": o["count"]}
                for o in orjson.loads(row["output"])
            ],
            "error": [],
        }
        return json_response(manifest)

    @r.delete("/$export-status/{job}", openapi_extra=doc.no_content(202, "Export annulé"))
    @accepts(READER)
    async def export_cancel(job: FhirId, request: Request) -> Response:
        exports.cancel(_authenticate(authorizer, request), job)
        return Response(status_code=202)

    @r.get(
        "/$export-file/{job}/{name}",
        openapi_extra=doc.answers(200, {"application/fhir+ndjson": {"type": "string"}}, "NDJSON"),
    )
    @accepts(READER)
    async def export_file(job: FhirId, name: FileName, request: Request) -> Response:
        path = exports.file(_authenticate(authorizer, request), job, name)
        return FileResponse(path, media_type="application/fhir+ndjson")

    @r.post(
        "/$rpps-plus",
        openapi_extra=doc.extra(
            doc.fhir_body(
                doc.parameters_schema(), description="Parameters : nom, prenom, dateNaissance, civilite, role"
            ),
            RPPS_PLUS_ANSWER,
            doc.fhir_answer(doc.parameters_schema(), 202, "Déclaration en attente de validation"),
            doc.errors(409, 422),
        ),
    )
    @accepts(STRUCTURE_ADMINISTRATOR)
    async def rpps_plus_declaration(request: Request) -> Response:
        """An employer's administrator declares a médico-social professional (Parameters: nom, prenom,
        dateNaissance, civilite, role): 202 with the declaration pending validation, 200 if already declared."""
        actor = _actor(authorizer, request)
        values = parameter_values(await read_json_object(request, max_body_bytes))
        missing = [
            n for n in ("nom", "prenom", "dateNaissance", "civilite", "role") if not isinstance(values.get(n), str)
        ]
        if missing:
            raise InvalidInput(f"paramètres manquants : {', '.join(missing)}", code="parametre-manquant")
        with db.write() as conn:
            declaration, created = rpps_plus.declare(
                conn,
                terminology(),
                actor,
                family=str(values["nom"]),
                given=str(values["prenom"]),
                birth_date=str(values["dateNaissance"]),
                civilite=str(values["civilite"]),
                role=str(values["role"]),
            )
        response = fhir_response(_declaration(declaration), 202 if created else 200)
        response.headers["Content-Location"] = f"{_base(request)}/$rpps-plus/{declaration.id}"
        return response

    @r.get("/$rpps-plus/{declaration}", openapi_extra=RPPS_PLUS_ANSWER)
    @accepts(RPPS_PLUS_PARTIES)
    async def rpps_plus_state(declaration: FhirId, request: Request) -> Response:
        """The declaration's state, for its employer's administrator or the registry's manager."""
        caller = authorizer.caller(request)
        with db.read() as conn:
            found = rpps_plus.find(conn, declaration)
            if found.employer != caller.structure and caller.scope is not KeyScope.ADMINISTRATEUR_MAISON:
                raise NotFound(f"déclaration RPPS+ {declaration} inconnue", code="declaration-inconnue")
            practitioner, role = rpps_plus.resources(conn, found)
        return fhir_response(_declaration(found, practitioner, role, _base(request)))

    async def _decide(declaration: str, request: Request, validate: bool) -> Response:
        actor = _actor(authorizer, request)
        with db.write() as conn:
            decided, practitioner, role = rpps_plus.decide(conn, declaration, actor, validate=validate)
        return fhir_response(_declaration(decided, practitioner, role, _base(request)), 200)

    @r.post(
        "/$rpps-plus/{declaration}/$valider",
        openapi_extra=doc.extra(doc.ignored_body(), RPPS_PLUS_ANSWER, doc.errors(409, 422)),
    )
    @accepts(RPPS_PLUS_MANAGER)
    async def rpps_plus_validate(declaration: FhirId, request: Request) -> Response:
        """The registry validates a declaration: the Practitioner and its role now exist in the directory."""
        return await _decide(declaration, request, True)

    @r.post(
        "/$rpps-plus/{declaration}/$refuser",
        openapi_extra=doc.extra(doc.ignored_body(), RPPS_PLUS_ANSWER, doc.errors(409, 422)),
    )
    @accepts(RPPS_PLUS_MANAGER)
    async def rpps_plus_refuse(declaration: FhirId, request: Request) -> Response:
        return await _decide(declaration, request, False)

    @r.get("/{rtype}", openapi_extra=doc.extra(RESOURCE_TYPE, doc.fhir_search(SEARCH_PARAMETERS, SEARCH_RESULTS)))
    @accepts(READER)
    async def search_get(rtype: Code, request: Request) -> Response:
        recorded = _recording(request, rtype, "search-type")
        try:
            params = parse_qsl(request.url.query, keep_blank_values=True)
            bundle = await run_in_threadpool(_search, rtype, params, _base(request))
        finally:
            await recorded
        return fhir_response(bundle)

    @r.post(
        "/{rtype}/_search",
        openapi_extra=doc.extra(
            RESOURCE_TYPE,
            doc.form_body([], {name: doc.text(kind) for name, kind in SEARCH_PARAMETERS.items()}),
            doc.fhir_answer(doc.bundle_schema()),
            doc.errors(415),
        ),
    )
    @accepts(READER)
    async def search_post(rtype: Code, request: Request) -> Response:
        recorded = _recording(request, rtype, "search-type")
        try:
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
                raise UnsupportedMediaType("application/x-www-form-urlencoded attendu pour _search")
            body = (await read_limited(request, max_body_bytes)).decode("utf-8", errors="replace")
            params = parse_qsl(request.url.query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
            bundle = await run_in_threadpool(_search, rtype, params, _base(request))
        finally:
            await recorded
        return fhir_response(bundle)

    # --- MSSanté operators publish their mailboxes (FHIRPath Patch on telecom) ---------------------

    async def _patch(request: Request, rtype: str, rid: str | None) -> Response:
        actor = _actor(authorizer, request)
        if actor.role != OPERATOR_ROLE:
            raise await _refused(
                actor,
                Forbidden("seuls les opérateurs MSSanté publient des BAL dans l'annuaire", code="operateur-requis"),
                rtype,
            )
        if rtype not in mailbox_patch.CARRIERS["PER"] | mailbox_patch.CARRIERS["ORG"]:
            raise NotFound(f"type de ressource '{rtype}' non modifiable", code="type-inconnu")
        if request.headers.get("content-type", "").split(";")[0].strip() not in (
            "application/fhir+json",
            "application/json",
        ):
            raise UnsupportedMediaType("application/fhir+json (FHIRPath Patch) attendu")
        body = await read_json_object(request, max_body_bytes)
        target = rid
        try:
            with db.write() as conn:
                scope = OperatorScope(mailbox_registry, conn, actor.structure)
                target = rid or mailbox_patch.resolve(conn, rtype, request.query_params.get("identifier", ""))
                updated = mailbox_patch.apply(conn, rtype, target, body, scope)
                audit.Trail.write(
                    conn,
                    actor,
                    "annuaire.mailbox-patch",
                    purpose="HOPERAT",
                    detail={"resource": f"{rtype}/{target}", "version": updated["meta"]["versionId"]},
                )
        except Forbidden as exc:
            raise await _refused(
                actor, exc, f"{rtype}/{target or request.query_params.get('identifier', '')}"
            ) from None
        return fhir_response(search.public(updated))

    @r.patch("/{rtype}", openapi_extra=doc.extra(doc.query_parameters(["identifier"]), MAILBOX_PATCH))
    @accepts(MSS_OPERATOR)
    async def conditional_patch(rtype: Code, request: Request) -> Response:
        if set(request.query_params) != {"identifier"}:
            raise InvalidInput("PATCH conditionnel : seul le critère identifier est accepté", code="parametre-inconnu")
        return await _patch(request, rtype, None)

    @r.patch("/{rtype}/{rid}", openapi_extra=MAILBOX_PATCH)
    @accepts(MSS_OPERATOR)
    async def patch(rtype: Code, rid: FhirId, request: Request) -> Response:
        return await _patch(request, rtype, rid)

    @r.get("/{rtype}/{rid}", openapi_extra=doc.extra(RESOURCE_TYPE, doc.fhir_answer(doc.any_resource())))
    @accepts(READER)
    async def read(rtype: Code, rid: FhirId, request: Request) -> Response:
        recorded = _recording(request, rtype, "read")
        try:
            if rtype not in search.PARAMS:
                raise NotFound(f"type de ressource '{rtype}' non servi par l'annuaire", code="type-inconnu")
            with db.read() as conn:
                resource = get(conn, rtype, rid)
        finally:
            await recorded
        if resource is None:
            raise NotFound(f"{rtype}/{rid} inconnu", code="ressource-inconnue")
        return fhir_response(search.public(resource))

    return r
