"""What the DMP crash test needs beside tests/partage/world.py: the real `maison serve` as its own OS
process (killed with SIGKILL, restarted on the same database and data directory), ITI-65 submissions
fired from several threads with what each one became, and the storage invariants read back from the
database and the blob store."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from maison.core import audit
from maison.core.blobs import BlobCorrupted, Blobs
from maison.core.storage import Database
from maison.etablissement.dmp.producer import Produced, provide_bundle
from maison.partage.dmp import store

FHIR = {"Content-Type": "application/fhir+json"}


@dataclass(frozen=True)
class Endpoint:
    """Where the house is reached: what `make_world` needs of a live server (its `url`)."""

    url: str


class ServerProcess:
    """`python -m maison serve` in its own process group, on a loopback port, logging to a file."""

    def __init__(self, port: int, data_dir: Path, database_url: str, reference_path: Path, log: Path) -> None:
        self.port, self.log = port, log
        self.url = f"http://127.0.0.1:{port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MAISON_")}
        self.env.update(
            MAISON_DATA_DIR=str(data_dir),
            MAISON_DATABASE_URL=database_url,
            MAISON_REFERENCE_PATH=str(reference_path),
            PYTHONUNBUFFERED="1",
        )
        self.cwd = data_dir  # no maison.toml there: the environment alone configures the server
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> ServerProcess:
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "maison", "serve", "--port", str(self.port)],
            env=self.env,
            cwd=self.cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # its own group: SIGKILL reaches every process
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"maison serve exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"maison serve did not answer within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no handler, no flush, no lifespan shutdown."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass


def sha1_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha1(data).digest()).decode()


@dataclass
class Submission:
    """One ITI-65 transaction as sent, and what became of it on the client's side."""

    index: int
    documents: list[bytes]
    bundle: dict
    state: str = "pending"  # pending → sending → acked | cut (transport error) | refused (an HTTP answer, not 200)
    answer: dict | None = None
    error: str = ""
    sent_at: float = 0.0

    @property
    def lot(self) -> str:
        return self.bundle["entry"][0]["resource"]["identifier"][0]["value"]

    @property
    def unique_ids(self) -> list[str]:
        return [
            e["resource"]["masterIdentifier"]["value"].removeprefix("urn:oid:")
            for e in self.bundle["entry"]
            if e["resource"]["resourceType"] == "DocumentReference"
        ]

    def locations(self, kind: str) -> list[str]:
        assert self.answer is not None
        return [
            e["response"]["location"].split("/", 1)[1]
            for e in self.answer["entry"]
            if e["response"]["location"].startswith(kind + "/")
        ]


def submissions(cdas: Iterable[list[bytes]]) -> list[Submission]:
    return [Submission(i, docs, provide_bundle([Produced(d) for d in docs])) for i, docs in enumerate(cdas)]


@dataclass
class Volley:
    """Submissions fired from `threads` threads, each thread one HTTP client (one connection) at a time.

    `in_flight` counts the requests sent and not yet answered; `wait_for` lets the test choose its
    moment (some answers in, some requests on the wire) to kill the server; `stop` stops the threads
    from starting new requests."""

    base: str
    headers: dict[str, str]
    work: list[Submission]
    threads: int = 6
    cond: threading.Condition = field(default_factory=threading.Condition)
    stopped: bool = False
    in_flight: int = 0
    acked: int = 0
    answered: int = 0  # acked or refused: the server spoke
    _next: int = 0
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Volley:
        for n in range(self.threads):
            t = threading.Thread(target=self._run, name=f"volley-{n}", daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def _take(self) -> Submission | None:
        with self.cond:
            if self.stopped or self._next >= len(self.work):
                return None
            sub = self.work[self._next]
            self._next += 1
            sub.state, sub.sent_at = "sending", time.monotonic()
            self.in_flight += 1
            self.cond.notify_all()
            return sub

    def _run(self) -> None:
        with httpx.Client(base_url=f"{self.base}/dmp", headers=self.headers, timeout=30) as client:
            while (sub := self._take()) is not None:
                try:
                    answer = client.post("", json=sub.bundle, headers=FHIR)
                except httpx.TransportError as exc:  # the connection dropped: cut off, never acknowledged
                    state, sub.error = "cut", f"{type(exc).__name__}: {exc}"
                else:
                    try:
                        body = answer.json()
                    except ValueError:
                        body = {}
                    if answer.status_code == 200 and body.get("type") == "transaction-response":
                        state, sub.answer = "acked", body
                    else:
                        state, sub.error = "refused", f"{answer.status_code}: {answer.text[:500]}"
                with self.cond:
                    sub.state = state
                    self.in_flight -= 1
                    self.acked += state == "acked"
                    self.answered += state in ("acked", "refused")
                    self.cond.notify_all()

    def wait_for(self, predicate, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self), timeout)

    def stop(self) -> None:
        with self.cond:
            self.stopped = True

    def join(self, timeout: float = 40) -> None:
        for t in self._workers:
            t.join(timeout)
        assert not any(t.is_alive() for t in self._workers), "a submitting thread is still blocked"


# --- what the storage holds -------------------------------------------------------------------------


@dataclass
class Stored:
    documents: list[sa.Row]
    submissions: list[sa.Row]
    alimenter: list[dict]  # successful dmp.alimenter audit records
    chain_ok: bool
    chain_break: int | None


def read_storage(db: Database) -> Stored:
    with db.read() as conn:
        documents = list(conn.execute(sa.select(store.dmp_document)))
        lots = list(conn.execute(sa.select(store.dmp_submission)))
        fed = [r for r in audit.events(conn, action_prefix="dmp.alimenter") if r["outcome"] == "success"]
        ok, broken = audit.verify_chain(conn)
    return Stored(documents, lots, fed, ok, broken)


def blob_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*/*") if p.is_file()) if root.is_dir() else []


def blob_problems(blobs: Blobs, documents: list[sa.Row]) -> list[str]:
    """Every document row names a blob that is on disk, whole: its size, SHA-1 and SHA-256 name agree
    (read through the store, which decrypts and checks the blob against its address)."""
    problems = []
    for row in documents:
        if not blobs.path(row.blob).is_file():
            problems.append(f"{row.unique_id}: blob {row.blob} absent")
            continue
        try:
            data = blobs.get(row.blob)
        except BlobCorrupted as exc:  # a blob that does not read back whole is the finding
            problems.append(f"{row.unique_id}: blob unreadable ({exc})")
            continue
        if len(data) != row.size:
            problems.append(f"{row.unique_id}: blob of {len(data)} bytes, row says {row.size}")
        if sha1_b64(data) != row.sha1:
            problems.append(f"{row.unique_id}: blob SHA-1 differs from the row's")
        if hashlib.sha256(data).hexdigest() != row.blob:
            problems.append(f"{row.unique_id}: blob bytes no longer hash to their name")
    return problems


class WriteBarrier:
    """Hold back every DMP commit from outside the server, to choose where a submission stands when the
    server dies: on SQLite the database's write lock (`BEGIN IMMEDIATE`, taken before a writer touches
    any row), on PostgreSQL the audit chain's head row (locked by the last statement of every write, so a
    submission waits there with its rows inserted and not committed). Blobs are written before either."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self._release = lambda: None

    def hold(self) -> None:
        if self.url.startswith("sqlite"):
            import sqlite3

            raw = sqlite3.connect(sa.engine.make_url(self.url).database, timeout=30, isolation_level=None)
            raw.execute("BEGIN IMMEDIATE")

            def release() -> None:
                raw.execute("ROLLBACK")
                raw.close()
        else:
            engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
            conn = engine.connect()
            transaction = conn.begin()
            assert (
                conn.execute(
                    sa.select(audit.audit_head.c.seq).where(audit.audit_head.c.id == 1).with_for_update()
                ).first()
                is not None
            )

            def release() -> None:
                transaction.rollback()
                conn.close()
                engine.dispose()

        self._release = release

    def release(self) -> None:
        release, self._release = self._release, (lambda: None)
        release()


def committed_blobs(db: Database) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(sa.select(store.dmp_document.c.blob)).scalars())
