"""One throttle for every password and code guess: per account and per source, held in the database.

Pro Santé Connect (test passwords, e-CPS codes), Mon espace santé's patient login, SMTP AUTH and
IMAP LOGIN/AUTHENTICATE all check secrets a guesser can try again and again. Each asks this throttle
first and tells it the outcome; the counters live in `auth_throttle`, so that they hold across the
worker processes of `maison serve --workers N`, the operators' processes and restarts.

The guidance followed:

- OWASP Authentication Cheat Sheet, "Account Lockout": a threshold of failures, an observation
  window, a lock duration that grows (exponential lockout), and care that lockout does not become a
  denial of service against the real user;
- NIST SP 800-63B §5.2.2 (rate limiting): at most 100 consecutive failures on one account, and
  "increasing wait time" as the way to slow an attacker without locking the claimant out;
- ANSSI, *Recommandations relatives à l'authentification multifacteur et aux mots de passe* (v2.0,
  2021): limit the number of attempts with a delay growing after each failure (temporisation)
  rather than a definitive block.

How, in numbers (`ACCOUNT`, `SOURCE`):

- an account (whatever the source) may fail 4 times freely; from the 5th consecutive failure it is
  locked 1 min, then 2, 4, 8, capped at 15 min per failure; at 100 consecutive failures (NIST's
  ceiling) the lock is one day per failure. The lock always ends by itself: nobody can lock a real
  user out for good, and the wait is said (HTTP `Retry-After`, the login page, SMTP/IMAP texts). A
  success resets the account; 24 h without failure forget the count (OWASP's observation window);
- a source address (an IPv6 source counts by its /64) may fail 30 times, on any accounts, before it
  is locked the same way (up to 1 h). Its count leaks one failure every 10 min, so that the many
  users behind one hospital NAT are not blocked by each other's typing; and a success does not
  reset it (an attacker owning one account could otherwise wash his address between guesses).
  A locked source does not lock the accounts it tried: the real user, elsewhere, still gets in
  once the account's own short lock has passed.

Every attempt is counted as a failure *before* the secret is checked (`begin`), and given back on
success: so parallel guesses cannot all pass one check while the first is still hashing. The
account's lock that such in-flight attempts set may be lifted a moment later by one of them
succeeding: an application opening eight sessions to one mailbox at once would otherwise lock
itself out (bench/mss.py did, issue 19). So an attempt that finds its account locked by a failure
counted within the last `settle_s` (1 s: a password check takes tens of milliseconds) waits up
to that long for the lock to be lifted before it is refused; a guesser gains nothing by it — the
lock stays, no secret is checked meanwhile, and the refusal comes as before.
Each failure, lock and success is a security event of the audit trail (`securite.connexion-echec`,
`securite.verrouillage`, `securite.connexion`), in the transaction that counts it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from maison.core import audit
from maison.core.actor import Actor
from maison.core.errors import MaisonError
from maison.core.storage import Database, metadata

auth_throttle = sa.Table(
    "auth_throttle",
    metadata,
    sa.Column("service", sa.String(16), primary_key=True),  # psc, mes, mss: one secret, one counter
    sa.Column("kind", sa.String(8), primary_key=True),  # compte / source
    sa.Column("subject", sa.String(160), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure", sa.BigInteger, nullable=False),  # epoch seconds
    sa.Column("locked_until", sa.BigInteger, nullable=False),  # epoch seconds; 0: not locked
    sa.Index("ix_auth_throttle_last_failure", "last_failure"),
)
T = auth_throttle


@dataclass(frozen=True)
class Policy:
    """How many failures are free, how long the locks after them, and how the count is forgotten."""

    free: int  # failures allowed before the first lock (the lock comes with failure number `free + 1`)
    first_lock_s: int
    max_lock_s: int
    forget_after_s: int  # a count without failure for this long starts again
    leak_s: int = 0  # one failure forgiven per this many seconds without failure (0: none)
    ceiling: int = 0  # from this many consecutive failures, `ceiling_lock_s` per failure (0: none)
    ceiling_lock_s: int = 0

    def lock_for(self, failures: int) -> int:
        """Seconds of lock after the `failures`-th failure in a row."""
        if self.ceiling and failures >= self.ceiling:
            return self.ceiling_lock_s
        if failures <= self.free:
            return 0
        return min(self.max_lock_s, self.first_lock_s << min(failures - self.free - 1, 30))

    def remaining(self, failures: int, last_failure: int, now: int) -> int:
        """The count still held `now`, after forgetting and leaking."""
        idle = now - last_failure
        if idle >= self.forget_after_s:
            return 0
        return max(0, failures - idle // self.leak_s) if self.leak_s else failures


ACCOUNT = Policy(free=4, first_lock_s=60, max_lock_s=900, forget_after_s=86_400, ceiling=100, ceiling_lock_s=86_400)
SOURCE = Policy(free=30, first_lock_s=60, max_lock_s=3_600, forget_after_s=86_400, leak_s=600)
PURGE_ONE_IN = 200  # `begin` calls that also delete rows forgotten for two days
SETTLE_S = 1.0  # how long an attempt waits for in-flight attempts to lift the lock they set
SETTLE_POLL_S = 0.05


class Locked(MaisonError):
    """Too many failures: this account or this source must wait `retry_after` seconds.

    HTTP answers 429 with `Retry-After` (RFC 6585 §4); SMTP 454 4.7.0 (RFC 4954 §6, temporary);
    IMAP `NO [UNAVAILABLE]` (RFC 5530 §3, a temporary failure the client should not take for a
    wrong password)."""

    http_status = 429
    fhir_issue = "throttled"
    code = "compte-verrouille"

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(f"trop d'échecs d'authentification : réessayer dans {minutes} minute(s)")
        self.retry_after = retry_after
        self.http_headers = {"Retry-After": str(retry_after)}


@dataclass(frozen=True)
class Attempt:
    """One attempt under way: counted as a failure until `succeeded` gives it back."""

    service: str
    account: str
    source: str
    locks: dict[str, int]  # kind → seconds of lock this attempt set if it fails (0: none)
    before: dict[str, tuple[int, int, int]]  # kind → (failures, last_failure, locked_until) before it


def account_key(account: str) -> str:
    """Identifiers are compared case-insensitively; an overlong one is kept as its digest."""
    value = account.strip().casefold()
    return value if len(value) <= 128 else "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def source_key(source: str) -> str:
    """An IPv4 address as is, an IPv6 one by its /64: one network link (RFC 4291 §2.5.1), all of whose
    addresses a single client can take in turn."""
    try:
        address = ipaddress.ip_address(source.strip().strip("[]"))
    except ValueError:
        return account_key(source) or "inconnue"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class Throttle:
    """The throttle of one service's secret (`psc`, `mes`, `mss`)."""

    def __init__(
        self,
        db: Database,
        service: str,
        *,
        account: Policy = ACCOUNT,
        source: Policy = SOURCE,
        clock: Callable[[], float] = time.time,
        software: str = "",
        settle_s: float = SETTLE_S,
    ) -> None:
        self.db, self.service, self.software = db, service, software or f"maison-{service}"
        # the service's security events that change nothing here go through the journal (`refused`)
        self.trail = audit.Trail(db)
        self.policies = {"compte": account, "source": source}
        self.clock = clock
        self.settle_s = settle_s

    def begin(self, account: str, source: str) -> Attempt:
        """Refuse (`Locked`, audited) if the account or the source is locked; else count this attempt.

        A lock set by the account's failure of the last `settle_s` seconds may be an attempt still in
        flight that will succeed and lift it: wait for that (real time, polled) before refusing."""
        keys = {"compte": account_key(account), "source": source_key(source)}
        settle_until = time.monotonic() + self.settle_s
        while True:
            now = int(self.clock())
            locks: dict[str, int] = {}
            with self.db.write() as conn:
                if random.randrange(PURGE_ONE_IN) == 0:
                    conn.execute(T.delete().where(T.c.last_failure < now - 2 * 86_400, T.c.locked_until < now))
                rows = {kind: self._row(conn, kind, key, now) for kind, key in sorted(keys.items())}
                wait = max(row[2] - now for row in rows.values())
                last_failure = rows["compte"][1]
                settling = (
                    wait > 0
                    and rows["source"][2] <= now  # a locked source is not waited for
                    and last_failure >= now - math.ceil(self.settle_s)
                    and time.monotonic() < settle_until
                )
                if wait > 0 and not settling:
                    audit.Trail.write_security(
                        conn,
                        "connexion-echec",
                        self._anonymous(source),
                        outcome="failure",
                        detail=self._detail(account, source, motif="verrouille", attente_s=wait),
                    )
                elif wait <= 0:
                    locks = {kind: self._count(conn, kind, key, rows[kind], now) for kind, key in sorted(keys.items())}
            if wait <= 0:
                return Attempt(self.service, account, source, locks, rows)
            if not settling:
                raise Locked(wait)
            time.sleep(SETTLE_POLL_S)

    def failed(self, attempt: Attempt, *, motif: str = "secret-invalide") -> None:
        """The secret was wrong: record the failure, and the lock it brought if any."""
        actor = self._anonymous(attempt.source)
        with self.db.write() as conn:
            detail = self._detail(attempt.account, attempt.source, motif=motif)
            audit.Trail.write_security(conn, "connexion-echec", actor, outcome="failure", detail=detail)
            for kind, seconds in attempt.locks.items():
                if seconds:
                    audit.Trail.write_security(
                        conn,
                        "verrouillage",
                        actor,
                        outcome="success",
                        detail={
                            **detail,
                            "portee": kind,
                            "duree_s": seconds,
                            "echecs": self.policies[kind].remaining(*attempt.before[kind][:2], int(self.clock())) + 1,
                        },
                    )

    def succeeded(
        self,
        account: str,
        source: str,
        actor: Actor,
        *,
        attempt: Attempt | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """The login succeeded: the account starts again from zero; the source gets back the attempt
        `begin` counted (if this success ends one), never more."""
        with self.db.write() as conn:
            conn.execute(
                T.update().where(*self._where("compte", account_key(account))).values(failures=0, locked_until=0)
            )
            if attempt is not None:
                self._give_back(conn, attempt)
            audit.Trail.write_security(
                conn, "connexion", actor, detail={"service": self.service, "source": source, **(detail or {})}
            )

    def first_factor_passed(self, attempt: Attempt) -> None:
        """A first factor was right but the login goes on (a code to come): the source gets its attempt
        back, the account stays counted until `succeeded`."""
        with self.db.write() as conn:
            self._give_back(conn, attempt)

    def refused(self, account: str, source: str, *, motif: str) -> None:
        """A failure the caller bounds by other means (a one-time code's own tries): audited only, so
        group-committed through the journal rather than in a write transaction of its own."""
        self.trail.security(
            "connexion-echec",
            self._anonymous(source),
            outcome="failure",
            detail=self._detail(account, source, motif=motif),
        )

    def release(self, account: str) -> None:
        """An administrator (or a stronger authentication) lifts an account's lock."""
        with self.db.write() as conn:
            conn.execute(
                T.update().where(*self._where("compte", account_key(account))).values(failures=0, locked_until=0)
            )

    # --- rows --------------------------------------------------------------------------------------

    def _give_back(self, conn: Connection, attempt: Attempt) -> None:
        locked = attempt.before["source"][2]
        conn.execute(
            T.update()
            .where(*self._where("source", source_key(attempt.source)), T.c.failures > 0)
            .values(
                failures=T.c.failures - 1,
                locked_until=sa.case((T.c.locked_until > locked, locked), else_=T.c.locked_until),
            )
        )

    def _where(self, kind: str, key: str) -> tuple[sa.ColumnElement[bool], ...]:
        return T.c.service == self.service, T.c.kind == kind, T.c.subject == key

    def _row(self, conn: Connection, kind: str, key: str, now: int) -> tuple[int, int, int]:
        """(failures, last_failure, locked_until), the row locked for this transaction (created if new)."""
        query = (
            sa.select(T.c.failures, T.c.last_failure, T.c.locked_until).where(*self._where(kind, key)).with_for_update()
        )
        row = conn.execute(query).first()
        if row is None:
            conn.execute(
                _insert_missing(
                    conn,
                    {
                        "service": self.service,
                        "kind": kind,
                        "subject": key,
                        "failures": 0,
                        "last_failure": now,
                        "locked_until": 0,
                    },
                )
            )
            row = conn.execute(query).first()
            assert row is not None  # inserted just above (or by a concurrent process), under the lock
        return int(row.failures), int(row.last_failure), int(row.locked_until)

    def _count(self, conn: Connection, kind: str, key: str, row: tuple[int, int, int], now: int) -> int:
        policy = self.policies[kind]
        failures = policy.remaining(row[0], row[1], now) + 1
        seconds = policy.lock_for(failures)
        conn.execute(
            T.update()
            .where(*self._where(kind, key))
            .values(failures=failures, last_failure=now, locked_until=now + seconds if seconds else 0)
        )
        return seconds

    def _anonymous(self, source: str) -> Actor:
        return audit.anonymous(source, software=self.software)

    def _detail(self, account: str, source: str, **more: object) -> dict[str, Any]:
        return {"service": self.service, "compte": account_key(account), "source": source, **more}


def _insert_missing(conn: Connection, values: dict[str, Any]) -> sa.Insert:
    """INSERT … ON CONFLICT DO NOTHING: two processes may create the same row at once."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(T).values(**values).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(T).values(**values).on_conflict_do_nothing()
