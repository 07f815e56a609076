"""HTTP adapters of INSi: the SOAP endpoint, its WSDL and XSDs, and a JSON mirror of the two operations.

`POST /insi/lps` (the path of the national endpoint) takes SOAP 1.2; `GET /insi/lps?wsdl`
publishes the reference WSDL with this server's address; `GET /insi/xsd/...` serves the XSDs the
WSDL imports. `POST /insi/json/rechercherInsAvecTraitsIdentite` and `…/rechercherInsAvecCarteVitale`
take and give JSON, for convenience, with the same rules, audit and errors (as OperationOutcome).
Every call is authenticated by the certificate its connection verified (`certificats`), or, with
`insi_dev_sans_certificat`, accepted in clear from loopback.
"""

from __future__ import annotations

import asyncio
import logging
import re
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, Request, Response

from maison.core.authz import public
from maison.core.errors import MaisonError, NotFound, TooLarge
from maison.formats import openapi as doc
from maison.formats import soap
from maison.formats.body import read_json_object, read_limited
from maison.formats.fhir import outcome_response
from maison.formats.insi import InsiResult, InsRef
from maison.formats.jsonread import Node
from maison.formats.namespace import Namespace
from maison.formats.path_ids import RelativePath
from maison.identite.ins import certificats, insi_soap
from maison.identite.ins.model import CallContext, CarteVitaleQuery, TraitsQuery
from maison.identite.ins.schemas import insi_dir
from maison.identite.ins.service import InsiService

# INSi callers are not the house's bearer credentials: the teleservice authenticates the structure's
# certificate at the TLS layer and its habilitation in ContexteLPS (see the module docstring).
CERTIFICATE = "téléservice INSi : authentification par certificat de la structure et habilitation (ContexteLPS)"


def _ref(ref: InsRef) -> dict[str, Any]:
    out: dict[str, Any] = {"matricule": ref.number, "cle": ref.cle, "type": ref.type, "oid": ref.oid}
    if ref.date_fin:
        out |= {"dateDeb": ref.date_deb.isoformat() if ref.date_deb else None, "dateFin": ref.date_fin.isoformat()}
    return out


def result_json(result: InsiResult) -> dict:
    out: dict = {"codeCR": result.code.value, "libelleCR": result.libelle}
    if result.individu:
        t = result.individu.traits
        out["individu"] = {
            "insActif": _ref(result.individu.active),
            "insHisto": [_ref(r) for r in result.individu.history],
            "traits": {
                "nomNaissance": t.nom_naissance,
                "prenom": t.premier_prenom,
                "listePrenom": t.liste_prenoms,
                "sexe": t.sexe,
                "dateNaissance": t.date_naissance,
                "lieuNaissance": t.lieu_naissance,
            },
        }
    return out


# the OpenAPI of the routes below (issue 21 §3.1): the SOAP envelope of the WSDL, the JSON twin's members
SOAP_BODY = doc.extra(
    doc.raw_body([soap.CONTENT_TYPE.split(";")[0]], description="Enveloppe SOAP 1.2 (DESIR_ICIR_EXP_1.5.0.wsdl)"),
    doc.answers(200, {soap.CONTENT_TYPE.split(";")[0]: {"type": "string"}}, "Réponse SOAP (CR 00, 01, 02)"),
)
XML = doc.answers(200, {"text/xml": {"type": "string"}}, "Document XML")
_INS_REF = doc.json_object((), {"matricule": doc.text(), "cle": doc.text(), "type": doc.text(), "oid": doc.text()})
INSI_ANSWER = doc.json_answer(
    doc.json_object(
        ["codeCR", "libelleCR"],
        {
            "codeCR": doc.text("00, 01 ou 02"),
            "libelleCR": doc.text(),
            "individu": doc.json_object(["insActif"], {"insActif": _INS_REF}),
        },
    )
)
CERTIFICATE_ERRORS = doc.errors(401, 403)  # the connection's certificate, checked against the caller's claims
_CONTEXT = {
    "structure": doc.text("Structure (ContexteLPS), sinon l'en-tête X-Structure"),
    "idam": doc.text("IDAM du logiciel, sinon l'en-tête X-LPS-IDAM"),
    "lpsVersion": doc.text(),
    "professionnel": doc.text(),
}
TRAITS_BODY = doc.json_body(
    doc.json_object(
        ["nomNaissance", "sexe", "dateNaissance"],
        {
            "nomNaissance": doc.text(),
            "prenoms": {"type": "array", "items": doc.text()},
            "prenom": doc.text("un seul prénom, à défaut de prenoms"),
            "sexe": doc.text("M ou F"),
            "dateNaissance": doc.text("AAAA-MM-JJ"),
            "lieuNaissance": doc.text("code INSEE"),
            **_CONTEXT,
        },
    )
)
CARTE_VITALE_BODY = doc.json_body(
    doc.json_object(
        ["dateNaissance", "rangNaissance"],
        {
            "matriculeIndividu": doc.text(),
            "matriculeOD": doc.text(),
            "dateNaissance": doc.text(),
            "rangNaissance": {"type": "integer", "minimum": 0, "maximum": 999},
            "nomNaissance": doc.text(),
            **_CONTEXT,
        },
    )
)


# A few threads do the work of every INSi call: each call is a short burst of CPU and SQLite reads,
# and many more threads than cores only make them queue on the GIL; the commit of the audit record
# is awaited outside the threads (see `audited`).
INSI_THREADS = 4


def _checked(
    search,
    ctx: CallContext,
    query,
    credential: certificats.Credential,
    source: str,
    *,
    service: InsiService,
    receipts: list,
) -> InsiResult:
    """A JSON call: the connection's certificate checked against the caller's claims, then the search."""
    service.check_certificate(ctx, credential, source)
    return search(ctx, query, receipts=receipts)


def router(
    service: InsiService,
    reference_path: Path,
    max_body_bytes: int,
    *,
    ns: Namespace,
    dev_sans_certificat: bool = False,
) -> APIRouter:
    r = APIRouter()
    limiter = anyio.CapacityLimiter(INSI_THREADS)

    def caller(request: Request) -> dict:
        return {
            "credential": certificats.credential(request.scope, development=dev_sans_certificat),
            "source": certificats.source(request.scope),
        }

    async def audited(fn, *args, **kwargs):
        """Run an INSi call in a worker thread; answer only once its audit record is committed.

        The thread is released as soon as the answer is computed, and the commit is awaited here,
        so threads never sit idle waiting for the audit journal's group commit.
        """
        receipts: list = []
        try:
            return await anyio.to_thread.run_sync(partial(fn, *args, receipts=receipts, **kwargs), limiter=limiter)
        finally:
            for receipt in receipts:
                await asyncio.wrap_future(receipt)

    @r.post("/lps", openapi_extra=SOAP_BODY)
    @public(CERTIFICATE)
    async def soap_endpoint(request: Request) -> Response:
        try:
            body = await read_limited(request, max_body_bytes)
        except TooLarge as exc:
            fault = insi_soap.envelope_fault(soap.SoapFault(exc.message, code="too-large"))
            return Response(
                insi_soap.fault_response(fault), status_code=fault.http_status, media_type=soap.CONTENT_TYPE
            )
        try:
            status, payload = await audited(
                insi_soap.handle,
                service,
                reference_path,
                body,
                request.headers.get("content-type", ""),
                max_body_bytes,
                **caller(request),
            )
        except Exception:  # noqa: BLE001 - the audit record could not be committed: no answer leaves
            logging.getLogger("maison.insi").exception("INSi audit not committed")
            fault = insi_soap.technical_fault("")
            status, payload = fault.http_status, insi_soap.fault_response(fault)
        return Response(payload, status_code=status, media_type=soap.CONTENT_TYPE)

    @r.get(
        "/lps",
        openapi_extra=doc.extra(doc.query_parameters(["wsdl"], description="présent : le WSDL"), XML, doc.errors(404)),
    )
    @public(CERTIFICATE)
    async def wsdl(request: Request) -> Response:
        if "wsdl" not in request.query_params:
            return outcome_response(NotFound("ajouter ?wsdl pour obtenir la description du service"), ns)
        text = (insi_dir(reference_path) / "DESIR_ICIR_EXP_1.5.0.wsdl").read_text(encoding="utf-8")
        here = str(request.url.replace(query=""))
        text = re.sub(r'(<soap12:address location=")[^"]*(")', rf"\g<1>{here}\g<2>", text)
        text = text.replace('schemaLocation="xsd/', f'schemaLocation="{here.rsplit("/", 1)[0]}/xsd/')
        return Response(text, media_type="text/xml; charset=utf-8")

    @r.get("/xsd/{path:path}", openapi_extra=XML)
    @public(CERTIFICATE)
    async def xsd(path: RelativePath) -> Response:
        base = (insi_dir(reference_path) / "xsd").resolve()
        target = (base / path).resolve()
        if not target.is_relative_to(base) or target.suffix != ".xsd" or not target.is_file():
            return outcome_response(NotFound(f"schéma '{path}' inconnu"), ns)
        return Response(target.read_bytes(), media_type="text/xml; charset=utf-8")

    def _ctx(request: Request, payload: dict) -> CallContext:
        return CallContext(
            structure=str(payload.get("structure") or request.headers.get("x-structure", "")),
            software=str(payload.get("idam") or request.headers.get("x-lps-idam", "")),
            software_version=str(payload.get("lpsVersion", "")),
            professional=str(payload.get("professionnel", "")),
            message_id=request.headers.get("x-message-id", ""),
        )

    async def _json(request: Request) -> dict:
        return await read_json_object(request, max_body_bytes)

    @r.post(
        "/json/rechercherInsAvecTraitsIdentite", openapi_extra=doc.extra(TRAITS_BODY, INSI_ANSWER, CERTIFICATE_ERRORS)
    )
    @public(CERTIFICATE)
    async def json_traits(request: Request) -> Response:
        try:
            p = await _json(request)
            doc = Node(p, "rechercherInsAvecTraitsIdentite")  # typed reads: a wrong type is a 400 naming it
            prenoms = doc.texts("prenoms") or ([doc.text("prenom")] if doc.text("prenom") else [])
            query = TraitsQuery(
                doc.text("nomNaissance"),
                tuple(prenoms),
                doc.text("sexe"),
                doc.text("dateNaissance"),
                doc.text("lieuNaissance") or None,
            )
            result = await audited(
                _checked, service.search_by_traits, _ctx(request, p), query, *caller(request).values(), service=service
            )
            return Response(orjson.dumps(result_json(result)), media_type="application/json")
        except MaisonError as exc:
            return outcome_response(exc, ns)

    @r.post(
        "/json/rechercherInsAvecCarteVitale",
        openapi_extra=doc.extra(CARTE_VITALE_BODY, INSI_ANSWER, CERTIFICATE_ERRORS),
    )
    @public(CERTIFICATE)
    async def json_carte_vitale(request: Request) -> Response:
        try:
            p = await _json(request)
            doc = Node(p, "rechercherInsAvecCarteVitale")
            query = CarteVitaleQuery(
                doc.text("matriculeIndividu") or None,
                doc.text("matriculeOD") or None,
                doc.text("dateNaissance"),
                doc.integer("rangNaissance", 0, 999),
                doc.text("nomNaissance") or None,
            )
            result = await audited(
                _checked,
                service.search_by_carte_vitale,
                _ctx(request, p),
                query,
                *caller(request).values(),
                service=service,
            )
            return Response(orjson.dumps(result_json(result)), media_type="application/json")
        except MaisonError as exc:
            return outcome_response(exc, ns)

    return r
