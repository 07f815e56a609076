"""The supervisor keeps the registry's local operators running (maison.partage.mss.supervisor,
issue 21 §1.4): it starts one registered after it began, restarts one that ended after a doubling
delay, restarts one whose registration changed, stops one no longer registered — each in a real
process, the registry read from the database as another process wrote it."""

from __future__ import annotations

import logging
import multiprocessing
import sys
import threading
import time

import pytest

from maison.partage.mss import store
from maison.partage.mss.supervisor import Supervisor
from maison.partage.mss.trust import Operator, TrustSpace

SPAWN = multiprocessing.get_context("spawn")


class Launcher:
    """Starts a real process per operator: one that runs until stopped, or one that ends at once
    with `exitcode` (as an operator whose port is taken ends with EX_TEMPFAIL)."""

    def __init__(self) -> None:
        self.launched: list[tuple[Operator, multiprocessing.process.BaseProcess]] = []
        self.exitcode: int | None = None
        self.refuse = False

    def __call__(self, operator: Operator):
        if self.refuse:
            raise OSError("plus de processus")
        target, args = (sys.exit, (self.exitcode,)) if self.exitcode is not None else (time.sleep, (60,))
        process = SPAWN.Process(target=target, args=args, daemon=True)
        process.start()
        self.launched.append((operator, process))
        return process

    def ids(self) -> list[str]:
        return [operator.id for operator, _ in self.launched]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _register(db, ident: str, relay: int, *, local: bool = True) -> None:
    # as `maison admin operateur-mss` does from another process: a row of the registry, nothing in memory
    TrustSpace(db).register(ident, ident.upper(), [f"{ident}.mssante.fr"], "a" * 64, "127.0.0.1", relay, local=local)


@pytest.fixture
def supervised(db):
    launcher, clock = Launcher(), Clock()
    supervisor = Supervisor(TrustSpace(db), launcher, first_retry=1.0, ceiling=8.0, clock=clock)
    yield supervisor, launcher, clock
    supervisor.stop_all()


def test_an_operator_registered_while_it_runs_is_started_at_the_next_pass(db, supervised):
    supervisor, launcher, _clock = supervised
    reader = TrustSpace(db)
    supervisor.reconcile()
    assert launcher.launched == []
    reader.operators()  # a registry cached in this process must not hide the new operator
    _register(db, "chu-test", 2525)
    _register(db, "ailleurs", 2526, local=False)  # another organisation's: not this house's to run
    supervisor.reconcile()
    assert launcher.ids() == ["chu-test"] and launcher.launched[0][1].is_alive()
    supervisor.reconcile()
    assert launcher.ids() == ["chu-test"]  # running: not started twice


def test_an_operator_that_ended_is_started_again_after_a_doubling_delay(db, supervised, caplog):
    supervisor, launcher, clock = supervised
    launcher.exitcode = 75  # EX_TEMPFAIL: a listener it could not open
    _register(db, "chu-test", 2525)
    supervisor.reconcile()
    launcher.launched[-1][1].join(30)
    with caplog.at_level(logging.WARNING, logger="maison.partage.mss.supervisor"):
        supervisor.reconcile()
    assert "chu-test" in caplog.text and "code 75" in caplog.text and "nouvel essai dans 1 s" in caplog.text
    assert len(launcher.launched) == 1  # not at once
    clock.now += 1.0
    supervisor.reconcile()
    assert len(launcher.launched) == 2
    launcher.launched[-1][1].join(30)
    supervisor.reconcile()  # ended again: twice as long
    clock.now += 1.5
    supervisor.reconcile()
    assert len(launcher.launched) == 2
    launcher.exitcode = None  # the port is free now
    clock.now += 0.5
    supervisor.reconcile()
    assert len(launcher.launched) == 3 and launcher.launched[-1][1].is_alive()


def test_the_delay_never_exceeds_the_ceiling(db, supervised):
    supervisor, launcher, clock = supervised
    launcher.exitcode = 75
    _register(db, "chu-test", 2525)
    for _ in range(6):  # 1, 2, 4, 8, 8, 8 s
        clock.now += 8.0
        supervisor.reconcile()
        launcher.launched[-1][1].join(30)
        supervisor.reconcile()
    assert len(launcher.launched) == 6


def test_a_changed_registration_restarts_the_operator_with_it(db, supervised):
    supervisor, launcher, _clock = supervised
    _register(db, "chu-test", 2525)
    supervisor.reconcile()
    _register(db, "chu-test", 2600)  # registered again on another relay port
    supervisor.reconcile()
    (first, old), (second, new) = launcher.launched
    assert (first.relay_port, second.relay_port) == (2525, 2600)
    assert not old.is_alive() and new.is_alive()


def test_an_operator_no_longer_registered_is_stopped(db, supervised):
    supervisor, launcher, _clock = supervised
    _register(db, "chu-test", 2525)
    supervisor.reconcile()
    with db.write() as conn:
        store.update_operator(conn, "chu-test", active=False)
    supervisor.reconcile()
    assert not launcher.launched[0][1].is_alive() and supervisor.running == {}


def test_an_operator_that_cannot_be_launched_does_not_stop_the_others(db, supervised, caplog):
    supervisor, launcher, clock = supervised
    launcher.refuse = True
    _register(db, "chu-test", 2525)
    with caplog.at_level(logging.WARNING, logger="maison.partage.mss.supervisor"):
        supervisor.reconcile()
    assert "lancement impossible : plus de processus" in caplog.text
    launcher.refuse = False
    _register(db, "medecins", 2526)
    supervisor.reconcile()
    assert launcher.ids() == ["medecins"]  # chu-test waits for its delay
    clock.now += 1.0
    supervisor.reconcile()
    assert sorted(launcher.ids()) == ["chu-test", "medecins"]


def test_run_stops_every_operator_when_the_house_stops(db):
    launcher = Launcher()
    supervisor = Supervisor(TrustSpace(db), launcher, poll=0.05)
    _register(db, "chu-test", 2525)
    house = SPAWN.Process(target=time.sleep, args=(2,), daemon=True)  # the HTTP worker, ending by itself
    house.start()
    done = threading.Event()
    thread = threading.Thread(target=lambda: (supervisor.run(threading.Event(), alongside=[house]), done.set()))
    thread.start()
    assert done.wait(60), "the supervisor outlived the house"
    assert launcher.ids() == ["chu-test"] and not launcher.launched[0][1].is_alive()

    stop = threading.Event()
    thread = threading.Thread(target=supervisor.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 30
    while len(launcher.launched) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()  # SIGTERM to `maison serve`
    thread.join(30)
    assert not thread.is_alive() and not any(process.is_alive() for _, process in launcher.launched)
