"""HTTP adapter of Pro Santé Connect, at the paths of the real service (a Keycloak realm).

`/psc/auth/realms/esante-wallet/` + `.well-known/openid-configuration` (and PSC's own
`.well-known/wallet-openid-configuration`), `protocol/openid-connect/{auth,token,userinfo,certs,
token/introspect,revoke,logout}`, and Keycloak's `clients-registrations/openid-connect` (RFC 7591 /
7592, `registration_api.py`). The login page is rendered here (Jinja2) and works in a browser.
Errors follow OAuth: at the authorization endpoint, an unknown client or an unregistered
redirect URI is shown on an error page (never redirected to); other errors are redirected to the
client with `error` and `state`; the token-side endpoints answer JSON errors.

The issuer is the configured one (`issuer_for(settings.public_base_url)`, from `public_url`), never
built from the request's `Host` or `X-Forwarded-*`: a token is the same whichever name the client
used to reach the house, and MSSanté's SMTP and IMAP check it against that same issuer.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse

from maison.core.actor import KeyScope
from maison.core.authz import Accepts, Authorizer, accepts, keys, public
from maison.core.errors import InvalidInput
from maison.core.lockout import Locked
from maison.formats.body import json_response, read_json_object, read_limited
from maison.formats.path_ids import FhirId, Identifier
from maison.identite.psc import api_openapi as openapi
from maison.identite.psc.local_idp import LocalProviders
from maison.identite.psc.provider import ACR, CIBA_GRANT, SCOPES, OAuthError, Provider
from maison.identite.psc.registration import Registrar, registration_endpoint
from maison.identite.psc.registration_api import add_routes as add_registration_routes

REALM = "/auth/realms/esante-wallet"
OIDC = f"{REALM}/protocol/openid-connect"
MAX_LOGIN_ATTEMPTS = 5
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=select_autoescape(["html"])
)


# Registering a structure's identity provider is its administrator's act: the provider then vouches for
# the structure's staff (issue 18 §1.1).
STRUCTURE_ADMINISTRATOR = Accepts(scopes=keys(KeyScope.ADMINISTRATEUR_STRUCTURE))
OAUTH = (
    "point d'accès OpenID Connect : le client s'authentifie selon OAuth 2 (client_secret), l'utilisateur sur la page"
)

ECPS = "côté application e-CPS de CIBA : l'application prouve le porteur par le code qu'elle génère (X-eCPS-Code)"


def issuer_for(base_url: str) -> str:
    """PSC's issuer for the house's public base URL (`Settings.public_base_url`)."""
    return base_url.rstrip("/") + "/psc" + REALM


def _json(data: dict, status: int = 200, headers: dict | None = None) -> Response:
    response = json_response(data, status, no_store=True)
    response.headers.update(headers or {})
    return response


def _source(request: Request) -> str:
    """The caller's address, which the login throttle counts failures by (maison.core.lockout)."""
    return request.client.host if request.client else ""


def oauth_error_response(exc: OAuthError) -> Response:
    """OAuth's error body; the house turns every OAuthError raised by these endpoints into it. A 401
    challenges with the scheme the caller used: the error's own (Basic for a client that failed
    Basic authentication, RFC 6749 §5.2), else Bearer for a token refused (RFC 6750 §3) — never
    Bearer for a client authentication (`invalid_client`)."""
    headers = {}
    if exc.challenge:
        headers = {"WWW-Authenticate": exc.challenge}
    elif exc.status == 401 and exc.error != "invalid_client":
        headers = {"WWW-Authenticate": f'Bearer error="{exc.error}"'}
    if exc.retry_after:
        headers["Retry-After"] = str(exc.retry_after)
    return _json({"error": exc.error, "error_description": exc.description}, exc.status, headers)


def router(
    provider: Provider, max_body_bytes: int, local: LocalProviders, authorizer: Authorizer, issuer: str
) -> APIRouter:
    """PSC's endpoints for the configured `issuer` (`issuer_for(settings.public_base_url)`)."""
    r = APIRouter()

    @r.post("/local-idp", openapi_extra=openapi.LOCAL_IDP)
    @accepts(STRUCTURE_ADMINISTRATOR)
    async def register_local_idp(request: Request) -> Response:
        """IAM.80: a structure's administrator (a key of that scope) registers the structure's own OpenID
        Connect provider for its staff. Body: {"issuer", "audience", "jwks" or "jwksUri", "idnatpsClaim"?}."""
        actor = await run_in_threadpool(authorizer.caller, request)
        body = await read_json_object(request, max_body_bytes)
        if not all(isinstance(body.get(k), str) for k in ("issuer", "audience")) or not (
            isinstance(body.get("jwks"), dict) or isinstance(body.get("jwksUri"), str)
        ):
            raise InvalidInput(
                "issuer, audience (textes) et jwks (objet JWKS) ou jwksUri attendus", code="idp-invalide"
            )
        await run_in_threadpool(
            local.register,
            actor,
            body["issuer"],
            body["audience"],
            str(body.get("idnatpsClaim") or "idnatps"),
            jwks=body.get("jwks"),
            jwks_uri=body.get("jwksUri"),
        )
        return _json({"issuer": body["issuer"], "structure": actor.structure}, 201)

    async def form(request: Request) -> dict[str, str]:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            raise OAuthError("invalid_request", "corps application/x-www-form-urlencoded attendu")
        body = (await read_limited(request, max_body_bytes)).decode("utf-8", errors="replace")
        pairs = parse_qsl(body, keep_blank_values=True)
        if len({k for k, _ in pairs}) != len(pairs):
            raise OAuthError("invalid_request", "paramètre répété")
        return dict(pairs)

    def discovery() -> dict:
        """OpenID Connect Discovery 1.0 §3, with CIBA Core 1.0 §4's metadata: a client that knows only
        this document finds the backchannel endpoint, the poll mode and the CIBA grant of the token
        endpoint here."""
        iss = issuer
        endpoint = iss + "/protocol/openid-connect"
        return {
            "issuer": iss,
            "authorization_endpoint": f"{endpoint}/auth",
            "token_endpoint": f"{endpoint}/token",
            "userinfo_endpoint": f"{endpoint}/userinfo",
            "jwks_uri": f"{endpoint}/certs",
            "introspection_endpoint": f"{endpoint}/token/introspect",
            "revocation_endpoint": f"{endpoint}/revoke",
            "end_session_endpoint": f"{endpoint}/logout",
            "backchannel_authentication_endpoint": f"{endpoint}/ext/ciba/auth",
            "backchannel_token_delivery_modes_supported": ["poll"],
            "backchannel_user_code_parameter_supported": False,
            "grant_types_supported": ["authorization_code", "refresh_token", "urn:openid:params:grant-type:ciba"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "scopes_supported": sorted(SCOPES),
            "acr_values_supported": [ACR],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_parameter_supported": False,
            "registration_endpoint": registration_endpoint(iss),  # RFC 7591, Keycloak's path (registration.py)
        }

    @r.get(REALM + "/.well-known/openid-configuration", openapi_extra=openapi.DISCOVERY)
    @r.get(REALM + "/.well-known/wallet-openid-configuration", openapi_extra=openapi.DISCOVERY)
    @public(OAUTH)
    async def well_known() -> Response:
        return _json(discovery())

    @r.get(OIDC + "/certs", openapi_extra=openapi.JWKS)
    @public(OAUTH)
    async def certs() -> Response:
        return _json(provider.keys.jwks())

    # --- authorization endpoint and login page ------------------------------------------------------

    def _error_page(error: str, description: str) -> HTMLResponse:
        return HTMLResponse(_templates.get_template("error.html").render(error=error, description=description), 400)

    def _login_page(
        request: Request, request_id: str, client_name: str, error: str = "", idnatps: str = "", status: int = 200
    ) -> HTMLResponse:
        html = _templates.get_template("login.html").render(
            action=issuer + "/protocol/openid-connect/auth/login",
            request_id=request_id,
            client_name=client_name,
            error=error,
            idnatps=idnatps,
        )
        return HTMLResponse(html, status, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})

    @r.get(OIDC + "/auth", openapi_extra=openapi.AUTHORIZE)
    @public(OAUTH)
    async def authorize(request: Request) -> Response:
        p = dict(request.query_params)
        client = provider.client(p.get("client_id", ""))
        if client is None:
            return _error_page("unauthorized_client", "client inconnu")
        redirect_uri = p.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return _error_page("invalid_request", "redirect_uri non enregistrée pour ce client")

        def back(error: str, description: str) -> RedirectResponse:
            query = {
                "error": error,
                "error_description": description,
                **({"state": p["state"]} if "state" in p else {}),
            }
            return RedirectResponse(f"{redirect_uri}?{urlencode(query)}", 302)

        if p.get("response_type") != "code":
            return back("unsupported_response_type", "seul le flux code d'autorisation est accepté")
        if "authorization_code" not in client.grant_types:  # a client registered without it (RFC 7591 §2)
            return back("unauthorized_client", "client non autorisé au flux code d'autorisation")
        scopes = set(p.get("scope", "").split())
        if "openid" not in scopes or not scopes <= SCOPES:
            return back("invalid_scope", f"portées acceptées : {' '.join(sorted(SCOPES))}")
        if p.get("code_challenge_method") != "S256" or len(p.get("code_challenge", "")) < 43:
            return back("invalid_request", "PKCE obligatoire : code_challenge et code_challenge_method=S256")
        if p.get("acr_values") and p["acr_values"] != ACR:
            return back("invalid_request", f"acr_values accepté : {ACR}")
        request_id = provider._grant(
            "login",
            client.client_id,
            "",
            {
                "redirect_uri": redirect_uri,
                "code_challenge": p["code_challenge"],
                "nonce": p.get("nonce"),
                "scope": " ".join(sorted(scopes)),
                "state": p.get("state"),
                "attempts": 0,
            },
            600,
        )
        return _login_page(request, request_id, client.name)

    @r.post(OIDC + "/auth/login", openapi_extra=openapi.LOGIN)
    @public(OAUTH)
    async def login(request: Request) -> Response:
        try:
            f = await form(request)
        except OAuthError as exc:
            return _error_page(exc.error, exc.description)
        pending = provider.pending_login(f.get("request", ""))
        if pending is None:
            return _error_page("invalid_request", "demande de connexion inconnue ou expirée")
        client, data = pending
        idnatps = f.get("idnatps", "").strip()
        try:
            mode = await run_in_threadpool(
                provider.verify_login,
                idnatps,
                otp=f.get("otp") or None,
                password=f.get("password") or None,
                source=_source(request),
            )
        except Locked as exc:  # the page says how long to wait; Retry-After says it to a program
            provider.count_failed_login(f["request"])
            page = _login_page(request, f["request"], client.name, exc.message, idnatps, 429)
            page.headers.update(exc.http_headers)
            return page
        except OAuthError as exc:
            if provider.count_failed_login(f["request"]) >= MAX_LOGIN_ATTEMPTS:
                query = {
                    "error": "access_denied",
                    "error_description": "trop d'échecs d'authentification",
                    **({"state": data["state"]} if data.get("state") else {}),
                }
                return RedirectResponse(f"{data['redirect_uri']}?{urlencode(query)}", 303)
            return _login_page(request, f["request"], client.name, exc.description, idnatps, 401)
        provider.close_login(f["request"])
        code = provider.issue_code(
            client,
            idnatps,
            redirect_uri=data["redirect_uri"],
            code_challenge=data["code_challenge"],
            nonce=data.get("nonce"),
            scope=data["scope"],
            auth_mode=mode,
        )
        query = {"code": code, **({"state": data["state"]} if data.get("state") else {}), "iss": issuer}
        return RedirectResponse(f"{data['redirect_uri']}?{urlencode(query)}", 303)

    # --- token-side endpoints ----------------------------------------------------------------------

    @r.post(OIDC + "/token", openapi_extra=openapi.TOKEN)
    @public(OAUTH)
    async def token(request: Request) -> Response:
        f = await form(request)
        client = provider.authenticate_client(request.headers.get("authorization"), f)
        grant = f.get("grant_type")
        if grant in ("authorization_code", "refresh_token", CIBA_GRANT) and grant not in client.grant_types:
            # RFC 6749 §5.2: a grant the client did not register (RFC 7591 §2 `grant_types`)
            raise OAuthError("unauthorized_client", f"client non autorisé au grant_type '{grant}'")
        if grant == "authorization_code":
            out = provider.exchange_code(
                client, f.get("code", ""), f.get("redirect_uri", ""), f.get("code_verifier", ""), issuer
            )
        elif grant == "refresh_token":
            out = provider.refresh(client, f.get("refresh_token", ""), issuer)
        elif grant == CIBA_GRANT:
            out = provider.ciba_poll(client, f.get("auth_req_id", ""), issuer)
        else:
            raise OAuthError("unsupported_grant_type", f"grant_type '{grant}' non supporté")
        return _json(out)

    @r.post(OIDC + "/ext/ciba/auth", openapi_extra=openapi.CIBA)
    @public(OAUTH)
    async def ciba(request: Request) -> Response:
        f = await form(request)
        client = provider.authenticate_client(request.headers.get("authorization"), f)
        return _json(
            provider.ciba_start(
                client,
                f.get("login_hint", ""),
                f.get("scope", ""),
                f.get("binding_message", ""),
                id_token_hint=f.get("id_token_hint", ""),
                login_hint_token=f.get("login_hint_token", ""),
                requested_expiry=f.get("requested_expiry", ""),
                issuer=issuer,
            )
        )

    # The e-CPS app's side of CIBA: it lists the open requests and answers them, proving itself
    # with the code it generates (X-eCPS-Code).

    @r.get("/ecps/{idnatps}/requests", openapi_extra=openapi.ECPS_REQUESTS)
    @public(ECPS)
    async def ecps_requests(idnatps: Identifier, request: Request) -> Response:
        code = request.headers.get("x-ecps-code", "")
        try:
            pending = await run_in_threadpool(provider.ecps_pending, idnatps, code, source=_source(request))
        except Locked as exc:
            raise OAuthError.throttled(exc) from None
        return _json({"requests": pending})

    @r.post("/ecps/{idnatps}/requests/{handle}", openapi_extra=openapi.ECPS_ANSWER)
    @public(ECPS)
    async def ecps_answer(idnatps: Identifier, handle: FhirId, request: Request) -> Response:
        f = await form(request)
        if f.get("decision") not in ("approve", "deny"):
            raise OAuthError("invalid_request", "decision=approve ou deny")
        try:
            await run_in_threadpool(
                provider.ecps_decide,
                idnatps,
                request.headers.get("x-ecps-code", ""),
                handle,
                f["decision"] == "approve",
                source=_source(request),
            )
        except Locked as exc:
            raise OAuthError.throttled(exc) from None
        return Response(status_code=204)

    async def _access_token(request: Request) -> str:
        """The access token of a UserInfo request: in the Authorization header (RFC 6750 §2.1) or, for
        a POST, as `access_token` in a form-encoded body (§2.2, as Keycloak accepts it); never both
        (§2: one method only)."""
        header = request.headers.get("authorization", "")
        in_body = ""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if request.method == "POST" and media == "application/x-www-form-urlencoded":
            in_body = (await form(request)).get("access_token", "")
        if header and in_body:
            raise OAuthError("invalid_request", "jeton à la fois dans l'en-tête et dans le corps", 400)
        if in_body:
            return in_body
        if not header.lower().startswith("bearer "):
            raise OAuthError("invalid_token", "jeton d'accès Bearer requis", 401)
        return header[7:].strip()

    @r.get(OIDC + "/userinfo", openapi_extra=openapi.USERINFO)
    @r.post(OIDC + "/userinfo", openapi_extra=openapi.USERINFO_POST)
    @public(OAUTH)
    async def userinfo(request: Request) -> Response:
        claims = provider.verify_access_token(await _access_token(request), issuer)
        return _json(provider.userinfo(claims))

    @r.post(OIDC + "/token/introspect", openapi_extra=openapi.INTROSPECT)
    @public(OAUTH)
    async def introspect(request: Request) -> Response:
        f = await form(request)
        client = provider.authenticate_client(request.headers.get("authorization"), f)
        return _json(provider.introspect(client, f.get("token", ""), issuer))

    @r.post(OIDC + "/revoke", openapi_extra=openapi.REVOKE)
    @public(OAUTH)
    async def revoke(request: Request) -> Response:
        f = await form(request)
        client = provider.authenticate_client(request.headers.get("authorization"), f)
        provider.revoke(client, f.get("token", ""), issuer)
        return Response(status_code=200)

    @r.get(OIDC + "/logout", openapi_extra=openapi.LOGOUT)
    @public(OAUTH)
    async def logout(request: Request) -> Response:
        p = request.query_params
        try:
            client_id = provider.logout(p.get("id_token_hint", ""), issuer)
        except OAuthError as exc:
            return _error_page(exc.error, exc.description)
        target = p.get("post_logout_redirect_uri")
        client = provider.client(client_id)
        if target:
            if client is None or target not in client.post_logout_uris:
                return _error_page("invalid_request", "post_logout_redirect_uri non enregistrée")
            suffix = f"?{urlencode({'state': p['state']})}" if "state" in p else ""
            return RedirectResponse(target + suffix, 302)
        return HTMLResponse("<!doctype html><p>Vous êtes déconnecté de Pro Santé Connect.</p>")

    add_registration_routes(r, Registrar(provider), REALM, issuer, max_body_bytes)
    return r
