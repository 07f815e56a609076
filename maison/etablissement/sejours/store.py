"""The stays and movements tables and every query on them (DESIGN.md §Layout: one owner per table).

Every table carries the structure in its key (DESIGN.md §Scale): stays by (structure, stay number),
movements by their stay, the messages already taken by (sender, MSH-10), the DMP information state by
(structure, patient).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from maison.core.storage import metadata

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

Connection = sa.Connection

sej_stay = sa.Table(
    "sej_stay",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("number", sa.String(64), nullable=False),  # PV1-19
    sa.Column("patient_id", _ID, nullable=False),  # the local patient index's record
    sa.Column("ipp", sa.String(64), nullable=False),
    sa.Column("patient_class", sa.String(2), nullable=False),  # PV1-2: I, O, E, R
    sa.Column("status", sa.String(16), nullable=False),  # FHIR Encounter.status
    sa.Column("admitted_at", sa.String(32)),
    sa.Column("discharged_at", sa.String(32)),
    sa.Column("unit", sa.String(64), nullable=False, default=""),  # the current movement's ZBE-7
    sa.Column("unit_name", sa.String(200), nullable=False, default=""),
    sa.Column("dmp_feeding", sa.String(4), nullable=False, default=""),  # ZFA-9 at this stay
    sa.Column("dmp_consultation", sa.String(4), nullable=False, default=""),  # ZFA-11 at this stay
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.UniqueConstraint("structure", "number", name="uq_sej_stay_number"),
    sa.Index("ix_sej_stay_patient", "structure", "patient_id"),
    sa.Index("ix_sej_stay_admitted", "structure", "admitted_at"),
)

sej_movement = sa.Table(
    "sej_movement",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("stay_id", _ID, sa.ForeignKey("sej_stay.id"), nullable=False),
    sa.Column("movement_id", sa.String(64), nullable=False),  # ZBE-1
    sa.Column("event", sa.String(3), nullable=False),  # the trigger that created it (A01, A02…)
    sa.Column("at", sa.String(32)),  # ZBE-2
    sa.Column("unit", sa.String(64), nullable=False, default=""),  # ZBE-7 (XON-10)
    sa.Column("unit_name", sa.String(200), nullable=False, default=""),
    sa.Column("care_unit", sa.String(64), nullable=False, default=""),  # ZBE-8
    sa.Column("nature", sa.String(8), nullable=False, default=""),  # ZBE-9
    sa.Column("patient_class", sa.String(2), nullable=False, default=""),
    sa.Column("cancelled", sa.Boolean, nullable=False, default=False),
    sa.Column("control_id", sa.String(64), nullable=False),  # the MSH-10 that created it
    sa.UniqueConstraint("stay_id", "movement_id", name="uq_sej_movement_id"),
)

sej_message = sa.Table(
    "sej_message",
    metadata,
    sa.Column("sender", sa.String(200), primary_key=True),  # MSH-3^MSH-4
    sa.Column("control_id", sa.String(64), primary_key=True),  # MSH-10
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("event", sa.String(3), nullable=False),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("received_at", sa.String(32), nullable=False),
)

sej_dmp_state = sa.Table(
    "sej_dmp_state",
    metadata,
    sa.Column("structure", sa.String(64), primary_key=True),
    sa.Column("patient_id", _ID, primary_key=True),
    sa.Column("dmp_status", sa.String(16), nullable=False, default=""),  # ZFA-1
    sa.Column("status_at", sa.String(32)),
    sa.Column("access_authorised", sa.String(1), nullable=False, default=""),  # ZFA-4
    sa.Column("opposition_bris_de_glace", sa.String(1), nullable=False, default=""),  # ZFA-6
    sa.Column("opposition_regulation", sa.String(1), nullable=False, default=""),  # ZFA-7
    sa.Column("feeding", sa.String(4), nullable=False, default=""),  # ZFA-9
    sa.Column("feeding_at", sa.String(32)),
    sa.Column("consultation", sa.String(4), nullable=False, default=""),  # ZFA-11
    sa.Column("consultation_at", sa.String(32)),
    sa.Column("updated_at", sa.String(32), nullable=False),
    # its propagation to the patient's DMP (seed 002 L541-543): "" waiting, transmis, ins-non-qualifiee,
    # sans-acces-dmp, refuse-<HTTP status>, echec-reseau (tried again when the listener starts)
    sa.Column("propagation", sa.String(32), nullable=False, default=""),
    sa.Column("propagated_at", sa.String(32)),
)


# The statements a PAM message runs are built once, with bound parameters: building one per call
# (`.where(c == value)`, `.values(**v)`) cost SQLAlchemy a new cache key each time, about a third of a
# message's SQL time (bench/flux.py, py-spy).
_SEEN = sa.select(sej_message).where(
    sej_message.c.sender == sa.bindparam("s"), sej_message.c.control_id == sa.bindparam("c")
)
_STAY = sa.select(sej_stay).where(sej_stay.c.structure == sa.bindparam("s"), sej_stay.c.number == sa.bindparam("n"))
_STAY_FOR_UPDATE = _STAY.with_for_update()
_INSERT_STAY = sej_stay.insert().returning(sej_stay.c.id)
_MOVEMENT = sa.select(sej_movement).where(
    sej_movement.c.stay_id == sa.bindparam("s"), sej_movement.c.movement_id == sa.bindparam("m")
)
_MOVEMENTS = (
    sa.select(sej_movement)
    .where(sej_movement.c.stay_id == sa.bindparam("s"))
    .order_by(sej_movement.c.at, sej_movement.c.id)
)
_DMP_STATE = sa.select(sej_dmp_state).where(
    sej_dmp_state.c.structure == sa.bindparam("s"), sej_dmp_state.c.patient_id == sa.bindparam("p")
)
_UPDATES: dict[tuple[sa.Table, tuple[str, ...]], sa.Update] = {}


def _update(table: sa.Table, keys: tuple[str, ...], *, versioned: bool = False) -> sa.Update:
    """`UPDATE table SET <keys> WHERE id = :row_id`, built once per set of columns."""
    statement = _UPDATES.get((table, keys))
    if statement is None:
        values: dict[str, Any] = {k: sa.bindparam(f"v_{k}") for k in keys}
        if versioned:
            values["version"] = table.c.version + 1
        statement = table.update().where(table.c.id == sa.bindparam("row_id")).values(values)
        _UPDATES[(table, keys)] = statement
    return statement


def seen_message(conn: Connection, sender: str, control_id: str) -> Any:
    return conn.execute(_SEEN, {"s": sender, "c": control_id}).first()


def record_message(conn: Connection, values: dict) -> None:
    conn.execute(sej_message.insert(), values)


def stay(conn: Connection, structure: str, number: str, *, for_update: bool = True) -> Any:
    return conn.execute(_STAY_FOR_UPDATE if for_update else _STAY, {"s": structure, "n": number}).first()


def stays_by_key(conn: Connection, keys: list[tuple[str, str]]) -> list[Any]:
    """The stays named by (structure, PV1-19), as they are now (the observatory's fold, issue 23)."""
    if not keys:
        return []
    # two IN lists the unique index on (structure, number) serves, the pairs kept here: a row value IN
    # list is a full scan for SQLite's planner
    wanted, c = set(keys), sej_stay.c
    query = sa.select(sej_stay).where(c.structure.in_({s for s, _ in keys}), c.number.in_({n for _, n in keys}))
    return [row for row in conn.execute(query) if (row.structure, row.number) in wanted]


def stay_by_id(conn: Connection, stay_id: int) -> Any:
    return conn.execute(sa.select(sej_stay).where(sej_stay.c.id == stay_id)).first()


def insert_stay(conn: Connection, values: dict) -> int:
    return conn.execute(_INSERT_STAY, values).scalar_one()


def _params(row_id: int, changes: dict) -> dict:
    return {"row_id": row_id, **{f"v_{k}": v for k, v in changes.items()}}


def update_stay(conn: Connection, stay_id: int, changes: dict) -> None:
    conn.execute(_update(sej_stay, tuple(changes), versioned=True), _params(stay_id, changes))


def movement(conn: Connection, stay_id: int, movement_id: str) -> Any:
    return conn.execute(_MOVEMENT, {"s": stay_id, "m": movement_id}).first()


def insert_movement(conn: Connection, values: dict) -> None:
    conn.execute(sej_movement.insert(), values)


def update_movement(conn: Connection, row_id: int, changes: dict) -> None:
    conn.execute(_update(sej_movement, tuple(changes)), _params(row_id, changes))


def movements(conn: Connection, stay_id: int) -> list:
    return list(conn.execute(_MOVEMENTS, {"s": stay_id}))


def put_dmp_state(conn: Connection, structure: str, patient_id: int, values: dict) -> None:
    """Record the state the GAM announced; it waits to be propagated to the DMP."""
    values = values | {"propagation": "", "propagated_at": None}
    if dmp_state(conn, structure, patient_id) is None:
        conn.execute(sej_dmp_state.insert(), values | {"structure": structure, "patient_id": patient_id})
    else:
        key = (sej_dmp_state.c.structure == structure) & (sej_dmp_state.c.patient_id == patient_id)
        conn.execute(sej_dmp_state.update().where(key).values(**values))


def set_propagation(conn: Connection, structure: str, patient_id: int, outcome: str, at: str) -> None:
    conn.execute(
        sej_dmp_state.update()
        .where(sej_dmp_state.c.structure == structure, sej_dmp_state.c.patient_id == patient_id)
        .values(propagation=outcome, propagated_at=at)
    )


def waiting_propagations(conn: Connection, structure: str, limit: int = 1000) -> list[int]:
    """The patients of a structure whose last information state has not reached their DMP yet."""
    c = sej_dmp_state.c
    query = sa.select(c.patient_id).where(c.structure == structure, c.propagation.in_(("", "echec-reseau")))
    return list(conn.execute(query.limit(limit)).scalars())


def dmp_state(conn: Connection, structure: str, patient_id: int) -> Any:
    return conn.execute(_DMP_STATE, {"s": structure, "p": patient_id}).first()


def move_patient_stays(conn: Connection, structure: str, absorbed: int, survivor: int, ipp: str) -> None:
    """A merge: the absorbed record's stays now belong to the survivor."""
    conn.execute(
        sej_stay.update()
        .where(sej_stay.c.structure == structure, sej_stay.c.patient_id == absorbed)
        .values(patient_id=survivor, ipp=ipp)
    )


def rename_ipp(conn: Connection, structure: str, patient_id: int, ipp: str) -> None:
    conn.execute(
        sej_stay.update().where(sej_stay.c.structure == structure, sej_stay.c.patient_id == patient_id).values(ipp=ipp)
    )


def search(
    conn: Connection,
    structure: str,
    *,
    patient_id: int | None = None,
    status: str | None = None,
    patient_classes: list[str] | None = None,
    unit: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 100,
) -> list:
    """Stays of a structure, newest admission first; `since`/`until` keep the stays whose period
    (admission to discharge) meets [since, until) (FHIR R4 search on a Period, search.html §3.1.1.4.2)."""
    c = sej_stay.c
    query = sa.select(sej_stay).where(c.structure == structure)
    for column, value in (
        (c.patient_id, patient_id),
        (c.status, status),
    ):
        if value is not None:
            query = query.where(column == value)
    if unit is not None:  # the unit it is in, or any it passed through (a movement not cancelled)
        m = sej_movement.c
        passed = sa.select(m.id).where(m.stay_id == c.id, m.unit == unit, m.cancelled.is_(False))
        query = query.where(sa.or_(c.unit == unit, passed.exists()))
    if patient_classes is not None:
        query = query.where(c.patient_class.in_(patient_classes))
    if since:  # the stay's period reaches past `since`: discharged after it, or not discharged
        query = query.where(sa.or_(c.discharged_at.is_(None), c.discharged_at >= since))
    if until:  # and began before `until`
        query = query.where(c.admitted_at < until)
    return list(conn.execute(query.order_by(c.admitted_at.desc(), c.id.desc()).limit(limit)))
