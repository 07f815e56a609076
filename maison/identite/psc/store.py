"""Persistence of Pro Santé Connect: signing keys, client software, accounts, codes and tokens.

Codes and refresh tokens are stored by their SHA-256 only, client secrets by their SHA-256 (random,
high-entropy), test passwords by their Argon2id hash (`maison.core.passwords`), e-CPS seeds as they
must be used. The signing keys' private parts are not here but in the key store (`keys.py`): the
table keeps their public JWK.
"""

from __future__ import annotations

import sqlalchemy as sa

from maison.core.storage import metadata

psc_key = sa.Table(
    "psc_key",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("private_jwk", sa.Text),  # NULL: moved to the key store (migration 0022); kept for that move
    sa.Column("public_jwk", sa.Text),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),  # active / retiring
)

psc_client = sa.Table(
    "psc_client",
    metadata,
    sa.Column("client_id", sa.String(100), primary_key=True),
    sa.Column("secret_hash", sa.String(200), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("redirect_uris", sa.Text, nullable=False),  # one per line, compared exactly
    sa.Column("post_logout_uris", sa.Text, nullable=False, server_default=""),
    sa.Column("ciba", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.String(32), nullable=False),
)

# Who may log in: a professional of the Annuaire (IdNatPS), with an enrolled e-CPS (TOTP seed) or,
# for accounts flagged as test accounts only, a password.
psc_account = sa.Table(
    "psc_account",
    metadata,
    sa.Column("idnatps", sa.String(20), primary_key=True),
    sa.Column("totp_seed", sa.String(64)),
    sa.Column("password_hash", sa.String(200)),
    sa.Column("test_account", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("enrolled_at", sa.String(32)),
)

psc_grant = sa.Table(
    "psc_grant",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),  # sha256 of the code / refresh token / auth_req_id
    sa.Column("kind", sa.String(10), nullable=False),  # code / refresh / ciba
    sa.Column("client_id", sa.String(100), nullable=False),
    sa.Column("idnatps", sa.String(20), nullable=False),
    sa.Column("data", sa.Text, nullable=False),  # redirect_uri, PKCE challenge, nonce, scope, acr, session
    sa.Column("expires_at", sa.Integer, nullable=False),
    sa.Column("used", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_psc_grant_expiry", "expires_at"),
)

# Access tokens are JWTs; revoking one (or logging out its session) puts its jti here.
psc_revoked = sa.Table(
    "psc_revoked",
    metadata,
    sa.Column("jti", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.Integer, nullable=False),
)

# IAM.80 (seed 002 L626): a structure's own identity provider, whose tokens are accepted for its staff.
psc_local_idp = sa.Table(
    "psc_local_idp",
    metadata,
    sa.Column("issuer", sa.String(300), primary_key=True),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("jwks", sa.Text, nullable=False),  # the IdP's public keys (JWKS JSON), or the last fetched from:
    sa.Column("jwks_uri", sa.String(500)),
    sa.Column("audience", sa.String(200), nullable=False),
    sa.Column("idnatps_claim", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
)
