"""The house's OpenAPI document is complete (issue 21 §3.1): every operation says who may call it
(derived from its route's policy), every write its body, every FHIR search its parameters, every
error its real shape; FastAPI's unused 422 is gone. Schemathesis checks the answers against it
(tests/hostile/test_schemathesis.py); this checks the document itself."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from maison.core.actor import KeyScope
from maison.core.authz import PATIENT, Accepts, Public, accepts, keys, public
from maison.etablissement.vigilance.api import SEARCH as PATIENT_SEARCH
from maison.identite.annuaire import search as annuaire_search
from maison.openapi_document import ADMINISTRATOR, PSC, STRUCTURE_KEY, install, security_of
from maison.partage.dmp.api import _search_types
from maison.partage.ordonnance.api import SEARCH as ORDONNANCE_SEARCH

WRITES = ("post", "put", "patch")
FHIR_BASES = ("/fhir/", "/annuaire/", "/dmp/", "/espace/", "/ordonnance/")


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_operation_states_its_security(house):
    spec = TestClient(house.app()).get("/openapi.json").json()  # what a client generator downloads
    schemes = spec["components"]["securitySchemes"]
    assert {PSC, STRUCTURE_KEY, ADMINISTRATOR, "monEspaceSante"} <= set(schemes)
    assert schemes[STRUCTURE_KEY] == schemes[STRUCTURE_KEY] | {
        "type": "apiKey",
        "in": "header",
        "name": "ESANTE-API-KEY",
    }
    missing = [f"{m.upper()} {p}" for p, m, o in _operations(spec) if "security" not in o]
    assert not missing
    for path, method, operation in _operations(spec):
        for requirement in operation["security"]:
            assert set(requirement) <= set(schemes), (method, path)
    ops = {(p, m): o for p, m, o in _operations(spec)}
    assert ops[("/fhir/metadata", "get")]["security"] == []  # @public
    admin = [KeyScope.ADMINISTRATEUR_MAISON.value]
    assert ops[("/admin/cles", "post")]["security"] == [{ADMINISTRATOR: admin}, {"administrateurBearer": admin}]
    assert {"monEspaceSante": []} in ops[("/espace/agenda", "get")]["security"]
    assert {PSC: []} in ops[("/ordonnance/RequestGroup", "post")]["security"]


def test_every_write_states_its_body_and_no_unused_422_remains(house):
    spec = house.app().openapi()
    bodiless = [f"{m.upper()} {p}" for p, m, o in _operations(spec) if m in WRITES and "requestBody" not in o]
    assert not bodiless
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert "HTTPValidationError" not in str(spec)
    for path, method, operation in _operations(spec):
        for status, answer in operation["responses"].items():
            if status.startswith("4") and path.startswith(FHIR_BASES):
                assert "application/fhir+json" in answer["content"], (method, path, status)


def test_protocols_answer_their_own_errors(house):
    ops = {(p, m): o for p, m, o in _operations(house.app().openapi())}
    insi = ops[("/insi/lps", "post")]["responses"]
    assert "application/soap+xml" in insi["500"]["content"]  # INSi's refusals: SOAP faults on 500
    token = ops[("/psc/auth/realms/esante-wallet/protocol/openid-connect/token", "post")]
    assert token["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/OAuthError")
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]
    patient = ops[("/fhir/Patient", "post")]
    assert patient["requestBody"]["content"]["application/fhir+json"]["schema"]["properties"]["resourceType"] == {
        "const": "Patient"
    }
    assert set(patient["responses"]) >= {"201", "400", "401", "403", "409", "413", "422"}
    assert "200" not in patient["responses"]  # FastAPI's guess, replaced by what the route answers


def test_every_fhir_search_declares_the_parameters_its_route_reads(house):
    spec = house.app().openapi()
    searches = {
        p: o
        for p, m, o in _operations(spec)
        if m == "get" and p.startswith(FHIR_BASES) and (p.rsplit("/", 1)[-1][:1].isupper() or p.endswith("/{rtype}"))
    }
    assert len(searches) >= 6
    for path, operation in searches.items():
        names = {q["name"] for q in operation.get("parameters", []) if q["in"] == "query"}
        assert names, path
        bundle = operation["responses"]["200"]["content"]["application/fhir+json"]["schema"]
        assert bundle["properties"]["resourceType"] == {"const": "Bundle"}, path

    def query(path: str) -> set[str]:
        return {q["name"] for q in searches[path]["parameters"] if q["in"] == "query"}

    assert set(PATIENT_SEARCH) <= query("/fhir/Patient")
    assert set(_search_types()) <= query("/dmp/DocumentReference")
    assert set(ORDONNANCE_SEARCH) <= query("/ordonnance/RequestGroup")
    assert {n for table in annuaire_search.PARAMS.values() for n in table} <= query("/annuaire/{rtype}")


def test_a_new_route_is_documented_by_its_policy():
    """The post-processor is the one place: a route it has never seen gets its security from its
    policy, its errors in the protocol's shape, and loses FastAPI's 422."""
    app = FastAPI()
    router = APIRouter()

    @router.get(
        "/nouveau/{ident}",
        openapi_extra={"parameters": [{"name": "ident", "in": "path", "required": True, "schema": {"enum": [1, 2]}}]},
    )
    @accepts(Accepts(psc=True, scopes=keys(KeyScope.LOGICIEL)))
    async def new(ident: int) -> dict:
        return {}

    @router.get("/ouvert")
    @public("pour tous")
    async def open_() -> dict:
        return {}

    @router.get("/patient")
    @accepts(PATIENT)
    async def mine() -> dict:
        return {}

    app.include_router(router, prefix="/x")
    install(app)
    spec = app.openapi()
    new_op = spec["paths"]["/x/nouveau/{ident}"]["get"]
    assert new_op["security"] == [
        {PSC: []},
        {STRUCTURE_KEY: ["logiciel"]},
        {"cleStructureBearer": ["logiciel"]},
    ]
    assert set(new_op["responses"]) == {"200", "400", "401", "403", "404"}
    assert [(p["name"], p["schema"]) for p in new_op["parameters"]] == [("ident", {"enum": [1, 2]})]  # refined, once
    assert new_op["responses"]["404"]["content"]["application/fhir+json"]["schema"]["$ref"].endswith(
        "/OperationOutcome"
    )
    assert spec["paths"]["/x/ouvert"]["get"]["security"] == []
    assert "pour tous" in spec["paths"]["/x/ouvert"]["get"]["description"]
    assert "401" not in spec["paths"]["/x/ouvert"]["get"]["responses"]
    assert spec["paths"]["/x/patient"]["get"]["security"] == [{"monEspaceSante": []}]
    assert app.openapi() is spec  # built once


def test_a_route_stating_no_policy_is_not_documented_as_open():
    """A route that states nothing refuses everyone (maison.core.authz): no security requirement says
    that, so the document is not built rather than call it public."""
    app = FastAPI()

    @app.get("/muette")
    async def silent() -> dict:
        return {}

    install(app)
    with pytest.raises(ValueError, match="/muette"):
        app.openapi()
    assert security_of(Public("pour tous")) == []
