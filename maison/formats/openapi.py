"""OpenAPI fragments a route states next to itself (`openapi_extra=`): its request body, the search
parameters it reads, its answers, the error statuses particular to it (issue 21 §3.1).

The house's routes read their bodies raw (a size limit first, `maison.formats.body`), so FastAPI
infers no `requestBody`: each write states it here, in the shape the route really reads — only
the members the route checks are constrained, so that a document-driven client (or Schemathesis'
negative data) is told the truth about what is refused. What is systematic — the security
requirement from the route's policy, the error answers of each protocol — is added once by
`maison.openapi_document`; a route only names the error statuses that are its own
(`errors(409, 412)`), under the extension key `x-maison-errors` that the post-processor consumes.

OpenAPI 3.1 (Schema Object = JSON Schema 2020-12); FHIR R4 json.html for the resources' shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FHIR_JSON = "application/fhir+json"
ERRORS_KEY = "x-maison-errors"

Schema = dict[str, Any]


def extra(*fragments: Mapping[str, Any]) -> dict[str, Any]:
    """Several fragments as one `openapi_extra` (their keys are distinct: body, parameters, answers…)."""
    merged: dict[str, Any] = {}
    for fragment in fragments:
        for key, value in fragment.items():
            if key == "parameters":
                merged.setdefault("parameters", []).extend(value)
            elif key == "responses":
                merged.setdefault("responses", {}).update(value)
            elif key == ERRORS_KEY:
                merged.setdefault(ERRORS_KEY, []).extend(value)
            else:
                merged[key] = value
    return merged


# --- schemas ----------------------------------------------------------------------------------------


def text(description: str = "", max_length: int | None = None) -> Schema:
    schema: Schema = {"type": "string"}
    if max_length:
        schema["maxLength"] = max_length
    if description:
        schema["description"] = description
    return schema


def json_object(required: Iterable[str] = (), properties: Mapping[str, Schema] | None = None) -> Schema:
    schema: Schema = {"type": "object", "properties": dict(properties or {})}
    if required:
        schema["required"] = list(required)
    return schema


def resource(
    resource_type: str, required: Iterable[str] = (), properties: Mapping[str, Schema] | None = None
) -> Schema:
    """A FHIR resource of this type: `resourceType` required with its value (R4 json.html §2.6.2.1)."""
    schema = json_object(["resourceType", *required], {"resourceType": {"const": resource_type}, **(properties or {})})
    schema["description"] = f"Ressource FHIR {resource_type}"
    return schema


def any_resource(description: str = "Une ressource FHIR") -> Schema:
    return {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string"}},
        "description": description,
    }


def bundle_schema(entry: Schema | None = None) -> Schema:
    """A FHIR Bundle (R4 bundle.html): searchset, history, transaction-response… and its entries."""
    item = json_object((), {"fullUrl": {"type": "string"}, "resource": entry or any_resource()})
    return resource(
        "Bundle",
        ["type"],
        {
            "type": {"type": "string"},
            "total": {"type": "integer", "minimum": 0},
            "entry": {"type": "array", "items": item},
        },
    )


def parameters_schema(names: Mapping[str, Schema] | None = None) -> Schema:
    """A FHIR `Parameters` resource (R4 parameters.html), the body of a FHIR operation."""
    parameter = json_object(["name"], {"name": {"type": "string"}})
    return resource("Parameters", (), {"parameter": {"type": "array", "items": parameter}, **(names or {})})


# --- request bodies -----------------------------------------------------------------------------------


def _body(content: Mapping[str, Schema], required: bool, description: str) -> dict[str, Any]:
    body: dict[str, Any] = {"required": required, "content": {k: {"schema": v} for k, v in content.items()}}
    if description:
        body["description"] = description
    return {"requestBody": body}


def json_body(schema: Schema, *, required: bool = True, description: str = "") -> dict[str, Any]:
    """A JSON body (`application/json`)."""
    return _body({"application/json": schema}, required, description)


def fhir_body(schema: Schema, *, required: bool = True, description: str = "") -> dict[str, Any]:
    """A FHIR resource in JSON: the house reads the body as JSON whatever its media type (R4 http.html
    §3.1.0.1.8 names `application/fhir+json`; `application/json` is what most clients send)."""
    return _body({FHIR_JSON: schema, "application/json": schema}, required, description)


def form_body(required: Iterable[str], properties: Mapping[str, Schema], *, description: str = "") -> dict[str, Any]:
    """An HTML form / OAuth 2.0 request (`application/x-www-form-urlencoded`, RFC 6749 §4.1.3)."""
    return _body({"application/x-www-form-urlencoded": json_object(required, properties)}, True, description)


def raw_body(media_types: Iterable[str], *, description: str = "", required: bool = True) -> dict[str, Any]:
    """A body the route takes as it is (an XML document, a MIME message, an image)."""
    return _body({m: {"type": "string", "format": "binary"} for m in media_types}, required, description)


# --- parameters -----------------------------------------------------------------------------------------


def query_parameters(names: Iterable[str] | Mapping[str, str], *, description: str = "") -> dict[str, Any]:
    """Parameters read from the query, each a string as on the wire; a mapping gives each its FHIR
    search type (R4 search.html §3.1.1: string, token, date, reference…), said in its description."""
    kinds = names if isinstance(names, Mapping) else dict.fromkeys(names, "")
    return {
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": f"paramètre de recherche FHIR de type {kind}" if kind else description,
            }
            for name, kind in kinds.items()
        ]
    }


def fhir_search(
    parameters: Iterable[str] | Mapping[str, str], results: Iterable[str] = ("_count",), entry: Schema | None = None
) -> dict[str, Any]:
    """A FHIR search (R4 search.html): the search parameters the route reads (its own table, passed in
    by the route), the result parameters it honours (§3.1.1.5-6), and a `searchset` Bundle as answer."""
    result_kinds = {r: "résultat (R4 search.html §3.1.1.5)" for r in results}
    return extra(query_parameters(parameters), query_parameters(result_kinds), fhir_answer(bundle_schema(entry)))


# --- answers ----------------------------------------------------------------------------------------------


def answers(status: int, media_types: Mapping[str, Schema], description: str = "Succès") -> dict[str, Any]:
    """A success answer, replacing FastAPI's guessed `200 application/json {}` when it is not that."""
    return {
        "responses": {
            str(status): {"description": description, "content": {m: {"schema": s} for m, s in media_types.items()}}
        }
    }


def fhir_answer(schema: Schema, status: int = 200, description: str = "Succès") -> dict[str, Any]:
    return answers(status, {FHIR_JSON: schema}, description)


def json_answer(schema: Schema, status: int = 200, description: str = "Succès") -> dict[str, Any]:
    return answers(status, {"application/json": schema}, description)


def no_content(status: int = 204, description: str = "Fait") -> dict[str, Any]:
    """An answer without a body (`content: None` replaces FastAPI's guess; the post-processor drops it)."""
    return {"responses": {str(status): {"description": description, "content": None}}}


def errors(*statuses: int) -> dict[str, Any]:
    """Error statuses particular to this route, beyond those of its protocol (added by the post-processor
    in the protocol's error shape)."""
    return {ERRORS_KEY: list(statuses)}


def ignored_body(description: str = "Aucun corps n'est lu") -> dict[str, Any]:
    """A write that reads no body (an operation on the resource named by its path): any body is
    accepted and ignored, which the document says rather than invent a schema the route does not check."""
    return _body({"*/*": {}}, False, description)


def required_texts(*names: str, optional: Mapping[str, Schema] | None = None) -> Schema:
    """A JSON object whose named members are non-empty strings (`maison.formats.body.required_text`)."""
    return json_object(names, {**{n: {"type": "string", "minLength": 1} for n in names}, **(optional or {})})


def search_by_type(tables: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """One route serving several resource types (`/{type}`): each parameter once, its FHIR type and the
    resource types that support it in its description (the route refuses it for another type)."""
    kinds: dict[str, str] = {}
    for rtype, table in tables.items():
        for name, kind in table.items():
            kinds[name] = f"{kinds[name]}, {rtype}" if name in kinds else f"{kind} ({rtype}"
    return {name: f"{kind})" for name, kind in kinds.items()}
