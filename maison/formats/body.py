"""Reading request bodies under a size limit, before any parsing.

The limit is checked while the body streams in, so an oversized upload is refused without being
held in memory; every adapter of the house reads its bodies through here.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from maison.core.errors import InvalidInput, MalformedRequest, TooLarge
from maison.formats.jsonread import BIGINT_MAX, Node


async def read_limited(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"requête de plus de {max_bytes} octets")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise TooLarge(f"requête de plus de {max_bytes} octets")
    return bytes(body)


async def read_json_object(
    request: Request, max_bytes: int, *, empty_as: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A JSON object body; `empty_as` is returned for an empty body when given (else it is malformed)."""
    raw = await read_limited(request, max_bytes)
    if not raw and empty_as is not None:
        return empty_as
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedRequest("JSON mal formé", code="json") from None
    if not isinstance(data, dict):
        raise MalformedRequest("objet JSON attendu", code="json")
    _within_columns(data)
    return data


def _within_columns(document: object) -> None:
    """Refuse a JSON integer no database column holds (orjson reads up to 2^64-1, BIGINT stops at
    2^63-1): checked once here, so no reader lets one reach SQL as an overflow (a 500)."""
    stack: list[tuple[object, str]] = [(document, "$")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            stack.extend((v, f"{path}.{k}") for k, v in value.items() if isinstance(v, (dict, list, int)))
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(value) if isinstance(v, (dict, list, int)))
        elif isinstance(value, int) and not -BIGINT_MAX - 1 <= value <= BIGINT_MAX:
            raise InvalidInput(f"{path} : entier hors limites (±2^63)", code="type-json", expression=path)


def required_text(data: dict[str, Any], key: str) -> str:
    """A non-empty string member of a JSON body, or a precise 400 naming it."""
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"'{key}' attendu (texte)", code="champ-absent", expression=key)
    return value


def parameter_values(body: dict[str, Any]) -> dict[str, object]:
    """The values of a FHIR `Parameters` resource by name (`value[x]` of each parameter)."""
    if body.get("resourceType") != "Parameters":
        raise MalformedRequest("ressource Parameters attendue", code="resource-type")
    parameters = body.get("parameter", [])
    if not isinstance(parameters, list) or not all(isinstance(p, dict) for p in parameters):
        raise MalformedRequest(
            "Parameters.parameter : liste d'objets attendue", code="parameters", expression="Parameters.parameter"
        )
    values: dict[str, object] = {}
    for parameter in Node(body, "Parameters").objects("parameter"):  # typed: a wrong type names its path
        name = parameter.text("name")
        values[name] = next((v for k, v in parameter if k.startswith("value")), None)
    return values


def json_response(data: object, status: int = 200, *, no_store: bool = False) -> Response:
    """Plain JSON (not FHIR) answers; `no_store` for anything carrying credentials."""
    headers = {"Cache-Control": "no-store"} if no_store else {}
    return Response(
        orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )
