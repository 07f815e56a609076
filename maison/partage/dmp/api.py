"""HTTP adapter of the DMP: PDSm (MHD France) over FHIR R4, and the patient's controls.

- `POST /dmp` — ITI-65 Provide Document Bundle (transaction) → transaction-response;
- `GET /dmp/metadata` — the CapabilityStatement;
- `GET|POST /dmp/DocumentReference[/_search]` — ITI-67; `GET /dmp/DocumentReference/{id}` and its
  current version by vread (`…/_history/{meta.versionId}`);
- `PATCH /dmp/DocumentReference?identifier=…` — flux 03 (status, securityLabel, isArchived only, else
  405 as PDSm st_maj.md L59 says); `DELETE /dmp/DocumentReference/{id}` — withdrawal (000 L1062);
- `GET|POST /dmp/List[/_search]` — ITI-66, `GET /dmp/List/{id}` a lot; `GET /dmp/Binary/{id}` — ITI-68;
- `POST /dmp/Consent` — the patient's answer to the structure's information (002 L535-565), `GET`
  its search (a searchset of the one Consent);
- searches take `_count` and `_summary=count`, refuse `_sort`, `_elements` and other `_summary`;
- `/dmp/espace/…` — the patient (Mon espace santé token): access history, médecin traitant,
  emergency oppositions, blocked/authorised professionals, delegation codes, closing the dossier;
- `PUT|DELETE /dmp/secretariat/{idnatps}` — a doctor's secretariat (000 L1934).

Professionals authenticate with Pro Santé Connect (PDSm says nothing of security, pdsm.md §6:
this is Maison's choice, as GI DMP 2.10 "API Pro Santé Connectées"); a structure's API key is the
indirect authentication of a PFI (feeding, and reading back its own documents).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from functools import partial
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maison.core.actor import KeyScope
from maison.core.authz import PATIENT, Accepts, Authorizer, accepts, keys, public
from maison.core.errors import InvalidInput, MaisonError, MalformedRequest, NotFound, UnsupportedMediaType
from maison.formats import fhir_capability, pdsm
from maison.formats import openapi as oas
from maison.formats.body import json_response, read_json_object, read_limited, required_text
from maison.formats.fhir import (
    FHIR_JSON,
    RESULT_PARAMETERS,
    ResultControls,
    bundle,
    count_bundle,
    fhir_response,
    local_url,
    result_controls,
)
from maison.formats.fhir_capability import ResourceCapability
from maison.formats.jsonread import Node
from maison.formats.namespace import STRUCTURE, Namespace
from maison.formats.path_ids import FhirId, Identifier, ascii_digits
from maison.partage.dmp import jsonpatch, mhd
from maison.partage.dmp.model import (
    Access,
    AccessMode,
    DateFilter,
    DocumentQuery,
    DossierState,
    InformationState,
    SubmissionSet,
    Who,
)
from maison.partage.dmp.service import Dmp, access_event

SEARCH_TOKENS = {
    "type": "type_code",
    "category": "class_code",
    "format": "format_code",
    "setting": "setting",
    "facility": "facility",
}
DATE_PARAMS = {
    "creation": "creation",
    "period-start": "period_start",
    "period-end": "period_end",
    "date": "submitted_at",
}
KNOWN = {
    "patient",
    "patient.identifier",
    "patient:identifier",
    "status",
    "identifier",
    "isArchived",
    "relatesto",
    "security-label",
    "author.identifier",
    "event",
    "_format",
    *SEARCH_TOKENS,
    *DATE_PARAMS,
}
# The Consent's axes (alimentation, consultation) are Maison's own code system: the PDSm defines none,
# so it is named under the deployment's namespace, not under the IG's host (issue 21 §3.3).
CS_CONSENT_ACTION = "dmp-acces"
# Where that code system was first (wrongly) named; it still seeds the Consent's name-based id, so the
# id a client kept stays the same.
LEGACY_CONSENT_ACTION = "https://interop.esante.gouv.fr/ig/fhir/pdsm/CodeSystem/maison-dmp-acces"
# The Consent's extensions are Maison's too (`ns.structure(...)`); they were URNs under an unregistered
# NID, `urn:maison:dmp:…`, which the motif of an opposition is still accepted as.
EXT_MOTIF = "dmp-motif-opposition-alimentation"
LEGACY_EXT_MOTIF = "urn:maison:dmp:motif-opposition-alimentation"


# Who reaches the DMP (seed 002 L573: PSC generalised to the DMP; a structure's own SSO is local, IAM.80):
# a professional by Pro Santé Connect, a structure's software by its key in indirect authentication
# (AIR, 002 L619-620), and for reading and masking, the patient himself by Mon espace santé (000 L3238).
DMP_PROFESSIONAL = Accepts(psc=True, scopes=keys(KeyScope.LOGICIEL))
DMP_READER = Accepts(psc=True, patient=True, scopes=keys(KeyScope.LOGICIEL))
DOCTOR = Accepts(psc=True)  # a doctor declares his secretariat himself
# The patient's information and opposition (seed 002 L555-559, "Le ES/PS peut alimenter"): recorded by a
# professional of the structure, or by the structure's own software with the key it feeds the DMP with
# (the GAM's ZFA carried by the hospital's flows, 002 L541-543) — for the caller's structure only.
DMP_INFORMATION = Accepts(psc=True, scopes=keys(KeyScope.LOGICIEL))


class PatchNotAllowed(MaisonError):
    http_status = 405  # PDSm st_maj.md L59
    fhir_issue = "not-supported"
    code = "patch-element-interdit"


def who_of(authorizer: Authorizer, request: Request) -> Who:
    caller = authorizer.caller(request)
    headers = request.headers
    mode = headers.get("x-mode-acces", AccessMode.NORMAL.value)
    code = headers.get("x-code-acces", "")
    if code:
        mode = AccessMode.CODE.value
    if mode not in {m.value for m in AccessMode}:
        raise InvalidInput(f"X-Mode-Acces {mode!r} : normal, bris_de_glace ou centre_15", code="mode-acces")
    return Who(
        caller,
        Access(
            mode=AccessMode(mode),
            reason=headers.get("x-motif-acces", ""),
            code=code,
            secret=headers.get("x-connexion-secrete", "").lower() in ("1", "true", "oui"),
        ),
    )


def _patched(before: dict, operations: object) -> tuple:
    """The metadata a JSON Patch changes: (status, archived, confidentiality, visibility), None where
    unchanged; any other element is refused (PDSm st_maj.md L59)."""
    after = jsonpatch.apply(before, operations)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    if changed - {"status", "securityLabel", "extension"}:
        raise PatchNotAllowed(
            f"seuls status, securityLabel et l'extension isArchived se modifient "
            f"(élément(s) : {', '.join(sorted(changed))})"
        )
    patched = Node(after, "DocumentReference")  # the sender's values, typed before they reach the service
    status = (patched.text("status") or None) if "status" in changed else None
    archived = confidentiality = visibility = None
    if "extension" in changed:
        patched.objects("extension")

        def others(res):
            return [
                e
                for e in res.get("extension", [])  # noqa: E731
                if not isinstance(e, dict) or e.get("url") != pdsm.EXT_IS_ARCHIVED
            ]

        if others(before) != others(after):
            raise PatchNotAllowed("seule l'extension isArchived se modifie")
        archived = mhd.is_archived(after)
    if "securityLabel" in changed:
        confidentiality, visibility = mhd.security_labels(after.get("securityLabel"))
    return status, archived, confidentiality, visibility


def _ins_param(params: list[tuple[str, str]]) -> str:
    values = [v for k, v in params if k in ("patient.identifier", "patient:identifier")]
    if not values:
        raise InvalidInput(
            "patient.identifier (INS) est obligatoire (PDSm st_recherche_fiche.md L40)",
            code="patient-obligatoire",
            expression="patient.identifier",
        )
    system, _, value = values[0].rpartition("|")
    if system and system not in pdsm.INS_SYSTEMS:
        raise InvalidInput(f"patient.identifier : système {system} n'est pas un INS", code="patient-ins")
    return value


def _statuses(params: list[tuple[str, str]]) -> list[str]:
    values = [v for k, v in params if k == "status"]
    if not values:
        raise InvalidInput("status est obligatoire (PDSm)", code="statut-obligatoire", expression="status")
    statuses = [s.rpartition("|")[2] for s in values[0].split(",")]
    if set(statuses) - {"current", "superseded"}:
        raise InvalidInput("status : current ou superseded", code="statut-invalide")
    return statuses


def _date_filter(value: str) -> DateFilter:
    prefix, rest = (value[:2], value[2:]) if value[:2] in ("ge", "gt", "le", "lt", "eq") else ("eq", value)
    if not (rest[:4].isascii() and rest[:4].isdigit()):
        raise InvalidInput(f"date invalide : {value}", code="date-invalide")
    return DateFilter(prefix, rest)


def _versioned(resource: dict) -> Response:
    """A fiche with its version as ETag (R4 http.html §3.1.0.3: the ETag is W/"versionId")."""
    response = fhir_response(resource)
    response.headers["ETag"] = f'W/"{resource["meta"]["versionId"]}"'
    return response


def _result_controls(params: list[tuple[str, str]]) -> ResultControls:
    """_count and _summary=count as R4 says them; _elements, _sort and another _summary refused
    (PDSm lists none of them): before issue 20 they were ignored with a warning."""
    return result_controls([(k, v) for k, v in params if k in RESULT_PARAMETERS], max_count=10_000)


def _searchset(
    found: list[dict], base: str, rtype: str, query: str, warnings: list[str], controls: ResultControls
) -> Response:
    """The searchset: the total alone for `_summary=count` / `_count=0`; with `_count=n`, the first n
    (PDSm searches are not paged: the total says how many there are, a warning that the page is cut)."""
    if controls.count_only:
        return fhir_response(count_bundle(len(found)))
    shown = found if controls.count is None else found[: controls.count]
    if len(shown) < len(found):
        warnings = [*warnings, f"{len(shown)} résultats sur {len(found)} (_count) : la recherche n'est pas paginée"]
    answer = mhd.searchset(shown, base, rtype, query, warnings)
    answer["total"] = len(found)
    return fhir_response(answer)


def _document_filters(params: list[tuple[str, str]]) -> tuple[DocumentQuery, list[Callable], list[str]]:
    """The search's criteria the store turns into SQL (a DocumentQuery), those checked on each entry
    found (their data is in the stored DocumentReference), and the warnings for ignored parameters."""
    criteria: dict[str, list] = {}
    checks: list[Callable] = []
    warnings = [f"paramètre {k} ignoré (non pris en charge)" for k, _ in params if k not in KNOWN | RESULT_PARAMETERS]
    for key, value in params:
        if key in SEARCH_TOKENS:
            criteria.setdefault(SEARCH_TOKENS[key], []).append(tuple(v.rpartition("|")[2] for v in value.split(",")))
        elif key in DATE_PARAMS:
            criteria.setdefault(DATE_PARAMS[key], []).append(_date_filter(value))
        elif key == "identifier":
            token = value.rpartition("|")[2]
            criteria.setdefault("identifier", []).append(
                (token.removeprefix("urn:oid:"), token.removeprefix("urn:uuid:"))
            )
        elif key == "isArchived":
            criteria.setdefault("archived", []).append(value.rpartition("|")[2] == "true")
        elif key == "relatesto":
            criteria.setdefault("relates_to", []).append(value.rsplit("/", 1)[-1])
        elif key == "security-label":
            labels = {v.rpartition("|")[2] for v in value.split(",")}
            checks.append(lambda e, w=labels: bool(w & ({e.confidentiality} | e.visibility)))
        elif key == "author.identifier":
            author = value.rpartition("|")[2]
            checks.append(lambda e, w=author: e.author == w)
        elif key == "event":
            wanted = {v.rpartition("|")[2] for v in value.split(",")}
            checks.append(
                lambda e, w=wanted: bool(
                    w
                    & {
                        c.get("code")
                        for ev in e.resource.get("context", {}).get("event", [])
                        for c in ev.get("coding", [])
                    }
                )
            )
    return DocumentQuery(**{name: tuple(values) for name, values in criteria.items()}), checks, warnings


async def _params(request: Request, max_bytes: int) -> list[tuple[str, str]]:
    params = list(request.query_params.multi_items())
    if request.method == "POST":
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise UnsupportedMediaType("recherche POST : application/x-www-form-urlencoded attendu")
        params += parse_qsl((await read_limited(request, max_bytes)).decode("utf-8", "replace"))
    return params


def _search_types() -> dict[str, str]:
    """The DocumentReference search parameters (PDSm ITI-67) with their R4 SearchParamType."""
    kinds = {name: "token" for name in SEARCH_TOKENS} | {name: "date" for name in DATE_PARAMS}
    kinds |= {"patient": "reference", "relatesto": "reference"}
    return {name: kinds.get(name, "token") for name in sorted(KNOWN - {"_format", "patient:identifier"})}


# the OpenAPI of the routes below (issue 21 §3.1): the searches' parameters from the tables they read
DOCUMENT_PARAMETERS = {**_search_types(), "patient:identifier": "token"}
LIST_PARAMETERS = {"patient.identifier": "token", "patient:identifier": "token", "code": "token", "status": "token"}
DOCUMENT_SEARCH = oas.fhir_search(DOCUMENT_PARAMETERS, ("_count", "_summary"))
LIST_SEARCH = oas.fhir_search(LIST_PARAMETERS, ("_count", "_summary"))


def _search_form(parameters: dict[str, str]) -> dict:
    """POST _search (R4 search.html §3.1.1): the same parameters in a form body (and in the query)."""
    fields = {name: oas.text(f"paramètre de recherche FHIR de type {kind}") for name, kind in parameters.items()}
    return oas.form_body([], fields, description="Les paramètres de la recherche GET, dans le corps")


DOCUMENT = oas.resource("DocumentReference")
NO_CONTENT = oas.no_content()
IGNORED = oas.ignored_body()
PREFERENCES = oas.json_object(
    (),
    {
        "medecinTraitant": {"type": ["string", "null"], "pattern": "^[0-9]{1,20}$", "description": "IdNatPS, ou null"},
        "opposeBrisDeGlace": {"type": "boolean"},
        "opposeCentre15": {"type": "boolean"},
    },
)
PREFERENCES["additionalProperties"] = False  # other members are refused (champ-inconnu)
CODE_BODY = oas.required_texts(
    "professionnel",
    optional={"rubriques": {"type": "array", "items": {"type": "string"}}, "jours": {"type": "integer"}},
)
CODE_BODY["required"].append("rubriques")
PROVIDE = oas.extra(
    oas.fhir_body(
        oas.resource("Bundle", ["type", "entry"], {"type": {"const": "transaction"}, "entry": {"type": "array"}})
    ),
    oas.fhir_answer(oas.bundle_schema(), 200, "transaction-response (ITI-65)"),
    oas.errors(409, 415, 422),
)
CONSENT = oas.resource(
    "Consent",
    ["patient"],
    {
        "patient": oas.json_object(
            ["identifier"],
            {"identifier": oas.json_object(["system", "value"], {"system": oas.text(), "value": oas.text()})},
        ),
        "provision": {"type": "object"},
        "extension": {"type": "array", "items": {"type": "object"}},
        # the structure the answer is for (R4 Consent.organization): the caller's, else 403
        "organization": {
            "type": "array",
            "items": oas.json_object([], {"identifier": oas.json_object([], {"value": oas.text()})}),
        },
    },
)


def capability_statement(base: str, ns: Namespace) -> dict:
    """What the routes below do, no more: ITI-65 as a transaction, ITI-67 search and read, the
    metadata update as a conditional PATCH (`PATCH /DocumentReference?identifier=`, PDSm st_maj.md),
    the withdrawal as DELETE, ITI-66 search of lots, ITI-68 as Binary read, and the patient's
    information state as Consent."""
    return fhir_capability.capability_statement(
        name="DMP",
        description="DMP — Gestionnaire de partage de documents (PDSm 3.1.1)",
        base=base,
        date="2026-12-07",
        instantiates=[f"{pdsm.PDSM}/CapabilityStatement/PDSm-GestionnaireDePartageDeDocuments"],
        system_interactions=("transaction",),
        resources=[
            ResourceCapability(
                "DocumentReference",
                ("read", "vread", "search-type", "patch", "delete"),
                _search_types(),
                profile=pdsm.PROFILE_DOCREF,
                versioning="versioned",  # PDSm's meta.versionId, read back by vread of the current version
                read_history=False,  # past versions of a fiche are not kept
                documentation="PATCH conditionnel (identifier = uniqueId) : status, securityLabel, isArchived",
            ),
            ResourceCapability(
                "List",
                ("read", "search-type"),
                {"patient.identifier": "token", "code": "token", "status": "token", "identifier": "token"},
                profile=pdsm.PROFILE_SUBMISSION_SET,
            ),
            ResourceCapability("Binary", ("read",)),
            ResourceCapability("Consent", ("create", "search-type"), {"patient.identifier": "token"}),
        ],
        ns=ns,
    )


def router(
    dmp: Dmp, authorizer: Authorizer, max_body_bytes: int, max_provide_bytes: int, *, ns: Namespace
) -> APIRouter:
    r = APIRouter()

    def _base(request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/dmp"

    async def _audited(fn, *args):
        """Run a read in a worker thread; answer only once its audit record is committed. The thread is
        released as soon as the answer is computed and the journal's group commit is awaited here."""
        receipts: list = []
        try:
            return await run_in_threadpool(partial(fn, *args, receipts=receipts))
        finally:
            for receipt in receipts:
                await asyncio.wrap_future(receipt)

    def _who(request: Request) -> Who:
        who = who_of(authorizer, request)
        doctor = request.headers.get("x-pour-le-compte-de")
        return dmp.under_doctor(who, doctor) if doctor and who.kind == "professional" else who

    @r.get("/metadata", openapi_extra=oas.fhir_answer(oas.resource("CapabilityStatement")))
    @public("la déclaration de capacités FHIR est publique")
    async def metadata(request: Request) -> Response:
        return fhir_response(capability_statement(_base(request), ns))

    # --- ITI-65 ------------------------------------------------------------------------------------

    @r.post("", openapi_extra=PROVIDE)
    @r.post("/", openapi_extra=PROVIDE)
    @accepts(DMP_PROFESSIONAL)
    async def provide(request: Request) -> Response:
        who = _who(request)
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith(("application/fhir+json", "application/json")):
            raise UnsupportedMediaType("ITI-65 : application/fhir+json attendu")
        bundle = await read_json_object(request, max_provide_bytes)
        parsed = mhd.parse_provide(bundle)
        provided = await run_in_threadpool(dmp.provide, who, parsed)
        base = _base(request)
        entries = []
        for location in provided.locations:
            response: dict = {"status": "200 OK" if provided.replay else "201 Created", "location": location}
            entries.append({"response": response})
        if provided.warnings:
            entries[0]["response"]["outcome"] = {
                "resourceType": "OperationOutcome",
                "issue": [
                    {"severity": "warning", "code": "informational", "diagnostics": w} for w in provided.warnings
                ],
            }
        answer = {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": entries,
            "link": [{"relation": "self", "url": base}],
        }
        return fhir_response(answer, 200)

    # --- ITI-67 / read / PATCH / DELETE --------------------------------------------------------------

    async def _find_documents(request: Request) -> Response:
        who = _who(request)
        params = await _params(request, max_body_bytes)
        controls = _result_controls(params)
        ins, statuses = _ins_param(params), _statuses(params)
        filters, checks, warnings = _document_filters(params)
        entries = await _audited(dmp.find_documents, who, ins, statuses, filters, str(request.url.query))
        base = _base(request)
        shown = [mhd.render_document(e, base) for e in entries if all(check(e) for check in checks)]
        return _searchset(shown, base, "DocumentReference", str(request.url.query), warnings, controls)

    accepts(DMP_READER)(_find_documents)
    r.add_api_route("/DocumentReference", _find_documents, methods=["GET"], openapi_extra=DOCUMENT_SEARCH)
    r.add_api_route(
        "/DocumentReference/_search",
        _find_documents,
        methods=["POST"],
        openapi_extra=oas.extra(
            _search_form(DOCUMENT_PARAMETERS), oas.fhir_answer(oas.bundle_schema(DOCUMENT)), oas.errors(415)
        ),
    )

    @r.get("/DocumentReference/{id_}", openapi_extra=oas.fhir_answer(DOCUMENT))
    @accepts(DMP_READER)
    async def read_document(id_: FhirId, request: Request) -> Response:
        entry = await run_in_threadpool(dmp.document, _who(request), id_)
        return _versioned(mhd.render_document(entry, _base(request)))

    @r.get("/DocumentReference/{id_}/_history/{version}", openapi_extra=oas.fhir_answer(DOCUMENT))
    @accepts(DMP_READER)
    async def read_version(id_: FhirId, version: FhirId, request: Request) -> Response:
        """vread (R4 http.html §3.1.0.3) of the fiche's version that PDSm's meta.versionId names: the
        current one — R4 encourages a server to serve it even when it keeps no past versions, which the
        DMP does not (CapabilityStatement readHistory false); a past version is answered 404."""
        entry = await run_in_threadpool(dmp.document, _who(request), id_)
        if str(entry.version) != version:
            raise NotFound(
                f"version {version} de la fiche {id_} non conservée (version courante : {entry.version})",
                code="version-non-conservee",
            )
        return _versioned(mhd.render_document(entry, _base(request)))

    @r.patch(
        "/DocumentReference",
        openapi_extra=oas.extra(
            oas.query_parameters(["identifier"], description="[system]|[uniqueId] de la fiche (PDSm st_maj.md)"),
            {
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json-patch+json": {"schema": {"type": "array", "items": {"type": "object"}}}
                    },
                }
            },
            oas.fhir_answer(DOCUMENT),
            oas.errors(404, 405, 409, 415, 422),
        ),
    )
    @accepts(DMP_READER)
    async def patch_document(request: Request) -> Response:
        who = _who(request)
        identifiers = request.query_params.getlist("identifier")
        if len(identifiers) != 1:
            raise InvalidInput(
                "PATCH conditionnel : un paramètre identifier=[system]|[valeur] attendu", code="identifier-obligatoire"
            )
        if not request.headers.get("content-type", "").startswith("application/json-patch+json"):
            raise UnsupportedMediaType("PATCH : application/json-patch+json attendu (JSON Patch, RFC 6902)")
        try:
            operations = orjson.loads(await read_limited(request, max_body_bytes))
        except orjson.JSONDecodeError:
            raise MalformedRequest("JSON Patch mal formé", code="json") from None
        unique_id = identifiers[0].rpartition("|")[2]
        # authorised first (a fiche the caller may not change is "not found"), evaluated after (issue 18 §2.2)
        current = await run_in_threadpool(dmp.current_for_patch, who, unique_id)
        base = _base(request)
        try:
            status, archived, confidentiality, visibility = _patched(mhd.render_document(current, base), operations)
        except MaisonError as exc:  # a refused change of an authorised caller is recorded too (§2.5)
            raise await run_in_threadpool(dmp.refused_change, who, current, exc) from None
        entry = await run_in_threadpool(
            dmp.update_metadata, who, unique_id, status, archived, confidentiality, visibility
        )
        resource = mhd.render_document(entry, base)
        return Response(
            orjson.dumps(resource),
            media_type=FHIR_JSON,
            headers={"ETag": f'W/"{entry.version}"', "Last-Modified": entry.last_updated},
        )

    @r.delete("/DocumentReference/{id_}", openapi_extra=oas.extra(NO_CONTENT, oas.errors(409)))
    @accepts(DMP_READER)
    async def withdraw(id_: FhirId, request: Request) -> Response:
        await run_in_threadpool(dmp.withdraw, _who(request), id_)
        return Response(status_code=204)

    # --- ITI-68 --------------------------------------------------------------------------------------

    @r.get(
        "/Binary/{id_}", openapi_extra=oas.answers(200, {"*/*": {"type": "string", "format": "binary"}}, "Le document")
    )
    @accepts(DMP_READER)
    async def retrieve(id_: FhirId, request: Request) -> Response:
        entry, data = await run_in_threadpool(dmp.retrieve, _who(request), id_)
        return Response(data, media_type=entry.content_type, headers={"Content-Length": str(len(data))})

    # --- ITI-66 --------------------------------------------------------------------------------------

    async def _find_lists(request: Request) -> Response:
        who = _who(request)
        params = await _params(request, max_body_bytes)
        controls = _result_controls(params)
        ins = _ins_param(params)
        codes = [v.rpartition("|")[2] for k, v in params if k == "code"]
        if not codes:
            raise InvalidInput("code est obligatoire (PDSm st_recherche_lot.md L41)", code="code-obligatoire")
        statuses = [s for k, v in params if k == "status" for s in v.split(",")]
        if not statuses:
            raise InvalidInput("status est obligatoire (PDSm)", code="statut-obligatoire")
        rows = await run_in_threadpool(dmp.submission_sets, who, ins, statuses) if "submissionset" in codes else []
        base = _base(request)
        lists = [_list(row) for row in rows]
        return _searchset(lists, base, "List", str(request.url.query), [], controls)

    @r.get("/List/{id_}", openapi_extra=oas.fhir_answer(oas.resource("List")))
    @accepts(DMP_READER)
    async def read_list(id_: FhirId, request: Request) -> Response:
        """A lot, at the fullUrl ITI-66 gave it."""
        return fhir_response(_list(await run_in_threadpool(dmp.submission_set, _who(request), id_)))

    accepts(DMP_READER)(_find_lists)
    r.add_api_route("/List", _find_lists, methods=["GET"], openapi_extra=LIST_SEARCH)
    r.add_api_route(
        "/List/_search",
        _find_lists,
        methods=["POST"],
        openapi_extra=oas.extra(_search_form(LIST_PARAMETERS), oas.fhir_answer(oas.bundle_schema()), oas.errors(415)),
    )

    def _list(lot: SubmissionSet) -> dict:
        return {**lot.resource, "id": lot.id, "status": lot.status, "meta": {"profile": [pdsm.PROFILE_SUBMISSION_SET]}}

    # --- information / opposition (002 L535-565) -----------------------------------------------------

    @r.post(
        "/Consent",
        openapi_extra=oas.extra(
            oas.fhir_body(CONSENT),
            oas.fhir_answer(oas.resource("Consent"), 201, "Enregistré"),
            oas.errors(403, 404, 409, 422),
        ),
    )
    @accepts(DMP_INFORMATION)
    async def record_information(request: Request) -> Response:
        """The patient's answer to the structure's information, as a FHIR Consent: one provision per axis
        (action code alimentation / consultation, type permit or deny), the motif of an opposition to
        feeding in an extension. Recorded for the caller's structure — a professional of it (Pro Santé
        Connect) or its software (API key, scope logiciel: seed 002 L555-559, "Le ES/PS peut
        alimenter"); a Consent.organization naming another structure is refused (403
        information-autre-structure), and so is any other caller (403)."""
        who = _who(request)
        consent = await read_json_object(request, max_body_bytes)
        if consent.get("resourceType") != "Consent":
            raise MalformedRequest("ressource Consent attendue", code="resource-type")
        doc = Node(consent, "Consent")  # every member read typed: a wrong type is a 400 naming its path
        patient = doc.obj("patient").obj("identifier")
        system, value = patient.text("system"), patient.text("value")
        if system not in pdsm.INS_SYSTEMS or not value:
            raise InvalidInput(
                "Consent.patient.identifier : l'INS du patient est attendu",
                code="patient-ins",
                expression="Consent.patient.identifier",
            )
        axes = {"alimentation": InformationState.NOT_INFORMED, "consultation": InformationState.NOT_INFORMED}
        provision = doc.obj("provision")
        for item in provision.objects("provision"):
            actions = item.objects("action")
            action, kind = (mhd.code_of(actions[0].value) if actions else ""), item.text("type")
            if action not in axes or kind not in ("permit", "deny"):
                raise InvalidInput(
                    "provision : action alimentation|consultation, type permit|deny",
                    code="provision-invalide",
                    expression=item.path,
                )
            axes[action] = InformationState.NOT_OPPOSED if kind == "permit" else InformationState.OPPOSED
        motif = next(
            (
                e.text("valueString")
                for e in doc.objects("extension")
                if ns.understands(e.text("url"), f"{STRUCTURE}/{EXT_MOTIF}", LEGACY_EXT_MOTIF)
            ),
            "",
        )
        end = provision.obj("period").text("end") or None
        named = [o.obj("identifier").text("value") for o in doc.objects("organization")]
        ins = dmp.resolve_ins(value, pdsm.INS_SYSTEMS[system])  # the body read whole before any query
        await run_in_threadpool(
            partial(dmp.record_information, structure=next((n for n in named if n and n != who.structure), "")),
            who,
            ins,
            axes["alimentation"],
            axes["consultation"],
            motif,
            doc.text("id"),
            end,
        )
        return await _information(ins, who, 201)

    @r.get(
        "/Consent",
        openapi_extra=oas.fhir_search(
            {"patient.identifier": "token", "patient:identifier": "token"}, ("_count", "_summary")
        ),
    )
    @accepts(DMP_PROFESSIONAL)
    async def information(request: Request) -> Response:
        """A search (R4 search.html): a searchset Bundle holding the patient's information state for the
        caller's structure — one Consent; the total alone for `_summary=count`."""
        who = _who(request)
        params = list(request.query_params.multi_items())
        controls = _result_controls(params)
        consent = await _consent(_ins_param(params), who)
        if controls.count_only or controls.count == 0:
            return fhir_response(count_bundle(1))
        entry = {"fullUrl": local_url(consent), "resource": consent, "search": {"mode": "match"}}
        return fhir_response(bundle("searchset", [entry], total=1))

    async def _information(ins: str, who: Who, status: int) -> Response:
        return fhir_response(await _consent(ins, who), status)

    async def _consent(ins: str, who: Who) -> dict:
        dossier, feed, read = await run_in_threadpool(dmp.status_for, who, ins)
        provisions = [
            {
                "type": "permit" if state is InformationState.NOT_OPPOSED else "deny",
                "action": [{"coding": [{"system": ns.code_system(CS_CONSENT_ACTION), "code": axis}]}],
                "extension": [{"url": ns.structure("dmp-etat-information"), "valueCode": state.value}],
            }
            for axis, state in (("alimentation", dossier.alimentation), ("consultation", dossier.consultation))
        ]
        motif = read.message if not read.allowed else feed.message
        return {
            "resourceType": "Consent",
            # one per patient and structure: a name-based id (RFC 9562 §5.5), the same at each reading
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{LEGACY_CONSENT_ACTION}/{ins}/{who.structure}")),
            "status": "active" if dossier.state is DossierState.ACTIVE else "inactive",
            "scope": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
            },
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"identifier": {"value": ins}},
            "organization": [{"identifier": {"value": who.structure}}],
            "provision": {"type": "permit", "provision": provisions},
            "extension": [
                {"url": ns.structure("dmp-etat-dossier"), "valueCode": dossier.state.value},
                {"url": ns.structure("dmp-peut-alimenter"), "valueBoolean": feed.allowed},
                {"url": ns.structure("dmp-peut-consulter"), "valueBoolean": read.allowed},
                *[{"url": ns.structure("dmp-motif"), "valueString": m} for m in [motif] if m],  # never ""
            ],
        }

    # --- secretariat ---------------------------------------------------------------------------------

    @r.put("/secretariat/{secretary}", openapi_extra=oas.extra(IGNORED, NO_CONTENT, oas.errors(409, 422)))
    @accepts(DOCTOR)
    async def add_secretary(secretary: Identifier, request: Request) -> Response:
        await run_in_threadpool(dmp.declare_secretary, who_of(authorizer, request), secretary)
        return Response(status_code=204)

    @r.delete("/secretariat/{secretary}", openapi_extra=NO_CONTENT)
    @accepts(DOCTOR)
    async def remove_secretary(secretary: Identifier, request: Request) -> Response:
        await run_in_threadpool(dmp.declare_secretary, who_of(authorizer, request), secretary, remove=True)
        return Response(status_code=204)

    # --- the patient's controls (Mon espace santé) ---------------------------------------------------

    @r.get("/espace/historique", openapi_extra=oas.fhir_answer(oas.bundle_schema(oas.resource("AuditEvent"))))
    @accepts(PATIENT)
    async def history(request: Request) -> Response:
        rows = await run_in_threadpool(dmp.history, who_of(authorizer, request))
        events = [access_event(row, ns) for row in rows]
        # served only here: each entry named by a urn:uuid (R4 §2.36.4), no `entry` when there is none
        entries = [{"fullUrl": local_url(e), "resource": e, "search": {"mode": "match"}} for e in events]
        return fhir_response(bundle("searchset", entries, total=len(events)))

    @r.put(
        "/espace/preferences",
        openapi_extra=oas.extra(oas.json_body(PREFERENCES), NO_CONTENT, oas.errors(404, 409, 422)),
    )
    @accepts(PATIENT)
    async def preferences(request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        unknown = set(body) - {"medecinTraitant", "opposeBrisDeGlace", "opposeCentre15"}
        if unknown:
            raise InvalidInput(f"champs inconnus : {', '.join(sorted(unknown))}", code="champ-inconnu")
        flags = {k: body[k] for k in ("opposeBrisDeGlace", "opposeCentre15") if k in body}
        if any(not isinstance(v, bool) for v in flags.values()):
            raise InvalidInput("opposeBrisDeGlace / opposeCentre15 : booléens", code="champ-invalide")
        traitant = body.get("medecinTraitant")
        if traitant is not None and not (isinstance(traitant, str) and ascii_digits(traitant, 20)):
            raise InvalidInput("medecinTraitant : l'IdNatPS du médecin, ou null", code="champ-invalide")
        await run_in_threadpool(
            lambda: dmp.set_preferences(
                who_of(authorizer, request),
                medecin_traitant=traitant,
                clear_traitant="medecinTraitant" in body,
                oppose_bris_de_glace=flags.get("opposeBrisDeGlace"),
                oppose_centre_15=flags.get("opposeCentre15"),
            )
        )
        return Response(status_code=204)

    @r.put(
        "/espace/regles/{professional}",
        openapi_extra=oas.extra(oas.json_body(oas.required_texts("regle")), NO_CONTENT, oas.errors(409, 422)),
    )
    @accepts(PATIENT)
    async def rule(professional: Identifier, request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        await run_in_threadpool(dmp.set_rule, who_of(authorizer, request), professional, required_text(body, "regle"))
        return Response(status_code=204)

    @r.delete("/espace/regles/{professional}", openapi_extra=NO_CONTENT)
    @accepts(PATIENT)
    async def remove_rule(professional: Identifier, request: Request) -> Response:
        await run_in_threadpool(dmp.set_rule, who_of(authorizer, request), professional, None)
        return Response(status_code=204)

    @r.post(
        "/espace/codes",
        openapi_extra=oas.extra(
            oas.json_body(CODE_BODY),
            oas.json_answer(
                oas.json_object(["code", "jours"], {"code": oas.text(), "jours": {"type": "integer"}}), 201
            ),
            oas.errors(409, 422),
        ),
    )
    @accepts(PATIENT)
    async def create_code(request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        rubriques, days = body.get("rubriques"), body.get("jours", 7)
        if (
            not isinstance(rubriques, list)
            or not all(isinstance(x, str) for x in rubriques)
            or not isinstance(days, int)
            or isinstance(days, bool)  # JSON's true is not a number of days
        ):
            raise InvalidInput("rubriques (liste) et jours (entier) attendus", code="champ-invalide")
        code = await run_in_threadpool(
            dmp.create_code, who_of(authorizer, request), required_text(body, "professionnel"), rubriques, days
        )
        return json_response({"code": code, "jours": days}, 201, no_store=True)

    @r.delete("/espace/codes/{professional}", openapi_extra=NO_CONTENT)
    @accepts(PATIENT)
    async def revoke_codes(professional: Identifier, request: Request) -> Response:
        await run_in_threadpool(dmp.revoke_codes, who_of(authorizer, request), professional)
        return Response(status_code=204)

    @r.put(
        "/espace/etat",
        openapi_extra=oas.extra(
            oas.json_body(oas.json_object(["etat"], {"etat": {"enum": [s.value for s in DossierState]}})),
            NO_CONTENT,
            oas.errors(409, 422),
        ),
    )
    @accepts(PATIENT)
    async def dossier_state(request: Request) -> Response:
        body = await read_json_object(request, max_body_bytes)
        state = required_text(body, "etat")
        if state not in {s.value for s in DossierState}:
            raise InvalidInput("etat : active, opposed ou closed", code="etat-invalide")
        await run_in_threadpool(dmp.set_dossier_state, who_of(authorizer, request), DossierState(state))
        return Response(status_code=204)

    return r
