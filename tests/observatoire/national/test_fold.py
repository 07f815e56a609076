"""What each audit record adds to the national statistics (maison/observatoire/national/fold.py): the
rules on records as the services write them, without a database."""

from __future__ import annotations

import orjson

from maison.observatoire.national import fold

LETTRE = "11490-0"


def record(seq: int, action: str, outcome: str = "success", at: str = "2026-03-02T10:00:00+00:00", **detail) -> dict:
    return {
        "seq": seq,
        "recorded_at": at,
        "action": action,
        "outcome": outcome,
        "actor_person": "810000000001",
        "actor_structure": "1750000019",
        "actor_software": "IDAM-A",
        "detail": orjson.dumps(detail).decode(),
    }


def nothing_known(_):
    return {}


def test_a_document_fed_for_an_identity_the_pfi_did_not_qualify_is_counted_without_a_qualified_ins():
    """000 L2017: the PFI recorded PID-32 VALI for one letter, QUAL for another; the DMP feed names them
    (root^extension as the DMP writes it, root.extension as the PFI does) with an HR document, which is
    left out (003 L1749); a refused feed adds nothing."""
    records = [
        record(1, "pfi.hl7.document", document="1.2.250.9.1", statut_ins="VALI"),
        record(2, "pfi.hl7.document", document="1.2.250.9.2.7", statut_ins="QUAL"),
        record(
            3,
            "dmp.alimenter",
            documents=["1.2.250.9.1", "1.2.250.9.2^7", "1.2.250.9.3"],
            types=[LETTRE, LETTRE, "REMB"],
        ),  # fmt: skip
        record(4, "dmp.alimenter", outcome="refused", documents=["1.2.250.9.4"], types=[LETTRE]),
    ]
    facts = fold.read(records, nothing_known)
    assert facts.dmp_rows() == [
        {
            "month": "2026-03",
            "structure": "1750000019",
            "software": "IDAM-A",
            "feeds": 1,
            "documents": 2,
            "hr_feeds": 0,
            "hr_documents": 1,
            "unqualified": 1,
            "last_seq": 3,
        }
    ]
    assert {d: f["status"] for d, f in facts.documents.items()} == {"1.2.250.9.1": "VALI", "1.2.250.9.2.7": "QUAL"}


def test_a_status_folded_in_an_earlier_window_still_counts():
    feed = record(9, "dmp.alimenter", documents=["1.2.250.9.1"], types=[LETTRE])
    assert fold.read([feed], nothing_known, lambda docs: {"1.2.250.9.1": "PROV"}).dmp_rows()[0]["unqualified"] == 1
    assert fold.read([feed], nothing_known).dmp_rows()[0]["unqualified"] == 0  # no PFI record: the DMP's check


def test_an_hr_only_lot_is_an_hr_feed_and_months_are_the_records():
    records = [
        record(1, "dmp.alimenter", documents=["a"], types=["REMB"], at="2026-01-31T23:59:59+00:00"),
        record(2, "dmp.alimenter", documents=["b"], types=[LETTRE], at="2026-02-01T00:00:00+00:00"),
    ]
    rows = {r["month"]: (r["feeds"], r["documents"], r["hr_feeds"], r["hr_documents"]) for r in
            fold.read(records, nothing_known).dmp_rows()}  # fmt: skip
    assert rows == {"2026-01": (0, 0, 1, 1), "2026-02": (1, 1, 0, 0)}


def test_a_message_relayed_then_delivered_is_sent_once_and_received_once():
    """The sender's operator relays (mss.relayer), the recipient's delivers (mss.remettre): one message
    sent by the first, received by the second, whatever the number of records."""
    boxes = {"dr.a@chu.fr": ("op-chu", "PER"), "dr.b@lib.fr": ("op-lib", "PER"), "c@lib.fr": ("op-lib", "CAB")}
    records = [
        record(
            1,
            "mss.relayer",
            operateur="op-chu",
            destination="op-lib",
            expediteur="dr.a@chu.fr",
            destinataires=["dr.b@lib.fr", "c@lib.fr"],
            message_id="<m@chu>",
        ),  # fmt: skip
        record(2, "mss.remettre", bal="dr.b@lib.fr", expediteur="dr.a@chu.fr", message_id="<m@chu>"),
        record(3, "mss.remettre", bal="c@lib.fr", expediteur="dr.a@chu.fr", message_id="<m@chu>"),
    ]
    facts = fold.read(records, lambda addresses: {a: boxes[a] for a in addresses if a in boxes})
    assert sorted(facts.messages) == [("op-chu", "envoye", "<m@chu>"), ("op-lib", "recu", "<m@chu>")]
    assert sorted(a for _, a in facts.active) == ["c@lib.fr", "dr.a@chu.fr", "dr.b@lib.fr"]


def test_a_message_the_pfi_sent_carries_a_qualified_ins_only_for_a_qualified_identity():
    """000 L2017 on MSSanté: the PFI's leg names the Message-ID the operators carried; only a document of a
    QUAL identity, and only a leg sent, makes it a message with a qualified INS."""
    records = [
        record(1, "pfi.hl7.document", document="1.2.9.1", statut_ins="QUAL"),
        record(2, "pfi.hl7.document", document="1.2.9.2", statut_ins="VALI"),
        record(3, "pfi.hl7.mss", document="1.2.9.1", etat="envoye", reference="<q@pfi>"),
        record(4, "pfi.hl7.mss", document="1.2.9.2", etat="envoye", reference="<v@pfi>"),
        record(5, "pfi.hl7.mss", outcome="failure", document="1.2.9.1", etat="echec", reference="<e@pfi>"),
    ]
    assert list(fold.read(records, nothing_known).qualified_messages) == ["<q@pfi>"]
