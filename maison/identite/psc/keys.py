"""The provider's signing keys: RS256, published in the JWKS, rotated without breaking tokens.

`rotate()` makes a new active key and keeps the previous one published as `retiring`, so tokens
signed just before the rotation still verify until they expire; `prune()` removes retiring keys
older than the longest token lifetime. A key is generated on first use, never shipped.

The private keys are not in the database: the table holds each key's id, state and public JWK
(what every process needs to verify and publish), and the private JWK lives in the house's key
store (`maison.core.keystore`: a 0600 file per key under the secrets directory, or a KMS), named
`psc-signing-<kid>.jwk`. Whoever reads the database (a dump, a backup) cannot sign tokens
(issue 18 item 2.9; OWASP Cryptographic Storage Cheat Sheet, "Key Storage": keys apart from the
data they protect). Keys that an older version kept in the table are moved to the key store by
migration 0022 (or, when it ran without the key store, on first use here), under their own kid, so
tokens already issued keep verifying.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import orjson
from joserfc.jwk import Key, KeySet, RSAKey

from maison.core.keystore import KeyStore, KeyStoreError, MemoryKeyStore
from maison.core.storage import Database
from maison.identite.psc import store

log = logging.getLogger("maison.psc")


def key_name(kid: str) -> str:
    return f"psc-signing-{kid}.jwk"


def move_to_keystore(conn: store.Connection, keystore: KeyStore) -> int:
    """Move the private keys an older version kept in the table to the key store; returns how many."""
    moved = 0
    for row in store.keys_with_private_jwk(conn):
        private = RSAKey.import_key(orjson.loads(row.private_jwk))
        keystore.create(key_name(row.kid), orjson.dumps(private.as_dict(private=True)))
        store.keep_public_half(conn, row.kid, orjson.dumps(private.as_dict(private=False)).decode())
        moved += 1
    return moved


class Keys:
    def __init__(self, db: Database, keystore: KeyStore | None = None) -> None:
        """`keystore`: where the private keys live; without one (tools, benches), this process's
        memory, so that tokens it signs verify only while it runs."""
        self.db = db
        self.keystore = keystore if keystore is not None else MemoryKeyStore()
        self._cache: tuple[str, RSAKey, KeySet] | None = None

    def _load(self) -> tuple[str, RSAKey, KeySet]:
        if self._cache is None:
            with self.db.write() as conn:
                move_to_keystore(conn, self.keystore)
                rows = store.signing_keys(conn)
                if not any(r.state == "active" for r in rows):
                    self._insert(conn)
                    rows = store.signing_keys(conn)
            active = next(r.kid for r in rows if r.state == "active")
            private = self.keystore.read(key_name(active))
            if private is None:  # made by a process with another key store: sign with a new key of ours
                log.warning(
                    "PSC signing key %s is not in the key store %s: rotating to a new key "
                    "(is MAISON_SECRETS_DIR the same for every process?)",
                    active,
                    getattr(self.keystore, "directory", "in memory"),
                )
                with self.db.write() as conn:
                    store.retire_key(conn, active)
                    active = self._insert(conn)
                    rows = store.signing_keys(conn)
                private = self.keystore.read(key_name(active))
                if private is None:
                    raise KeyStoreError(f"the key store does not keep the new signing key {active}")
            public: list[Key] = [RSAKey.import_key(orjson.loads(r.public_jwk)) for r in rows if r.public_jwk]
            self._cache = (active, RSAKey.import_key(orjson.loads(private)), KeySet(public))
        return self._cache

    def _insert(self, conn: store.Connection) -> str:
        kid = uuid.uuid4().hex
        key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
        self.keystore.create(key_name(kid), orjson.dumps(key.as_dict(private=True)))  # before the row commits
        store.add_key(
            conn,
            kid=kid,
            public_jwk=orjson.dumps(key.as_dict(private=False)).decode(),
            created_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        )
        return kid

    def signing(self) -> tuple[str, RSAKey]:
        kid, key, _ = self._load()
        return kid, key

    def verification(self) -> KeySet:
        return self._load()[2]

    def jwks(self) -> dict:
        """The public keys, as `/certs` publishes them."""
        return {"keys": [k.as_dict(private=False) for k in self.verification().keys]}

    def rotate(self) -> str:
        with self.db.write() as conn:
            move_to_keystore(conn, self.keystore)
            store.retire_active_keys(conn)
            kid = self._insert(conn)
        self._cache = None
        return kid

    def prune(self, older_than: timedelta) -> int:
        limit = (datetime.now(UTC) - older_than).isoformat(timespec="microseconds")
        with self.db.write() as conn:
            gone = store.drop_retiring_keys(conn, limit)
        for kid in gone:
            self.keystore.delete(key_name(kid))
        self._cache = None
        return len(gone)

    def refresh(self) -> None:
        """Forget the cache (another process may have rotated)."""
        self._cache = None
