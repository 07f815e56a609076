"""HTTP adapter of the Annuaire Santé: FHIR R4 read and search, as the ANS API serves them.

`GET /annuaire/{type}?…` and `POST /annuaire/{type}/_search` (form body) search;
`GET /annuaire/{type}/{id}` reads; `GET /annuaire/metadata` is the CapabilityStatement. Callers
present an API key, as the real API's `ESANTE-API-KEY` header (or `Authorization: Bearer`).
Directory data is public professional data, not health data: calls are authenticated, not audited.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maison import __version__
from maison.core.auth import actor_for
from maison.core.errors import NotFound, UnsupportedMediaType
from maison.core.storage import Database
from maison.formats.body import read_limited
from maison.formats.fhir import fhir_response
from maison.identite.annuaire import search
from maison.identite.annuaire.index import get
from maison.identite.annuaire.vocabulary import IG


def _authenticate(db: Database, request: Request) -> None:
    key = request.headers.get("esante-api-key")
    actor_for(db, f"Bearer {key}" if key else request.headers.get("authorization"))


def capability_statement(base: str) -> dict:
    resources = []
    for rtype, params in search.PARAMS.items():
        resources.append({
            "type": rtype,
            "profile": f"{IG}/StructureDefinition/as-dp-{rtype.lower()}",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchInclude": sorted(search.INCLUDES[rtype]) + (["*"] if search.INCLUDES[rtype] else []),
            "searchRevInclude": sorted(search.REVINCLUDES[rtype]),
            "searchParam": [{"name": name, "type": {"id": "token", "bool": "token", "mailbox-type": "token",
                                                    "date": "date", "reference": "reference"}.get(kind, "string")}
                            for name, (kind, _t) in sorted(params.items())],
        })
    return {"resourceType": "CapabilityStatement", "status": "active", "date": "2026-11-21", "kind": "instance",
            "software": {"name": "Maison — Annuaire Santé", "version": __version__},
            "implementation": {"description": "Annuaire Santé (FHIR R4, IG fhir-annuaire)", "url": base},
            "fhirVersion": "4.0.1", "format": ["application/fhir+json", "json"],
            "instantiates": [f"{IG}/CapabilityStatement/AsServerDPCapabilityStatement"],
            "rest": [{"mode": "server", "resource": resources}]}


def router(db: Database, max_body_bytes: int) -> APIRouter:
    r = APIRouter()

    def _base(request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/annuaire"

    def _search(rtype: str, params: list[tuple[str, str]], base: str) -> dict:
        query = search.parse(rtype, params)
        with db.read() as conn:
            return search.run(conn, query, base)

    @r.get("/metadata")
    async def metadata(request: Request) -> Response:
        return fhir_response(capability_statement(_base(request)))

    @r.get("/{rtype}")
    async def search_get(rtype: str, request: Request) -> Response:
        _authenticate(db, request)
        params = parse_qsl(request.url.query, keep_blank_values=True)
        return fhir_response(await run_in_threadpool(_search, rtype, params, _base(request)))

    @r.post("/{rtype}/_search")
    async def search_post(rtype: str, request: Request) -> Response:
        _authenticate(db, request)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            raise UnsupportedMediaType("application/x-www-form-urlencoded attendu pour _search")
        body = (await read_limited(request, max_body_bytes)).decode("utf-8", errors="replace")
        params = parse_qsl(request.url.query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
        return fhir_response(await run_in_threadpool(_search, rtype, params, _base(request)))

    @r.get("/{rtype}/{rid}")
    async def read(rtype: str, rid: str, request: Request) -> Response:
        _authenticate(db, request)
        if rtype not in search.PARAMS:
            raise NotFound(f"type de ressource '{rtype}' non servi par l'annuaire", code="type-inconnu")
        with db.read() as conn:
            resource = get(conn, rtype, rid)
        if resource is None:
            raise NotFound(f"{rtype}/{rid} inconnu", code="ressource-inconnue")
        return fhir_response(search.public(resource))

    return r



