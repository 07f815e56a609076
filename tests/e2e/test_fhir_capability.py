"""Every FHIR base publishes at `/metadata` a CapabilityStatement that is valid R4 and says the truth
(issue 20 §4.1): each interaction and operation it declares has its route, and each FHIR route of the
base is declared. Validity is checked on the wire by tests/e2e/conftest.py (fhir_r4.problems)."""

import re

import httpx
import pytest
from fastapi.routing import APIRoute

from maison.house import FHIR_BASES

STATEMENT_BASES = [b for b in FHIR_BASES if b != "/espace"]  # a JSON API with FHIR bodies, no REST base
# Bulk Data's status and file URLs belong to its $export kick-off (FHIR Bulk Data Access §5.3-5.4)
BULK_DATA_URLS = {"export-status": "export", "export-file": "export"}
_INTERACTION_ROUTES = {
    "read": ("GET", "{T}/{}"),
    "vread": ("GET", "{T}/{}/_history/{}"),
    "update": ("PUT", "{T}/{}"),
    "patch": ("PATCH", "{T}/{}|{T}"),
    "delete": ("DELETE", "{T}/{}"),
    "create": ("POST", "{T}"),
    "search-type": ("GET", "{T}"),
}


def _routes(house, base: str) -> list[tuple[str, str]]:
    """(method, path below the base) of each route of the app under `base`, path parameters as {}."""
    found = []

    def walk(router, prefix: str) -> None:
        for route in router.routes:
            if hasattr(route, "original_router"):  # an included router (FastAPI ≥ 0.120)
                walk(route.original_router, prefix + route.include_context.prefix)
            elif isinstance(route, APIRoute) and (prefix + route.path).startswith(base + "/"):
                below = re.sub(r"\{[^}]+\}", "{}", (prefix + route.path)[len(base) + 1 :])
                found.extend((method, below) for method in route.methods)

    walk(house.app().router, "")
    return found


def _served(routes: list[tuple[str, str]], method: str, pattern: str, rtype: str) -> bool:
    for shape in pattern.split("|"):
        wanted = shape.replace("{T}", rtype).split("/")
        for m, path in routes:
            segments = path.split("/")
            if m == method and len(segments) == len(wanted):
                if all(s == w or s == "{}" for s, w in zip(segments, wanted, strict=True)):
                    return True
    return False


@pytest.mark.parametrize("base", STATEMENT_BASES)
def test_each_base_declares_what_its_routes_do(house, live, base):
    answer = httpx.get(f"{live.url}{base}/metadata")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/fhir+json")
    statement = answer.json()
    assert statement["fhirVersion"] == "4.0.1" and statement["implementation"]["url"] == f"{live.url}{base}"
    routes = _routes(house, base)
    rest = statement["rest"][0]
    declared_types, declared_ops = set(), {o["name"] for o in rest.get("operation", [])}
    for resource in rest.get("resource", []):
        rtype = resource["type"]
        declared_types.add(rtype)
        for interaction in resource["interaction"]:
            method, pattern = _INTERACTION_ROUTES[interaction["code"]]
            assert _served(routes, method, pattern, rtype), f"{base}: {interaction['code']} {rtype} declared, no route"
        for operation in resource.get("operation", []):
            declared_ops.add(operation["name"])
            assert any(f"${operation['name']}" in path for _m, path in routes), f"{base}: ${operation['name']}"
        if resource["readHistory"]:  # past versions served: by vread
            assert "vread" in {i["code"] for i in resource["interaction"]}
    for method, path in routes:
        first = path.split("/")[0]
        for op in re.findall(r"\$([\w-]+)", path):
            op = BULK_DATA_URLS.get(op, op)
            assert op in declared_ops, f"{base}: route {method} {path} serves an undeclared operation"
        if first[:1].isupper():  # a route of a FHIR resource type: its type and interaction are declared
            assert first in declared_types, f"{base}: {method} {path} serves an undeclared type"


def test_versioned_resources_are_read_by_version(house, live):
    """Versioned resources support vread, or carry no version (§4.4): a base keeping meta.versionId
    declares vread (and the fullUrl test reads each versioned resource back by its version)."""
    versioned = []
    for base in STATEMENT_BASES:
        for resource in httpx.get(f"{live.url}{base}/metadata").json()["rest"][0].get("resource", []):
            if resource["versioning"] != "no-version":
                assert "vread" in {i["code"] for i in resource["interaction"]}, f"{base} {resource['type']}"
                versioned.append(f"{base}/{resource['type']}")
    assert versioned == ["/dmp/DocumentReference"]  # PDSm's meta.versionId; the others carry none
