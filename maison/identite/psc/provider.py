"""The Pro Santé Connect rules: clients, professionals' authenticators, codes, tokens, UserInfo.

What the real PSC does (docs/research/pro-sante-connect.md) and the issue asks:

- the authorization code flow is the mandatory one (seed 002 L624); PKCE S256 is required of
  every client here; the redirect URI must be one registered, compared exactly, and a wrong one
  is never redirected to; a code lives 60 s and is used once — a second use revokes what the
  first gave (RFC 6749 §4.1.2);
- the professional authenticates with the e-CPS (an authenticator app enrolled by QR code, then
  a 6-digit code: TOTP) or, for accounts flagged as test accounts only, a password; acr `eidas1`;
- access tokens are RS256 JWTs of 120 s (the sandbox's lifetime), refresh tokens are opaque,
  rotated on use; UserInfo carries `SubjectNameID` (IdNatPS) and `SubjectRefPro.exercices[]
  .activities[]` drawn from the Annuaire, with PSC's claim names and casing;
- introspection and revocation (RFC 7662 / 7009) for authenticated clients; RP-initiated logout
  to registered post-logout URIs.

Errors are OAuth's (`invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
`unsupported_grant_type`, `invalid_token`, `access_denied`, `authorization_pending`, `slow_down`,
`expired_token`) with Keycloak's HTTP statuses, as PSC runs on Keycloak.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
import pyotp
from joserfc import jwt
from joserfc.errors import JoseError

from maison.core.actor import Actor
from maison.core.authz import TokenRejected
from maison.core.keystore import KeyStore
from maison.core.lockout import Locked, Throttle
from maison.core.passwords import check_password_evenly, hash_password, needs_rehash
from maison.core.storage import Database
from maison.identite.annuaire import service as annuaire
from maison.identite.psc import store
from maison.identite.psc.keys import Keys

CODE_TTL, ACCESS_TTL, REFRESH_TTL, CIBA_TTL, CIBA_INTERVAL = 60, 120, 1800, 120, 2
ACR = "eidas1"
SUB_PREFIX = "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:"  # the `sub` form PSC uses: a fixed realm prefix + IdNatPS
SCOPES = {"openid", "scope_all"}


class OAuthError(TokenRejected):
    """An OAuth/OIDC error, answered as `{"error", "error_description"}` with its HTTP status;
    `challenge` is the `WWW-Authenticate` value to answer with, when not the Bearer one of a 401."""

    def __init__(
        self, error: str, description: str, status: int = 400, *, challenge: str = "", retry_after: int = 0
    ) -> None:
        super().__init__(description)
        self.error, self.description, self.status, self.challenge = error, description, status, challenge
        self.retry_after = retry_after  # with a 429: the Retry-After seconds (RFC 6585 §4)

    @classmethod
    def throttled(cls, locked: Locked) -> OAuthError:
        """A throttle (`core.lockout.Locked`) in OAuth's error shape: 429 with Retry-After, as the
        e-CPS endpoints answer their other refusals (the house's OperationOutcome is FHIR's shape)."""
        return cls("access_denied", locked.message, 429, retry_after=locked.retry_after)


# RFC 6749 §5.2: a client that authenticated with the Authorization header is answered, when that
# fails, 401 with a challenge of the scheme it used (Basic, RFC 7617), naming the realm.
BASIC_CHALLENGE = 'Basic realm="esante-wallet"'


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _now() -> int:
    return int(time.time())


CIBA_GRANT = "urn:openid:params:grant-type:ciba"
# What the administrator's clients may do (Keycloak's defaults: standard flow, refresh tokens); a client
# that registered itself (registration.py) may do what its `grant_types` say.
DEFAULT_GRANTS = frozenset({"authorization_code", "refresh_token"})
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    post_logout_uris: tuple[str, ...]
    ciba: bool
    grant_types: frozenset[str] = DEFAULT_GRANTS


def redirect_uri_problem(uri: str) -> str:
    """Why a redirect URI cannot be registered ('' when it can): an absolute `https` URI, or `http` on
    the loopback only (RFC 8252 §7.3, the OAuth 2.0 Security BCP — RFC 9700 §2.1), no fragment
    (RFC 6749 §3.1.2), no user information, no wildcard: it is compared exactly."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 — a port out of range or not a number raises here
    except ValueError:
        return "URI illisible"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "URI absolue https attendue"
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return "http permis seulement vers la boucle locale (127.0.0.1, ::1, localhost) : https attendu"
    if "#" in uri:
        return "fragment interdit"
    if "@" in parts.netloc or "*" in uri or any(c.isspace() or ord(c) < 32 for c in uri):
        return "URI exacte attendue, sans joker, identifiants ni espaces"
    return ""


def new_client_id(name: str) -> str:
    """A client id: random, then the name's ASCII letters and digits (a readable, URL-safe path segment)."""
    slug = "".join(c if c.isascii() and c.isalnum() else "-" for c in name.lower()).strip("-")
    return f"{uuid.uuid4().hex[:12]}-{slug[:40]}".rstrip("-")


class Provider:
    def __init__(self, db: Database, keystore: KeyStore | None = None) -> None:
        self.db = db
        self.keys = Keys(db, keystore)
        self.throttle = Throttle(db, "psc", software="pro-sante-connect")
        self._verified: dict[str, tuple[object, dict]] = {}  # token → (key set that verified it, claims)

    # --- client software ---------------------------------------------------------------------------

    def register_client(
        self,
        name: str,
        redirect_uris: list[str],
        *,
        post_logout_uris: Sequence[str] = (),
        ciba: bool = False,
        credentials: tuple[str, str] | None = None,
    ) -> tuple[str, str]:
        """A confidential client: returns (client_id, client_secret); only the secret's hash is kept.
        `credentials` (client_id, secret) are given only by `maison sandbox`, which derives its test
        clients' from its published seed (issue 21 §2); otherwise both are drawn at random."""
        for uri in [*redirect_uris, *post_logout_uris]:
            problem = redirect_uri_problem(uri)
            if problem:
                raise OAuthError("invalid_redirect_uri", f"URI '{uri}' refusée : {problem}")
        client_id, secret = credentials or (
            new_client_id(name),
            secrets.token_urlsafe(32),
        )
        with self.db.write() as conn:
            store.add_client(
                conn,
                client_id=client_id,
                secret_hash=_sha256(secret),
                name=name,
                redirect_uris="\n".join(redirect_uris),
                post_logout_uris="\n".join(post_logout_uris),
                ciba=ciba,
                created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            )
        return client_id, secret

    def ensure_client(
        self, client_id: str, name: str, redirect_uris: list[str], secret: str, *, post_logout_uris: Sequence[str] = ()
    ) -> Client:
        """One of the house's own clients (its portals, issue 24): registered when missing, else brought to
        the redirect URIs and secret the house is configured with now — its public URL may have changed,
        its key store been restored. The secret is the caller's (kept in the key store); only its hash is
        stored here. Two processes of one house starting at once may both try: the second finds the row."""
        for uri in [*redirect_uris, *post_logout_uris]:
            problem = redirect_uri_problem(uri)
            if problem:
                raise OAuthError("invalid_redirect_uri", f"URI '{uri}' refusée : {problem}")
        wanted = {
            "secret_hash": _sha256(secret),
            "name": name,
            "redirect_uris": "\n".join(redirect_uris),
            "post_logout_uris": "\n".join(post_logout_uris),
        }
        for _ in range(2):
            try:
                with self.db.write() as conn:
                    row = store.client(conn, client_id)
                    if row is None:
                        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                        store.add_client(conn, client_id=client_id, ciba=False, created_at=created, **wanted)
                    elif any(getattr(row, k) != v for k, v in wanted.items()):
                        store.update_client(conn, client_id, **wanted)
                break
            except store.IntegrityError:  # registered meanwhile by another process: update it instead
                continue
        found = self.client(client_id)
        assert found is not None  # just written
        return found

    def client(self, client_id: str) -> Client | None:
        with self.db.read() as conn:
            row = store.client(conn, client_id)
        return None if row is None else client_of(row)

    def authenticate_client(self, authorization: str | None, form: dict[str, str]) -> Client:
        """client_secret_basic, or client_secret_post; `invalid_client` (401) otherwise, with a Basic
        challenge when the client used Basic (RFC 6749 §5.2), none when it used the body (a Bearer
        challenge would name a scheme the client never used)."""
        client_id, secret = form.get("client_id"), form.get("client_secret")
        challenge = ""
        if authorization and authorization.lower().startswith("basic "):
            challenge = BASIC_CHALLENGE
            try:
                client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
            except ValueError:
                raise OAuthError("invalid_client", "en-tête Basic illisible", 401, challenge=challenge) from None
        if not client_id or not secret:
            raise OAuthError("invalid_client", "authentification du client requise", 401, challenge=challenge)
        with self.db.read() as conn:
            stored = store.client_secret_hash(conn, client_id)
        if stored is None or not hmac.compare_digest(stored, _sha256(secret)):
            raise OAuthError("invalid_client", "client inconnu ou secret invalide", 401, challenge=challenge)
        client = self.client(client_id)
        assert client is not None
        return client

    # --- the professionals' authenticators -------------------------------------------------------

    def _practitioner(self, idnatps: str) -> dict:
        with self.db.read() as conn:
            return _active_practitioner(conn, idnatps)

    def enroll_ecps(self, idnatps: str, *, seed: str | None = None) -> str:
        """Activate the e-CPS: a new TOTP seed; returns the otpauth URI the app scans as a QR code.
        `seed` (base32) is given only by `maison sandbox`, derived from its published seed (issue 21 §2)."""
        self._practitioner(idnatps)
        seed = seed or pyotp.random_base32()
        self._upsert_account(idnatps, totp_seed=seed, enrolled_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        return pyotp.TOTP(seed).provisioning_uri(name=idnatps, issuer_name="Pro Santé Connect (e-CPS)")

    def set_test_password(self, idnatps: str, password: str) -> None:
        """Test accounts only (flagged as such) may log in with a password."""
        self._practitioner(idnatps)
        if len(password) < 12:
            raise OAuthError("invalid_request", "mot de passe de test : 12 caractères au moins")
        self._upsert_account(idnatps, password_hash=hash_password(password), test_account=True)

    def _upsert_account(self, idnatps: str, **values: object) -> None:
        with self.db.write() as conn:
            store.upsert_account(conn, idnatps, **values)

    def verify_login(
        self, idnatps: str, *, otp: str | None = None, password: str | None = None, source: str = ""
    ) -> str:
        """The authentication mode used ('MOBILE' e-CPS or 'PASSWORD'), or access_denied; `Locked` (429)
        while the professional's account or the caller's address is locked (maison.core.lockout: a
        6-digit e-CPS code would otherwise fall to a few hundred thousand guesses)."""
        attempt = self.throttle.begin(idnatps, source)
        try:
            mode = self._check_login(idnatps, otp, password)
        except OAuthError:
            self.throttle.failed(attempt, motif="code-ecps" if otp else "mot-de-passe")
            raise
        self.throttle.succeeded(
            idnatps,
            source,
            Actor(person=idnatps, structure="", software="pro-sante-connect"),
            attempt=attempt,
            detail={"methode": mode},
        )
        return mode

    def _check_login(self, idnatps: str, otp: str | None, password: str | None) -> str:
        self._practitioner(idnatps)
        with self.db.read() as conn:
            account = store.account(conn, idnatps)
        if (
            account is not None
            and otp
            and account.totp_seed
            and pyotp.TOTP(account.totp_seed).verify(otp, valid_window=1)
        ):
            return "MOBILE"
        test_hash = account.password_hash if account is not None and account.test_account else None
        if password and check_password_evenly(password, test_hash):  # as long for an account without one
            assert account is not None  # a password verified against this account's test hash
            if needs_rehash(account.password_hash):  # a hash below OWASP's parameters, upgraded now
                self._upsert_account(idnatps, password_hash=hash_password(password))
            return "PASSWORD"
        raise OAuthError("access_denied", "authentification refusée")

    # --- codes, tokens ---------------------------------------------------------------------------

    def _grant(self, kind: str, client_id: str, idnatps: str, data: dict, ttl: int) -> str:
        value = secrets.token_urlsafe(32)
        with self.db.write() as conn:
            store.add_grant(
                conn,
                digest=_sha256(value),
                kind=kind,
                client_id=client_id,
                idnatps=idnatps,
                data=orjson.dumps(data).decode(),
                expires_at=_now() + ttl,
            )
        return value

    def pending_login(self, value: str) -> tuple[Client, dict] | None:
        """The authorization request a login page answers, if still open."""
        with self.db.read() as conn:
            row = store.grant(conn, _sha256(value), "login")
        if row is None or row.used or row.expires_at < _now():
            return None
        client = self.client(row.client_id)
        return (client, orjson.loads(row.data)) if client else None

    def count_failed_login(self, value: str) -> int:
        with self.db.write() as conn:
            row = store.grant(conn, _sha256(value))
            assert row is not None  # the login form's request, shown by this provider (an unknown one fails here)
            data = orjson.loads(row.data)
            data["attempts"] = data.get("attempts", 0) + 1
            store.update_grant(conn, _sha256(value), data=orjson.dumps(data).decode(), used=data["attempts"] >= 5)
            return data["attempts"]

    def close_login(self, value: str) -> None:
        with self.db.write() as conn:
            store.update_grant(conn, _sha256(value), used=True)

    def issue_code(
        self,
        client: Client,
        idnatps: str,
        *,
        redirect_uri: str,
        code_challenge: str,
        nonce: str | None,
        scope: str,
        auth_mode: str,
    ) -> str:
        return self._grant(
            "code",
            client.client_id,
            idnatps,
            {
                "redirect_uri": redirect_uri,
                "code_challenge": code_challenge,
                "nonce": nonce,
                "scope": scope,
                "auth_mode": auth_mode,
                "sid": uuid.uuid4().hex,
            },
            CODE_TTL,
        )

    def _take(self, kind: str, value: str, client: Client) -> tuple[str, dict, bool]:
        """(idnatps, data, first use) of a code/refresh/ciba grant of this client, marking it used."""
        with self.db.write() as conn:
            row = store.grant(conn, _sha256(value or ""), kind)
            if row is None or row.client_id != client.client_id:
                raise OAuthError("invalid_grant", f"{kind} inconnu pour ce client")
            if row.expires_at < _now():
                raise OAuthError("expired_token" if kind == "ciba" else "invalid_grant", f"{kind} expiré")
            first = not row.used
            store.update_grant(conn, row.digest, used=True)
            return row.idnatps, orjson.loads(row.data), first

    def exchange_code(self, client: Client, code: str, redirect_uri: str, code_verifier: str, issuer: str) -> dict:
        idnatps, data, first = self._take("code", code, client)
        if not first:
            self._revoke_session(data["sid"])  # a replayed code: what the first use gave is revoked
            raise OAuthError("invalid_grant", "code déjà utilisé")
        if redirect_uri != data["redirect_uri"]:
            raise OAuthError("invalid_grant", "redirect_uri différente de celle de la demande")
        expected = base64.urlsafe_b64encode(hashlib.sha256((code_verifier or "").encode()).digest()).rstrip(b"=")
        if not code_verifier or not hmac.compare_digest(expected.decode(), data["code_challenge"]):
            raise OAuthError("invalid_grant", "code_verifier PKCE invalide")
        return self._tokens(client, idnatps, data, issuer)

    def refresh(self, client: Client, refresh_token: str, issuer: str) -> dict:
        idnatps, data, first = self._take("refresh", refresh_token, client)
        if not first:
            self._revoke_session(data["sid"])
            raise OAuthError("invalid_grant", "jeton de rafraîchissement déjà utilisé")
        if self._session_revoked(data["sid"]):
            raise OAuthError("invalid_grant", "session terminée")
        return self._tokens(client, idnatps, data, issuer, id_token=False)

    def _tokens(self, client: Client, idnatps: str, data: dict, issuer: str, *, id_token: bool = True) -> dict:
        kid, key = self.keys.signing()
        now = _now()
        access = {
            "iss": issuer,
            "sub": SUB_PREFIX + idnatps,
            "aud": client.client_id,
            "azp": client.client_id,
            "exp": now + ACCESS_TTL,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "typ": "Bearer",
            "acr": ACR,
            "scope": data["scope"],
            "sid": data["sid"],
            "preferred_username": idnatps,
            "authMode": data.get("auth_mode", ""),
        }
        out = {
            "access_token": jwt.encode({"alg": "RS256", "kid": kid}, access, key),
            "token_type": "Bearer",
            "expires_in": ACCESS_TTL,
            "scope": data["scope"],
        }
        if "refresh_token" in client.grant_types:  # a client registered without it gets none (as Keycloak)
            out["refresh_token"] = self._grant("refresh", client.client_id, idnatps, data, REFRESH_TTL)
            out["refresh_expires_in"] = REFRESH_TTL
        if id_token:
            claims = {
                "iss": issuer,
                "sub": SUB_PREFIX + idnatps,
                "aud": client.client_id,
                "azp": client.client_id,
                "exp": now + ACCESS_TTL,
                "iat": now,
                "auth_time": now,
                "acr": ACR,
                "sid": data["sid"],
                "preferred_username": idnatps,
            }
            if data.get("nonce"):
                claims["nonce"] = data["nonce"]
            out["id_token"] = jwt.encode({"alg": "RS256", "kid": kid}, claims, key)
        return out

    def verify_access_token(self, token: str, issuer: str) -> dict:
        claims = self._valid_claims(token, issuer)
        with self.db.read() as conn:
            self._not_revoked(conn, claims)
        return claims

    def professional(self, token: str, issuer: str) -> tuple[dict, dict]:
        """The claims of a valid access token and its professional's UserInfo: what every API call
        needs to know who acts, read in one transaction (revocation, Practitioner, roles, structures)."""
        claims = self._valid_claims(token, issuer)
        with self.db.read() as conn:
            self._not_revoked(conn, claims)
            return claims, self._userinfo(conn, claims)

    def _valid_claims(self, token: str, issuer: str) -> dict:
        """Signature (remembered per token: verifying the same bytes again proves nothing new), then
        issuer, expiry and type, checked at every call."""
        keyset = self.keys.verification()
        known = self._verified.get(token)
        if known is not None and known[0] is keyset:  # same keys as when it was verified (none pruned since)
            claims = known[1]
        else:
            try:
                decoded = jwt.decode(token, self.keys.verification(), algorithms=["RS256"])
            except (JoseError, ValueError) as exc:
                self.keys.refresh()  # perhaps signed after a rotation in another process
                try:
                    decoded = jwt.decode(token, self.keys.verification(), algorithms=["RS256"])
                except (JoseError, ValueError):
                    raise OAuthError("invalid_token", f"jeton invalide ({type(exc).__name__})", 401) from None
            claims = decoded.claims
            if len(self._verified) >= VERIFIED_TOKENS:
                self._verified.clear()
            self._verified[token] = (self.keys.verification(), claims)
        if claims.get("iss") != issuer or claims.get("exp", 0) < _now() or claims.get("typ") != "Bearer":
            raise OAuthError("invalid_token", "jeton expiré ou d'un autre émetteur", 401)
        return dict(claims)

    def _not_revoked(self, conn: store.Connection, claims: dict) -> None:
        # a client deleted (RFC 7592 §2.3) leaves `client:<id>`: its tokens stop working at once
        if store.any_revoked(conn, [claims["jti"], f"sid:{claims.get('sid')}", f"client:{claims.get('azp')}"]):
            raise OAuthError("invalid_token", "jeton révoqué", 401)

    def _revoke_session(self, sid: str) -> None:
        with self.db.write() as conn:
            if not store.revoked(conn, f"sid:{sid}"):
                store.revoke(conn, f"sid:{sid}", _now() + REFRESH_TTL)

    def _session_revoked(self, sid: str) -> bool:
        with self.db.read() as conn:
            return store.revoked(conn, f"sid:{sid}")

    def revoke(self, client: Client, token: str, issuer: str) -> None:
        """RFC 7009: a refresh token or an access token of this client; unknown tokens are ignored."""
        with self.db.write() as conn:
            row = store.grant(conn, _sha256(token), "refresh")
            if row is not None and row.client_id == client.client_id:
                store.update_grant(conn, row.digest, used=True)
                return
        try:
            claims = self.verify_access_token(token, issuer)
        except OAuthError:
            return
        if claims.get("azp") == client.client_id:
            with self.db.write() as conn:
                store.revoke(conn, claims["jti"], claims["exp"])

    def introspect(self, client: Client, token: str, issuer: str) -> dict:
        """RFC 7662 for an access token, or a refresh token of this client (§2.2: what it is, until
        when, for whom): a refresh token is active while unused, unexpired and its session open."""
        refresh = self._refresh_introspection(client, token, issuer)
        if refresh is not None:
            return refresh
        try:
            claims = self.verify_access_token(token, issuer)
        except OAuthError:
            return {"active": False}
        return {
            "active": True,
            **{
                k: claims[k]
                for k in ("sub", "scope", "exp", "iat", "iss", "acr", "jti", "preferred_username")
                if k in claims
            },
            "client_id": claims.get("azp"),
            "token_type": "Bearer",
        }

    def _refresh_introspection(self, client: Client, token: str, issuer: str) -> dict | None:
        """None when `token` is no refresh token of this client (another client learns nothing of it)."""
        with self.db.read() as conn:
            row = store.grant(conn, _sha256(token or ""), "refresh")
            if row is None or row.client_id != client.client_id:
                return None
            data = orjson.loads(row.data)
            if row.used or row.expires_at < _now() or store.revoked(conn, f"sid:{data.get('sid')}"):
                return {"active": False}
        return {
            "active": True,
            "sub": SUB_PREFIX + row.idnatps,
            "scope": data.get("scope", ""),
            "exp": row.expires_at,
            "iss": issuer,
            "sid": data.get("sid"),
            "preferred_username": row.idnatps,
            "client_id": row.client_id,
            "token_type": "Refresh",  # Keycloak's `typ` of a refresh token, as PSC runs on Keycloak
        }

    def logout(self, id_token_hint: str, issuer: str) -> str:
        """End the session the ID token belongs to; returns its client_id."""
        try:
            claims = jwt.decode(id_token_hint, self.keys.verification(), algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            raise OAuthError("invalid_request", "id_token_hint invalide") from None
        if claims.get("iss") != issuer:
            raise OAuthError("invalid_request", "id_token_hint d'un autre émetteur")
        self._revoke_session(claims["sid"])
        return claims["aud"]

    # --- CIBA (seed 002 L625: recommended for heavy clients) -------------------------------------------
    # The software asks for a professional by IdNatPS; the professional's e-CPS app lists the request
    # (with the binding message the software shows too, if it sent one) and approves it with its code;
    # the software polls the token endpoint meanwhile (poll mode, the only one PSC offers). The request
    # is OpenID CIBA Core 1.0 §7.1: `scope`, exactly one hint (`login_hint`, or `id_token_hint` — an ID
    # token this provider issued; `login_hint_token` is not supported), optional `binding_message`
    # and `requested_expiry`; errors as §13 with its statuses.

    def ciba_start(
        self,
        client: Client,
        login_hint: str,
        scope: str,
        binding_message: str = "",
        *,
        id_token_hint: str = "",
        login_hint_token: str = "",
        requested_expiry: str = "",
        issuer: str = "",
    ) -> dict:
        if not client.ciba:
            raise OAuthError("unauthorized_client", "client non autorisé au flux CIBA", 403)
        scopes = set(scope.split())
        if "openid" not in scopes or not scopes <= SCOPES:
            raise OAuthError("invalid_scope", f"portées acceptées : {' '.join(sorted(SCOPES))}")
        if sum(bool(h) for h in (login_hint, id_token_hint, login_hint_token)) != 1:
            raise OAuthError("invalid_request", "un et un seul de login_hint, id_token_hint, login_hint_token")
        if login_hint_token:
            raise OAuthError("invalid_request", "login_hint_token non supporté : login_hint ou id_token_hint")
        if len(binding_message) > 20:
            raise OAuthError("invalid_binding_message", "binding_message : 20 caractères au plus")
        ttl = CIBA_TTL
        if requested_expiry:
            if not (requested_expiry.isascii() and requested_expiry.isdigit()) or int(requested_expiry) < 1:
                raise OAuthError("invalid_request", "requested_expiry : un nombre entier de secondes positif")
            ttl = min(int(requested_expiry), CIBA_TTL)
        if id_token_hint:
            login_hint = self._hinted_professional(id_token_hint, issuer)
        with self.db.read() as conn:
            account = store.account(conn, login_hint)
        if account is None or not account.totp_seed:
            raise OAuthError("unknown_user_id", "aucune e-CPS activée pour cet identifiant")
        value = self._grant(
            "ciba",
            client.client_id,
            login_hint,
            {
                "status": "pending",
                "scope": " ".join(sorted(scopes)),
                "binding_message": binding_message,
                "handle": uuid.uuid4().hex,
                "sid": uuid.uuid4().hex,
                "last_poll": 0,
                "nonce": None,
                "auth_mode": "MOBILE",
                "client_name": client.name,
            },
            ttl,
        )
        return {"auth_req_id": value, "expires_in": ttl, "interval": CIBA_INTERVAL}

    def _hinted_professional(self, id_token_hint: str, issuer: str) -> str:
        """The professional an ID token of this provider names (CIBA §7.1 `id_token_hint`); its
        expiry does not matter (it names someone, it authorises nothing), its signature and issuer do."""
        try:
            claims = jwt.decode(id_token_hint, self.keys.verification(), algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            raise OAuthError("invalid_request", "id_token_hint invalide") from None
        if claims.get("iss") != issuer or not claims.get("preferred_username"):
            raise OAuthError("invalid_request", "id_token_hint d'un autre émetteur")
        return str(claims["preferred_username"])

    def ecps_pending(self, idnatps: str, otp: str, *, source: str = "") -> list[dict]:
        """What the e-CPS app shows: the open requests for this professional (the app proves itself by its code)."""
        self.verify_login(idnatps, otp=otp, source=source)
        with self.db.read() as conn:
            open_ = [orjson.loads(r.data) for r in store.open_ciba_requests(conn, idnatps, _now(), unused_only=True)]
        return [
            {"id": d["handle"], "client": d["client_name"], "binding_message": d["binding_message"] or ""}
            for d in open_
            if d["status"] == "pending"
        ]

    def ecps_decide(self, idnatps: str, otp: str, handle: str, approve: bool, *, source: str = "") -> None:
        self.verify_login(idnatps, otp=otp, source=source)
        with self.db.write() as conn:
            for row in store.open_ciba_requests(conn, idnatps, _now(), unused_only=False):
                data = orjson.loads(row.data)
                if data["handle"] == handle and data["status"] == "pending":
                    data["status"] = "approved" if approve else "denied"
                    store.update_grant(conn, row.digest, data=orjson.dumps(data).decode())
                    return
        raise OAuthError("invalid_request", "demande inconnue ou déjà traitée", 404)

    def ciba_poll(self, client: Client, auth_req_id: str, issuer: str) -> dict:
        with self.db.write() as conn:
            row = store.grant(conn, _sha256(auth_req_id or ""), "ciba")
            if row is None or row.client_id != client.client_id or row.used:
                raise OAuthError("invalid_grant", "auth_req_id inconnu pour ce client")
            if row.expires_at < _now():
                raise OAuthError("expired_token", "la demande CIBA a expiré")
            data = orjson.loads(row.data)
            too_soon = _now() - data["last_poll"] < CIBA_INTERVAL
            data["last_poll"] = _now()
            store.update_grant(conn, row.digest, data=orjson.dumps(data).decode(), used=data["status"] != "pending")
        if data["status"] == "denied":
            raise OAuthError("access_denied", "le professionnel a refusé la demande")  # CIBA §11: 400
        if data["status"] == "pending":
            if too_soon:
                raise OAuthError("slow_down", f"interrogation trop fréquente : {CIBA_INTERVAL} s au moins")
            raise OAuthError(
                "authorization_pending",
                "The authorization request is still pending as the end-user hasn't yet been authenticated.",
            )
        return self._tokens(client, row.idnatps, data, issuer)

    # --- UserInfo ----------------------------------------------------------------------------------

    def userinfo(self, claims: dict) -> dict:
        with self.db.read() as conn:
            return self._userinfo(conn, claims)

    def _userinfo(self, conn: store.Connection, claims: dict) -> dict:
        idnatps = claims["preferred_username"]
        found = annuaire.professional(conn, idnatps)
        if found is None or not found.practitioner.get("active", True):
            raise _inactive(idnatps)
        return userinfo_claims(found.practitioner, found.roles, found.organizations, claims.get("authMode", ""))


def client_of(row: store.Row) -> Client:
    """A client of its stored row; one that registered itself may use the grants it registered."""
    grants = DEFAULT_GRANTS | ({CIBA_GRANT} if row.ciba else set())
    if row.registered_metadata:
        grants = frozenset(orjson.loads(row.registered_metadata).get("grant_types", ()))
    return Client(
        row.client_id,
        row.name,
        tuple(u for u in row.redirect_uris.split("\n") if u),
        tuple(u for u in row.post_logout_uris.split("\n") if u),
        bool(row.ciba),
        grants,
    )


def _active_practitioner(conn: store.Connection, idnatps: str) -> dict:
    practitioner = annuaire.practitioner(conn, idnatps)
    if practitioner is None or not practitioner.get("active", True):
        raise _inactive(idnatps)
    return practitioner


def _inactive(idnatps: str) -> OAuthError:
    return OAuthError("access_denied", f"{idnatps} n'est pas un professionnel actif de l'Annuaire Santé")


VERIFIED_TOKENS = 4096  # signatures remembered per process; the access tokens live ACCESS_TTL


def _code(concept_list: list[dict], system_part: str) -> str:
    for concept in concept_list:
        for coding in concept.get("coding", []):
            if system_part in coding.get("system", ""):
                return coding.get("code", "")
    return ""


def _activity(role: dict, org: dict | None) -> dict:
    org = org or {}
    idents = {i.get("type", {}).get("coding", [{}])[0].get("code"): i.get("value") for i in org.get("identifier", [])}
    finess = idents.get("FINEG") or ""
    address = (org.get("address") or [{}])[0]
    codes = role.get("code", [])
    return {
        "codeModeExercice": _code(codes, "TRE_R23"),
        "codeSecteurDactivite": _code(org.get("type", []), "TRE_R02"),
        "codeSectionPharmacien": "",
        "codeRole": _code(codes, "TRE_R85") or _code(codes, "TRE_R21"),
        "codeGenreActivite": _code(codes, "TRE_R22"),
        "numeroSiretSite": idents.get("SIRET") or "",
        "numeroSirenSite": (idents.get("SIRET") or "")[:9],
        "numeroFinessSite": finess,
        "numeroFinessetablissementJuridique": idents.get("FINEJ") or "",
        "identifiantTechniqueDeLaStructure": org.get("id", ""),
        "raisonSocialeSite": org.get("name", ""),
        "enseigneCommercialeSite": "",
        "complementDestinataire": "",
        "complementPointGeographique": "",
        "numeroVoie": "",
        "indiceRepetitionVoie": "",
        "codeTypeDeVoie": "",
        "libelleVoie": " ".join(x for x in address.get("line", []) if x),
        "mentionDistribution": "",
        "bureauCedex": f"{address.get('postalCode', '')} {address.get('city', '')}".strip(),
        "codePostal": address.get("postalCode", ""),
        "codeCommune": "",
        "codePays": "",
        "telephone": "",
        "telephone2": "",
        "telecopie": "",
        "adresseEMail": "",
        "codeDepartement": address.get("postalCode", "")[:2],
        "ancienIdentifiantDeLaStructure": org.get("id", ""),
        "autoriteDenregistrement": "",
    }


def userinfo_claims(practitioner: dict, roles: list[dict], orgs: dict[str, dict], auth_mode: str) -> dict:
    """PSC's UserInfo for a professional, from the Annuaire (claim names and casing as PSC's)."""
    idnatps = practitioner["id"]
    name = (practitioner.get("name") or [{}])[0]
    quals = [q.get("code", {}) for q in practitioner.get("qualification", [])]
    profession = _code(quals, "TRE_G15") or _code(quals, "TRE_R85")
    activities = [_activity(r, orgs.get(r.get("organization", {}).get("reference", "").split("/")[-1])) for r in roles]
    first = activities[0] if activities else {}
    civilite = (name.get("suffix") or [""])[0]
    return {
        "Secteur_Activite": f"{first.get('codeSecteurDactivite', '')}^1.2.250.1.71.4.2.4" if first else "",
        "sub": SUB_PREFIX + idnatps,
        "SubjectOrganization": first.get("raisonSocialeSite", ""),
        "Mode_Acces_Raison": "",
        "preferred_username": idnatps,
        "given_name": " ".join(name.get("given", [])),
        "Acces_Regulation_Medicale": "FAUX",
        "UITVersion": "1.0",
        "authMode": auth_mode,
        "Palier_Authentification": "APPPRIP3^1.2.250.1.213.1.5.1.1.1",
        "SubjectRefPro": {
            "codeCivilite": "MME" if civilite == "MME" else "M",
            "exercices": [
                {
                    "codeProfession": profession,
                    "codeCategorieProfessionnelle": _code(quals, "TRE_R09"),
                    "codeCiviliteDexercice": civilite if civilite in ("DR", "PR") else "",
                    "nomDexercice": name.get("family", ""),
                    "prenomDexercice": " ".join(name.get("given", [])),
                    "codeTypeSavoirFaire": "S" if _code(quals, "TRE_R38") else "",
                    "codeSavoirFaire": _code(quals, "TRE_R38"),
                    "activities": activities,
                }
            ],
        },
        "SubjectOrganizationID": first.get("identifiantTechniqueDeLaStructure", ""),
        "SubjectRole": [f"{profession}^1.2.250.1.213.1.1.5.5"] if profession else [],
        "PSI_Locale": "1.2.250.1.213.1.3.1.1",
        "otherIds": [{"identifiant": idnatps, "origine": "RPPS", "qualite": 1}],
        "SubjectNameID": idnatps,
        "family_name": name.get("family", ""),
    }
