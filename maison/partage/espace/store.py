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
