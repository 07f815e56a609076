"""Group commit of writes that must carry their audit record: one transaction for a batch.

Moved here from the DMP (where it was first measured, bench/dmp.py) because the ordonnance
numérique's creations and executions have the same shape: a small write plus its audit record,
answered only once committed, many callers at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from maison.core import audit
from maison.core.storage import Database

# (result, [(insert statement, rows)], audit entries), computed in the shared transaction
Work = Callable[[Connection], tuple[object, list[tuple[sa.Insert, list[dict[str, Any]]]], list[dict[str, Any]]]]


@contextmanager
def _collecting(conn: Connection) -> Iterator[list[dict[str, Any]]]:
    """The batch's audit records: those its bodies return and those they write with `Trail.write`
    on the shared connection (collected, not chained one by one), chained by `audit.append` in the
    batch's transaction before it commits."""
    trail: list[dict[str, Any]] = []
    conn.info[audit.BATCH_KEY] = trail
    try:
        yield trail
    finally:
        conn.info.pop(audit.BATCH_KEY, None)


class _Job(Future[object]):
    """A submitted work and the future its submitter waits on, one item of the queue."""

    work: Work


class GroupCommit:
    """Feeds judged concurrently commit together, each in its own savepoint of one transaction.

    A feed's rows and its audit record must commit together, and the answer must wait for that
    commit; with one transaction per feed, concurrent feeds queue on the write lock and each waits
    for its own fsync (SQLite `synchronous=FULL`, PostgreSQL's WAL flush). Here callers hand their
    transaction's body to one writer thread, which runs every pending body, inserts their rows
    together, appends their audit records to the chain in one go, and commits once; each caller is
    released after that commit. Same guarantees, one commit for the batch (as the audit journal).
    When one body fails (refused, or a unique id taken meanwhile), the batch is rolled back and run
    again with a savepoint per feed, so that the failing feed alone is refused.

    The write lock is the one thing feeds share (across processes too), so a body does only what
    must be read and written under it, in as few statements as it can: the rows are prepared before
    (`Dmp._prepare`), the dossier and the caller's standing are one query (`Dmp.view`). Every
    statement lets the GIL go while SQLite works, and the writer thread then waits its turn behind
    the judging threads while holding the lock.
    """

    def __init__(self, db: Database, *, max_batch: int = 64, name: str = "group-commit") -> None:
        self.db = db
        self.name = name
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, work: Work) -> Future[object]:
        """`work(conn)` inside the shared transaction reads and checks what it must under the write
        lock and returns (result, [(insert statement, rows)], audit entries); the future gets the
        result once committed, or the exception. `work` may run twice (see `_commit`)."""
        future = _Job()
        future.work = work
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                    self._thread.start()
        self._queue.put(future)
        return future

    def run(self, work: Work) -> object:
        return self.submit(work).result()

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._commit(batch)

    def _commit(self, batch: list[_Job]) -> None:
        """First as one transaction with every insert of the batch executed together; if any feed
        fails, again with a savepoint per feed, so that it fails alone."""
        try:
            with self.db.write() as conn, _collecting(conn) as trail:
                results, writes = [], []
                for future in batch:
                    result, inserts, entries = future.work(conn)
                    results.append(result)
                    writes += inserts
                    trail += entries
                grouped: dict[sa.Insert, list[dict[str, Any]]] = {}
                for statement, rows in writes:
                    grouped.setdefault(statement, []).extend(rows)
                for statement, rows in grouped.items():
                    conn.execute(statement, rows)
                if trail:
                    audit.append(conn, trail)
        except Exception:  # noqa: BLE001 - rolled back; each feed is tried again on its own
            self._commit_each(batch)
            return
        for future, result in zip(batch, results, strict=False):
            future.set_result(result)

    def _commit_each(self, batch: list[_Job]) -> None:
        done: list[tuple[_Job, object]] = []
        try:
            with self.db.write() as conn, _collecting(conn) as trail:
                for future in batch:
                    written = len(trail)  # the records its body writes (`Trail.write`) go with its savepoint
                    try:
                        with conn.begin_nested():
                            result, inserts, entries = future.work(conn)
                            for statement, rows in inserts:
                                conn.execute(statement, rows)
                    except Exception as exc:  # noqa: BLE001 - this feed alone is rolled back; its caller raises
                        del trail[written:]
                        future.set_exception(exc)
                    else:
                        done.append((future, result))
                        trail += entries
                if trail:
                    audit.append(conn, trail)
        except BaseException as exc:  # the commit failed: nothing of the batch is stored
            for future, _result in done:
                future.set_exception(exc)
            return
        for future, result in done:
            future.set_result(result)
