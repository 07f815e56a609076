"""Persistence of Pro Santé Connect: signing keys, client software, accounts, codes and tokens.

Codes and refresh tokens are stored by their SHA-256 only, client secrets by their SHA-256 (random,
high-entropy), test passwords by their Argon2id hash (`maison.core.passwords`), e-CPS seeds as they
must be used. The signing keys' private parts are not here but in the key store (`keys.py`): the
table keeps their public JWK.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection as Connection  # re-exported: the type the callers' transactions have
from sqlalchemy.exc import IntegrityError as IntegrityError  # re-exported: a client registered meanwhile

from maison.core.storage import metadata

# What keys.py and local_idp.py hold: a database row.
Row = sa.Row

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
    # RFC 7591 / 7592 (registration.py): a client that registered itself manages its registration with
    # this token (its SHA-256); the metadata it registered, as JSON. NULL for the administrator's clients.
    sa.Column("registration_token_hash", sa.String(64)),
    sa.Column("registered_metadata", sa.Text),
)

# RFC 7591 §3: the initial access tokens the administrator issues, by their SHA-256; a registration
# uses one (until `max_uses`, NULL: unlimited) before it expires.
psc_initial_token = sa.Table(
    "psc_initial_token",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("expires_at", sa.Integer, nullable=False),
    sa.Column("max_uses", sa.Integer),
    sa.Column("uses", sa.Integer, nullable=False, server_default="0"),
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


# --- the provider's queries ---------------------------------------------------------------------

# Run by every authenticated call, built once (SQLAlchemy then only looks up its cache).
_REVOKED = sa.select(psc_revoked.c.jti).where(psc_revoked.c.jti.in_(sa.bindparam("ids", expanding=True)))


def add_client(conn: sa.Connection, **row: object) -> None:
    conn.execute(psc_client.insert().values(**row))


def client(conn: sa.Connection, client_id: str) -> sa.Row | None:
    return conn.execute(sa.select(psc_client).where(psc_client.c.client_id == client_id)).first()


def client_secret_hash(conn: sa.Connection, client_id: str) -> str | None:
    return conn.execute(sa.select(psc_client.c.secret_hash).where(psc_client.c.client_id == client_id)).scalar()


def update_client(conn: sa.Connection, client_id: str, **values: object) -> None:
    conn.execute(psc_client.update().where(psc_client.c.client_id == client_id).values(**values))


def delete_client(conn: sa.Connection, client_id: str) -> int:
    return conn.execute(psc_client.delete().where(psc_client.c.client_id == client_id)).rowcount


# --- dynamic registration (registration.py) --------------------------------------------------------


def add_initial_token(conn: Connection, **row: object) -> None:
    conn.execute(psc_initial_token.insert().values(**row))


def initial_token(conn: Connection, digest: str) -> Row | None:
    return conn.execute(sa.select(psc_initial_token).where(psc_initial_token.c.digest == digest)).first()


def use_initial_token(conn: Connection, digest: str, now: int) -> bool:
    """Count one use of the token if it is still valid: one conditional UPDATE, so that two
    registrations racing for its last use cannot both have it (on SQLite as on PostgreSQL)."""
    t = psc_initial_token.c
    done = conn.execute(
        psc_initial_token.update()
        .where(t.digest == digest, t.expires_at >= now, sa.or_(t.max_uses.is_(None), t.uses < t.max_uses))
        .values(uses=t.uses + 1)
    )
    return done.rowcount == 1


def account(conn: sa.Connection, idnatps: str) -> sa.Row | None:
    return conn.execute(sa.select(psc_account).where(psc_account.c.idnatps == idnatps)).first()


def upsert_account(conn: sa.Connection, idnatps: str, **values: object) -> None:
    a = psc_account.c
    if conn.execute(sa.select(a.idnatps).where(a.idnatps == idnatps)).first() is None:
        conn.execute(psc_account.insert().values(idnatps=idnatps, **values))
    else:
        conn.execute(psc_account.update().where(a.idnatps == idnatps).values(**values))


def add_grant(conn: sa.Connection, **row: object) -> None:
    conn.execute(psc_grant.insert().values(**row))


def grant(conn: sa.Connection, digest: str, kind: str | None = None) -> sa.Row | None:
    """The grant stored under this digest (of this kind, when given)."""
    g = psc_grant.c
    return conn.execute(sa.select(psc_grant).where(g.digest == digest, *([g.kind == kind] if kind else []))).first()


def update_grant(conn: sa.Connection, digest: str, **values: object) -> None:
    conn.execute(psc_grant.update().where(psc_grant.c.digest == digest).values(**values))


def open_ciba_requests(conn: sa.Connection, idnatps: str, now: int, *, unused_only: bool) -> list[sa.Row]:
    """A professional's CIBA requests not expired (digest, data), only the unused ones if asked."""
    g = psc_grant.c
    query = sa.select(g.digest, g.data).where(g.kind == "ciba", g.idnatps == idnatps, g.expires_at >= now)
    return list(conn.execute(query.where(g.used.is_(False)) if unused_only else query))


def any_revoked(conn: sa.Connection, jtis: list[str]) -> bool:
    """Whether one of these token or session ids (`sid:…`) is revoked."""
    return conn.execute(_REVOKED, {"ids": jtis}).first() is not None


def revoked(conn: sa.Connection, jti: str) -> bool:
    return conn.execute(sa.select(psc_revoked.c.jti).where(psc_revoked.c.jti == jti)).first() is not None


def revoke(conn: sa.Connection, jti: str, expires_at: int) -> None:
    conn.execute(psc_revoked.insert().values(jti=jti, expires_at=expires_at))


# --- signing keys (keys.py) ----------------------------------------------------------------------


def keys_with_private_jwk(conn: Connection) -> list[Row]:
    """(kid, private_jwk) of the keys an older version kept with their private half in the table."""
    return list(
        conn.execute(sa.select(psc_key.c.kid, psc_key.c.private_jwk).where(psc_key.c.private_jwk.is_not(None))).all()
    )


def keep_public_half(conn: Connection, kid: str, public_jwk: str) -> None:
    """The key's private half is gone from the table (moved to the key store); its public JWK stays."""
    conn.execute(psc_key.update().where(psc_key.c.kid == kid).values(private_jwk=None, public_jwk=public_jwk))


def signing_keys(conn: Connection) -> list[Row]:
    """Every key, oldest first."""
    return list(conn.execute(sa.select(psc_key).order_by(psc_key.c.created_at)).all())


def add_key(conn: Connection, *, kid: str, public_jwk: str, created_at: str) -> None:
    """A new active key (its private half is in the key store)."""
    conn.execute(
        psc_key.insert().values(kid=kid, private_jwk=None, public_jwk=public_jwk, created_at=created_at, state="active")
    )


def retire_key(conn: Connection, kid: str) -> None:
    conn.execute(psc_key.update().where(psc_key.c.kid == kid).values(state="retiring"))


def retire_active_keys(conn: Connection) -> None:
    conn.execute(psc_key.update().where(psc_key.c.state == "active").values(state="retiring"))


def drop_retiring_keys(conn: Connection, created_before: str) -> list[str]:
    """Delete the retiring keys created before this instant; returns their kids."""
    gone = list(
        conn.execute(
            sa.select(psc_key.c.kid).where(psc_key.c.state == "retiring", psc_key.c.created_at < created_before)
        ).scalars()
    )
    conn.execute(psc_key.delete().where(psc_key.c.kid.in_(gone)))
    return gone


# --- the structures' own identity providers (local_idp.py) ------------------------------------------


def local_idp_registered(conn: Connection, issuer: str) -> bool:
    return conn.execute(sa.select(psc_local_idp.c.issuer).where(psc_local_idp.c.issuer == issuer)).first() is not None


def add_local_idp(conn: Connection, **row: object) -> None:
    conn.execute(psc_local_idp.insert().values(**row))


def local_idp(conn: Connection, issuer: str) -> Row | None:
    return conn.execute(sa.select(psc_local_idp).where(psc_local_idp.c.issuer == issuer)).first()


def set_local_idp_jwks(conn: Connection, issuer: str, jwks: str) -> None:
    conn.execute(psc_local_idp.update().where(psc_local_idp.c.issuer == issuer).values(jwks=jwks))
