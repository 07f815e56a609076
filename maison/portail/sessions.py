"""Server-side sessions of the portals: opaque id in the cookie, hashed at rest, two time limits.

- the id is 256 random bits (`secrets.token_urlsafe(32)`), the table keeps its SHA-256 only;
- a session ends after `inactivity` seconds without a request and `lifetime` seconds after it was
  opened, whichever comes first (OWASP Session Management Cheat Sheet, "session expiration"; ANSSI's
  recommandations pour la sécurisation des sites web, R23-R24); an expired row is deleted when seen;
- each session has its own anti-CSRF token (synchronizer token pattern, OWASP CSRF Prevention
  Cheat Sheet), compared in constant time;
- the last-seen time is written at most once a minute: a page view is not a write transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from maison.core.actor import Actor, Credential, KeyScope
from maison.core.storage import Database
from maison.portail import store

TOUCH_EVERY = 60  # seconds: the precision the inactivity limit needs, not one write per request


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    id_hash: str
    portal: str  # patient / pro / observatoire
    subject: str  # whose espace: the patient's INS (a minor's when a representative acts)
    acting: str  # who logged in
    csrf: str
    created_at: int
    last_seen: int
    actor_json: str | None = None

    @property
    def actor(self) -> Actor | None:
        """The professional as Pro Santé Connect established him at login (his structure, profession,
        role, every structure he practises in), rebuilt as the services see an API caller; None for a
        patient's session (whose Actor is `core.authz.patient_actor`)."""
        return _actor_from_json(self.actor_json) if self.actor_json else None

    def csrf_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf, given or "")


class Sessions:
    def __init__(self, db: Database, *, inactivity: int, lifetime: int, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.inactivity = inactivity
        self.lifetime = lifetime
        self.clock = clock

    def open(self, portal: str, subject: str, acting: str, actor: Actor | None = None) -> tuple[str, Session]:
        """A new session; returns the raw id for the cookie (never stored) and the session. `actor`: a
        professional's, as his login established it (kept so every page acts as the API caller would)."""
        raw, now = secrets.token_urlsafe(32), int(self.clock())
        actor_json = _actor_to_json(actor) if actor is not None else None
        session = Session(_hash(raw), portal, subject, acting, secrets.token_urlsafe(32), now, now, actor_json)
        with self.db.write() as conn:
            store.delete_stale(conn, seen_before=now - self.inactivity, created_before=now - self.lifetime)
            store.add(
                conn,
                id_hash=session.id_hash,
                portal=portal,
                subject=subject,
                acting=acting,
                csrf=session.csrf,
                created_at=now,
                last_seen=now,
                actor=actor_json,
            )
        return raw, session

    def find(self, raw: str | None, portal: str) -> Session | None:
        """The live session of this cookie for this portal, its last-seen time moved on; None when there
        is none, it belongs to another portal, or it has expired (then it is deleted)."""
        if not raw:
            return None
        id_hash, now = _hash(raw), int(self.clock())
        with self.db.read() as conn:
            row = store.find(conn, id_hash)
        if row is None or row.portal != portal:
            return None
        if now - row.last_seen >= self.inactivity or now - row.created_at >= self.lifetime:
            self.close(raw)
            return None
        if now - row.last_seen >= TOUCH_EVERY:
            with self.db.write() as conn:
                store.touch(conn, id_hash, now)
        return Session(id_hash, row.portal, row.subject, row.acting, row.csrf, row.created_at, now, row.actor)

    def close(self, raw: str) -> None:
        with self.db.write() as conn:
            store.delete(conn, _hash(raw))

    def end(self, session: Session) -> None:
        """End a live session from the server's side (the cookie's raw id is not needed): its holder was
        refused for good, e.g. a professional deactivated in the Annuaire mid-session."""
        with self.db.write() as conn:
            store.delete(conn, session.id_hash)


def _actor_to_json(actor: Actor) -> str:
    return json.dumps(asdict(actor), separators=(",", ":"))


def _actor_from_json(text: str) -> Actor:
    data = json.loads(text)
    data["structures"] = tuple(data.get("structures") or ())
    data["credential"] = Credential(data["credential"]) if data.get("credential") else None
    data["scope"] = KeyScope(data["scope"]) if data.get("scope") else None
    return Actor(**data)
