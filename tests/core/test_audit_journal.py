"""The audit journal: group commit that still answers only once the trace is committed."""

import threading

import httpx
import pytest

from maison.core import audit
from maison.core.actor import Actor
from maison.core.audit_journal import Journal
from maison.core.storage import Database
from maison.etablissement.insi.client import ClientIdentity, traits_request
from tests.identite.helpers import IDAM, STRUCTURE, seed_referential

ACTOR = Actor(person="801234567897", structure=STRUCTURE, software=IDAM)


def test_concurrent_appends_are_all_committed_in_one_chain(db):
    journal = Journal(db)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(25):
                journal.append(ACTOR, "test.read", patient=f"P{n}-{i}", detail={"i": i})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    journal.close()
    assert errors == []
    with db.read() as conn:
        rows = list(audit.events(conn, action_prefix="test."))
        assert len(rows) == 200
        assert [r["seq"] for r in rows] == list(range(rows[0]["seq"], rows[0]["seq"] + 200))
        assert audit.verify_chain(conn) == (True, None)


def test_append_raises_when_the_record_cannot_be_committed(tmp_path):
    broken = Database(f"sqlite:///{tmp_path / 'no-schema.db'}")  # no migration: no audit table
    journal = Journal(broken)
    with pytest.raises(Exception, match="audit_head|no such table"):
        journal.append(ACTOR, "test.read")
    journal.close()


def test_insi_gives_no_answer_without_its_audit_record(house, live, tmp_path):
    seed_referential(house.insi)
    house.insi.trail = audit.Trail(Database(f"sqlite:///{tmp_path / 'no-schema.db'}"))
    request = traits_request(ClientIdentity(STRUCTURE, IDAM), "GARCIA-HAMMADI", ["SARAH-LOU"], "F", "1977-01-21")
    response = httpx.post(f"{live.url}/insi/lps", content=request, headers={"Content-Type": "application/soap+xml"})
    assert response.status_code == 500
    assert b"insi_102" in response.content and b"CodeCR" not in response.content
    house.insi.trail.close()
