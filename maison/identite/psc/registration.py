"""Clients that register themselves with Pro Santé Connect: OAuth 2.0 Dynamic Client Registration
(RFC 7591) and its management protocol (RFC 7592), at Keycloak's path, as PSC runs on Keycloak.

- The registration endpoint admits a caller with an **initial access token** (RFC 7591 §3, Keycloak's
  "initial access token"): issued by the house's administrator, with an expiry and an optional
  number of uses, kept by its SHA-256 only. Each registration uses it once, counted by one
  conditional UPDATE in the registration's own transaction (two registrations racing for its last
  use cannot both have it).
- A registered client gets its `client_secret` (given once, its hash kept: `client_secret_expires_at`
  0, it does not expire) and a **registration access token** bound to it (RFC 7592 §1.1), kept by its
  SHA-256. Since only the hash is kept, every read and update answers a new one (§2.1, §2.2: the
  server MAY issue a new registration access token; the client then discards the previous one) —
  Keycloak rotates it on update; a read here cannot give back the one it does not keep. The current
  client secret is not in a read's answer for the same reason (RFC 7591 §3.2.1: optional).
- An update replaces the metadata (§2.2: omitted fields are removed, defaults registered again);
  the body's `client_id` must be the client's, its `client_secret`, if sent, the current one.
- A deletion (§2.3) removes the client and leaves `client:<id>` among the revoked ids, which every
  access token check reads with its own jti and session (provider._not_revoked): the client's tokens
  stop working at once; its codes, refresh tokens and CIBA requests need the client to authenticate.
- A wrong registration token and an unknown client are answered alike, 401 `invalid_token` (§2.1:
  the existence of a client is not revealed).

Every registration, read, update and deletion is recorded through core's Trail in its own write
transaction (`psc.client-*`, purpose HOPERAT), every refusal too (a refused token as the security
event `jeton-invalide`, a refused metadata as the act failed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson

from maison.core.actor import Actor
from maison.core.audit import Trail, anonymous
from maison.identite.psc import store
from maison.identite.psc.client_metadata import SERVER_FIELDS, registered_metadata
from maison.identite.psc.provider import CIBA_GRANT, REFRESH_TTL, OAuthError, Provider, new_client_id

ENDPOINT = "/clients-registrations/openid-connect"  # under the realm, Keycloak's provider "openid-connect"
PURPOSE = "HOPERAT"
SOFTWARE = "pro-sante-connect"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _now() -> int:
    return int(time.time())


def _invalid_token(description: str) -> OAuthError:
    """RFC 6750 §3.1: 401, answered with `WWW-Authenticate: Bearer error="invalid_token"`."""
    return OAuthError("invalid_token", description, 401)


def registration_endpoint(issuer: str) -> str:
    return issuer + ENDPOINT


@dataclass(frozen=True)
class InitialAccessToken:
    """An initial access token as issued: the token itself (shown once), its id (the first characters of
    its digest, for the trail), until when it serves, how many registrations it allows (None: any)."""

    token: str
    id: str
    expires_at: int
    max_uses: int | None


class Registrar:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.db = provider.db

    # --- the administrator's initial access tokens ----------------------------------------------

    def issue_initial_token(self, lifetime: int, max_uses: int | None) -> InitialAccessToken:
        token = secrets.token_urlsafe(32)
        expires_at = _now() + lifetime
        with self.db.write() as conn:
            store.add_initial_token(
                conn,
                digest=_sha256(token),
                created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                expires_at=expires_at,
                max_uses=max_uses,
                uses=0,
            )
        return InitialAccessToken(token, _sha256(token)[:12], expires_at, max_uses)

    def check_initial_token(self, token: str, *, source: str = "") -> None:
        """Refuse (401 invalid_token, recorded) a missing, unknown, expired or used-up initial access
        token — before the request's body is read."""
        with self.db.read() as conn:
            row = store.initial_token(conn, _sha256(token)) if token else None
        problem = (
            "jeton d'accès initial requis (Authorization: Bearer)"
            if not token
            else "jeton d'accès initial inconnu"
            if row is None
            else "jeton d'accès initial expiré"
            if row.expires_at < _now()
            else "jeton d'accès initial épuisé"
            if row.max_uses is not None and row.uses >= row.max_uses
            else ""
        )
        if problem:
            exc = _invalid_token(problem)
            self._refused("psc.client-enregistre", exc, source, "")
            raise exc

    # --- RFC 7591: registration ------------------------------------------------------------------

    def register(self, token: str, body: dict[str, Any], issuer: str, *, source: str = "") -> dict[str, Any]:
        """Register a client with the metadata of `body`; the client information response (§3.2.1)."""
        self.check_initial_token(token, source=source)
        try:
            metadata = {**registered_metadata(body), "client_id_issued_at": _now()}
            client_id = new_client_id(metadata["client_name"])
            secret, access = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            with self.db.write() as conn:
                if not store.use_initial_token(conn, _sha256(token), _now()):  # its last use taken meanwhile
                    raise _invalid_token("jeton d'accès initial expiré ou épuisé")
                store.add_client(
                    conn,
                    client_id=client_id,
                    secret_hash=_sha256(secret),
                    created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    registration_token_hash=_sha256(access),
                    **_columns(metadata),
                )
                detail = {"client_id": client_id, "jeton_initial": _sha256(token)[:12], **_summary(metadata)}
                Trail.write(conn, _actor(client_id, source), "psc.client-enregistre", purpose=PURPOSE, detail=detail)
        except OAuthError as exc:
            self._refused("psc.client-enregistre", exc, source, "")
            raise
        return _information(client_id, metadata, issuer, access, secret)

    # --- RFC 7592: read, update, delete ----------------------------------------------------------

    def read(self, client_id: str, token: str, issuer: str, *, source: str = "") -> dict[str, Any]:
        """§2.1: the client's registration as it stands, with a new registration access token."""
        try:
            with self.db.write() as conn:
                row = _registered(conn, client_id, token)
                access = secrets.token_urlsafe(32)
                store.update_client(conn, client_id, registration_token_hash=_sha256(access))
                Trail.write(conn, _actor(client_id, source), "psc.client-lu", purpose=PURPOSE)
        except OAuthError as exc:
            self._refused("psc.client-lu", exc, source, client_id)
            raise
        return _information(client_id, orjson.loads(row.registered_metadata), issuer, access)

    def check_registration_token(self, client_id: str, token: str, *, source: str = "") -> None:
        """Refuse (401 invalid_token, recorded) a wrong registration access token — before an update's
        body is read."""
        try:
            with self.db.read() as conn:
                _registered(conn, client_id, token)
        except OAuthError as exc:
            self._refused("psc.client-modifie", exc, source, client_id)
            raise

    def update(
        self, client_id: str, token: str, body: dict[str, Any], issuer: str, *, source: str = ""
    ) -> dict[str, Any]:
        """§2.2: the metadata replaced by `body`'s; a new registration access token."""
        try:
            with self.db.write() as conn:
                row = _registered(conn, client_id, token)
                if body.get("client_id") != client_id:
                    raise OAuthError("invalid_client_metadata", "client_id du corps différent de celui du client")
                sent_secret = body.get("client_secret")
                if sent_secret is not None and not (
                    isinstance(sent_secret, str) and hmac.compare_digest(_sha256(sent_secret), row.secret_hash)
                ):
                    raise OAuthError("invalid_client_metadata", "client_secret différent du secret en vigueur")
                issued_at = orjson.loads(row.registered_metadata)["client_id_issued_at"]
                fresh = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
                metadata = {**registered_metadata(fresh), "client_id_issued_at": issued_at}
                access = secrets.token_urlsafe(32)
                store.update_client(conn, client_id, registration_token_hash=_sha256(access), **_columns(metadata))
                detail = {"client_id": client_id, **_summary(metadata)}
                Trail.write(conn, _actor(client_id, source), "psc.client-modifie", purpose=PURPOSE, detail=detail)
        except OAuthError as exc:
            self._refused("psc.client-modifie", exc, source, client_id)
            raise
        return _information(client_id, metadata, issuer, access)

    def delete(self, client_id: str, token: str, *, source: str = "") -> None:
        """§2.3: the client removed; its access tokens refused from the next call on."""
        try:
            with self.db.write() as conn:
                _registered(conn, client_id, token)
                store.delete_client(conn, client_id)
                store.revoke(conn, f"client:{client_id}", _now() + REFRESH_TTL)
                detail = {"client_id": client_id}
                Trail.write(conn, _actor(client_id, source), "psc.client-supprime", purpose=PURPOSE, detail=detail)
        except OAuthError as exc:
            self._refused("psc.client-supprime", exc, source, client_id)
            raise

    def _refused(self, action: str, exc: OAuthError, source: str, client_id: str) -> None:
        """The refusal's record, in a transaction of its own (the refused act's has rolled back)."""
        actor = anonymous(source, SOFTWARE)
        detail = {"action": action, "code": exc.error, "motif": exc.description, "client_id": client_id}
        with self.db.write() as conn:
            if exc.status == 401:
                Trail.write_security(conn, "jeton-invalide", actor, outcome="failure", detail=detail)
            else:
                Trail.write(conn, actor, action, outcome="failure", purpose=PURPOSE, detail=detail)


def _registered(conn: store.Connection, client_id: str, token: str) -> store.Row:
    """The client this registration access token manages; 401 alike for a wrong token, a client
    registered by the administrator (it has none) and an unknown client (RFC 7592 §2.1)."""
    row = store.client(conn, client_id)
    if (
        row is None
        or not row.registration_token_hash
        or not token
        or not hmac.compare_digest(row.registration_token_hash, _sha256(token))
    ):
        raise _invalid_token("jeton d'enregistrement invalide, ou client inconnu")
    return row


def _columns(metadata: dict[str, Any]) -> dict[str, Any]:
    """What the provider reads of a client (`provider.client_of`), from its registered metadata."""
    return {
        "name": metadata["client_name"],
        "redirect_uris": "\n".join(metadata["redirect_uris"]),
        "post_logout_uris": "\n".join(metadata["post_logout_redirect_uris"]),
        "ciba": CIBA_GRANT in metadata["grant_types"],
        "registered_metadata": orjson.dumps(metadata).decode(),
    }


def _summary(metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "nom": metadata["client_name"],
        "grant_types": metadata["grant_types"],
        "redirect_uris": metadata["redirect_uris"],
    }


def _actor(client_id: str, source: str) -> Actor:
    """The client acting on its own registration (its network source in the record)."""
    return Actor(person=f"client-psc:{client_id}", structure="", software=SOFTWARE, extra={"source": source})


def _information(
    client_id: str, metadata: dict[str, Any], issuer: str, access: str, secret: str | None = None
) -> dict[str, Any]:
    """RFC 7591 §3.2.1 / RFC 7592 §3: the client information response."""
    return {
        "client_id": client_id,
        **({"client_secret": secret} if secret else {}),
        "client_id_issued_at": metadata["client_id_issued_at"],
        "client_secret_expires_at": 0,
        "registration_access_token": access,
        "registration_client_uri": f"{registration_endpoint(issuer)}/{client_id}",
        **{k: v for k, v in metadata.items() if k != "client_id_issued_at"},
    }
