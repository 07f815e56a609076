"""Persistence of the local patient indexes (one per structure) and of their identitovigilance work."""

from __future__ import annotations

import sqlalchemy as sa

from maison.core.storage import metadata

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

# What service.py and cellule.py pass to the functions below: their own transaction, never a new one.
Connection = sa.Connection

vig_patient = sa.Table(
    "vig_patient",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("ipp", sa.String(64), nullable=False),
    sa.Column("status", sa.String(5), nullable=False),
    sa.Column("insi_retrieved", sa.Boolean, nullable=False, default=False),
    sa.Column("document_checked", sa.Boolean, nullable=False, default=False),
    sa.Column("nom_naissance", sa.String(100), nullable=False),
    sa.Column("prenoms", sa.String(200), nullable=False),
    sa.Column("sexe", sa.String(1), nullable=False),
    sa.Column("date_naissance", sa.String(10), nullable=False),
    sa.Column("lieu_naissance", sa.String(5)),
    sa.Column("nom_utilise", sa.String(100)),
    sa.Column("prenom_utilise", sa.String(100)),
    sa.Column("ins_number", sa.String(13)),
    sa.Column("ins_cle", sa.String(2)),
    sa.Column("ins_oid", sa.String(64)),
    sa.Column("collection_method", sa.String(8), nullable=False),
    sa.Column("document_type", sa.String(32)),
    sa.Column("attributes", sa.String(64), nullable=False, default=""),  # douteuse, fictive, homonyme
    sa.Column("merged_into", _ID, sa.ForeignKey("vig_patient.id")),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.UniqueConstraint("structure", "ipp", name="uq_vig_patient_structure_ipp"),
    sa.Index("ix_vig_patient_ins", "structure", "ins_number"),
    sa.Index("ix_vig_patient_birth", "structure", "date_naissance"),
    sa.Index("ix_vig_patient_nom", "structure", "nom_naissance"),
)

vig_history = sa.Table(
    "vig_history",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("patient_id", _ID, sa.ForeignKey("vig_patient.id"), nullable=False),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("from_status", sa.String(5)),
    sa.Column("to_status", sa.String(5)),
    sa.Column("snapshot", sa.Text, nullable=False),
    sa.Index("ix_vig_history_patient", "patient_id"),
)

vig_review = sa.Table(
    "vig_review",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(12), nullable=False),  # doublon / collision
    sa.Column("patient_a", _ID, sa.ForeignKey("vig_patient.id"), nullable=False),
    sa.Column("patient_b", _ID, sa.ForeignKey("vig_patient.id")),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("state", sa.String(12), nullable=False),  # ouvert / fusionne / ecarte / dedouble
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("resolved_at", sa.String(32)),
    sa.Column("resolved_by", sa.String(128)),
    sa.UniqueConstraint("structure", "kind", "patient_a", "patient_b", name="uq_vig_review_pair"),
)

vig_incident = sa.Table(
    "vig_incident",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("patient_id", _ID, sa.ForeignKey("vig_patient.id")),
    sa.Column("reported_by", sa.String(128), nullable=False),
    sa.Index("ix_vig_incident_structure", "structure", "at"),
)

vig_meeting = sa.Table(
    "vig_meeting",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("held_on", sa.String(10), nullable=False),
    sa.Column("minutes", sa.Text, nullable=False),
    sa.Column("participants", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_vig_meeting_structure", "structure", "held_on"),
)

# The cell's written procedures; 004 L379 asks at least for identification, rapprochement,
# création and fusion of identities.
vig_procedure = sa.Table(
    "vig_procedure",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("adopted_on", sa.String(10), nullable=False),
    sa.Column("reference", sa.String(300), nullable=False, server_default=""),
    sa.Index("ix_vig_procedure_structure", "structure", "kind"),
)


# A GHT (groupement hospitalier de territoire) and the establishments party to it, recorded by the
# house's administrator: membership is data, not something a caller asserts. Seed 004 L349: a cell is
# also set up at GHT level and relies on the establishments' cells; 004 L379-380: the GHT's activity
# report is one of the justifying documents — so a GHT report covers the structures of one GHT.
vig_ght = sa.Table(
    "vig_ght",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("support", sa.String(64), nullable=False),  # the établissement support (004 L349)
    sa.Column("recorded_at", sa.String(32), nullable=False),
    sa.Column("recorded_by", sa.String(128), nullable=False),
)

vig_ght_member = sa.Table(
    "vig_ght_member",
    metadata,
    sa.Column("ght", sa.String(64), sa.ForeignKey("vig_ght.code"), primary_key=True),
    sa.Column("structure", sa.String(64), primary_key=True),
    sa.Index("ix_vig_ght_member_structure", "structure"),
)


def put_ght(conn, code: str, name: str, support: str, members: list[str], at: str, by: str) -> None:
    """Record (or replace) a GHT and its member establishments."""
    conn.execute(vig_ght_member.delete().where(vig_ght_member.c.ght == code))
    conn.execute(vig_ght.delete().where(vig_ght.c.code == code))
    conn.execute(vig_ght.insert().values(code=code, name=name, support=support, recorded_at=at, recorded_by=by))
    conn.execute(vig_ght_member.insert(), [{"ght": code, "structure": s} for s in members])


def ght_peers(conn, structure: str) -> set[str]:
    """Every structure that shares a GHT with `structure` (itself included when it is in one)."""
    mine = sa.select(vig_ght_member.c.ght).where(vig_ght_member.c.structure == structure)
    return set(conn.execute(sa.select(vig_ght_member.c.structure).where(vig_ght_member.c.ght.in_(mine))).scalars())


def ght(conn, code: str) -> tuple[str, list[str]] | None:
    """A GHT's support establishment and its members (support included), or None if unknown."""
    support = conn.execute(sa.select(vig_ght.c.support).where(vig_ght.c.code == code)).scalar_one_or_none()
    if support is None:
        return None
    members = conn.execute(
        sa.select(vig_ght_member.c.structure).where(vig_ght_member.c.ght == code).order_by(vig_ght_member.c.structure)
    ).scalars()
    return support, list(members)


def row_to_identity(row):
    from maison.core.ins_traits import Traits
    from maison.etablissement.vigilance.model import LocalIdentity, Status

    return LocalIdentity(
        id=row.id,
        structure=row.structure,
        ipp=row.ipp,
        status=Status(row.status),
        traits=Traits(
            row.nom_naissance, tuple(row.prenoms.split(" ")), row.sexe, row.date_naissance, row.lieu_naissance
        ),
        insi_retrieved=bool(row.insi_retrieved),
        document_checked=bool(row.document_checked),
        collection_method=row.collection_method,
        document_type=row.document_type,
        attributes=frozenset(a for a in row.attributes.split(",") if a),
        ins_number=row.ins_number,
        ins_cle=row.ins_cle,
        ins_oid=row.ins_oid,
        nom_utilise=row.nom_utilise,
        prenom_utilise=row.prenom_utilise,
        merged_into=row.merged_into,
        version=row.version,
    )


def get(conn, patient_id: int, *, for_update: bool = False):
    query = sa.select(vig_patient).where(vig_patient.c.id == patient_id)
    if for_update:
        query = query.with_for_update()
    return conn.execute(query).first()


_BY_IPP = sa.select(vig_patient).where(
    vig_patient.c.structure == sa.bindparam("s"), vig_patient.c.ipp == sa.bindparam("i")
)  # built once: each GAM message looks its patient up (sejours; bench/flux.py)


def by_ipp(conn, structure: str, ipp: str):
    return conn.execute(_BY_IPP, {"s": structure, "i": ipp}).first()


def by_ins(conn, structure: str, ins_number: str) -> list:
    return by_ins_numbers(conn, structure, {ins_number})[ins_number]


def by_ins_numbers(conn, structure: str, ins_numbers: set[str]) -> dict[str, list]:
    """`by_ins` for several matricules at once (the PFI's batch): matricule → its records."""
    found: dict[str, list] = {number: [] for number in ins_numbers}
    for row in conn.execute(
        sa.select(vig_patient)
        .where(
            vig_patient.c.structure == structure,
            vig_patient.c.ins_number.in_(ins_numbers),
            vig_patient.c.merged_into.is_(None),
        )
        .order_by(vig_patient.c.id)
    ):
        found[row.ins_number].append(row)
    return found


def search(
    conn,
    structure: str,
    *,
    family: str | None = None,
    given: str | None = None,
    birthdate: str | None = None,
    gender: str | None = None,
    ipp: str | None = None,
    ins_number: str | None = None,
    limit: int = 50,
) -> list:
    criteria = _criteria(structure, family, given, birthdate, gender, ipp, ins_number)
    return list(conn.execute(sa.select(vig_patient).where(*criteria).order_by(vig_patient.c.id).limit(limit)))


def search_count(conn, structure: str, **wanted: str | None) -> int:
    """How many live records `search` would find without a limit (a FHIR search's total)."""
    criteria = _criteria(structure, **wanted)
    return int(conn.execute(sa.select(sa.func.count()).select_from(vig_patient).where(*criteria)).scalar_one())


def _criteria(
    structure: str,
    family: str | None = None,
    given: str | None = None,
    birthdate: str | None = None,
    gender: str | None = None,
    ipp: str | None = None,
    ins_number: str | None = None,
) -> list:
    p = vig_patient.c
    out = [p.structure == structure, p.merged_into.is_(None)]
    if family:
        out.append(p.nom_naissance.startswith(family))
    if given:
        out.append(sa.or_(p.prenoms.startswith(given), p.prenoms.contains(" " + given)))
    if birthdate:
        out.append(p.date_naissance.startswith(birthdate))
    if gender:
        out.append(p.sexe == gender)
    if ipp:
        out.append(p.ipp == ipp)
    if ins_number:
        out += [p.ins_number == ins_number, p.status == "QUAL"]
    return out


# --- the patient index (service.PatientIndex) ------------------------------------------------------


_INSERT_PATIENT = vig_patient.insert().returning(vig_patient.c.id)


def insert_patient(conn, values: dict) -> int:
    """A new record (admission, or the other person of a dédoublement); its id."""
    return conn.execute(_INSERT_PATIENT, values).scalar_one()


def update_patient(conn, patient_id: int, version: int, changes: dict) -> bool:
    """Apply `changes` to the record if it is still at `version`; False when someone changed it meanwhile."""
    result = conn.execute(
        vig_patient.update().where(vig_patient.c.id == patient_id, vig_patient.c.version == version).values(**changes)
    )
    return result.rowcount == 1


def mark_merged(conn, absorbed_id: int, survivor_id: int, version: int, at: str) -> None:
    """The absorbed record points to the survivor (a fusion)."""
    conn.execute(
        vig_patient.update()
        .where(vig_patient.c.id == absorbed_id)
        .values(merged_into=survivor_id, updated_at=at, version=version)
    )


def live_traits(conn, structure: str) -> list:
    """(id, the five traits, INS matricule) of every unmerged record of the structure."""
    return list(
        conn.execute(
            sa.select(
                vig_patient.c.id,
                vig_patient.c.nom_naissance,
                vig_patient.c.prenoms,
                vig_patient.c.sexe,
                vig_patient.c.date_naissance,
                vig_patient.c.lieu_naissance,
                vig_patient.c.ins_number,
            ).where(vig_patient.c.structure == structure, vig_patient.c.merged_into.is_(None))
        )
    )


def add_history(
    conn,
    patient_id: int,
    *,
    at: str,
    actor: str,
    event: str,
    from_status: str | None,
    to_status: str | None,
    snapshot: str,
) -> None:
    conn.execute(
        vig_history.insert().values(
            patient_id=patient_id,
            at=at,
            actor=actor,
            event=event,
            from_status=from_status,
            to_status=to_status,
            snapshot=snapshot,
        )
    )


def history(conn, patient_id: int) -> list:
    """A record's history, oldest first."""
    return list(
        conn.execute(sa.select(vig_history).where(vig_history.c.patient_id == patient_id).order_by(vig_history.c.id))
    )


def trait_snapshots(conn, structure: str) -> list:
    """(patient_id, snapshot) of the admission and every change of traits of each live record whose
    traits were ever changed after admission, by record then in order."""
    h = vig_history
    changed = (
        sa.select(h.c.patient_id)
        .join(vig_patient, vig_patient.c.id == h.c.patient_id)
        .where(
            vig_patient.c.structure == structure,
            vig_patient.c.merged_into.is_(None),
            h.c.event.in_(("traits-update", "insi-retrieval")),
        )
    )
    return list(
        conn.execute(
            sa.select(h.c.patient_id, h.c.snapshot)
            .where(h.c.patient_id.in_(changed), h.c.event.in_(("admit", "traits-update", "insi-retrieval")))
            .order_by(h.c.patient_id, h.c.id)
        )
    )


def open_review(
    conn, structure: str, kind: str, patient_a: int, patient_b: int | None, score: float, reason: str, at: str
) -> None:
    """Queue an alert on the pair (`patient_a` < `patient_b`), unless one is already recorded."""
    r = vig_review
    exists = conn.execute(
        sa.select(r.c.id).where(
            r.c.structure == structure,
            r.c.kind == kind,
            r.c.patient_a == patient_a,
            r.c.patient_b == patient_b if patient_b is not None else r.c.patient_b.is_(None),
        )
    ).first()
    if exists is None:
        conn.execute(
            r.insert().values(
                structure=structure,
                kind=kind,
                patient_a=patient_a,
                patient_b=patient_b,
                score=score,
                reason=reason,
                state="ouvert",
                created_at=at,
            )
        )


def close_reviews(conn, state: str, at: str, by: str, *, review_id: int | None, a: int, b: int | None) -> None:
    """Resolve the open alert `review_id`, or else the open alerts on the pair (a, b) and on `a` alone."""
    r = vig_review
    cond = (
        r.c.id == review_id
        if review_id
        else sa.or_(
            sa.and_(r.c.patient_a == min(a, b), r.c.patient_b == max(a, b)) if b else r.c.patient_a == a,
            sa.and_(r.c.patient_a == a, r.c.patient_b.is_(None)),
        )
    )
    conn.execute(r.update().where(cond, r.c.state == "ouvert").values(state=state, resolved_at=at, resolved_by=by))


def review(conn, review_id: int):
    return conn.execute(sa.select(vig_review).where(vig_review.c.id == review_id)).first()


def resolve_review(conn, review_id: int, state: str, at: str, by: str) -> None:
    conn.execute(
        vig_review.update().where(vig_review.c.id == review_id).values(state=state, resolved_at=at, resolved_by=by)
    )


def reviews(conn, structure: str, state: str) -> list:
    """The structure's alerts in `state`, highest score first."""
    return list(
        conn.execute(
            sa.select(vig_review)
            .where(vig_review.c.structure == structure, vig_review.c.state == state)
            .order_by(vig_review.c.score.desc())
        )
    )


# --- the identitovigilance cell (cellule.Cellule) ---------------------------------------------------


def add_meeting(conn, structure: str, held_on: str, minutes: str, participants: str) -> int:
    return conn.execute(
        vig_meeting.insert()
        .values(structure=structure, held_on=held_on, minutes=minutes, participants=participants)
        .returning(vig_meeting.c.id)
    ).scalar_one()


def add_incident(
    conn, structure: str, at: str, kind: str, description: str, patient_id: int | None, reported_by: str
) -> int:
    return conn.execute(
        vig_incident.insert()
        .values(
            structure=structure,
            at=at,
            kind=kind,
            description=description,
            patient_id=patient_id,
            reported_by=reported_by,
        )
        .returning(vig_incident.c.id)
    ).scalar_one()


def add_procedure(conn, structure: str, kind: str, title: str, adopted_on: str, reference: str) -> int:
    return conn.execute(
        vig_procedure.insert()
        .values(structure=structure, kind=kind, title=title, adopted_on=adopted_on, reference=reference)
        .returning(vig_procedure.c.id)
    ).scalar_one()


def meetings(conn, structure: str, since: str, until: str) -> list:
    """The structure's meetings held in [since, until), in date order."""
    m = vig_meeting
    return list(
        conn.execute(
            sa.select(m)
            .where(m.c.structure == structure, m.c.held_on >= since, m.c.held_on < until)
            .order_by(m.c.held_on)
        )
    )


def incidents(conn, structure: str, since: str, until: str) -> list:
    """The structure's incidents in [since, until), in time order."""
    i = vig_incident
    return list(
        conn.execute(sa.select(i).where(i.c.structure == structure, i.c.at >= since, i.c.at < until).order_by(i.c.at))
    )


def procedures(conn, structure: str, until: str) -> list:
    """The structure's procedures adopted before `until`, oldest first."""
    p = vig_procedure
    return list(
        conn.execute(sa.select(p).where(p.c.structure == structure, p.c.adopted_on < until).order_by(p.c.adopted_on))
    )


def _history_in_period(structure: str, since: str, until: str) -> tuple:
    return (vig_patient.c.structure == structure, vig_history.c.at >= since, vig_history.c.at < until)


_HISTORY_OF_PATIENT = vig_history.join(vig_patient, vig_patient.c.id == vig_history.c.patient_id)


def history_event_counts(conn, structure: str, since: str, until: str, events: tuple[str, ...]) -> dict[str, int]:
    """How many times each of `events` happened to the structure's records in [since, until)."""
    h = vig_history
    return dict(
        conn.execute(
            sa.select(h.c.event, sa.func.count())
            .select_from(_HISTORY_OF_PATIENT)
            .where(*_history_in_period(structure, since, until), h.c.event.in_(events))
            .group_by(h.c.event)
        ).all()
    )


def qualifications(conn, structure: str, since: str, until: str) -> int:
    """How many times a record of the structure became QUAL in [since, until)."""
    h = vig_history
    return conn.execute(
        sa.select(sa.func.count())
        .select_from(_HISTORY_OF_PATIENT)
        .where(
            *_history_in_period(structure, since, until),
            h.c.to_status == "QUAL",
            sa.or_(h.c.from_status.is_(None), h.c.from_status != "QUAL"),
        )
    ).scalar_one()


def reviews_opened(conn, structure: str, since: str, until: str) -> dict[str, int]:
    """Alerts raised in [since, until), by kind."""
    r = vig_review
    return dict(
        conn.execute(
            sa.select(r.c.kind, sa.func.count())
            .where(r.c.structure == structure, r.c.created_at >= since, r.c.created_at < until)
            .group_by(r.c.kind)
        ).all()
    )


def reviews_resolved(conn, structure: str, since: str, until: str) -> dict[str, int]:
    """Alerts resolved in [since, until), by outcome."""
    r = vig_review
    return dict(
        conn.execute(
            sa.select(r.c.state, sa.func.count())
            .where(r.c.structure == structure, r.c.resolved_at >= since, r.c.resolved_at < until)
            .group_by(r.c.state)
        ).all()
    )


def reviews_waiting(conn, structure: str) -> int:
    """Alerts of the structure still open."""
    r = vig_review
    return conn.execute(
        sa.select(sa.func.count()).where(r.c.structure == structure, r.c.state == "ouvert")
    ).scalar_one()


def status_counts(conn, structure: str) -> dict[str, int]:
    """The structure's unmerged records, by status."""
    pt = vig_patient
    return dict(
        conn.execute(
            sa.select(pt.c.status, sa.func.count())
            .where(pt.c.structure == structure, pt.c.merged_into.is_(None))
            .group_by(pt.c.status)
        ).all()
    )
