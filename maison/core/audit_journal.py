"""Group commit of audit records for read-only actions (INSi lookups, searches, reads).

A read-only action has no transaction of its own to carry its trace, yet its answer must not leave
before the trace is durable: an answered INSi call that is not in the trail would be missing from
the monthly statistics (seed 003 L316-322) and from the security record. Writing one transaction
per call serialises every caller on the chain head; the journal instead lets concurrent callers
hand their record to one writer thread, which chains and commits everything pending in a single
transaction and then releases each caller. The guarantee is unchanged — `append` returns only once
the record is committed, and raises if the commit failed — while the cost of a commit is shared.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any

from maison.core import audit
from maison.core.actor import Actor
from maison.core.storage import Database

_STOP = object()


class _Pending(Future[None]):
    """One record handed to the writer, and the future its caller waits on."""

    row: dict[str, Any]


class Journal:
    """Appends audit records through one writer thread, committing whatever is pending together."""

    def __init__(self, db: Database, *, max_batch: int = 512) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()  # _Pending records and _STOP
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, actor: Actor, action: str, **fields: Any) -> Future[None]:
        """Hand one record to the writer; the future completes when it is committed (or failed).

        Async callers await it (`asyncio.wrap_future`) without holding a thread while it commits.
        """
        future = _Pending()
        future.row = audit.Trail.entry(actor, action, **fields)
        self._start()
        self._queue.put(future)
        return future

    def append(self, actor: Actor, action: str, **fields: Any) -> None:
        """Record one action; returns when it is committed, raises if it could not be."""
        self.submit(actor, action, **fields).result()

    def close(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._queue.put(_STOP)
                self._thread.join()
                self._thread = None

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="audit-journal", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            with self.db.write() as conn:
                audit.append(conn, [f.row for f in batch])
        except BaseException as exc:  # every waiter learns that its record is not in the trail
            for f in batch:
                f.set_exception(exc)
            return
        for f in batch:
            f.set_result(None)
