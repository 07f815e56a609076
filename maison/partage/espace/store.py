"""Persistence of Mon espace santé beside the DMP: the profil médical, the measures, the agenda.

The patient's own documents are not here: they are DMP document entries whose type is one of the
patient categories (DOCPAT01-09, seed 000 L3267-3269), so that professionals find them with ITI-67
under the habilitation matrix like any other document. Every row is keyed by the matricule INS, the
identifier of Mon espace santé (seed 000 L2076).
"""

from __future__ import annotations

import sqlalchemy as sa

from maison.core.storage import metadata

# The administrative part of the profil médical (seed 000 L3281-3287): contact details and wishes,
# one row per patient, each kept as the JSON the API returns.
mes_profile = sa.Table(
    "mes_profile",
    metadata,
    sa.Column("ins", sa.String(15), primary_key=True),
    sa.Column("coordonnees", sa.Text),  # telecom and address, FHIR datatypes
    sa.Column("volontes", sa.Text),  # directives anticipées, don d'organes, personne de confiance
    sa.Column("updated_at", sa.String(32), nullable=False),
)

# The narrative rubriques (seed 000 L3289-3296): one FHIR resource per entry.
mes_profile_item = sa.Table(
    "mes_profile_item",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("ins", sa.String(15), nullable=False),
    sa.Column("rubrique", sa.String(24), nullable=False),
    sa.Column("resource", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Index("ix_mes_profile_item_ins", "ins", "rubrique"),
)

# Measures (seed 000 L3306-3317), in the canonical unit of their kind; the BMI rows are computed.
mes_measure = sa.Table(
    "mes_measure",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("ins", sa.String(15), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("unit", sa.String(16), nullable=False),
    sa.Column("effective", sa.String(32), nullable=False),
    sa.Column("derived_from", sa.String(80)),  # BMI: the weight and height rows it was computed from
    sa.Column("note", sa.Text),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Index("ix_mes_measure_ins", "ins", "kind", "effective"),
)

# The agenda santé (seed 000 L3355-3361): appointments, reminders, hospital stays.
mes_agenda_event = sa.Table(
    "mes_agenda_event",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("ins", sa.String(15), nullable=False),
    sa.Column("start", sa.String(32), nullable=False),
    sa.Column("end", sa.String(32)),
    sa.Column("resource", sa.Text, nullable=False),  # the FHIR Appointment
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Index("ix_mes_agenda_event_ins", "ins", "start"),
)


def entry_owner(table: sa.Table, conn: sa.Connection, id_: str) -> str | None:
    """The patient an entry of one of these tables (by its id) belongs to, None if there is none."""
    return conn.execute(sa.select(table.c.ins).where(table.c.id == id_)).scalar_one_or_none()


# --- profil médical ---------------------------------------------------------------------------------


def profile(conn: sa.Connection, ins: str) -> sa.Row | None:
    """The patient's contact details and wishes (JSON), if she gave any."""
    return conn.execute(sa.select(mes_profile).where(mes_profile.c.ins == ins)).first()


def set_profile_part(conn: sa.Connection, ins: str, part: str, value: str, now: str) -> None:
    """Replace one part of the profile (`coordonnees` or `volontes`, JSON), creating the profile first."""
    p = mes_profile.c
    if conn.execute(sa.select(p.ins).where(p.ins == ins)).first() is None:
        conn.execute(mes_profile.insert().values(ins=ins, updated_at=now))
    conn.execute(mes_profile.update().where(p.ins == ins).values({part: value, "updated_at": now}))


def items(conn: sa.Connection, ins: str, rubrique: str | None = None) -> list[sa.Row]:
    """The patient's entries (of one rubrique), by rubrique then in the order they were made."""
    p = mes_profile_item.c
    query = sa.select(mes_profile_item).where(p.ins == ins, *([p.rubrique == rubrique] if rubrique else []))
    return list(conn.execute(query.order_by(p.rubrique, p.created_at)))


def item(conn: sa.Connection, id_: str) -> sa.Row:
    return conn.execute(sa.select(mes_profile_item).where(mes_profile_item.c.id == id_)).one()


def add_item(conn: sa.Connection, **row: object) -> None:
    conn.execute(mes_profile_item.insert().values(**row))


def replace_item(conn: sa.Connection, id_: str, ins: str, rubrique: str, resource: str, now: str) -> bool:
    """Whether the patient's entry of this rubrique was there to replace."""
    p = mes_profile_item.c
    done = conn.execute(
        mes_profile_item.update()
        .where(p.id == id_, p.ins == ins, p.rubrique == rubrique)
        .values(resource=resource, updated_at=now)
    )
    return done.rowcount == 1


def delete_item(conn: sa.Connection, id_: str, ins: str, rubrique: str) -> bool:
    """Whether the patient's entry of this rubrique was there to delete."""
    p = mes_profile_item.c
    done = conn.execute(mes_profile_item.delete().where(p.id == id_, p.ins == ins, p.rubrique == rubrique))
    return done.rowcount == 1


# --- measures -----------------------------------------------------------------------------------------


def add_measure(conn: sa.Connection, **row: object) -> None:
    conn.execute(mes_measure.insert().values(**row))


def measure(conn: sa.Connection, id_: str) -> sa.Row:
    return conn.execute(sa.select(mes_measure).where(mes_measure.c.id == id_)).one()


def measures(conn: sa.Connection, ins: str, kind: str | None = None) -> list[sa.Row]:
    """The patient's measures (of one kind), in time order."""
    m = mes_measure.c
    query = sa.select(mes_measure).where(m.ins == ins, *([m.kind == kind] if kind else []))
    return list(conn.execute(query.order_by(m.effective, m.kind)))


def measure_kind(conn: sa.Connection, id_: str, ins: str) -> str | None:
    """The kind of the patient's measure of this id, None if she has none."""
    m = mes_measure.c
    return conn.execute(sa.select(m.kind).where(m.id == id_, m.ins == ins)).scalar()


def delete_measure(conn: sa.Connection, id_: str) -> None:
    conn.execute(mes_measure.delete().where(mes_measure.c.id == id_))


def replace_bmis(conn: sa.Connection, ins: str, rows: list[dict]) -> None:
    """The patient's BMIs, all derived again: the old ones go, these come."""
    m = mes_measure.c
    conn.execute(mes_measure.delete().where(m.ins == ins, m.kind == "imc"))
    for row in rows:
        conn.execute(mes_measure.insert().values(**row))


def weights_and_heights(conn: sa.Connection, ins: str) -> list[sa.Row]:
    m = mes_measure.c
    return list(
        conn.execute(sa.select(mes_measure).where(m.ins == ins, m.kind.in_(("poids", "taille"))).order_by(m.effective))
    )


# --- agenda -------------------------------------------------------------------------------------------


def add_event(conn: sa.Connection, **row: object) -> None:
    conn.execute(mes_agenda_event.insert().values(**row))


def replace_event(conn: sa.Connection, id_: str, ins: str, **values: object) -> bool:
    """Whether the patient's event was there to replace."""
    a = mes_agenda_event.c
    return conn.execute(mes_agenda_event.update().where(a.id == id_, a.ins == ins).values(**values)).rowcount == 1


def event(conn: sa.Connection, id_: str) -> sa.Row:
    return conn.execute(sa.select(mes_agenda_event).where(mes_agenda_event.c.id == id_)).one()


def events(conn: sa.Connection, ins: str, since: str | None = None, until: str | None = None) -> list[sa.Row]:
    """The patient's events starting in [since, until), in time order."""
    a = mes_agenda_event.c
    query = sa.select(mes_agenda_event).where(a.ins == ins)
    if since:
        query = query.where(a.start >= since)
    if until:
        query = query.where(a.start < until)
    return list(conn.execute(query.order_by(a.start)))


def delete_event(conn: sa.Connection, id_: str, ins: str) -> bool:
    """Whether the patient's event was there to delete."""
    a = mes_agenda_event.c
    return conn.execute(mes_agenda_event.delete().where(a.id == id_, a.ins == ins)).rowcount == 1
