"""What became of the documents the structure's DPI sent through the PFI over HL7 v2 (issue 22 §2),
for the structure's staff: each document received, each leg it owed (the DMP, each MSSanté
recipient) with its state and the DMP's or the relay's answer, and each ZAM sent back to the DPI with
the DPI's acknowledgement (or why it was not reached).

Reading it names patients by INS: one audit record per document listed (`pfi.hl7.suivi`, its INS),
group-committed by the journal as the worklist's reading is (`Worklist.worklist`), and one without a
patient when the list is empty. The structure is the caller's own.

Nothing here re-delivers: a leg left to do or a ZAM the DPI did not take is taken up again by the MLLP
process when it starts (`Hl7Documents.resume`), the only one that delivers, so that nothing goes twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from maison.core import audit
from maison.core.actor import Actor
from maison.core.errors import InvalidInput
from maison.core.storage import Database
from maison.etablissement.pfi import store

ACTION = "pfi.hl7.suivi"


@dataclass(frozen=True)
class Leg:
    channel: str  # dmp / mss
    recipient: str
    state: str  # a-faire / accepte / refuse / envoye / distribue / echec / lu
    code: str
    detail: str
    updated_at: str


@dataclass(frozen=True)
class Zam:
    event: str  # Z01 DMP / Z02 MSSanté received / Z03 read
    answer: str  # the DPI's MSA-1, or why it was not reached
    sent_at: str


@dataclass(frozen=True)
class Received:
    id: str
    received_at: str
    sender: str
    event: str
    action: str  # initial / remplacement / suppression
    title: str
    type_code: str
    ins: str
    ins_status: str
    stay: str
    legs: tuple[Leg, ...]
    zams: tuple[Zam, ...]

    @property
    def pending(self) -> bool:
        return any(leg.state == "a-faire" for leg in self.legs)

    @property
    def failed(self) -> bool:
        return any(leg.state in ("refuse", "echec") for leg in self.legs)


class Suivi:
    def __init__(self, db: Database, trail: audit.Trail) -> None:
        self.db, self.trail = db, trail

    def received(self, actor: Actor, limit: int = 50) -> list[Received]:
        """The caller's structure's latest `limit` documents from its DPI, with their legs and ZAMs."""
        if not actor.structure:
            raise InvalidInput("l'appelant n'est rattaché à aucune structure", code="structure-absente")
        with self.db.read() as conn:
            rows = store.hl7_documents_of(conn, actor.structure, limit)
            ids = [r.id for r in rows]
            legs, zams = store.hl7_outcomes_in(conn, ids), store.hl7_zams_in(conn, ids)
        found = [
            Received(
                r.id,
                r.received_at,
                r.sender,
                r.event,
                r.action,
                r.title,
                r.type_code,
                r.ins,
                r.ins_status,
                r.stay_number,
                tuple(
                    Leg(o.channel, o.recipient, o.state, o.code, o.detail, o.updated_at)
                    for o in legs
                    if o.document_id == r.id
                ),
                tuple(Zam(z.event, z.answer, z.sent_at) for z in zams if z.document_id == r.id),
            )
            for r in rows
        ]
        records = [
            self.trail.read_later(actor, ACTION, patient=d.ins or None, detail={"document": d.id, "titre": d.title})
            for d in found
        ]
        for done in records or [self.trail.read_later(actor, ACTION, detail={"documents": 0})]:
            done.result()
        return found
