"""`GET /sandbox`: the sandbox's catalogue, as a page in French for a person and as JSON for a bench.

What `maison sandbox` wrote to `<data_dir>/sandbox.json` (`maison.sandbox.catalogue`), with the
house's public URL added (the catalogue itself names no host, so it holds whichever port serves it).
JSON by content negotiation (`Accept: application/json`, RFC 9110 §12.5.1) or `?_format=json` (the
FHIR convention the house's other bases follow); the HTML page otherwise. A house that was not built
by `maison sandbox` has no catalogue: 404.

Who may read it: anyone (`public`). Every secret it lists is derived from the seed published in
`maison.sandbox.catalogue` and so is public already, whether this page is served or not; its only
news is that this house is a sandbox — which is what a test house is for. A house whose data are
real is never built by `maison sandbox` (README § Test your software against Maison), and so has
no catalogue to serve.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from maison.core.authz import public
from maison.core.errors import InvalidInput, NotFound

FILE = "sandbox.json"
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=select_autoescape(["html"])
)


def wants_json(request: Request) -> bool:
    """`?_format=json` (or html), else an Accept that ranks JSON above HTML (a browser's ranks HTML first)."""
    asked = request.query_params.get("_format")
    if asked is not None:
        if asked.lower() not in FORMATS:
            raise InvalidInput(f"_format '{asked[:40]}' : json ou html attendu", code="format-inconnu")
        return FORMATS[asked.lower()]
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(request.headers.get("accept", "").split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            ranked.append((-float(quality), position, media.lower()))
        except ValueError:
            continue
    for _, _, media in sorted(ranked):
        if media in ("text/html", "application/xhtml+xml", "*/*", "text/*"):
            return False
        if media == "application/json" or media.endswith("+json"):
            return True
    return False


# OpenAPI 3.1: the two representations of the answer and the parameter that picks JSON
DOCUMENT = {
    "parameters": [
        {
            "name": "_format",
            "in": "query",
            "required": False,
            "description": "json : le catalogue en JSON (sinon selon l'en-tête Accept)",
            "schema": {"type": "string", "enum": ["json", "application/json", "html", "text/html"]},
        }
    ],
    "responses": {
        "200": {
            "description": "Le catalogue du bac à sable : page en français, ou JSON",
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object", "required": ["urlBase", "version", "insi"]}},
            },
        },
        "404": {
            "description": "Cette maison n'est pas un bac à sable (OperationOutcome, bac-a-sable-absent)",
            "content": {"application/fhir+json": {"schema": {"type": "object"}}},
        },
    },
}
FORMATS = {"json": True, "application/json": True, "html": False, "text/html": False}


def router(data_dir: Path, public_url: str) -> APIRouter:
    r = APIRouter()

    @r.get("", openapi_extra=DOCUMENT)
    @public("catalogue du bac à sable : ses secrets de test sont dérivés d'une graine publiée, donc déjà publics")
    async def sandbox(request: Request) -> Response:
        """The sandbox's catalogue: test identities with INSi's expected answers, structures and their
        keys, professionals and patients with their test credentials (HTML, or JSON)."""
        path = data_dir / FILE
        if not path.is_file():
            raise NotFound("cette maison n'est pas un bac à sable (maison sandbox)", code="bac-a-sable-absent")
        catalogue = {"urlBase": public_url, **orjson.loads(path.read_bytes())}
        if wants_json(request):  # an unreadable Accept or _format: the house's 400 OperationOutcome
            return Response(orjson.dumps(catalogue), media_type="application/json")
        return HTMLResponse(_templates.get_template("sandbox.html").render(c=catalogue))

    return r
