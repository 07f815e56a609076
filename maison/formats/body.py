"""Reading request bodies under a size limit, before any parsing.

The limit is checked while the body streams in, so an oversized upload is refused without being
held in memory; every adapter of the house reads its bodies through here.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request

from maison.core.errors import MalformedRequest, TooLarge


async def read_limited(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"requête de plus de {max_bytes} octets")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise TooLarge(f"requête de plus de {max_bytes} octets")
    return bytes(body)


async def read_json_object(request: Request, max_bytes: int, *, empty_as: dict | None = None) -> dict:
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
    return data
