"""The SUN-ES facts (migration 0032): what the fold established from the audit trail, and the queries
the indicators are counted by.

- `sun_cursor`: the last audit `seq` folded (one row per fold kind);
- `sun_stay`: each stay of the GAM (structure + PV1-19) as it is now (status, admission, discharge,
  patient), with the seq of the last PAM record about it;
- `sun_document`: each CDA document the structure's software sent out through its PFI (keyed by the
  CDA's id, an OID unique by construction — CI-SIS "Volet En-tête" ClinicalDocument/id), with its
  stay, type (LOINC, JDV_J07), levels, PID-32 status, and the seqs of its production, DMP feed,
  refusal, withdrawal, replacement;
- `sun_message`: each MSSanté leg of such a document (one per recipient), its state and seqs;
- `sun_ght_member`: the GHTs as the house's administrator recorded them (`identitovigilance.ght`);
- `sun_cme`: the DS4.3 declarations (CME presentation of the citizen messaging, with its evidence).

The indicators are `COUNT`s over these with `EXISTS` on indexed keys (structure + stay, structure +
date); the explanations read the same rows. Times are UTC ISO strings, so a period's bounds compare as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from maison.core.storage import metadata

sun_cursor = sa.Table(
    "sun_cursor",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

sun_stay = sa.Table(
    "sun_stay",
    metadata,
    sa.Column("structure", sa.String(64), primary_key=True),
    sa.Column("number", sa.String(64), primary_key=True),
    sa.Column("patient_id", sa.BigInteger, nullable=False),
    sa.Column("ipp", sa.String(64), nullable=False),
    sa.Column("patient_class", sa.String(4), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("admitted_at", sa.String(32)),
    sa.Column("discharged_at", sa.String(32)),
    sa.Column("seq", sa.BigInteger, nullable=False),  # the last sejours.* record about the stay
    # derived by the fold (`refresh_stays`) for the counts, so that a semester is one index range:
    # an earlier, not cancelled, stay of the patient (DS1.4's "patients déjà venus"), and per line the
    # first time the stay met it (fed, or messaged); a line is met in a period ending at `end` iff < end
    sa.Column("came_before", sa.Boolean, nullable=False),
    sa.Column("ds11_at", sa.String(32)),
    sa.Column("ds12_at", sa.String(32)),
    sa.Column("ds13_at", sa.String(32)),
    sa.Column("ds14_at", sa.String(32)),
    sa.Column("ds42_at", sa.String(32)),
    sa.Index("ix_sun_stay_discharged", "structure", "discharged_at"),
    # (structure, patient, admission): the planner's way to a patient's earlier stays (DS1.4)
    sa.Index("ix_sun_stay_patient", "structure", "patient_id", "admitted_at"),
    sa.Index("ix_sun_stay_ipp", "structure", "ipp"),
    sa.Index("ix_sun_stay_admitted", "structure", "admitted_at"),
)

sun_document = sa.Table(
    "sun_document",
    metadata,
    sa.Column("unique_id", sa.String(128), primary_key=True),
    sa.Column("structure", sa.String(64), nullable=False),  # the stay's structure (PV1-19's authority)
    sa.Column("stay_number", sa.String(64), nullable=False),
    sa.Column("type_code", sa.String(32), nullable=False),
    sa.Column("levels", sa.String(16), nullable=False),  # "N1", "N1+N3", "N3"
    sa.Column("ins", sa.String(15), nullable=False),
    sa.Column("qualified", sa.Boolean, nullable=False),
    sa.Column("produced_at", sa.String(32), nullable=False),
    sa.Column("produced_seq", sa.BigInteger, nullable=False),
    sa.Column("fed_at", sa.String(32)),
    sa.Column("fed_seq", sa.BigInteger),
    sa.Column("refused_seq", sa.BigInteger),
    sa.Column("refused_code", sa.String(64), nullable=False),
    sa.Column("deleted_seq", sa.BigInteger),
    sa.Column("superseded_seq", sa.BigInteger),
    sa.Index("ix_sun_document_stay", "structure", "stay_number", "type_code"),
    sa.Index("ix_sun_document_produced", "structure", "type_code", "produced_at"),
)

sun_message = sa.Table(
    "sun_message",
    metadata,
    sa.Column("unique_id", sa.String(128), primary_key=True),
    sa.Column("recipient", sa.String(256), primary_key=True),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("stay_number", sa.String(64), nullable=False),
    sa.Column("patient", sa.Boolean, nullable=False),  # the citizen domain (patient.mssante.fr)
    sa.Column("kind", sa.String(3), nullable=False),  # the directory's PER / ORG / APP / CAB, "" unknown
    sa.Column("state", sa.String(16), nullable=False),  # envoye / distribue / lu / echec
    sa.Column("tried_at", sa.String(32), nullable=False),
    sa.Column("sent_at", sa.String(32)),
    sa.Column("seq", sa.BigInteger, nullable=False),  # the sending's record, else the failure's
    sa.Index("ix_sun_message_structure", "structure", "tried_at"),
    sa.Index("ix_sun_message_stay", "structure", "stay_number", "patient"),
)

sun_ght_member = sa.Table(
    "sun_ght_member",
    metadata,
    sa.Column("ght", sa.String(64), primary_key=True),
    sa.Column("structure", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

sun_cme = sa.Table(
    "sun_cme",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("structure", sa.String(64), nullable=False),
    sa.Column("presented_on", sa.String(10), nullable=False),
    sa.Column("instance", sa.String(128), nullable=False),  # CME, or the equivalent instance named
    sa.Column("evidence", sa.Text, nullable=False),  # the minutes (file name, reference)
    sa.Column("declared_by", sa.String(128), nullable=False),
    sa.Column("declared_at", sa.String(32), nullable=False),
    sa.Index("ix_sun_cme_structure", "structure", "presented_on"),
)

S, D, M = sun_stay, sun_document, sun_message
SENT = ("envoye", "distribue", "lu")
PERSONAL = ("PER", "")  # DS4.1's correspondents: a PER mailbox, or an address the directory does not type
FACT_TABLES = (sun_stay, sun_document, sun_message, sun_ght_member)
CHUNK = 500  # keys per IN list: SQLite binds at most 32 766 parameters (999 before 3.32)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _pairs(first: sa.ColumnElement[Any], second: sa.ColumnElement[Any], pairs: Sequence[tuple[Any, Any]]) -> list:
    """A superset of `pairs` by two IN lists, which the index on (first, second) serves; a row value
    IN list — (a, b) IN (VALUES …) — is a full scan for SQLite's planner. The caller keeps the pairs."""
    return [first.in_(sorted({a for a, _ in pairs})), second.in_(sorted({b for _, b in pairs}))]


# --- the fold --------------------------------------------------------------------------------------


def cursor(conn: Connection, kind: str, *, lock: bool = False) -> int:
    """The last seq folded; `lock`: held until the write transaction ends (two folds in two processes
    do not apply the same window twice)."""
    query = sa.select(sun_cursor.c.seq).where(sun_cursor.c.kind == kind)
    found = conn.execute(query.with_for_update() if lock else query).scalar()
    return int(found or 0)


def move_cursor(conn: Connection, kind: str, seq: int) -> None:
    if conn.execute(sun_cursor.update().where(sun_cursor.c.kind == kind).values(seq=seq)).rowcount == 0:
        conn.execute(sun_cursor.insert().values(kind=kind, seq=seq))


def forget(conn: Connection, kind: str) -> None:
    """A fold from 0: every fact goes (the declarations stay: they are not derived from the trail)."""
    for table in FACT_TABLES:
        conn.execute(table.delete())
    conn.execute(sun_cursor.delete().where(sun_cursor.c.kind == kind))


def put_stays(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    keys = [(r["structure"], r["number"]) for r in rows]
    by_key = S.delete().where(S.c.structure == sa.bindparam("k_s"), S.c.number == sa.bindparam("k_n"))
    conn.execute(by_key, [{"k_s": a, "k_n": b} for a, b in keys])
    conn.execute(S.insert(), [{"came_before": False, **r} for r in rows])


def patients_of_stays(conn: Connection, keys: Iterable[tuple[str, str]]) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for part in chunks(sorted(set(keys))):
        wanted = set(part)
        query = sa.select(S.c.structure, S.c.number, S.c.patient_id).where(*_pairs(S.c.structure, S.c.number, part))
        found |= {(r.structure, r.patient_id) for r in conn.execute(query) if (r.structure, r.number) in wanted}
    return found


def refresh_stays(
    conn: Connection,
    patients: Iterable[tuple[str, int]],
    first_fed: dict[str, list[sa.ColumnElement[bool]]],
    history: list[sa.ColumnElement[bool]],
) -> None:
    """Recompute the derived columns of every stay of `patients`: `first_fed` maps a column to the
    conditions a document of the stay meets for its line; `history`, those an earlier stay's document
    meets for DS1.4 (fed since this stay's admission)."""
    earlier = S.alias("earlier")
    before = [
        earlier.c.structure == S.c.structure,
        earlier.c.patient_id == S.c.patient_id,
        earlier.c.number != S.c.number,
        earlier.c.admitted_at < S.c.admitted_at,
        earlier.c.status != "cancelled",
    ]
    on_stay = [D.c.structure == S.c.structure, D.c.stay_number == S.c.number]
    values: dict[str, Any] = {
        column: sa.select(sa.func.min(D.c.fed_at)).where(*on_stay, *conditions).scalar_subquery()
        for column, conditions in first_fed.items()
    }
    values["ds42_at"] = (
        sa.select(sa.func.min(M.c.sent_at))
        .where(M.c.structure == S.c.structure, M.c.stay_number == S.c.number, *patient_message())
        .scalar_subquery()
    )
    values["came_before"] = sa.exists().where(*before)
    values["ds14_at"] = (
        sa.select(sa.func.min(D.c.fed_at))
        .select_from(
            earlier.join(D, sa.and_(D.c.structure == earlier.c.structure, D.c.stay_number == earlier.c.number))
        )
        .where(*before, D.c.fed_at >= S.c.admitted_at, *history)
        .scalar_subquery()
    )
    by_structure: dict[str, list[int]] = {}
    for structure, patient in set(patients):
        by_structure.setdefault(structure, []).append(patient)
    for structure, ids in by_structure.items():
        for part in chunks(sorted(ids)):
            conn.execute(S.update().where(S.c.structure == structure, S.c.patient_id.in_(part)).values(**values))


def stays_of_ipp(conn: Connection, structure: str, ipp: str) -> list[tuple[str, str]]:
    query = sa.select(S.c.structure, S.c.number).where(S.c.structure == structure, S.c.ipp == ipp)
    return [(r.structure, r.number) for r in conn.execute(query)]


def documents(conn: Connection, unique_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for part in chunks(sorted(set(unique_ids))):
        found |= {r["unique_id"]: dict(r) for r in conn.execute(sa.select(D).where(D.c.unique_id.in_(part))).mappings()}
    return found


def put_documents(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    for part in chunks([r["unique_id"] for r in rows]):
        conn.execute(D.delete().where(D.c.unique_id.in_(part)))
    conn.execute(D.insert(), list(rows))


def messages(conn: Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    wanted = set(keys)
    for part in chunks(sorted({uid for uid, _ in wanted})):
        query = sa.select(M).where(M.c.unique_id.in_(part))
        rows = conn.execute(query).mappings()
        found |= {(r["unique_id"], r["recipient"]): dict(r) for r in rows if (r["unique_id"], r["recipient"]) in wanted}
    return found


def put_messages(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    by_key = M.delete().where(M.c.unique_id == sa.bindparam("k_u"), M.c.recipient == sa.bindparam("k_r"))
    conn.execute(by_key, [{"k_u": r["unique_id"], "k_r": r["recipient"]} for r in rows])
    conn.execute(M.insert(), list(rows))


def put_ght(conn: Connection, ght: str, members: list[str], seq: int) -> None:
    conn.execute(sun_ght_member.delete().where(sun_ght_member.c.ght == ght))
    if members:
        conn.execute(sun_ght_member.insert(), [{"ght": ght, "structure": s, "seq": seq} for s in members])


# --- reading ---------------------------------------------------------------------------------------


def ght_members(conn: Connection, ght: str) -> list[str]:
    query = sa.select(sun_ght_member.c.structure).where(sun_ght_member.c.ght == ght).order_by("structure")
    return list(conn.execute(query).scalars())


def _discharged(structures: list[str], start: str, end: str) -> list[sa.ColumnElement[bool]]:
    """The stays of the denominators: discharged in the period, not cancelled."""
    return [
        S.c.structure.in_(structures),
        S.c.discharged_at >= start,
        S.c.discharged_at < end,
        S.c.status != "cancelled",
    ]


def fed_document(types: Sequence[str], level: str, *, qualified: bool = True) -> list[sa.ColumnElement[bool]]:
    """A document of one of `types`, fed to the DMP, not withdrawn since, holding a CDA of `level`,
    and (unless `qualified` is False) for a qualified INS."""
    conditions: list[sa.ColumnElement[bool]] = [D.c.fed_seq.is_not(None), D.c.deleted_seq.is_(None)]
    if types:  # DS1.4 names no type (004 L194)
        conditions.append(D.c.type_code.in_(list(types)))
    if level:  # nor a level
        conditions.append(D.c.levels.contains(level))
    if qualified:
        conditions.append(D.c.qualified.is_(True))
    return conditions


def count_stays(conn: Connection, structures: list[str], start: str, end: str, met: str | None) -> int:
    """Stays discharged in the period; with `met` (a derived column), those that met the line before
    the period's end."""
    query = sa.select(sa.func.count()).select_from(S).where(*_discharged(structures, start, end))
    if met is not None:
        query = query.where(S.c[met] < end)
    return int(conn.execute(query).scalar_one())


def count_returning_stays(conn: Connection, structures: list[str], start: str, end: str, *, counted: bool) -> int:
    """DS1.4: stays (discharged in the period) of patients who came before — an earlier, not cancelled
    stay of the same patient at the same structure; `counted`: those for which a document of an
    earlier stay was fed since the stay's admission, before the period's end."""
    query = sa.select(sa.func.count()).select_from(S).where(*_discharged(structures, start, end), S.c.came_before)
    if counted:
        query = query.where(S.c.ds14_at < end)
    return int(conn.execute(query).scalar_one())


def count_reports(
    conn: Connection, structures: list[str], types: Sequence[str], start: str, end: str, fed: list | None
) -> int:
    """Reports of `types` produced in the period (a replaced version is not counted twice)."""
    query = (
        sa.select(sa.func.count())
        .select_from(D)
        .where(
            D.c.structure.in_(structures),
            D.c.type_code.in_(list(types)),
            D.c.produced_at >= start,
            D.c.produced_at < end,
            D.c.superseded_seq.is_(None),
        )
    )
    if fed is not None:
        query = query.where(*fed, D.c.fed_at < end)
    return int(conn.execute(query).scalar_one())


def count_correspondents(conn: Connection, structures: list[str], start: str, end: str, *, counted: bool) -> int:
    """DS4.1: personal (PER) professional MSSanté addresses the structure's PFI addressed a CDA
    document to in the period; `counted`: those that were sent one for a qualified INS."""
    query = sa.select(sa.func.count(sa.distinct(M.c.recipient))).where(
        M.c.structure.in_(structures),
        M.c.patient.is_(False),
        M.c.kind.in_(PERSONAL),
        M.c.tried_at >= start,
        M.c.tried_at < end,
    )
    if counted:
        query = query.join(D, D.c.unique_id == M.c.unique_id).where(
            M.c.state.in_(SENT), M.c.sent_at < end, D.c.qualified.is_(True)
        )
    return int(conn.execute(query).scalar_one())


def patient_message() -> list[sa.ColumnElement[bool]]:
    return [M.c.patient.is_(True), M.c.state.in_(SENT)]


# --- the explanations' rows ----------------------------------------------------------------------


def stays_touching(conn: Connection, structures: list[str], start: str, end: str) -> list[dict[str, Any]]:
    """The stays discharged in the period, and those admitted in it that were cancelled or are not over."""
    query = (
        sa.select(S)
        .where(
            S.c.structure.in_(structures),
            sa.or_(
                sa.and_(S.c.discharged_at >= start, S.c.discharged_at < end),
                sa.and_(S.c.admitted_at >= start, S.c.admitted_at < end),
            ),
        )
        .order_by(S.c.structure, S.c.number)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def stays_of_patients(conn: Connection, structures: list[str], patients: list[int]) -> list[dict[str, Any]]:
    found = []
    for part in chunks(patients):
        query = sa.select(S).where(S.c.structure.in_(structures), S.c.patient_id.in_(part))
        found += [dict(r) for r in conn.execute(query).mappings()]
    return found


def documents_of_stays(
    conn: Connection, keys: list[tuple[str, str]], types: Sequence[str] | None
) -> list[dict[str, Any]]:
    found = []
    for part in chunks(sorted(set(keys))):
        wanted = set(part)
        query = sa.select(D).where(*_pairs(D.c.structure, D.c.stay_number, part))
        if types is not None:
            query = query.where(D.c.type_code.in_(list(types)))
        found += [d for d in map(dict, conn.execute(query).mappings()) if (d["structure"], d["stay_number"]) in wanted]
    return sorted(found, key=lambda d: d["produced_seq"])


def reports(conn: Connection, structures: list[str], types: Sequence[str], start: str, end: str) -> list[dict]:
    query = sa.select(D).where(
        D.c.structure.in_(structures), D.c.type_code.in_(list(types)), D.c.produced_at >= start, D.c.produced_at < end
    )
    return [dict(r) for r in conn.execute(query.order_by(D.c.produced_seq)).mappings()]


def messages_of(conn: Connection, structures: list[str], start: str, end: str, *, patient: bool) -> list[dict]:
    query = (
        sa.select(M, D.c.qualified)
        .join(D, D.c.unique_id == M.c.unique_id, isouter=True)
        .where(M.c.structure.in_(structures), M.c.patient.is_(patient), M.c.tried_at < end)
    )
    if not patient:
        query = query.where(M.c.tried_at >= start)
    return [dict(r) for r in conn.execute(query.order_by(M.c.seq)).mappings()]


def add_cme(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(sun_cme.insert().values(**row))


def last_cme(conn: Connection, structures: list[str], end: str) -> dict[str, Any] | None:
    query = (
        sa.select(sun_cme)
        .where(sun_cme.c.structure.in_(structures), sun_cme.c.presented_on < end)
        .order_by(sun_cme.c.presented_on.desc(), sun_cme.c.id.desc())
        .limit(1)
    )
    found = conn.execute(query).mappings().first()
    return dict(found) if found is not None else None
