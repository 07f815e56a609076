"""Keep the local MSSanté operators running as the trust space's registry says, while `maison serve`
runs (issue 21 §1.4: an operator registered while `serve` ran stayed down until a restart).

The registry is the one source: an operator may be registered by `/admin` in an HTTP worker or by
`maison admin operateur-mss` / `maison mss-operateur` in another process, so the supervisor reads
the registry itself, every `poll` seconds (one indexed query on the operators table), rather than
waiting for an in-process signal. Each operator runs in a process of its own (as separate
organisations' servers would, maison.serving); the supervisor starts the ones not running, stops the
ones no longer registered, restarts one whose registration changed (its ports, its certificate), and
restarts one that ended — a listener it could not open (its port taken) among others — after a
delay that doubles at each failure in a row, up to `ceiling` (as a mail queue backs off,
RFC 5321 §4.5.4.1). Whatever happens to an operator, the house goes on serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from maison.partage.mss.trust import Operator, TrustSpace

log = logging.getLogger(__name__)


class Launched(Protocol):
    """What the supervisor needs of an operator's process (multiprocessing.Process has it)."""

    @property
    def exitcode(self) -> int | None: ...

    def is_alive(self) -> bool: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...


Launch = Callable[[Operator], Launched]


@dataclass
class Running:
    operator: Operator  # as registered when it was started
    process: Launched
    since: float


class Supervisor:
    def __init__(
        self,
        trust: TrustSpace,
        launch: Launch,
        *,
        poll: float = 1.0,
        first_retry: float = 1.0,
        ceiling: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.trust, self.launch, self.poll = trust, launch, poll
        self.first_retry, self.ceiling, self.clock = first_retry, ceiling, clock
        self.running: dict[str, Running] = {}
        self._failed: dict[str, tuple[int, float]] = {}  # operator → (failures in a row, next start at)

    def reconcile(self) -> None:
        """One pass: the running operators made to match the registry."""
        wanted = {operator.id: operator for operator in self.trust.operators(fresh=True) if operator.local}
        now = self.clock()
        for ident, run in list(self.running.items()):
            if ident not in wanted:
                self._stop(ident, "retiré de l'espace de confiance")
            elif wanted[ident] != run.operator:
                self._stop(ident, "enregistrement modifié, redémarré")
                self._failed.pop(ident, None)
            elif not run.process.is_alive():
                self._ended(ident, run, now)
        for ident in set(self._failed) - set(wanted):
            del self._failed[ident]
        for ident, operator in wanted.items():
            if ident not in self.running and now >= self._failed.get(ident, (0, 0.0))[1]:
                self._start(operator, now)

    def run(self, stop: threading.Event, *, alongside: Sequence[Launched] = ()) -> None:
        """Reconcile until `stop` is set, or until every process `alongside` (the house's HTTP
        workers: without them there is no house to run operators for) has ended; then stop all."""
        try:
            while True:
                try:
                    self.reconcile()
                except Exception as exc:  # noqa: BLE001 — the registry unreadable for a while: said, read again
                    log.warning("registre des opérateurs MSSanté illisible (%s) : nouvelle lecture", exc)
                if stop.wait(self.poll) or (alongside and not any(p.is_alive() for p in alongside)):
                    return
        finally:
            self.stop_all()

    def stop_all(self) -> None:
        _end([self.running.pop(ident).process for ident in list(self.running)])

    def _start(self, operator: Operator, now: float) -> None:
        try:
            process = self.launch(operator)
        except Exception as exc:  # noqa: BLE001 — one operator's failure never stops the house
            self._retry_later(operator.id, now, f"lancement impossible : {exc}")
            return
        self.running[operator.id] = Running(operator, process, now)
        log.info("opérateur MSSanté %s lancé", operator.id)

    def _ended(self, ident: str, run: Running, now: float) -> None:
        del self.running[ident]
        if now - run.since >= self.ceiling:  # it had been running well: a new incident, not the same one
            self._failed.pop(ident, None)
        self._retry_later(ident, now, f"processus terminé (code {run.process.exitcode})")

    def _retry_later(self, ident: str, now: float, why: str) -> None:
        count = self._failed.get(ident, (0, 0.0))[0] + 1
        delay = min(self.first_retry * 2 ** (count - 1), self.ceiling)
        self._failed[ident] = (count, now + delay)
        log.warning(
            "opérateur MSSanté %s arrêté (%s) : échec n° %d, nouvel essai dans %.0f s", ident, why, count, delay
        )

    def _stop(self, ident: str, why: str) -> None:
        _end([self.running.pop(ident).process])
        log.info("opérateur MSSanté %s arrêté : %s", ident, why)


def _end(processes: list[Launched], grace: float = 5.0) -> None:
    """SIGTERM to each (its listeners closed, a relay in delivery given a few seconds), then wait;
    SIGKILL to one that is still there after `grace`."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(grace)
        if process.is_alive():
            process.kill()
            process.join(grace)
