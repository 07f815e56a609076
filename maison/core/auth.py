"""Structure API keys: the system-to-system credential of a structure's software, with a scope.

A key names one structure, one software, the person it was issued to, and a **scope** that says
what the key may do. A key is not a person: it never stands for a professional where the rules
require the professional himself (Pro Santé Connect), and a desk's or a software's key cannot do
what only the structure's administrator may (register the structure's own identity provider,
declare professionals to RPPS+). The server keeps only the key's SHA-256: a key is 256 random
bits, so its digest cannot be reversed or guessed, and a copy of the database holds no key.

Scopes (`maison.core.actor.KeyScope`, beside the actor that carries one), after the roles a real
deployment separates (PGSSI-S: least privilege, one credential per use; the Annuaire's and the
DMP's "authentification indirecte" keys are per software):

- `administrateur-structure` — the structure's administrator (DSI): identity provider, RPPS+;
- `logiciel` — the structure's software (DPI, PFI, LGC) acting for the structure (indirect
  authentication of the DMP, the patient index, the PFI's worklist);
- `accueil` — the front desk: identities of the patient index, INSi retrieval;
- `operateur-mss` — an MSSanté operator publishing its mailboxes in the Annuaire;
- `fournisseur-lpp` — a provider of medical devices (LPP) recording an ordonnance's execution;
- `administrateur-maison` — the operator of the house itself (validates RPPS+ declarations).

Every issuance is a security event of the audit trail (`securite.cle-emise`).
"""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa

from maison.core import audit
from maison.core.actor import Actor, KeyScope
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
    sa.Column("scope", sa.String(32), nullable=False, server_default="logiciel"),
    sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
)


KEY_PREFIX = "mk_"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(
    db: Database,
    structure: str,
    software: str,
    person: str,
    role: str = "",
    scope: KeyScope | None = None,
    *,
    issued_by: Actor = audit.SYSTEM,
    key: str | None = None,
) -> str:
    """A new key; only its digest is kept, and the issuance is recorded as a security event.

    `key` is given only by `maison sandbox`, whose test keys are derived from its published seed so
    that two sandboxes hold the same ones (issue 21 §2); any other key is drawn at random.

    Without a scope, a key is its structure's software's (`logiciel`) — or an MSSanté operator's when
    issued for that role, as migration 0020 scoped the operators' keys issued before scopes existed."""
    scope = (
        KeyScope(scope)
        if scope
        else (KeyScope.OPERATEUR_MSS if role == KeyScope.OPERATEUR_MSS.value else KeyScope.LOGICIEL)
    )
    if key is None:
        key = KEY_PREFIX + secrets.token_urlsafe(32)
    elif not key.startswith(KEY_PREFIX) or len(key) < len(KEY_PREFIX) + 32:
        raise ValueError("a given key starts with mk_ and carries at least 32 characters")
    digest = _digest(key)
    with db.write() as conn:
        conn.execute(
            api_key.insert().values(
                digest=digest, structure=structure, software=software, person=person, role=role, scope=scope.value
            )
        )
        audit.Trail.write_security(
            conn,
            "cle-emise",
            issued_by,
            detail={
                "structure": structure,
                "software": software,
                "person": person,
                "scope": scope.value,
                "key": digest[:12],
            },
        )
    return key


def revoke_key(db: Database, key_digest_prefix: str, *, revoked_by: Actor = audit.SYSTEM) -> int:
    """Revoke the keys whose digest starts with the given prefix (as `cle-emise` records it)."""
    if len(key_digest_prefix) < 12:
        raise ValueError("at least 12 hexadecimal characters of the key's digest")
    with db.write() as conn:
        count = conn.execute(
            api_key.update().where(api_key.c.digest.startswith(key_digest_prefix)).values(revoked=True)
        ).rowcount
        audit.Trail.write_security(conn, "cle-revoquee", revoked_by, detail={"key": key_digest_prefix, "count": count})
    return count


def key_actor(db: Database, key: str) -> Actor:
    """The actor of a valid, unrevoked key (its software, with the key's scope); Unauthenticated otherwise."""
    with db.read() as conn:
        row = conn.execute(sa.select(api_key).where(api_key.c.digest == _digest(key.strip()))).first()
    if row is None or row.revoked:
        raise Unauthenticated("clé d'accès inconnue ou révoquée", code="auth-invalide")
    return Actor(row.person, row.structure, row.software, kind="software", role=row.role, scope=KeyScope(row.scope))


def active_keys(db: Database, scope: KeyScope, software: str) -> int:
    """How many unrevoked keys of this scope were issued for this software (the house's
    administrator token is looked for at first start this way)."""
    with db.read() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(api_key)
            .where(api_key.c.scope == scope.value, api_key.c.software == software, api_key.c.revoked.is_(False))
        ).scalar_one()


def revoke_keys_of(db: Database, scope: KeyScope, software: str, *, keep: str, revoked_by: Actor = audit.SYSTEM) -> int:
    """Revoke every key of this scope and software but `keep` (a rotation: the new key replaces them)."""
    kept = _digest(keep)
    with db.write() as conn:
        count = conn.execute(
            api_key.update()
            .where(api_key.c.scope == scope.value, api_key.c.software == software, api_key.c.digest != kept)
            .where(api_key.c.revoked.is_(False))
            .values(revoked=True)
        ).rowcount
        if count:
            audit.Trail.write_security(
                conn, "cle-revoquee", revoked_by, detail={"scope": scope.value, "software": software, "count": count}
            )
    return count


def key_id(key: str) -> str:
    """The key's public identifier: the first 12 characters of its digest, as `cle-emise` records it."""
    return _digest(key)[:12]
