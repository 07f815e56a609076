"""The DMP killed mid-submission: nothing partial remains, nothing acknowledged is lost.

`maison serve` runs as its own process on SQLite and on PostgreSQL. Six threads post distinct ITI-65
transactions (one or two CDA N1 documents each, ~600 kB apiece) and note which were acknowledged;
once some are, the server's process group gets SIGKILL while others are on the wire. Two moments:

- `at-commit`: the test first holds back every commit (WriteBarrier) until a submission has written
  its blobs and waits to commit, then kills: the window between "blobs durable" and "rows committed"
  (on PostgreSQL, rows inserted and not committed) is certainly hit;
- `anywhere`: the kill lands wherever the running submissions are (upload, judging, blob write, commit).

Then the server is started again on the same database and data directory, and: every acknowledged
document is found (ITI-67) and retrieved (ITI-68) byte for byte; every document row names a whole blob;
every submission set has all its documents and every document its submission set; each committed
submission has its audit record and the chain is intact; a non-acknowledged submission sent again is
accepted (or answered as a replay if it had committed before the kill), an acknowledged one sent again
is a replay. Blobs written by submissions that never committed may remain on disk without a row: the
design allows it (maison/core/blobs.py, service.py: `Blobs.sweep` removes them), so they are only
counted, checked whole, and swept.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import pytest

from maison.core.audit import detail_of
from maison.core.blobs import Blobs
from tests.conftest import free_port
from tests.partage.crash_world import (
    FHIR,
    Endpoint,
    ServerProcess,
    Volley,
    WriteBarrier,
    blob_files,
    blob_problems,
    committed_blobs,
    read_storage,
    sha1_b64,
    submissions,
)
from tests.partage.world import PROS, make_world, n1

BUNDLES = 30  # every third one carries two documents
PDF_BYTES = 300_000  # the CDA wrapping it in base64 is ~600 kB
THREADS = 6
ACKED_BEFORE_KILL = 4


@pytest.fixture(scope="module")
def documents() -> list[list[bytes]]:
    """The CDA documents, built once for every run (each run has its own database and blob store)."""
    author = PROS["hospitalier"]
    return [
        [n1(author, title=f"Lettre de liaison {i}.{k}", pdf_bytes=PDF_BYTES) for k in range(1 + (i % 3 == 0))]
        for i in range(BUNDLES)
    ]


@pytest.fixture
def server(settings, tmp_path: Path):
    proc = ServerProcess(
        free_port(), settings.data_dir, settings.database_url, settings.reference_path, tmp_path / "server.log"
    )
    yield proc
    proc.kill()


def _kill_in_flight(volley: Volley, server: ServerProcess, barrier: WriteBarrier | None, db, blobs_root: Path) -> dict:
    """Wait for some acknowledgements, pick the moment, SIGKILL the server; what the moment was."""
    volley.wait_for(lambda v: v.acked >= ACKED_BEFORE_KILL or v.answered == len(v.work), timeout=20)
    assert volley.acked >= ACKED_BEFORE_KILL, [s.error for s in volley.work if s.error][:3] or "too slow"
    if barrier is not None:
        barrier.hold()
        committed = committed_blobs(db)  # stable: no commit passes the barrier
        deadline = time.monotonic() + 15
        while not (
            {p.name for p in blob_files(blobs_root) if not p.name.endswith(".tmp")} - committed
            and volley.in_flight >= 2
        ):
            assert time.monotonic() < deadline, "no submission reached its commit with its blobs written"
            time.sleep(0.005)
    else:
        assert volley.wait_for(lambda v: v.in_flight >= 4, timeout=10), "no submission on the wire"
    with volley.cond:  # nothing answered between this count and the kill is counted as cut
        moment = {"acked": volley.acked, "in_flight": volley.in_flight}
        server.kill()
        volley.stopped = True
    if barrier is not None:
        barrier.release()  # PostgreSQL: the dead server's backends now find their client gone and roll back
    volley.join()
    return moment


@pytest.mark.timeout(120)
@pytest.mark.parametrize("moment", ["at-commit", "anywhere"])
def test_killed_mid_submission_nothing_partial_nothing_acknowledged_lost(house, server, settings, documents, moment):
    started = time.monotonic()
    blobs_root = settings.data_dir / "documents"
    server.start()
    world = make_world(house, Endpoint(server.url), ("hospitalier", "generaliste"))
    work = submissions(documents)
    by_lot = {s.lot: s for s in work}
    by_uid = {uid: (s, data) for s in work for uid, data in zip(s.unique_ids, s.documents, strict=False)}

    # --- the volley, and the kill while submissions are in flight -------------------------------
    volley = Volley(server.url, world.headers("hospitalier"), work, threads=THREADS).start()
    barrier = WriteBarrier(settings.database_url) if moment == "at-commit" else None
    try:
        at_kill = _kill_in_flight(volley, server, barrier, house.db, blobs_root)
    finally:
        if barrier is not None:
            barrier.release()
        volley.stop()
    acked = [s for s in work if s.state == "acked"]
    cut = [s for s in work if s.state == "cut"]
    unsent = [s for s in work if s.state == "pending"]
    assert not [s.error for s in work if s.state not in ("acked", "cut", "pending")]
    assert acked and cut, f"acked {len(acked)}, cut {len(cut)}: the kill did not land mid-volley"

    # --- restart on the same database and data directory ----------------------------------------
    server.start()
    stored = read_storage(house.db)
    lots = {row.unique_id: row for row in stored.submissions}
    committed_unacked = [s for s in cut if s.lot in lots]

    # every acknowledged submission set is there, with the ids it was acknowledged with
    for s in acked:
        assert s.lot in lots, f"acknowledged submission {s.lot} lost"
        assert s.locations("List") == [lots[s.lot].id]
    # no submission set without all its documents, no document without its submission set
    documents_of: dict[str, set[str]] = {}
    for row in stored.documents:
        documents_of.setdefault(row.submission, set()).add(row.unique_id)
    for lot in lots.values():
        assert lot.unique_id in by_lot, f"a submission set nobody sent: {lot.unique_id}"
        assert documents_of.get(lot.id, set()) == set(by_lot[lot.unique_id].unique_ids), f"partial lot {lot.unique_id}"
    assert set(documents_of) <= {lot.id for lot in lots.values()}, "document rows without their submission set"
    for row in stored.documents:  # only what was sent, and never from a submission that was never sent
        assert row.unique_id in by_uid and by_uid[row.unique_id][0].state in ("acked", "cut"), row.unique_id
    # every row names a whole blob
    assert blob_problems(Blobs(blobs_root, house.blob_key), stored.documents) == []
    # one audit record per committed submission, naming its documents; the chain is intact
    fed = [detail_of(r) for r in stored.alimenter]
    assert sorted(d["lot"] for d in fed) == sorted(lots)
    for d in fed:
        assert d["documents"] == by_lot[d["lot"]].unique_ids
    assert stored.chain_ok, f"audit chain broken at {stored.chain_break}"

    # what the crash left on disk without a row: allowed by the design, but always whole
    referenced = {row.blob for row in stored.documents}
    files = blob_files(blobs_root)
    temporaries = [p for p in files if p.name.endswith(".tmp")]
    orphans = [p for p in files if not p.name.endswith(".tmp") and p.name not in referenced]
    store = Blobs(blobs_root, house.blob_key)
    for path in orphans:  # decrypted and checked against its address by the store, or it raises
        assert hashlib.sha256(store.get(path.name)).hexdigest() == path.name, f"partial blob {path}"
    if moment == "at-commit":  # the kill did land between "blobs durable" and "rows committed"
        assert orphans

    # --- ITI-67 and ITI-68: every acknowledged document, byte for byte -------------------------
    assert world.inform("generaliste").status_code == 201
    found = world.search("generaliste")
    assert found.status_code == 200, found.text
    resources = {
        e["resource"]["id"]: e["resource"]
        for e in found.json()["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
    }
    assert len(resources) == len(stored.documents)
    with httpx.Client(headers=world.headers("generaliste"), timeout=30) as client:
        for s in acked:
            for doc_id, data in zip(s.locations("DocumentReference"), s.documents, strict=False):
                resource = resources[doc_id]
                attachment = resource["content"][0]["attachment"]
                assert attachment["hash"] == sha1_b64(data) and attachment["size"] == len(data)
                got = client.get(attachment["url"])
                assert got.status_code == 200 and got.content == data

    # --- sending again: the non-acknowledged are accepted, the acknowledged replayed -------------
    with httpx.Client(base_url=f"{server.url}/dmp", headers=world.headers("hospitalier"), timeout=30) as client:
        for s in cut + unsent:
            again = client.post("", json=s.bundle, headers=FHIR)
            assert again.status_code == 200 and again.json()["type"] == "transaction-response", again.text
            statuses = {e["response"]["status"] for e in again.json()["entry"]}
            assert statuses == ({"200 OK"} if s.lot in lots else {"201 Created"}), (s.lot, statuses)
        replay = client.post("", json=acked[0].bundle, headers=FHIR)
        assert replay.status_code == 200, replay.text
        assert [e["response"]["location"] for e in replay.json()["entry"]] == [
            e["response"]["location"] for e in acked[0].answer["entry"]
        ]
        assert {e["response"]["status"] for e in replay.json()["entry"]} == {"200 OK"}

    final = read_storage(house.db)
    assert sorted(r.unique_id for r in final.documents) == sorted(by_uid), "a document missing or twice"
    assert sorted(r.unique_id for r in final.submissions) == sorted(by_lot)
    assert blob_problems(Blobs(blobs_root, house.blob_key), final.documents) == []
    assert {detail_of(r)["lot"] for r in final.alimenter} == set(by_lot)
    assert final.chain_ok

    # the crash's leftovers: Blobs.sweep removes what no row names and nothing else
    swept = Blobs(blobs_root).sweep({r.blob for r in final.documents}, older_than_seconds=0)
    assert blob_problems(Blobs(blobs_root, house.blob_key), final.documents) == []
    assert len(blob_files(blobs_root)) == len({r.blob for r in final.documents})

    elapsed = time.monotonic() - started
    print(
        f"\n[{moment} {house.db.dialect}] killed with {at_kill['in_flight']} in flight after "
        f"{at_kill['acked']} acks: {len(acked)} acked, {len(cut)} cut ({len(committed_unacked)} of them had "
        f"committed), {len(unsent)} never sent; left on disk: {len(orphans)} blob(s) without a row, "
        f"{len(temporaries)} .tmp; swept {swept}; {elapsed:.1f} s"
    )
