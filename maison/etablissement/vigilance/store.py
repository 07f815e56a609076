"""Persistence of the local patient indexes (one per structure) and of their identitovigilance work."""

from __future__ import annotations

import sqlalchemy as sa

from maison.core.storage import metadata

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

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


def by_ipp(conn, structure: str, ipp: str):
    return conn.execute(
        sa.select(vig_patient).where(vig_patient.c.structure == structure, vig_patient.c.ipp == ipp)
    ).first()


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
    q = sa.select(vig_patient).where(vig_patient.c.structure == structure, vig_patient.c.merged_into.is_(None))
    if family:
        q = q.where(vig_patient.c.nom_naissance.startswith(family))
    if given:
        q = q.where(sa.or_(vig_patient.c.prenoms.startswith(given), vig_patient.c.prenoms.contains(" " + given)))
    if birthdate:
        q = q.where(vig_patient.c.date_naissance.startswith(birthdate))
    if gender:
        q = q.where(vig_patient.c.sexe == gender)
    if ipp:
        q = q.where(vig_patient.c.ipp == ipp)
    if ins_number:
        q = q.where(vig_patient.c.ins_number == ins_number, vig_patient.c.status == "QUAL")
    return list(conn.execute(q.order_by(vig_patient.c.id).limit(limit)))
