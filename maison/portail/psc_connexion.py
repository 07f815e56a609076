"""A portal's login through Pro Santé Connect, as any relying party signs a professional in (issue 24 §2).

The OpenID Connect authorization code flow of the house's own provider (seed 002 L624: the code flow
is PSC's mandatory one), with PKCE S256, `state` and `nonce`:

1. `GET {base}/connexion` — the page with the "Se connecter avec Pro Santé Connect" button (and any
   refusal of an earlier attempt, in French);
2. `GET {base}/connexion/psc` — draws a random `state`, sets it in a short-lived transaction cookie
   (HttpOnly, SameSite=Lax: the callback is a top-level navigation coming back from the provider,
   Path = the portal, MAC'd with a key-store secret) and redirects to PSC's authorization endpoint.
   The PKCE verifier and the nonce are derived from the state with that same secret, so the cookie
   carries nothing secret and no server-side row is needed (any process of the house can finish);
3. the professional signs in on PSC's own login page (e-CPS code, or a test account's password);
4. `GET {base}/connexion/retour?code&state&iss` — the state must be the cookie's, `iss` the provider's
   (RFC 9207); the code is exchanged with the portal's client credentials and the verifier; the ID
   token is verified (signature by the provider's JWKS, `iss`, `aud`, `azp`, `exp`, `nonce`); the access
   token's claims and the professional's UserInfo are read with the call the API's `Authorizer` makes
   (`Provider.professional`), and the Actor is built by the same function (`core.authz.psc_actor`, the
   Authorizer's `_professional`); the portal keeps no PSC token (its refresh token is revoked at once):
   its own session (`Sessions.open(portal, subject=idNat, acting=idNat, actor=actor)`) holds the Actor;
5. with several situations d'exercice, `POST {base}/connexion/structure` takes his choice (the page
   carries what UserInfo said, MAC'd and bound to the transaction, valid 10 minutes), as `X-Structure`
   chooses for an API caller;
6. `POST {base}/deconnexion` (the session's CSRF token) closes the portal's session.

The portal is a confidential client of the provider, one per portal (`maison-portail-pro`,
`maison-portail-observatoire`), registered — or brought to the current public URL — when the house
builds its app (`Provider.ensure_client`); its secret is drawn once into the key store
(`portail-<portal>-psc-client.secret`), never in the repository, the database (its hash only) or a log.
The code is exchanged in-process with the very functions the token endpoint runs
(`authenticate_client`, `exchange_code`): a house behind a proxy, or serving TLS with its own
authority, need not reach its own public URL to sign its portals' users in.

Usage (a portal module, e.g. `maison.portail.pro`):

    connexion = PscConnexion(
        house.psc, house.psc_issuer, settings.public_base_url, settings.keystore(), sessions,
        PscPortal(portal="pro", base="/pro", cookie="maison_pro", landing="/pro/patients",
                  title="Maison — espace professionnel"),
    )
    r = APIRouter(route_class=connexion.route_class)   # errors: the portal's French page
    r.include_router(connexion.router())        # /connexion, /connexion/psc, /connexion/retour,
                                                # /connexion/structure, /deconnexion
    ...
    session = connexion.session(request)        # the live session, or Unauthenticated (French 401)
    actor = session.actor                       # the Actor for the services, as the API's
    session, form = await connexion.posted(request)   # a logged-in POST, CSRF checked
    context = connexion.context(session, nav, current)  # base.html's nav, logout, csrf, who's logged in
    app.include_router(r, prefix="/pro")
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from joserfc import jwt
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool

from maison.core.actor import Actor
from maison.core.authz import psc_actor, public
from maison.core.errors import Forbidden, InvalidInput, MaisonError, Unauthenticated
from maison.core.keystore import KeyStore, random_secret
from maison.identite.psc.provider import ACR, OAuthError, Provider
from maison.portail.sessions import Session, Sessions
from maison.portail.web import (
    PRE_SESSION_COOKIE,
    PortalRoute,
    check_token,
    page,
    pre_session_token,
    read_form,
    secure_cookie,
    set_cookie,
)

TRANSACTION_TTL = 600  # seconds between the click and the callback (PSC's own login request lives 600 s)
CHOICE_TTL = 600  # seconds to choose the structure once signed in
SCOPE = "openid scope_all"
LOGIN_PAGE = "la connexion par Pro Santé Connect : le portail est un client OpenID Connect (flux code avec PKCE)"
SESSION_PAGE = "page du portail : la session est vérifiée par le portail lui-même"
REFUSALS = {  # PSC's OAuth errors at the callback, as the professional reads them
    "access_denied": "Pro Santé Connect a refusé la connexion (authentification refusée ou trop d'échecs).",
    "invalid_request": "La demande de connexion a été refusée par Pro Santé Connect.",
    "invalid_scope": "La demande de connexion a été refusée par Pro Santé Connect.",
    "unauthorized_client": "Ce portail n'est pas autorisé par Pro Santé Connect.",
}


@dataclass(frozen=True)
class PscPortal:
    """What differs between the portals signing in through PSC."""

    portal: str  # the Sessions' portal: "pro" / "observatoire"
    base: str  # where the portal is served, e.g. "/pro"
    cookie: str  # its session cookie's name
    landing: str  # the page shown once logged in
    title: str  # the portal's name: PSC's login page shows it (the client's name), and every page
    structure_required: bool = True  # a professional without any situation d'exercice may not log in

    @property
    def client_id(self) -> str:
        return f"maison-portail-{self.portal}"


@dataclass(frozen=True)
class Practice:
    """One situation d'exercice, as the choice page and the banner show it."""

    id: str  # the structure's Annuaire id (`identifiantTechniqueDeLaStructure`, the Actor's `structure`)
    name: str  # raisonSocialeSite
    role: str


@dataclass(frozen=True)
class Professional:
    """Who is logged in, as the pages show him (from PSC's UserInfo, read again when shown)."""

    idnat: str
    name: str
    structure: str  # the name of the structure he acts in ('' when none)


def same(given: str, expected: str) -> bool:
    """Constant-time equality of two texts, whatever characters the caller sent (hmac.compare_digest
    refuses a non-ASCII str with TypeError: a 500 for a hostile cookie or parameter)."""
    return hmac.compare_digest(given.encode(), expected.encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def practices(info: dict[str, Any]) -> list[Practice]:
    exercice = (info.get("SubjectRefPro", {}).get("exercices") or [{}])[0]
    return [
        Practice(a["identifiantTechniqueDeLaStructure"], a.get("raisonSocialeSite", ""), a.get("codeRole", ""))
        for a in exercice.get("activities", [])
    ]


def display_name(info: dict[str, Any]) -> str:
    exercice = (info.get("SubjectRefPro", {}).get("exercices") or [{}])[0]
    title = {"DR": "Dr", "PR": "Pr"}.get(exercice.get("codeCiviliteDexercice", ""), "")
    given = exercice.get("prenomDexercice") or info.get("given_name", "")
    family = exercice.get("nomDexercice") or info.get("family_name", "")
    return " ".join(x for x in (title, given.title(), family) if x) or info.get("SubjectNameID", "")


class PscConnexion:
    def __init__(
        self,
        provider: Provider,
        issuer: str,
        public_base_url: str,
        keystore: KeyStore,
        sessions: Sessions,
        portal: PscPortal,
    ) -> None:
        """Registers the portal's client with the provider (or brings it up to date): built when the
        house builds its app."""
        self.provider = provider
        self.issuer = issuer
        self.sessions = sessions
        self.p = portal
        # the portal's routes: its errors as its own French page (its name, a link to its home)
        context = {"portal_name": portal.title, "home": portal.base}
        self.route_class: type[PortalRoute] = type(f"PortalRoute_{portal.portal}", (PortalRoute,), {"context": context})
        base_url = public_base_url.rstrip("/")
        self.redirect_uri = f"{base_url}{portal.base}/connexion/retour"
        self._secret = _b64(random_secret(keystore, f"portail-{portal.portal}-psc-client.secret"))
        self._mac_key = random_secret(keystore, "portail-psc-connexion.hmac")
        self.client = provider.ensure_client(
            portal.client_id,
            portal.title,
            [self.redirect_uri],
            self._secret,
            post_logout_uris=[f"{base_url}{portal.base}/connexion"],
        )

    def __repr__(self) -> str:  # never the secret, in a traceback or a log
        return f"PscConnexion({self.p.portal!r}, client={self.p.client_id!r})"

    # --- the session, for the portal's pages --------------------------------------------------------------

    def current(self, request: Request) -> Session | None:
        return self.sessions.find(request.cookies.get(self.p.cookie), self.p.portal)

    def session(self, request: Request) -> Session:
        """The live session of a page's request, else Unauthenticated (the French 401 page)."""
        found = self.current(request)
        if found is None or found.actor is None:
            raise Unauthenticated("session expirée ou absente : reconnectez-vous par Pro Santé Connect", code="session")
        return found

    def actor(self, request: Request) -> Actor:
        actor = self.session(request).actor
        assert actor is not None  # session() refuses a session without one
        return actor

    async def posted(self, request: Request) -> tuple[Session, dict[str, str]]:
        """A logged-in page's POST: its session, and its form once the CSRF token is checked."""
        form = await read_form(request)
        session = self.session(request)
        check_token(session.csrf, form, request)
        return session, form

    def userinfo(self, session: Session) -> dict[str, Any]:
        """PSC's UserInfo of the logged-in professional, read now (the Annuaire's, as the provider reads it);
        one no longer active in the Annuaire is refused in French (the 403 page, as his next API call
        would be) and his session ends: reactivated, he signs in again through Pro Santé Connect."""
        try:
            return self.provider.userinfo({"preferred_username": session.acting, "authMode": ""})
        except OAuthError as exc:
            self.sessions.end(session)
            raise Forbidden(exc.description, code="professionnel-inactif") from None

    def professional(self, session: Session) -> Professional:
        """His name and structure's name, from PSC's UserInfo."""
        actor = session.actor
        info = self.userinfo(session)
        names = {p.id: p.name for p in practices(info)}
        return Professional(session.acting, display_name(info), names.get(actor.structure, "") if actor else "")

    def context(self, session: Session, nav: list[tuple[str, str]], current: str, **more: object) -> dict:
        """What base.html needs on a logged-in page: nav, logout form, CSRF token, the portal's name."""
        return {
            "nav": nav,
            "current": current,
            "csrf": session.csrf,
            "logout": f"{self.p.base}/deconnexion",
            "portal_name": self.p.title,
            "home": self.p.landing,
            "pro": self.professional(session),
            **more,
        }

    # --- the transaction: state in a cookie, verifier and nonce derived from it ----------------------------

    @property
    def transaction_cookie(self) -> str:
        return f"{self.p.cookie}_psc"

    def session_key(self, session: Session) -> bytes:
        """A key of this session's own for what its pages sign (`pro_acces`): derived from the key
        store's secret and the session's id, both out of the browser's reach — unlike the CSRF token,
        which each page carries, so a MAC under it could be written by the session's holder."""
        return hmac.new(self._mac_key, f"{self.p.portal}|session|{session.id_hash}".encode(), hashlib.sha256).digest()

    def _mac(self, *parts: str) -> str:
        message = "|".join((self.p.portal, *parts)).encode()
        return _b64(hmac.new(self._mac_key, message, hashlib.sha256).digest())

    def _verifier(self, state: str) -> str:
        return self._mac("pkce", state)  # 43 characters of base64url: RFC 7636 §4.1's minimum and more

    def _nonce(self, state: str) -> str:
        return self._mac("nonce", state)

    def _transaction(self, request: Request) -> str:
        """The state of this browser's sign-in, if its cookie is intact and not expired."""
        state, _, rest = request.cookies.get(self.transaction_cookie, "").partition(".")
        expires, _, mac = rest.partition(".")
        if not (state and expires.isascii() and expires.isdigit() and same(mac, self._mac("etat", state, expires))):
            raise InvalidInput("demande de connexion inconnue : recommencez la connexion", code="connexion-inconnue")
        if int(expires) < time.time():
            raise InvalidInput("demande de connexion expirée : recommencez la connexion", code="connexion-expiree")
        return state

    def _start(self, request: Request) -> Response:
        state = secrets.token_urlsafe(24)
        expires = str(int(time.time()) + TRANSACTION_TTL)
        challenge = _b64(hashlib.sha256(self._verifier(state).encode()).digest())
        query = {
            "response_type": "code",
            "client_id": self.p.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": SCOPE,
            "acr_values": ACR,
            "state": state,
            "nonce": self._nonce(state),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        response = RedirectResponse(f"{self.issuer}/protocol/openid-connect/auth?{urlencode(query)}", 303)
        response.set_cookie(
            self.transaction_cookie,
            f"{state}.{expires}.{self._mac('etat', state, expires)}",
            max_age=TRANSACTION_TTL,
            path=self.p.base,
            httponly=True,
            samesite="lax",
            secure=secure_cookie(request),
        )
        return response

    # --- the callback ------------------------------------------------------------------------------------

    def _exchange(self, code: str, state: str) -> tuple[dict, dict]:
        """The token endpoint's own steps for this client: (access token claims, UserInfo)."""
        try:
            client = self.provider.authenticate_client(
                None, {"client_id": self.p.client_id, "client_secret": self._secret}
            )
            tokens = self.provider.exchange_code(client, code, self.redirect_uri, self._verifier(state), self.issuer)
            id_claims = self._id_token(tokens.get("id_token", ""), state)
            claims, info = self.provider.professional(tokens["access_token"], self.issuer)
        except OAuthError as exc:
            message = f"connexion refusée par Pro Santé Connect : {exc.description}"
            raise Unauthenticated(message, code=exc.error) from None
        if claims.get("preferred_username") != id_claims.get("preferred_username"):
            raise Unauthenticated("jetons de Pro Santé Connect incohérents", code="jetons-incoherents")
        if tokens.get("refresh_token"):  # the portal keeps its own session, never PSC's tokens
            self.provider.revoke(client, tokens["refresh_token"], self.issuer)
        return claims, info

    def _id_token(self, token: str, state: str) -> dict:
        """OpenID Connect Core §3.1.3.7: signature (the provider's JWKS), iss, aud, azp, exp, nonce."""
        try:
            claims = jwt.decode(token, self.provider.keys.verification(), algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            raise Unauthenticated("jeton d'identité de Pro Santé Connect invalide", code="id-token") from None
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        problems = [
            claims.get("iss") != self.issuer,
            self.p.client_id not in audiences,
            claims.get("azp", self.p.client_id) != self.p.client_id,
            not isinstance(claims.get("exp"), int) or claims["exp"] < time.time(),
            not same(str(claims.get("nonce", "")), self._nonce(state)),
        ]
        if any(problems):
            raise Unauthenticated("jeton d'identité de Pro Santé Connect refusé", code="id-token")
        return dict(claims)

    def _seal(self, data: dict) -> str:
        body = _b64(orjson.dumps(data))
        return f"{body}.{self._mac('choix', body)}"

    def _unseal(self, sealed: str) -> dict:
        body, _, mac = sealed.partition(".")
        if not body or not same(mac, self._mac("choix", body)):
            raise Forbidden("choix de structure altéré : recommencez la connexion", code="choix-invalide")
        data = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if data["expires"] < time.time():
            raise InvalidInput("choix de structure expiré : recommencez la connexion", code="connexion-expiree")
        return data

    def _opened(self, request: Request, actor: Actor) -> Response:
        raw, _ = self.sessions.open(self.p.portal, subject=actor.person, acting=actor.person, actor=actor)
        response = RedirectResponse(self.p.landing, 303)
        set_cookie(response, request, self.p.cookie, raw, self.p.base)
        response.delete_cookie(self.transaction_cookie, path=self.p.base)
        response.delete_cookie(PRE_SESSION_COOKIE, path=self.p.base)
        return response

    def _login_page(self, status: int = 200, **context: object) -> Response:
        names = {"portal_name": self.p.title, "home": self.p.base, "base": self.p.base}
        return page("psc_connexion.html", status, **names, **context)

    def _choice_page(self, request: Request, sealed: str, choices: list[Practice], error: str = "") -> Response:
        token = pre_session_token(request)
        response = page(
            "psc_structure.html",
            403 if error else 200,
            portal_name=self.p.title,
            home=self.p.base,
            base=self.p.base,
            login_token=token,
            choix=sealed,
            practices=choices,
            error=error,
        )
        set_cookie(response, request, PRE_SESSION_COOKIE, token, self.p.base)
        return response

    def _callback(self, request: Request) -> Response:
        p = request.query_params
        state = self._transaction(request)
        if not same(p.get("state", ""), state):
            raise InvalidInput("réponse de Pro Santé Connect sans l'état de cette connexion", code="etat-invalide")
        if p.get("iss") and p["iss"] != self.issuer:  # RFC 9207: a response from another provider
            raise InvalidInput("réponse d'un autre fournisseur d'identité", code="emetteur-invalide")
        if p.get("error"):
            message = REFUSALS.get(p["error"], "Pro Santé Connect a refusé la connexion.")
            return self._login_page(401, error=message)
        claims, info = self._exchange(p.get("code", ""), state)
        choices = practices(info)
        if len(choices) > 1:
            data = {"claims": claims, "info": info, "state": state, "expires": int(time.time()) + CHOICE_TTL}
            return self._choice_page(request, self._seal(data), choices)
        actor = psc_actor(claims, info, None, structure_required=self.p.structure_required)
        return self._opened(request, actor)

    async def _chosen(self, request: Request) -> Response:
        form = await read_form(request)
        check_token(request.cookies.get(PRE_SESSION_COOKIE), form, request)
        data = self._unseal(form.get("choix", ""))
        if not same(data["state"], self._transaction(request)):
            raise Forbidden("choix de structure d'une autre connexion : recommencez", code="choix-invalide")
        wanted = form.get("structure", "")
        try:
            actor = psc_actor(data["claims"], data["info"], wanted or None, structure_required=True)
        except Forbidden as refused:
            return self._choice_page(request, form["choix"], practices(data["info"]), refused.message)
        return await run_in_threadpool(self._opened, request, actor)

    # --- the routes ----------------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        """The login routes, to include in the portal's router (served under `PscPortal.base`)."""
        r = APIRouter(route_class=self.route_class)

        @r.get("/connexion")
        @public(LOGIN_PAGE)
        async def login_page(request: Request) -> Response:
            if self.current(request) is not None:
                return RedirectResponse(self.p.landing, 303)
            ended = request.query_params.get("fin") == "1"
            return self._login_page(notice="Vous êtes déconnecté." if ended else "")

        @r.get("/connexion/psc")
        @public(LOGIN_PAGE)
        async def start(request: Request) -> Response:
            return self._start(request)

        @r.get("/connexion/retour")
        @public(LOGIN_PAGE)
        async def callback(request: Request) -> Response:
            try:
                return await run_in_threadpool(self._callback, request)
            except MaisonError as error:  # the login page again, saying why, with a way to start over
                return self._login_page(error.http_status, error=error.message)

        @r.post("/connexion/structure")
        @public(LOGIN_PAGE)
        async def chosen(request: Request) -> Response:
            return await self._chosen(request)

        @r.post("/deconnexion")
        @public(SESSION_PAGE)
        async def logout(request: Request) -> Response:
            await self.posted(request)
            self.sessions.close(request.cookies.get(self.p.cookie, ""))
            response = RedirectResponse(f"{self.p.base}/connexion?fin=1", 303)
            response.delete_cookie(self.p.cookie, path=self.p.base)
            return response

        return r
