"""The PFI's tables and every query on them (DESIGN.md §Layout: one owner per table): what it
integrated (`pfi_document`) and what waits for a human (`pfi_worklist`). The schema is unchanged
(migration 0016); the tables were declared with the operator's until the PFI left the national wing.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from maison.core.storage import metadata

pfi_document = sa.Table(
    "pfi_document",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("patient_id", sa.Integer, nullable=False),  # the local patient index's record
    sa.Column("unique_id", sa.String(128), nullable=False),  # the CDA's id
    sa.Column("type_code", sa.String(32), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),  # the CDA's blob
    sa.Column("message_id", sa.String(256), nullable=False),
    sa.Column("sender", sa.String(256), nullable=False),
    sa.Column("integrated_at", sa.String(32), nullable=False),
    sa.Column("how", sa.String(12), nullable=False),  # automatique / manuel
    sa.UniqueConstraint("structure", "unique_id", name="uq_pfi_document_unique"),
    sa.Index("ix_pfi_document_patient", "structure", "patient_id"),
)

pfi_worklist = sa.Table(
    "pfi_worklist",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("mailbox", sa.String(256), nullable=False),
    sa.Column("uid", sa.Integer, nullable=False),  # the message in the applicative mailbox
    sa.Column("message_id", sa.String(256), nullable=False),
    sa.Column("unique_id", sa.String(128), nullable=False),
    sa.Column("ins", sa.String(15)),
    sa.Column("code", sa.String(3), nullable=False),  # 902-906 (mss-courriel error-codes.md)
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("candidates", sa.Text, nullable=False),  # JSON: local patients proposed by traits
    sa.Column("sha256", sa.String(64), nullable=False),  # the CDA's blob
    sa.Column("state", sa.String(12), nullable=False),  # a-traiter / rattache / rejete
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Index("ix_pfi_worklist_open", "structure", "state"),
)


def entry(conn: sa.Connection, structure: str, entry_id: str, *, for_update: bool = False) -> sa.Row | None:
    query = sa.select(pfi_worklist).where(pfi_worklist.c.id == entry_id, pfi_worklist.c.structure == structure)
    return conn.execute(query.with_for_update() if for_update else query).first()


def entries(conn: sa.Connection, structure: str, state: str) -> list[sa.Row]:
    return list(
        conn.execute(
            sa.select(pfi_worklist)
            .where(pfi_worklist.c.structure == structure, pfi_worklist.c.state == state)
            .order_by(pfi_worklist.c.created_at)
        )
    )


def set_state(conn: sa.Connection, structure: str, entry_id: str, state: str, *, only_from: str | None = None) -> int:
    """The entry's new state; with `only_from`, only if it is in that state (rows changed: 0 or 1)."""
    where = [pfi_worklist.c.id == entry_id, pfi_worklist.c.structure == structure]
    if only_from is not None:
        where.append(pfi_worklist.c.state == only_from)
    return conn.execute(pfi_worklist.update().where(*where).values(state=state)).rowcount


def integrated(conn: sa.Connection, structure: str, unique_ids: Iterable[str]) -> set[str]:
    """Which of these CDA ids the structure has integrated already."""
    return set(
        conn.execute(
            sa.select(pfi_document.c.unique_id).where(
                pfi_document.c.structure == structure, pfi_document.c.unique_id.in_(set(unique_ids))
            )
        ).scalars()
    )


def waiting(conn: sa.Connection, structure: str, mailbox: str, uids: Iterable[int]) -> set[tuple[int, str]]:
    """(message UID, CDA id) already put on the worklist from these messages of the mailbox."""
    return {
        (uid, unique_id)
        for uid, unique_id in conn.execute(
            sa.select(pfi_worklist.c.uid, pfi_worklist.c.unique_id).where(
                pfi_worklist.c.structure == structure,
                pfi_worklist.c.mailbox == mailbox,
                pfi_worklist.c.uid.in_(set(uids)),
            )
        )
    }


def insert(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """Rows of `pfi_document` or `pfi_worklist` (the service builds them)."""
    assert table is pfi_document or table is pfi_worklist
    if rows:
        conn.execute(table.insert(), rows)


# --- documents from the DPI over HL7 v2 (issue 22 §2; migration 0031) ---------------------------------
# Each ORU/MDM the PFI acknowledged (`pfi_hl7_document`, unique per sender, MSH-10, document and
# event: a message sent again is answered without being done twice — the volet's own examples reuse
# one MSH-10 for the initial, the replacement and the deletion, which are three messages), each leg
# it owes (`pfi_hl7_outcome`: the DMP, each MSSanté recipient), both carrying the stay (structure +
# PV1-19) — "stays with a discharge letter fed with a qualified INS" is a join — and every business
# acknowledgement sent back (`pfi_hl7_zam`).

pfi_hl7_document = sa.Table(
    "pfi_hl7_document",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("sender", sa.String(256), nullable=False),  # MSH-3^MSH-4
    sa.Column("control_id", sa.String(64), nullable=False),  # MSH-10, named in OBX-4 of each ZAM
    sa.Column("event", sa.String(8), nullable=False),  # R01 / T02 / T10 / T04
    sa.Column("action", sa.String(16), nullable=False),  # initial / remplacement / suppression
    sa.Column("unique_id", sa.String(128), nullable=False),  # the CDA's id
    sa.Column("replaced_id", sa.String(128), nullable=False),
    sa.Column("ins", sa.String(15), nullable=False),
    sa.Column("ins_status", sa.String(8), nullable=False),  # PID-32 (QUAL: a qualified INS)
    sa.Column("stay_structure", sa.String(64), nullable=False),  # PV1-19.4 (else the PFI's structure)
    sa.Column("stay_number", sa.String(64), nullable=False),  # PV1-19
    sa.Column("patient_class", sa.String(4), nullable=False),  # PV1-2
    sa.Column("type_code", sa.String(32), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("documents", sa.Text, nullable=False),  # JSON: the CDAs' blobs (N1, then N3)
    sa.Column("request", sa.Text, nullable=False),  # JSON: metadata flags, recipients, mail bodies
    sa.Column("received_at", sa.String(32), nullable=False),
    sa.UniqueConstraint("structure", "sender", "control_id", "unique_id", "event", name="uq_pfi_hl7_document_message"),
    sa.Index("ix_pfi_hl7_document_stay", "stay_structure", "stay_number"),
    sa.Index("ix_pfi_hl7_document_unique", "structure", "unique_id"),
)

pfi_hl7_outcome = sa.Table(
    "pfi_hl7_outcome",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("document_id", sa.String(36), nullable=False),
    sa.Column("structure", sa.String(64), nullable=False),  # the PFI's
    sa.Column("stay_structure", sa.String(64), nullable=False),
    sa.Column("stay_number", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(8), nullable=False),  # dmp / mss
    sa.Column("recipient", sa.String(256), nullable=False),  # the MSSanté address ("" for the DMP)
    sa.Column("state", sa.String(16), nullable=False),  # a-faire / accepte / refuse / envoye / distribue / echec / lu
    sa.Column("code", sa.String(64), nullable=False),  # the DMP's or the SMTP's code, the MDN's error code
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("reference", sa.String(256), nullable=False),  # DocumentReference/<id> or the Message-ID
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Index("ix_pfi_hl7_outcome_document", "document_id"),
    sa.Index("ix_pfi_hl7_outcome_stay", "stay_structure", "stay_number", "channel"),
    sa.Index("ix_pfi_hl7_outcome_reference", "reference"),
)

pfi_hl7_zam = sa.Table(
    "pfi_hl7_zam",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("document_id", sa.String(36), nullable=False),
    sa.Column("event", sa.String(4), nullable=False),  # Z01 DMP / Z02 MSSanté received / Z03 read
    sa.Column("control_id", sa.String(64), nullable=False),  # the ZAM's own MSH-10
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("answer", sa.String(300), nullable=False),  # the DPI's MSA-1, or why it was not reached
    sa.Column("sent_at", sa.String(32), nullable=False),
    sa.Index("ix_pfi_hl7_zam_document", "document_id"),
)

H, O, Z = pfi_hl7_document, pfi_hl7_outcome, pfi_hl7_zam  # noqa: E741  (the tables, as D and W above)


def hl7_received(
    conn: sa.Connection, structure: str, sender: str, control_id: str, unique_id: str, event: str
) -> sa.Row | None:
    """The document a message (sender, MSH-10, its document and event) already brought, if any."""
    return conn.execute(
        sa.select(H).where(
            H.c.structure == structure,
            H.c.sender == sender,
            H.c.control_id == control_id,
            H.c.unique_id == unique_id,
            H.c.event == event,
        )
    ).first()


def hl7_record(conn: sa.Connection, document: dict, outcomes: list[dict]) -> None:
    conn.execute(H.insert(), [document])
    if outcomes:
        conn.execute(O.insert(), outcomes)


def hl7_document(conn: sa.Connection, document_id: str) -> sa.Row | None:
    return conn.execute(sa.select(H).where(H.c.id == document_id)).first()


def hl7_outcomes(conn: sa.Connection, document_id: str) -> list[sa.Row]:
    return list(conn.execute(sa.select(O).where(O.c.document_id == document_id).order_by(O.c.channel, O.c.recipient)))


def hl7_unfinished(conn: sa.Connection, structure: str) -> list[str]:
    """The structure's documents with a leg still to do (what a stop between ACK and delivery left)."""
    query = sa.select(O.c.document_id).distinct().where(O.c.structure == structure, O.c.state == "a-faire")
    return list(conn.execute(query).scalars())


def hl7_set_outcome(conn: sa.Connection, outcome_id: str, **values: str) -> None:
    conn.execute(O.update().where(O.c.id == outcome_id).values(**values))


def hl7_dmp_reference(conn: sa.Connection, structure: str, unique_id: str) -> str:
    """The DMP's DocumentReference of the structure's document `unique_id`, as the DMP accepted it."""
    row = conn.execute(
        sa.select(O.c.reference)
        .join(H, H.c.id == O.c.document_id)
        .where(H.c.structure == structure, H.c.unique_id == unique_id, O.c.channel == "dmp", O.c.state == "accepte")
        .order_by(O.c.updated_at.desc())
    ).first()
    return row.reference if row else ""


def hl7_outcome_by_reference(conn: sa.Connection, reference: str, recipient: str) -> sa.Row | None:
    """The MSSanté leg a DSN or an MDN reports on (its Message-ID, its recipient)."""
    return conn.execute(
        sa.select(O).where(O.c.channel == "mss", O.c.reference == reference, O.c.recipient == recipient)
    ).first()


def hl7_record_zam(conn: sa.Connection, row: dict) -> None:
    conn.execute(Z.insert(), [row])


def hl7_unsent_zams(conn: sa.Connection, structure: str) -> list[sa.Row]:
    """The structure's ZAM the DPI's listener did not take (unreachable when they were sent)."""
    return list(
        conn.execute(
            sa.select(Z)
            .join(H, H.c.id == Z.c.document_id)
            .where(H.c.structure == structure, Z.c.answer.like("injoignable%"))
            .order_by(Z.c.sent_at)
        )
    )


def hl7_set_zam_answer(conn: sa.Connection, zam_id: str, answer: str, sent_at: str) -> None:
    conn.execute(Z.update().where(Z.c.id == zam_id).values(answer=answer, sent_at=sent_at))


def hl7_zams(conn: sa.Connection, document_id: str) -> list[sa.Row]:
    return list(conn.execute(sa.select(Z).where(Z.c.document_id == document_id).order_by(Z.c.sent_at)))


def stays_with(
    conn: sa.Connection, stay_structure: str, type_code: str, *, channel: str = "dmp", qualified: bool = True
) -> list[str]:
    """The stays (PV1-19) of `stay_structure` with a document of `type_code` the DMP accepted (or an
    MSSanté leg sent), for a patient whose INS was qualified (PID-32 QUAL) when it was sent (004
    L185-207: the SUN-ES indicators are counted per stay). The key (structure, PV1-19) is the stay's
    as the GAM announced it (sejours: sej_stay.structure, sej_stay.number)."""
    done = ("accepte",) if channel == "dmp" else ("envoye", "distribue", "lu")
    query = (
        sa.select(O.c.stay_number)
        .distinct()
        .join(H, H.c.id == O.c.document_id)
        .where(
            O.c.stay_structure == stay_structure,
            O.c.stay_number != "",
            O.c.channel == channel,
            O.c.state.in_(done),
            H.c.type_code == type_code,
        )
        .order_by(O.c.stay_number)
    )
    if qualified:
        query = query.where(H.c.ins_status == "QUAL")
    return list(conn.execute(query).scalars())


def hl7_documents_of(conn: sa.Connection, structure: str, limit: int) -> list[sa.Row]:
    """The structure's latest documents from its DPI, newest first (the staff's follow-up page)."""
    query = sa.select(H).where(H.c.structure == structure).order_by(H.c.received_at.desc(), H.c.id).limit(limit)
    return list(conn.execute(query))


def hl7_outcomes_in(conn: sa.Connection, document_ids: list[str]) -> list[sa.Row]:
    if not document_ids:
        return []
    query = sa.select(O).where(O.c.document_id.in_(document_ids)).order_by(O.c.channel, O.c.recipient)
    return list(conn.execute(query))


def hl7_zams_in(conn: sa.Connection, document_ids: list[str]) -> list[sa.Row]:
    if not document_ids:
        return []
    return list(conn.execute(sa.select(Z).where(Z.c.document_id.in_(document_ids)).order_by(Z.c.sent_at)))
