"""What every portal page shares: the templates, the security headers, the session cookie, CSRF.

- Templates: Jinja2 with autoescape on for every file (`autoescape=True`, not by extension: a
  fragment named `.txt` is escaped too).
- Headers on every portal answer (`page`, `PortalRoute`): a Content-Security-Policy without inline
  script or style (`default-src 'self'`), framing refused (`frame-ancestors 'none'` and
  X-Frame-Options DENY, RFC 7034), `Referrer-Policy: no-referrer` (a document's URL names the
  patient's data), `Cache-Control: no-store` (health data stays out of shared caches, RFC 9111 §5.2.2.5).
- The session cookie: HttpOnly, SameSite=Strict, Path limited to the portal, Secure except on a
  loopback host over plain HTTP (the developer's own machine: browsers keep Secure cookies for
  https only, loopback excepted inconsistently).
- CSRF: the synchronizer token of the session (`Sessions`), sent as the form field `csrf` or the
  header `X-CSRF-Token` (htmx sends it from `hx-headers`); before a session exists (the login
  forms), a double-submit token: a random cookie of its own and the same value in the form
  (OWASP CSRF Prevention Cheat Sheet, "login CSRF"). A POST without it, or with a wrong one: 403.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine, Mapping
from importlib import metadata
from ipaddress import ip_address
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader

from maison.core.authz import public
from maison.core.errors import Forbidden, InvalidInput, MaisonError, UnsupportedMediaType
from maison.formats.body import read_limited

HERE = Path(__file__).parent
STYLESHEET = HERE / "static" / "portail.css"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    # one URL answers the whole page or, to htmx, a fragment of it (`wants_fragment`): the two must not
    # share a cache entry (htmx's documentation, "Caching"; RFC 9110 §12.5.5)
    "Vary": "HX-Request",
}
PRE_SESSION_COOKIE = "maison_portail_connexion"
MAX_FORM_BYTES = 64_000

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, auto_reload=False)


def htmx_script() -> Path:
    """htmx.min.js as the `plain.htmx` distribution ships it (PyPI; BSD-licensed htmx 2 inside): the
    house serves it itself, no CDN and no copy in this repository. Found by name in the installed
    files, so a release that moves it does not break the portal."""
    files = metadata.distribution("plain.htmx").files or []
    found = [f for f in files if f.name == "htmx.min.js" and "/ext/" not in str(f)]
    if not found:
        raise RuntimeError("plain.htmx ships no htmx.min.js: the portals' partial updates need it")
    return Path(str(found[0].locate()))


def secured(response: Response) -> Response:
    """The portal's headers, unless the answer set its own (a document viewer allows its own frame)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def wants_fragment(request: Request) -> bool:
    """htmx asks to swap a part of the page in place (`HX-Request: true`) — not when it restores its
    history (`HX-History-Restore-Request`), which needs the whole page: the portal's one test of it."""
    headers = request.headers
    return headers.get("hx-request") == "true" and headers.get("hx-history-restore-request") != "true"


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status)


def page_number(text: str | None) -> int:
    """A `?page=` of a paged list (from 1; absent: 1), else the French 400 page."""
    if text is None or text == "":
        return 1
    if not (text.isascii() and text.isdigit()) or int(text) < 1 or len(text) > 6:
        raise InvalidInput(f"numéro de page {text!r} invalide : un entier à partir de 1", code="page-invalide")
    return int(text)


def error_page(error: MaisonError, **context: Any) -> HTMLResponse:
    """A refusal in French, with the status the API would answer (never a stack trace, never 500 for
    a caller's mistake); `context`: the portal's name and home page (`PortalRoute.context`)."""
    response = page("erreur.html", error.http_status, message=error.message, http_status=error.http_status, **context)
    response.headers.update(getattr(error, "http_headers", {}))  # a lock's Retry-After (RFC 6585 §4)
    return response


UNMATCHED = {  # what a person reads at an address of a portal that no route serves as asked
    404: "cette page n'existe pas : vérifiez l'adresse ou revenez à l'accueil",
    405: "cette adresse ne s'ouvre pas ainsi (elle reçoit un formulaire) : revenez à la page précédente",
}


def unmatched_page(
    path: str, status: int, headers: Mapping[str, str] | None, portals: Mapping[str, Mapping[str, str]]
) -> Response | None:
    """The portal's French error page for an address under `portals` (prefix -> `PortalRoute.context`)
    that no route answers: a link mistyped (404), a form's action opened as a page (405). No route
    ran, so no `PortalRoute` turned it into a page: without this, a person would get the API's JSON
    outcome — no title, no language, nothing a screen reader can announce (RGAA 8.3, 8.5). None
    outside the portals: the API's callers keep their FHIR OperationOutcome."""
    for base in sorted(portals, key=len, reverse=True):
        if path == base or path.startswith(f"{base}/"):
            error = MaisonError(UNMATCHED.get(status, "demande refusée"), code="page-inconnue")
            error.http_status = status
            response = error_page(error, **portals[base])
            response.headers.update(headers or {})  # a 405's Allow (RFC 9110 §15.5.6)
            return secured(response)
    return None


class PortalRoute(APIRoute):
    """Every portal route: the service's errors become a French page, and every answer — errors
    included — carries the security headers. A portal whose error pages name it and link to its own
    home subclasses it with its `context` (`portal_name`, `home`: base.html's variables)."""

    context: ClassVar[dict[str, str]] = {}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def portal_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except MaisonError as error:
                response = error_page(error, **self.context)
            except RequestValidationError:  # a malformed path id (maison.formats.path_ids): 400, in French
                invalid = InvalidInput("adresse de page invalide", code="parametre-invalide")
                response = error_page(invalid, **self.context)
            return secured(response)

        return portal_handler


def is_loopback(host: str | None) -> bool:
    if host in ("localhost", None, ""):
        return host == "localhost"
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def secure_cookie(request: Request) -> bool:
    """Secure everywhere but plain HTTP on the machine itself (where there is no certificate)."""
    return request.url.scheme == "https" or not is_loopback(request.url.hostname)


def set_cookie(response: Response, request: Request, name: str, value: str, path: str) -> None:
    response.set_cookie(
        name, value, path=path, httponly=True, samesite="strict", secure=secure_cookie(request), max_age=None
    )


async def read_form(request: Request) -> dict[str, str]:
    """An HTML form's fields (application/x-www-form-urlencoded, the only kind the pages send), size
    bounded; a field given twice is refused (a smuggled second `csrf` or `masque`)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("formulaire application/x-www-form-urlencoded attendu", code="type-formulaire")
    body = (await read_limited(request, MAX_FORM_BYTES)).decode("utf-8", errors="replace")
    pairs = parse_qsl(body, keep_blank_values=True)
    if len({k for k, _ in pairs}) != len(pairs):
        raise InvalidInput("champ de formulaire répété", code="champ-repete")
    return dict(pairs)


def check_token(expected: str | None, form: dict[str, str], request: Request) -> None:
    """The CSRF check: the form field or htmx's header must equal `expected` (constant time)."""
    given = form.get("csrf") or request.headers.get("x-csrf-token") or ""
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        raise Forbidden("jeton anti-falsification (CSRF) absent ou invalide : rechargez la page", code="csrf")


def pre_session_token(request: Request) -> str:
    """The double-submit token of a login form: the one the browser already holds, or a new one."""
    return request.cookies.get(PRE_SESSION_COOKIE) or secrets.token_urlsafe(32)


def assets_router() -> APIRouter:
    """`/portail/style.css` and `/portail/htmx.min.js`: the portals' only stylesheet and script, served
    by the house (the CSP allows nothing else)."""
    r = APIRouter(route_class=PortalRoute)
    script = htmx_script()

    @r.get("/style.css")
    @public("la feuille de style des portails")
    async def stylesheet() -> Response:
        return FileResponse(STYLESHEET, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    @r.get("/htmx.min.js")
    @public("htmx, servi par la maison elle-même")
    async def htmx() -> Response:
        return FileResponse(script, media_type="text/javascript", headers={"Cache-Control": "public, max-age=3600"})

    return r
