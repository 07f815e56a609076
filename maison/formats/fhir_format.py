"""Content negotiation of the FHIR bases: JSON is what the house serves, XML is answered 406.

R4 http.html §3.1.0.1.8 (content types and encodings): a client names the format it wants with
`Accept` or `_format`; a server that cannot produce it answers `406 Not Acceptable`. Before this
module, an `Accept: application/fhir+xml` got JSON with 200, which a strict client library then
failed to parse. The middleware answers 406 with an OperationOutcome:

- before the route runs, when `_format` names XML or `Accept` names `application/fhir+xml` and
  allows no JSON (so that nothing is created for a client that cannot read the answer);
- on a GET whose answer is `application/fhir+json` when `Accept` allows no JSON at all (a client
  asking `application/xml` of a FHIR search). Raw documents (a Binary's CDA, an NDJSON export)
  keep their own media types and are not touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

import orjson

from maison.formats.fhir import XML_FORMATS, NotAcceptable, accepts_json, operation_outcome
from maison.formats.namespace import Namespace


class FhirFormat:
    """ASGI middleware over the paths of the FHIR bases (`bases`: their path prefixes); `ns` names
    the house's error codes in its OperationOutcome."""

    def __init__(self, app: Any, bases: Sequence[str], ns: Namespace) -> None:
        self.app = app
        self.bases = tuple(b.rstrip("/") for b in bases)
        self.ns = ns

    def _under_a_base(self, path: str) -> bool:
        return any(path == b or path.startswith(b + "/") for b in self.bases)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self._under_a_base(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        accept = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"accept"), "")
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        asked = [v.split(";")[0].strip().lower() for k, v in query if k == "_format"]
        if any(f in XML_FORMATS for f in asked) or (
            not asked and "fhir+xml" in accept.lower() and not accepts_json(accept)
        ):
            await _not_acceptable(send, self.ns)
            return
        if scope.get("method") not in ("GET", "HEAD") or not accept or accepts_json(accept) or asked:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _refusing_json(send, self.ns))


def _refusing_json(send: Any, ns: Namespace) -> Any:
    """A `send` that turns a FHIR JSON answer into 406 (the client accepts no JSON)."""
    refused = False

    async def guarded(message: dict[str, Any]) -> None:
        nonlocal refused
        if message["type"] == "http.response.start":
            media = next((v for k, v in message.get("headers", []) if k.lower() == b"content-type"), b"")
            if media.startswith(b"application/fhir+json"):
                refused = True
                await _not_acceptable(send, ns)
                return
        elif refused:
            return
        await send(message)

    return guarded


async def _not_acceptable(send: Any, ns: Namespace) -> None:
    error = NotAcceptable("seul le format JSON (application/fhir+json) est servi", expression="Accept")
    body = orjson.dumps(operation_outcome(error, ns))
    headers = [(b"content-type", b"application/fhir+json; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 406, "headers": headers})
    await send({"type": "http.response.body", "body": body})
