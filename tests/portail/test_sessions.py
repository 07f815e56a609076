"""The portals' sessions: opaque id hashed at rest, inactivity and absolute limits, CSRF per session."""

from __future__ import annotations

import hashlib

from maison.core.actor import Actor, Credential
from maison.portail import store
from maison.portail.sessions import Sessions


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _sessions(db, clock: Clock) -> Sessions:
    return Sessions(db, inactivity=900, lifetime=3600, clock=clock)


def test_the_cookie_id_is_random_and_only_its_hash_is_kept(db):
    clock = Clock()
    sessions = _sessions(db, clock)
    raw, session = sessions.open("patient", "277010115400329", "277010115400329")
    other, _ = sessions.open("patient", "277010115400329", "277010115400329")
    assert raw != other and len(raw) >= 43  # 256 bits, URL-safe base64
    with db.read() as conn:
        assert store.find(conn, raw) is None  # the raw id is nowhere in the table
        assert store.find(conn, hashlib.sha256(raw.encode()).hexdigest()) is not None
    assert sessions.find(raw, "patient") == session
    assert sessions.find(raw, "pro") is None  # a patient's cookie opens no other portal


def test_a_session_ends_after_inactivity_but_activity_keeps_it(db):
    clock = Clock()
    sessions = _sessions(db, clock)
    raw, _ = sessions.open("patient", "277010115400329", "277010115400329")
    for _ in range(3):  # a request every 10 minutes: 30 minutes later, still open
        clock.now += 600
        assert sessions.find(raw, "patient") is not None
    clock.now += 901
    assert sessions.find(raw, "patient") is None
    clock.now -= 901  # and the expired row was deleted, not merely refused
    assert sessions.find(raw, "patient") is None


def test_a_session_ends_at_its_absolute_lifetime_however_active(db):
    clock = Clock()
    sessions = _sessions(db, clock)
    raw, _ = sessions.open("patient", "277010115400329", "277010115400329")
    while clock.now < 1_800_000_000 + 3600:
        assert sessions.find(raw, "patient") is not None
        clock.now += 300
    assert sessions.find(raw, "patient") is None


def test_csrf_token_is_per_session_and_compared_exactly(db):
    sessions = _sessions(db, Clock())
    _, one = sessions.open("patient", "277010115400329", "277010115400329")
    _, two = sessions.open("patient", "277010115400329", "277010115400329")
    assert one.csrf != two.csrf
    assert one.csrf_ok(one.csrf) and not one.csrf_ok(two.csrf) and not one.csrf_ok("") and not one.csrf_ok(None)


def test_logout_deletes_the_session(db):
    sessions = _sessions(db, Clock())
    raw, _ = sessions.open("patient", "277010115400329", "277010115400329")
    sessions.close(raw)
    assert sessions.find(raw, "patient") is None


def test_a_professional_session_gives_back_the_actor_established_at_login(db):
    sessions = Sessions(db, inactivity=600, lifetime=3600)
    actor = Actor(
        "810000000001",
        "1750000001",
        "client-portail",
        kind="professional",
        profession="10",
        role="FON-01",
        structures=("1750000001", "1750000002"),
        credential=Credential.PSC,
    )
    raw, _ = sessions.open("pro", "810000000001", "810000000001", actor)
    found = sessions.find(raw, "pro")
    assert found is not None and found.actor == actor
    patient_raw, _ = sessions.open("patient", "1" * 13, "1" * 13)
    patient = sessions.find(patient_raw, "patient")
    assert patient is not None and patient.actor is None
