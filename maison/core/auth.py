"""Authentication of calling systems: structure API keys, presented as `Authorization: Bearer`.

A key names one structure and one software; the server keeps only its SHA-256. This is the
system-to-system credential of a hospital's software until Pro Santé Connect (OIDC) tokens carry
the professional himself. Authorisation is then checked against the structure by each service.
"""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa

from maison.core.audit import Actor
from maison.core.errors import Unauthenticated
from maison.core.storage import Database, metadata

api_key = sa.Table(
    "api_key",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("software", sa.String(128), nullable=False),
    sa.Column("person", sa.String(128), nullable=False),
    sa.Column("role", sa.String(64), nullable=False, server_default=""),
)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(db: Database, structure: str, software: str, person: str, role: str = "") -> str:
    key = "mk_" + secrets.token_urlsafe(32)
    with db.write() as conn:
        conn.execute(api_key.insert().values(digest=_digest(key), structure=structure, software=software,
                                             person=person, role=role))
    return key


def actor_for(db: Database, authorization: str | None) -> Actor:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthenticated("authentification requise (Authorization: Bearer)", code="auth-absente")
    key = authorization[7:].strip()
    with db.read() as conn:
        row = conn.execute(sa.select(api_key).where(api_key.c.digest == _digest(key))).first()
    if row is None:
        raise Unauthenticated("clé d'accès inconnue", code="auth-invalide")
    return Actor(person=row.person, structure=row.structure, software=row.software, role=row.role)
