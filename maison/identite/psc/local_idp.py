"""A structure's own OpenID Connect provider, accepted for its staff (IAM.80, seed 002 L626).

"Implémentation d'une 2e modalité d'authentification OpenID Connect (en plus de PSC) pour SSO
local." A hospital registers its identity provider — issuer, public keys (a JWKS given once, or the
provider's JWKS URI, refetched when a token names a key not seen yet), the audience its
tokens carry for Maison, and the claim holding the professional's IdNatPS — and Maison then
accepts that provider's access tokens for the hospital's staff: the token must be signed by one of
the registered keys (RS256/ES256, never `none`), unexpired, for that audience, and name a
professional who practises in the registering structure. The provider vouches for its own staff
only: a token naming someone of another structure is refused.

A `jwksUri` is fetched through `maison.core.outbound`: public addresses only (each resolved address
checked, the connection pinned to it), https, no redirect, and one answer for every failure that
does not say why (SSRF, issue 18 §3) — unless the setting `psc_jwks_adresses_privees` allows
private addresses (tests, a lab).
"""

from __future__ import annotations

import time
from typing import cast

import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from maison.core import audit, outbound
from maison.core.actor import Actor
from maison.core.authz import unverified_issuer
from maison.core.errors import Conflict, Forbidden, InvalidInput, Unauthenticated
from maison.core.storage import Database
from maison.identite.psc import store

ALGORITHMS = ["RS256", "ES256"]
REFETCH_S = 60
MAX_JWKS_BYTES = 100_000


class LocalProviders:
    def __init__(self, db: Database, *, private_addresses: bool = False) -> None:
        self.db = db
        self.private_addresses = private_addresses  # a jwksUri may name loopback/private addresses
        self._fetched: dict[str, float] = {}  # issuer -> when its JWKS was last refetched

    def register(
        self,
        administrator: Actor,
        issuer: str,
        audience: str,
        idnatps_claim: str = "idnatps",
        *,
        jwks: dict | None = None,
        jwks_uri: str | None = None,
    ) -> None:
        """Keys given once (`jwks`) or fetched from the provider (`jwks_uri`, refetched when it rotates).

        `administrator` is the structure's administrator (a key of that scope): the provider vouches for
        the structure's staff, so registering it is as sensitive as issuing their credentials, and is a
        security event of the trail (`securite.idp-enregistre`)."""
        structure = administrator.structure
        if not issuer.startswith("https://"):
            raise InvalidInput("issuer https attendu", code="issuer")
        if (jwks is None) == (jwks_uri is None):
            raise InvalidInput("jwks ou jwksUri, l'un des deux", code="jwks")
        if jwks_uri is not None:
            jwks = self._fetch(jwks_uri)
        assert jwks is not None  # given, or fetched just above
        _public_keys(jwks)
        with self.db.write() as conn:
            if store.local_idp_registered(conn, issuer):
                raise Conflict(f"fournisseur {issuer} déjà enregistré", code="idp-existant")
            store.add_local_idp(
                conn,
                issuer=issuer,
                structure=structure,
                jwks=orjson.dumps(jwks).decode(),
                jwks_uri=jwks_uri,
                audience=audience,
                idnatps_claim=idnatps_claim,
                created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            )
            audit.Trail.write_security(
                conn,
                "idp-enregistre",
                administrator,
                detail={"issuer": issuer, "audience": audience, "jwksUri": jwks_uri or "", "structure": structure},
            )

    def issuer_of(self, token: str) -> str | None:
        """The `iss` of a JWT if it is a registered local provider's (read before any verification)."""
        issuer = unverified_issuer(token)
        if issuer is None:
            return None
        with self.db.read() as conn:
            return issuer if store.local_idp_registered(conn, issuer) else None

    def verify(self, token: str, issuer: str) -> tuple[str, str]:
        """(IdNatPS, structure) of a valid token of a registered local provider."""
        with self.db.read() as conn:
            row = store.local_idp(conn, issuer)
        assert row is not None  # the authorizer routes here only the tokens of a registered issuer
        try:
            decoded = jwt.decode(token, KeySet.import_key_set(orjson.loads(row.jwks)), algorithms=ALGORITHMS)
        except (JoseError, ValueError) as exc:
            decoded = self._after_rotation(row, token, exc)
        claims = decoded.claims
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if claims.get("iss") != issuer or row.audience not in audiences:
            raise Unauthenticated("jeton du fournisseur local : émetteur ou audience inattendus", code="jeton-invalide")
        if not isinstance(claims.get("exp"), int) or claims["exp"] < time.time():
            raise Unauthenticated("jeton du fournisseur local expiré", code="jeton-invalide")
        idnatps = claims.get(row.idnatps_claim)
        if not isinstance(idnatps, str) or not idnatps:
            raise Forbidden(f"le jeton ne porte pas l'IdNatPS ({row.idnatps_claim})", code="idnatps-absent")
        return idnatps, row.structure

    def _fetch(self, uri: str) -> dict:
        """The provider's public keys at `uri`; one `InvalidInput` whatever failed (address refused,
        no answer, an error status, too big, not JSON, not a JWKS of public keys)."""
        try:
            data = orjson.loads(outbound.fetch(uri, max_bytes=MAX_JWKS_BYTES, private_addresses=self.private_addresses))
            if isinstance(data, dict):
                _public_keys(data)
                return data
        except (outbound.Unreachable, orjson.JSONDecodeError, InvalidInput):
            pass
        raise InvalidInput(UNREACHABLE, code="jwks")

    def _after_rotation(self, row, token: str, error: Exception):
        """The provider may have rotated its keys: refetch its JWKS (at most once a minute) and retry."""
        last = self._fetched.get(row.issuer, 0.0)
        if not row.jwks_uri or time.monotonic() - last < REFETCH_S:
            raise Unauthenticated(
                f"jeton du fournisseur local refusé ({type(error).__name__})", code="jeton-invalide"
            ) from None
        self._fetched[row.issuer] = time.monotonic()
        try:
            jwks = self._fetch(row.jwks_uri)
        except InvalidInput:
            raise Unauthenticated("jeton du fournisseur local refusé", code="jeton-invalide") from None
        with self.db.write() as conn:
            store.set_local_idp_jwks(conn, row.issuer, orjson.dumps(jwks).decode())
        try:
            # a JWKS as fetched (JSON); import_key_set checks its shape
            return jwt.decode(token, KeySet.import_key_set(cast(KeySetSerialization, jwks)), algorithms=ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise Unauthenticated(
                f"jeton du fournisseur local refusé ({type(exc).__name__})", code="jeton-invalide"
            ) from None


def _public_keys(jwks: dict) -> KeySet:
    try:
        keys = KeySet.import_key_set(cast(KeySetSerialization, jwks))  # JSON: import_key_set checks its shape
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(f"JWKS illisible ({type(exc).__name__})", code="jwks") from None
    if not keys.keys or any(k.is_private for k in keys.keys):
        raise InvalidInput("JWKS : des clés publiques seulement", code="jwks")
    return keys


UNREACHABLE = "jwksUri : aucun JWKS de clés publiques n'a pu en être obtenu"  # the one answer, whatever the cause
