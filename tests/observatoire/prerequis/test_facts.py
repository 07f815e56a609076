"""The prerequisites' facts folded from the trail by a seq cursor (issue 23: fold, do not rescan)."""

from __future__ import annotations

from maison.core import audit
from maison.core.actor import Actor
from maison.observatoire.prerequis import facts, store

CHU = Actor(person="899900038441", structure="1750000019", software="DPI-CHU")
OPERATOR = Actor(person="operateur:chu-test", structure="chu-test", software="maison-mss")
PFI = "pfi@chu-test.mssante.fr"


def _write(db, actor: Actor, action: str, outcome: str = "success", **detail) -> None:
    with db.write() as conn:
        audit.Trail.write(conn, actor, action, outcome=outcome, detail=detail)


def _facts(db, kind: str, subject: str) -> list:
    with db.read() as conn:
        return store.facts(conn, kind, [subject], "9999")


def test_the_fold_reads_only_what_is_new_and_keeps_the_first_proof(db):
    _write(db, CHU, "dmp.alimenter", lot="1")
    _write(db, CHU, "dmp.alimenter", outcome="failure", code="XDSRepositoryError")  # refused: proves nothing
    _write(db, CHU, "dmp.alimenter.rejeu", lot="1")  # a replay stores nothing
    first = facts.fold(db)
    [feed] = _facts(db, facts.DMP, CHU.structure)
    assert (feed.key, feed.count, feed.first_seq) == ("DPI-CHU", 1, 1)
    _write(db, OPERATOR, "mss.relayer", expediteur=PFI.upper(), destination="medecins")
    _write(db, OPERATOR, "mss.relayer", destination="medecins")  # written before records named their sender
    _write(db, CHU, "dmp.alimenter", lot="2")
    last = facts.fold(db)
    assert last == first + 3 and facts.fold(db) == last  # nothing new: the cursor stays
    [feed] = _facts(db, facts.DMP, CHU.structure)
    assert (feed.count, feed.first_seq, feed.last_seq) == (2, 1, last)
    [sent] = _facts(db, facts.SENT, PFI)
    assert sent.count == 1


def test_test_verdicts_are_kept_apart_with_the_last_reason(db):
    _write(db, OPERATOR, "mss.test-citoyen", expediteur=PFI, conforme=False, manques=["aucune pièce jointe PDF"])
    _write(db, OPERATOR, "mss.test-citoyen", expediteur=PFI, conforme=False, manques=["l'archive ne contient aucun"])
    facts.fold(db)
    [ko] = _facts(db, facts.TEST_KO, PFI)
    assert ko.count == 2 and "l'archive" in ko.detail and _facts(db, facts.TEST_OK, PFI) == []


def test_a_fold_from_zero_rebuilds_the_same_facts(db):
    _write(db, CHU, "dmp.alimenter", lot="1")
    _write(db, OPERATOR, "mss.remettre", expediteur=PFI, bal="x@y.fr")
    facts.fold(db)
    before = _facts(db, facts.DMP, CHU.structure) + _facts(db, facts.SENT, PFI)
    facts.fold(db, rebuild=True)
    assert _facts(db, facts.DMP, CHU.structure) + _facts(db, facts.SENT, PFI) == before


def test_a_feed_deleted_afterwards_still_proved_the_capacity(db):
    """004 L156: a prerequisite is proven once for the programme; a document withdrawn from the DMP
    afterwards (dmp.supprimer) does not undo that the structure's software fed it."""
    _write(db, CHU, "dmp.alimenter", lot="1", documents=["1.2.3"])
    _write(db, CHU, "dmp.supprimer", documents=["1.2.3"])
    facts.fold(db)
    [feed] = _facts(db, facts.DMP, CHU.structure)
    assert feed.count == 1 and feed.first_seq == 1
