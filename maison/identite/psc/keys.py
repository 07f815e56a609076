"""The provider's signing keys: RS256, published in the JWKS, rotated without breaking tokens.

`rotate()` makes a new active key and keeps the previous one published as `retiring`, so tokens
signed just before the rotation still verify until they expire; `prune()` removes retiring keys
older than the longest token lifetime. A key is generated on first use, never shipped.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import sqlalchemy as sa
from joserfc.jwk import KeySet, RSAKey

from maison.core.storage import Database
from maison.identite.psc import store

K = store.psc_key


class Keys:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: tuple[str, RSAKey, KeySet] | None = None

    def _load(self) -> tuple[str, RSAKey, KeySet]:
        if self._cache is None:
            with self.db.write() as conn:
                rows = conn.execute(sa.select(K).order_by(K.c.created_at)).all()
                if not any(r.state == "active" for r in rows):
                    self._insert(conn)
                    rows = conn.execute(sa.select(K).order_by(K.c.created_at)).all()
            keys = {r.kid: RSAKey.import_key(orjson.loads(r.private_jwk)) for r in rows}
            active = next(r.kid for r in rows if r.state == "active")
            self._cache = (active, keys[active], KeySet(list(keys.values())))
        return self._cache

    @staticmethod
    def _insert(conn: sa.Connection) -> str:
        kid = uuid.uuid4().hex
        key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
        conn.execute(K.insert().values(kid=kid, private_jwk=orjson.dumps(key.as_dict(private=True)).decode(),
                                       created_at=datetime.now(UTC).isoformat(timespec="microseconds"),
                                       state="active"))
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
            conn.execute(K.update().where(K.c.state == "active").values(state="retiring"))
            kid = self._insert(conn)
        self._cache = None
        return kid

    def prune(self, older_than: timedelta) -> int:
        limit = (datetime.now(UTC) - older_than).isoformat(timespec="microseconds")
        with self.db.write() as conn:
            removed = conn.execute(K.delete().where(K.c.state == "retiring", K.c.created_at < limit)).rowcount
        self._cache = None
        return removed

    def refresh(self) -> None:
        """Forget the cache (another process may have rotated)."""
        self._cache = None
