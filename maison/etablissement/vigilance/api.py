"""FHIR R4 adapter of the local patient index: Patient read, create, update and PDQm-style search.

`GET /fhir/metadata` is the CapabilityStatement. `PUT /fhir/Patient/{id}` and the conditional
`PUT /fhir/Patient?identifier=<system>|<IPP>` (a PAM / ITI-104 feed) update a record under the
index's identitovigilance rules (`PatientIndex.update_from_source`).

`GET /fhir/Patient?family=&given=&birthdate=&gender=&identifier=` follows IHE PDQm (ITI-78):
a `searchset` Bundle; `identifier=<system>|<value>` finds a patient by IPP or, for a qualified
identity only, by INS. Every request is authenticated (`Authorization: Bearer`) and audited.

The identity transitions a DPI drives are FHIR operations on the record: `$recuperer-ins` (INSi
over SOAP, as the caller's structure and software with their certificate, `maison.etablissement.insi`;
the retry rule, association on 00; the answer says what INSi answered), `$verifier-piece` (an
identity document checked at the desk) and `$lire-datamatrix` (a Datamatrix INS scanned from a
document, verified by INSi). A refused transition is an OperationOutcome (422) saying why, with
INSi's advice when inconclusive.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from maison.core.actor import Actor
from maison.core.authz import HOSPITAL_STAFF, Authorizer, accepts, public
from maison.core.errors import InvalidInput, MaisonError, MalformedRequest, UnsupportedMediaType
from maison.core.identifiers.nir import parse_matricule
from maison.core.ins_traits import Traits, normalise_name
from maison.etablissement.insi.client import ClientIdentity, InsiFault, Lookup
from maison.etablissement.insi.transport import InsiGateway
from maison.etablissement.sejours.api import CAPABILITY as ENCOUNTER
from maison.etablissement.vigilance.fhir import (
    EXT_BIRTH_LIST,
    EXT_BIRTHPLACE,
    EXT_INSEE,
    FR_CORE,
    insi_answer,
    is_ipp_system,
    patient_resource,
)
from maison.etablissement.vigilance.service import PatientIndex
from maison.formats import fhir_capability
from maison.formats import openapi as doc
from maison.formats.body import parameter_values, read_json_object, read_limited
from maison.formats.fhir import (
    RESULT_PARAMETERS,
    bundle,
    count_bundle,
    fhir_response,
    operation_outcome,
    result_controls,
)
from maison.formats.fhir_capability import Operation, ResourceCapability
from maison.formats.jsonread import Node
from maison.formats.namespace import Namespace
from maison.formats.path_ids import RowId

_GENDER = {"male": "M", "female": "F"}
SEARCH = {"family": "string", "given": "string", "birthdate": "date", "gender": "token", "identifier": "token"}
# the OpenAPI of the routes below (issue 21 §3.1): the FR Core Patient as `traits_from_patient` reads it
_CODED = doc.json_object((), {"coding": {"type": "array", "items": doc.json_object((), {"code": doc.text()})}})
PATIENT = doc.resource(
    "Patient",
    ["identifier", "name"],
    {
        "id": doc.text("id du dossier (mise à jour)"),
        "identifier": {"type": "array", "items": doc.json_object((), {"type": _CODED, "value": doc.text()})},
        "name": {
            "type": "array",
            "items": doc.json_object(
                (), {"use": doc.text(), "family": doc.text(), "given": {"type": "array", "items": doc.text()}}
            ),
        },
        "gender": doc.text("male, female"),
        "birthDate": doc.text("AAAA, AAAA-MM ou AAAA-MM-JJ"),
        "extension": {"type": "array", "items": doc.json_object(["url"], {"url": doc.text()})},
    },
)
EXAMPLE = {
    "resourceType": "Patient",
    "identifier": [{"type": {"coding": [{"code": "PI"}]}, "value": "IPP-EXEMPLE-0001"}],
    "name": [{"use": "official", "family": "MARTIN", "given": ["Jeanne", "Marie"]}],
    "gender": "female",
    "birthDate": "1980-05-17",
}
PATIENT_BODY = doc.extra(
    doc.fhir_body(
        {**PATIENT, "examples": [EXAMPLE]}, description="Patient FR Core : IPP (identifier de type PI) et traits"
    )
)
PATIENT_ANSWER = doc.fhir_answer(doc.resource("Patient"))
OPERATIONS = (Operation("recuperer-ins"), Operation("verifier-piece"), Operation("lire-datamatrix"))


def capability_statement(base: str, ns: Namespace) -> dict:
    """The patient index as the routes below serve it: FR Core Patient read, create, update (PUT, as
    PAM/PDQm sources send it) and PDQm search, and the identity transitions as operations."""
    patient = ResourceCapability(
        "Patient",
        ("read", "update", "create", "search-type"),
        SEARCH,
        profile=f"{FR_CORE}/StructureDefinition/fr-core-patient",
        supported_profiles=[f"{FR_CORE}/StructureDefinition/fr-core-patient-ins"],
        operations=OPERATIONS,
        update_create=False,
        conditional_update=True,
    )
    return fhir_capability.capability_statement(
        name="index des patients",
        description="Index local des patients et identitovigilance (FHIR R4 Patient, FR Core, PDQm)",
        base=base,
        resources=[patient, ENCOUNTER],  # the stays share the hospital wing's FHIR base
        date="2026-12-07",
        ns=ns,
    )


def traits_from_patient(resource: dict) -> tuple[str, Traits]:
    """Read IPP and traits from a FHIR Patient (FR Core Patient) sent by a DPI."""
    if resource.get("resourceType") != "Patient":
        raise MalformedRequest("ressource Patient attendue", code="resource-type")
    doc = Node(resource, "Patient")  # every member read typed: a wrong type is a 400 naming its path
    ipp = next(
        (
            i.text("value")
            for i in doc.objects("identifier")
            if any(c.text("code") == "PI" for c in i.obj("type").objects("coding"))
        ),
        None,
    )
    if not ipp:
        raise InvalidInput("identifiant IPP (type PI) absent", code="ipp-absent", expression="Patient.identifier")
    name = next((n for n in doc.objects("name") if n.text("use") == "official"), None)
    if name is None:
        raise InvalidInput(
            "nom de naissance (name.use = official) absent", code="nom-absent", expression="Patient.name"
        )
    given = next(
        (e.text("valueString") for e in name.objects("extension") if e.text("url") == EXT_BIRTH_LIST),
        " ".join(name.texts("given")),
    )
    place = None
    for ext in doc.objects("extension"):
        if ext.text("url") == EXT_BIRTHPLACE:
            for sub in ext.obj("valueAddress").objects("extension"):
                if sub.text("url") == EXT_INSEE:
                    place = sub.obj("valueCoding").text("code") or None
    birth = doc.text("birthDate")
    birth = birth + "-00" * (2 - birth.count("-")) if len(birth) in (4, 7) else birth
    gender = _GENDER.get(doc.text("gender"), "")
    return ipp, Traits.of(name.text("family"), given or "", gender, birth, place)


def router(
    index: PatientIndex, insi: InsiGateway, max_body_bytes: int, authorizer: Authorizer, *, ns: Namespace
) -> APIRouter:
    r = APIRouter()

    def _base(request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/fhir"

    def _actor(request: Request) -> Actor:
        """The caller (a structure's API key, or a professional's Pro Santé Connect token) as an audit actor."""
        return authorizer.caller(request)

    @r.get("/metadata", openapi_extra=doc.fhir_answer(doc.resource("CapabilityStatement")))
    @public("la déclaration de capacités FHIR est publique")
    async def metadata(request: Request) -> Response:
        return fhir_response(capability_statement(_base(request), ns))

    @r.post(
        "/Patient",
        openapi_extra=doc.extra(
            PATIENT_BODY, doc.fhir_answer(doc.resource("Patient"), 201, "Admis"), doc.errors(409, 422)
        ),
    )
    @accepts(HOSPITAL_STAFF)
    async def create(request: Request) -> Response:
        actor = _actor(request)
        resource = await read_json_object(request, max_body_bytes)
        ipp, traits = traits_from_patient(resource)
        identity = index.admit(actor, actor.structure, ipp, traits)
        response = fhir_response(patient_resource(identity, ns), 201)
        response.headers["Location"] = f"{_base(request)}/Patient/{identity.id}"
        return response

    @r.put(
        "/Patient",
        openapi_extra=doc.extra(
            PATIENT_BODY,
            doc.query_parameters(["identifier"]),
            PATIENT_ANSWER,
            doc.fhir_answer(doc.resource("Patient"), 201, "Admis"),
            doc.errors(409, 422),
        ),
    )
    @accepts(HOSPITAL_STAFF)
    async def conditional_update(request: Request) -> Response:
        """Conditional update by IPP (R4 http.html §3.1.0.4.3), as an identity source feeds an index
        (IHE ITI-104 Patient Identity Feed FHIR: `PUT Patient?identifier=system|value`): the record of
        that IPP in the caller's structure is updated (200) under `update_from_source`'s rules, or
        admitted when there is none (201); the IPP of the query is the one of the body."""
        actor = _actor(request)
        if list(request.query_params) != ["identifier"]:
            raise InvalidInput(
                "mise à jour conditionnelle : le seul critère est identifier=<système>|<IPP>",
                code="critere-conditionnel",
                expression="identifier",
            )
        system, _, value = request.query_params["identifier"].rpartition("|")
        resource = await read_json_object(request, max_body_bytes)
        ipp, traits = traits_from_patient(resource)
        if value != ipp or not (system == "" or is_ipp_system(ns, system, actor.structure)):
            raise InvalidInput(
                f"identifier {request.query_params['identifier']!r} : l'IPP du Patient envoyé est attendu",
                code="ipp-different",
                expression="identifier",
            )
        found, _total = await run_in_threadpool(index.search_page, actor, ipp=ipp, limit=1)
        if not found:
            identity = await run_in_threadpool(index.admit, actor, actor.structure, ipp, traits)
            response = fhir_response(patient_resource(identity, ns), 201)
            response.headers["Location"] = f"{_base(request)}/Patient/{identity.id}"
            return response
        if resource.get("id") not in (None, str(found[0].id)):
            raise InvalidInput(
                f"Patient.id {resource.get('id')!r} : le dossier de l'IPP {ipp} est {found[0].id}",
                code="id-different",
                expression="Patient.id",
            )
        identity = await run_in_threadpool(index.update_from_source, actor, found[0].id, ipp, traits)
        return fhir_response(patient_resource(identity, ns))

    @r.put("/Patient/{patient_id}", openapi_extra=doc.extra(PATIENT_BODY, PATIENT_ANSWER, doc.errors(409, 422)))
    @accepts(HOSPITAL_STAFF)
    async def update(patient_id: RowId, request: Request) -> Response:
        """FHIR update (R4 http.html §3.1.0.4), as PAM / PDQm identity sources send a record whole:
        the id in the body is the one of the URL; the IPP is the record's; the traits go through the
        identitovigilance rules of `PatientIndex.update_from_source`. No update as create: the index
        assigns ids at admission (CapabilityStatement updateCreate false)."""
        actor = _actor(request)
        resource = await read_json_object(request, max_body_bytes)
        if resource.get("id") != str(patient_id):
            raise InvalidInput(
                f"Patient.id {resource.get('id')!r} : l'id de l'URL ({patient_id}) est attendu",
                code="id-different",
                expression="Patient.id",
            )
        ipp, traits = traits_from_patient(resource)
        identity = await run_in_threadpool(index.update_from_source, actor, patient_id, ipp, traits)
        return fhir_response(patient_resource(identity, ns))

    @r.get("/Patient/{patient_id}", openapi_extra=PATIENT_ANSWER)
    @accepts(HOSPITAL_STAFF)
    async def read(patient_id: RowId, request: Request) -> Response:
        actor = _actor(request)
        return fhir_response(patient_resource(index.get(actor, patient_id), ns))

    @r.get("/Patient", openapi_extra=doc.fhir_search(SEARCH, ("_count", "_summary"), doc.resource("Patient")))
    @accepts(HOSPITAL_STAFF)
    async def search(request: Request) -> Response:
        actor = _actor(request)
        p = request.query_params
        unknown = set(p) - set(SEARCH) - RESULT_PARAMETERS
        if unknown:
            raise InvalidInput(f"paramètres inconnus : {', '.join(sorted(unknown))}", code="parametre")
        # _count (0: the total alone, up to 200), _summary=count; no _elements nor _sort (issue 20 §4.3)
        controls = result_controls(p.multi_items(), max_count=200)
        ipp = ins = None
        if "identifier" in p:
            system, _, value = p["identifier"].rpartition("|")
            if system.startswith("urn:oid:1.2.250.1.213.1.4."):
                ins = parse_matricule(value).number
            else:
                ipp = value
        count = 0 if controls.count_only else 50 if controls.count is None else controls.count
        found, total = index.search_page(
            actor,
            family=normalise_name(p["family"]) if "family" in p else None,
            given=normalise_name(p["given"]) if "given" in p else None,
            birthdate=p.get("birthdate"),
            gender=_GENDER.get(p.get("gender", ""), p.get("gender")),
            ipp=ipp,
            ins_number=ins,
            limit=count,
        )
        if controls.count_only:
            return fhir_response(count_bundle(total))
        base = _base(request)
        entries = [
            {"fullUrl": f"{base}/Patient/{i.id}", "resource": patient_resource(i, ns), "search": {"mode": "match"}}
            for i in found
        ]
        return fhir_response(bundle("searchset", entries, total=total))

    # --- operations for the identity transitions a DPI drives -------------------------------------

    async def _lookup(actor: Actor, traits: Traits) -> Lookup:
        """INSi over SOAP with the client retry rule, as the actor's structure and software call it (its
        certificate, its ContexteLPS) for the actor; INSi's refusal is answered as the error it names."""
        try:
            return await insi.lookup(ClientIdentity(actor.structure, actor.software, professional=actor.person), traits)
        except InsiFault as fault:
            raise fault.error() from None

    @r.post(
        "/Patient/{patient_id}/$recuperer-ins",
        openapi_extra=doc.extra(doc.ignored_body(), PATIENT_ANSWER, doc.errors(409, 422, 502)),
    )
    @accepts(HOSPITAL_STAFF)
    async def recover_ins(patient_id: RowId, request: Request) -> Response:
        """Call INSi with the record's traits (each first name, then the list); 00 → RECUP or QUAL.
        The answer tells what INSi answered (code CR, searches made: `insi_answer`), on the Patient or
        on the refusal's issue, so the DPI shows it without calling INSi again."""
        actor, pid = _actor(request), patient_id
        current = index.get(actor, pid)
        lookup = await _lookup(actor, current.traits)
        answer = insi_answer(ns, lookup.result.code.value, len(lookup.attempts))
        try:
            patient = patient_resource(index.record_insi_result(actor, pid, lookup.result), ns)
        except MaisonError as refused:
            outcome = operation_outcome(refused, ns)
            outcome["issue"][0]["extension"] = [answer]
            return fhir_response(outcome, refused.http_status)
        patient["extension"].append(answer)
        return fhir_response(patient)

    @r.post(
        "/Patient/{patient_id}/$verifier-piece",
        openapi_extra=doc.extra(
            doc.fhir_body(doc.parameters_schema(), required=False, description="Parameters : typePiece (valueCode)"),
            PATIENT_ANSWER,
            doc.errors(409, 422),
        ),
    )
    @accepts(HOSPITAL_STAFF)
    async def check_document(patient_id: RowId, request: Request) -> Response:
        """`Parameters` with `typePiece` (valueCode: PA, CN, AN, LE, …): the desk checked that document."""
        actor, pid = _actor(request), patient_id
        kind = parameter_values(await read_json_object(request, max_body_bytes, empty_as={})).get("typePiece")
        if not isinstance(kind, str) or not kind:
            raise InvalidInput(
                "paramètre typePiece (valueCode) attendu", code="piece-absente", expression="Parameters.parameter"
            )
        return fhir_response(patient_resource(index.check_document(actor, pid, kind), ns))

    @r.post(
        "/Patient/{patient_id}/$lire-datamatrix",
        openapi_extra=doc.extra(
            doc.raw_body(
                ["image/png", "text/plain"],
                description="Le Datamatrix INS scanné (image) ou lu par un lecteur 2D (texte)",
            ),
            PATIENT_ANSWER,
            doc.errors(409, 415, 422, 502),
        ),
    )
    @accepts(HOSPITAL_STAFF)
    async def read_datamatrix(patient_id: RowId, request: Request) -> Response:
        """A scanned Datamatrix INS: `image/png` (the scan) or `text/plain` (what a 2D reader typed)."""
        from maison.formats import datamatrix

        actor, pid = _actor(request), patient_id
        raw = await read_limited(request, max_body_bytes)
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind == "image/png":
            scanned = await run_in_threadpool(datamatrix.read_png, raw)
        elif kind == "text/plain":
            scanned = datamatrix.parse_content(raw.decode("ascii", errors="replace"))
        else:
            raise UnsupportedMediaType("image/png ou text/plain attendu")
        lookup = await _lookup(actor, scanned.traits)
        identity = index.record_datamatrix(actor, pid, scanned, lookup.result)
        return fhir_response(patient_resource(identity, ns))

    return r
