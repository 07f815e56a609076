"""The authentication throttle (maison.core.lockout): per account and per source, held in the database,
temporary, audited — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest

from maison.core import audit
from maison.core.actor import Actor
from maison.core.lockout import ACCOUNT, SOURCE, Locked, Throttle, source_key
from maison.core.storage import Database

USER = Actor(person="8" + "99900038441", structure="", software="test")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _fail(throttle: Throttle, account: str, source: str) -> None:
    throttle.failed(throttle.begin(account, source))


def _actions(db: Database) -> list[str]:
    with db.read() as conn:
        return [e["action"] for e in audit.events(conn, action_prefix="securite.")]


def test_lock_durations_grow_then_cap_then_reach_nists_ceiling():
    assert [ACCOUNT.lock_for(n) for n in range(1, 11)] == [0, 0, 0, 0, 60, 120, 240, 480, 900, 900]
    assert ACCOUNT.lock_for(99) == 900 and ACCOUNT.lock_for(100) == 86_400  # NIST 800-63B §5.2.2
    assert SOURCE.lock_for(30) == 0 and SOURCE.lock_for(31) == 60


def test_the_fifth_failure_locks_even_the_right_password_then_the_lock_ends(db):
    clock = Clock()
    throttle = Throttle(db, "psc", clock=clock)
    for _ in range(5):
        _fail(throttle, "Claire", "203.0.113.7")
    with pytest.raises(Locked) as locked:
        throttle.begin("claire", "198.51.100.1")  # same account (case aside), from anywhere
    assert locked.value.retry_after == 60 and locked.value.http_headers == {"Retry-After": "60"}
    clock.now += 61  # temporary: nobody is locked out for good
    attempt = throttle.begin("claire", "198.51.100.1")
    throttle.succeeded("claire", "198.51.100.1", USER, attempt=attempt)
    _fail(throttle, "claire", "198.51.100.1")  # a success starts the count again: no lock at one failure
    throttle.begin("claire", "198.51.100.1")
    actions = _actions(db)
    assert actions.count("securite.connexion-echec") == 7  # 5 + the refusal while locked + 1
    assert actions.count("securite.verrouillage") == 1 and actions.count("securite.connexion") == 1


def test_locks_double_and_decay_without_success(db):
    clock = Clock()
    # settle_s=0: each of the six locks here is refused at once rather than after the real second an
    # attempt waits for in-flight ones (six seconds of sleep); that wait has its own tests above and below
    throttle = Throttle(db, "mes", clock=clock, settle_s=0)
    for _ in range(4):
        _fail(throttle, "sarah", "203.0.113.7")
    waits = []
    for _ in range(6):
        _fail(throttle, "sarah", f"198.51.100.{len(waits)}")
        with pytest.raises(Locked) as locked:
            throttle.begin("sarah", "192.0.2.1")
        waits.append(locked.value.retry_after)
        clock.now += locked.value.retry_after
    assert waits == [60, 120, 240, 480, 900, 900]
    clock.now += 86_400  # a day without failure: the count is forgotten (OWASP's observation window)
    _fail(throttle, "sarah", "192.0.2.1")
    throttle.begin("sarah", "192.0.2.1")


def test_a_spraying_source_is_locked_without_locking_the_accounts(db):
    clock = Clock()
    throttle = Throttle(db, "mss", clock=clock)
    for n in range(SOURCE.free + 1):
        _fail(throttle, f"bal{n}@hopital.mssante.fr", "203.0.113.7")
    with pytest.raises(Locked):
        throttle.begin("bal0@hopital.mssante.fr", "203.0.113.7")
    throttle.begin("bal0@hopital.mssante.fr", "198.51.100.1")  # the real user elsewhere is not locked
    with db.read() as conn:
        [lock] = [e for e in audit.events(conn, action_prefix="securite.verrouillage")]
    assert audit.detail_of(lock)["portee"] == "source" and lock["actor_person"] == "anonyme:203.0.113.7"


def test_a_success_does_not_wash_the_source(db):
    """An attacker owning one account must not reset his address's count by logging into it."""
    clock = Clock()
    throttle = Throttle(db, "mss", clock=clock)
    for n in range(SOURCE.free):
        _fail(throttle, f"victime{n}", "203.0.113.7")
        attempt = throttle.begin("complice", "203.0.113.7")
        throttle.succeeded("complice", "203.0.113.7", USER, attempt=attempt)
    _fail(throttle, "victime-derniere", "203.0.113.7")
    with pytest.raises(Locked):
        throttle.begin("complice", "203.0.113.7")


def test_parallel_guesses_cannot_all_pass_one_check(db, database_url):
    """Attempts are counted before the secret is checked, in the database: twenty guesses at once,
    through two engines (as two worker processes), and only the free ones get to a password check."""
    engines = [Database(database_url), Database(database_url)]
    throttles = [Throttle(e, "psc") for e in engines]
    passed, refused = [], []

    def guess(i: int) -> None:
        try:
            throttles[i % 2].begin("claire", f"203.0.113.{i}")
            passed.append(i)
        except Locked:
            refused.append(i)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    assert len(passed) == ACCOUNT.free + 1 and len(refused) == 20 - ACCOUNT.free - 1


def test_an_application_opening_many_sessions_at_once_is_not_locked_out(db, database_url):
    """Eight sessions of one application log in to one mailbox at the same moment with the right
    password (bench/mss.py's load, issue 19): the fifth in-flight attempt sets the account's lock,
    the first success lifts it, and the attempts that found it locked meanwhile wait for that
    instead of being refused (OWASP: lockout must not deny the real user)."""
    engines = [Database(database_url), Database(database_url)]
    throttles = [Throttle(e, "mss") for e in engines]
    passed, refused = [], []
    start = threading.Barrier(8)

    def login(i: int) -> None:
        throttle = throttles[i % 2]
        start.wait()
        try:
            attempt = throttle.begin("pfi@hopital.test", "192.0.2.10")
        except Locked:
            refused.append(i)
            return
        time.sleep(0.05)  # the password's check
        throttle.succeeded("pfi@hopital.test", "192.0.2.10", USER, attempt=attempt)
        passed.append(i)

    threads = [threading.Thread(target=login, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    assert refused == [] and len(passed) == 8


def test_sources_are_keyed_by_address_and_ipv6_prefix():
    assert source_key("203.0.113.7") == "203.0.113.7"
    assert source_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
