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


def _dicts(result: sa.CursorResult[Any]) -> list[dict[str, Any]]:
    """The rows as dicts, zipped with the result's names once (a `.mappings()` row builds its key view
    per row: a third of an explanation's time over 16 000 stays)."""
    names = list(result.keys())
    return [dict(zip(names, row, strict=True)) for row in result.all()]  # fetchall: not a fetchone per row


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


def _update_by_key(table: sa.Table, keys: Sequence[str], columns: Sequence[str]) -> sa.Update:
    """UPDATE of `columns` for the row keyed by `keys`, executed many: parameters `k_<key>` and `v_<column>`
    (a bind parameter may not bear a column's name in an UPDATE's SET)."""
    where = [table.c[k] == sa.bindparam(f"k_{k}") for k in keys]
    return table.update().where(*where).values({c: sa.bindparam(f"v_{c}") for c in columns})


def _write(
    conn: Connection,
    table: sa.Table,
    keys: Sequence[str],
    new: Sequence[dict],
    changed: Sequence[dict],
    columns: Sequence[str],
) -> None:
    """Insert the new facts, update the changed ones by key — only `columns`, those a window changed
    (SQLite rewrites the entries of every index on a column an UPDATE sets, changed or not): no fact
    deleted and inserted again."""
    if new:
        conn.execute(table.insert(), list(new))
    if changed and columns:
        params = [{**{f"k_{k}": r[k] for k in keys}, **{f"v_{c}": r[c] for c in columns}} for r in changed]
        conn.execute(_update_by_key(table, keys, columns), params)


def changes(
    facts: dict[Any, dict[str, Any]], stored: dict[Any, dict[str, Any]], touched: Iterable[Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(new facts, facts changed, the columns changed in any of them): a fact the store held and the
    window left as it was is not written again (most records of a day touch a fact already folded)."""
    new, changed, columns = [], [], set()
    for key in touched:
        fact, before = facts[key], stored.get(key)
        if before is None:
            new.append(fact)
        elif fact != before:
            changed.append(fact)
            columns |= {c for c, v in fact.items() if before.get(c) != v}
    return new, changed, sorted(columns)


# what the fold writes of a stay (the derived columns are `refresh_stays`')
_STAY_BASE = (
    "structure",
    "number",
    "patient_id",
    "ipp",
    "patient_class",
    "status",
    "admitted_at",
    "discharged_at",
    "seq",
)


def put_stays(conn: Connection, rows: list[dict[str, Any]], stored: dict[tuple[str, str], dict[str, Any]]) -> None:
    """The stays as they are now; `stored`: the stays the store already holds, as `stored_stays` read
    them (their derived columns are left to `refresh_stays`, which recomputes them for every stay of
    their patients)."""
    by_key = {(r["structure"], r["number"]): r for r in rows}
    new, changed, columns = changes(by_key, stored, by_key)
    _write(conn, S, ("structure", "number"), [{"came_before": False, **r} for r in new], changed, columns)


def stored_stays(conn: Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Of the stays `keys`, those the store holds, as the fold wrote them (patient, status, dates, seq)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    columns = [S.c[c] for c in _STAY_BASE]
    for part in chunks(sorted(set(keys))):
        wanted = set(part)
        rows = _dicts(conn.execute(sa.select(*columns).where(*_pairs(S.c.structure, S.c.number, part))))
        found |= {(r["structure"], r["number"]): r for r in rows if (r["structure"], r["number"]) in wanted}
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
        found |= {r["unique_id"]: r for r in _dicts(conn.execute(sa.select(D).where(D.c.unique_id.in_(part))))}
    return found


def put_documents(conn: Connection, new: Sequence[dict], changed: Sequence[dict], columns: Sequence[str]) -> None:
    _write(conn, D, ("unique_id",), new, changed, columns)


def messages(conn: Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    wanted = set(keys)
    for part in chunks(sorted({uid for uid, _ in wanted})):
        rows = _dicts(conn.execute(sa.select(M).where(M.c.unique_id.in_(part))))
        found |= {(r["unique_id"], r["recipient"]): r for r in rows if (r["unique_id"], r["recipient"]) in wanted}
    return found


def put_messages(conn: Connection, new: Sequence[dict], changed: Sequence[dict], columns: Sequence[str]) -> None:
    _write(conn, M, ("unique_id", "recipient"), new, changed, columns)


def put_ght(conn: Connection, ght: str, members: list[str], seq: int) -> None:
    conn.execute(sun_ght_member.delete().where(sun_ght_member.c.ght == ght))
    if members:
        conn.execute(sun_ght_member.insert(), [{"ght": ght, "structure": s, "seq": seq} for s in members])


# --- reading ---------------------------------------------------------------------------------------


def ght_members(conn: Connection, ght: str) -> list[str]:
    query = sa.select(sun_ght_member.c.structure).where(sun_ght_member.c.ght == ght).order_by("structure")
    return list(conn.execute(query).scalars())


def ghts(conn: Connection) -> dict[str, list[str]]:
    """Every GHT the facts hold, with its members (a few hundred rows nationally: ~136 GHTs)."""
    query = sa.select(sun_ght_member.c.ght, sun_ght_member.c.structure).order_by("ght", "structure")
    found: dict[str, list[str]] = {}
    for ght, structure in conn.execute(query):
        found.setdefault(ght, []).append(structure)
    return found


def stay_structures(conn: Connection) -> list[str]:
    """Every structure with a stay, in order, by a skip scan of the stays' primary key: one probe per
    structure (~3 000 hospitals), not a read of every stay (tens of millions at national scale)."""
    s = S.c.structure
    walk = sa.select(sa.func.min(s).label("structure")).cte("walk", recursive=True)
    following = sa.select(sa.func.min(s)).where(s > walk.c.structure).scalar_subquery()
    walk = walk.union_all(sa.select(following).where(walk.c.structure.is_not(None)))
    return list(conn.execute(sa.select(walk.c.structure).where(walk.c.structure.is_not(None))).scalars())


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


def _touching(structures: list[str], start: str, end: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        S.c.structure.in_(structures),
        sa.or_(
            sa.and_(S.c.discharged_at >= start, S.c.discharged_at < end),
            sa.and_(S.c.admitted_at >= start, S.c.admitted_at < end),
        ),
    )


# what the explanations read of a stay and of a document (not the derived columns the counts use)
_STAY = (
    S.c.structure,
    S.c.number,
    S.c.patient_id,
    S.c.status,
    S.c.admitted_at,
    S.c.discharged_at,
    S.c.seq,
    S.c.came_before,
)
_DOC = [c for c in D.c if c.name not in ("ins", "type_code", "produced_at")]


def stays_touching(conn: Connection, structures: list[str], start: str, end: str) -> list[dict[str, Any]]:
    """The stays discharged in the period, and those admitted in it that were cancelled or are not over."""
    query = sa.select(*_STAY).where(_touching(structures, start, end)).order_by(S.c.structure, S.c.number)
    return _dicts(conn.execute(query))


def documents_of_stays_touching(
    conn: Connection, structures: list[str], start: str, end: str, types: Sequence[str]
) -> list[dict[str, Any]]:
    """The documents of `types` of the stays `stays_touching` returns, in one join (not by lists of
    stay keys: one query whatever the period's size), in production order."""
    on_stay = sa.and_(D.c.structure == S.c.structure, D.c.stay_number == S.c.number)
    query = (
        sa.select(*_DOC)
        .select_from(S.join(D, on_stay))
        .where(_touching(structures, start, end), D.c.type_code.in_(list(types)))
        .order_by(D.c.produced_seq)
    )
    return _dicts(conn.execute(query))


def _earlier_join(structures: list[str], start: str, end: str) -> tuple[Any, Any, list[sa.ColumnElement[bool]]]:
    """The stays (`e`) earlier than a stay (`p`) of the same patient that came back: discharged in the
    period, not cancelled, `came_before` — DS1.4's historical stays, driven from the period's stays."""
    p = S.alias("p")
    e = S.alias("e")
    on = sa.and_(
        e.c.structure == p.c.structure,
        e.c.patient_id == p.c.patient_id,
        e.c.admitted_at < p.c.admitted_at,
        e.c.number != p.c.number,
        e.c.status != "cancelled",
    )
    where = [
        p.c.structure.in_(structures),
        p.c.discharged_at >= start,
        p.c.discharged_at < end,
        p.c.status != "cancelled",
        p.c.came_before.is_(True),
    ]
    return p.join(e, on), e, where


def earlier_stays(conn: Connection, structures: list[str], start: str, end: str) -> list[dict[str, Any]]:
    """Every stay earlier than a returning stay of the period (see `_earlier_join`), by admission."""
    joined, e, where = _earlier_join(structures, start, end)
    columns = [e.c[c.name] for c in _STAY]
    query = sa.select(*columns).distinct().select_from(joined).where(*where)
    return _dicts(conn.execute(query.order_by(e.c.admitted_at, e.c.structure, e.c.number)))


def documents_of_earlier_stays(conn: Connection, structures: list[str], start: str, end: str) -> list[dict[str, Any]]:
    """The documents of `earlier_stays`, in one join, in production order."""
    joined, e, where = _earlier_join(structures, start, end)
    joined = joined.join(D, sa.and_(D.c.structure == e.c.structure, D.c.stay_number == e.c.number))
    query = sa.select(*_DOC).distinct().select_from(joined).where(*where)
    return _dicts(conn.execute(query.order_by(D.c.produced_seq)))


def reports(conn: Connection, structures: list[str], types: Sequence[str], start: str, end: str) -> list[dict]:
    query = sa.select(D).where(*_produced(structures, types, start, end))
    return _dicts(conn.execute(query.order_by(D.c.produced_seq)))


def messages_of(
    conn: Connection, structures: list[str], start: str, end: str, *, patient: bool, recipients: Sequence[str] = ()
) -> list[dict]:
    """The messages (to the patient, or to professionals: tried in the period) before `end`, by seq;
    `recipients`: to these only (a page of DS4.1's correspondents, at most `CHUNK`)."""
    query = (
        sa.select(M, D.c.qualified)
        .join(D, D.c.unique_id == M.c.unique_id, isouter=True)
        .where(M.c.structure.in_(structures), M.c.patient.is_(patient), M.c.tried_at < end)
    )
    if not patient:
        query = query.where(M.c.tried_at >= start)
    if recipients:
        query = query.where(M.c.recipient.in_(list(recipients)))
    return _dicts(conn.execute(query.order_by(M.c.seq)))


def correspondents(conn: Connection, structures: list[str], start: str, end: str) -> list[dict[str, Any]]:
    """DS4.1's professional addresses of the period grouped by (address, mailbox type): the first
    message's seq, and whether one was sent before `end` for a qualified INS — what an explanation's
    totals and page selection need, without every message's row."""
    counted = sa.and_(M.c.state.in_(SENT), M.c.sent_at < end, D.c.qualified.is_(True))
    query = (
        sa.select(
            M.c.recipient,
            M.c.kind,
            sa.func.min(M.c.seq).label("first"),
            sa.func.max(sa.case((counted, 1), else_=0)).label("counted"),
        )
        .select_from(M.join(D, D.c.unique_id == M.c.unique_id, isouter=True))
        .where(M.c.structure.in_(structures), M.c.patient.is_(False), M.c.tried_at >= start, M.c.tried_at < end)
        .group_by(M.c.recipient, M.c.kind)
    )
    return _dicts(conn.execute(query))


# --- an explanation's page: its elements selected and ordered by SQL, their rows read for them only ----


def _stay_denominator(start: str, end: str, *, returning: bool) -> list[sa.ColumnElement[bool]]:
    """A stay of `stays_touching` in the denominator: discharged in the period, not cancelled (DS1.4:
    its patient came before) — `count_stays`' and `count_returning_stays`' conditions."""
    denominator = [S.c.discharged_at >= start, S.c.discharged_at < end, S.c.status != "cancelled"]
    return [*denominator, S.c.came_before.is_(True)] if returning else denominator


def stay_selection(
    start: str, end: str, met: str, filtre: str, *, returning: bool = False
) -> list[sa.ColumnElement[bool]]:
    """The conditions a stay of `stays_touching` meets to be listed by `filtre` (model.FILTERS): in the
    denominator (discharged in the period, not cancelled; DS1.4: its patient came before), counted (the
    line `met` before the period's end, as `count_stays` counts it), or not (NULLs said apart: a stay
    not over has no discharge)."""
    denominator = _stay_denominator(start, end, returning=returning)
    if filtre == "comptes":
        return [*denominator, S.c[met] < end]
    if filtre == "non-comptes":
        return [*denominator, sa.or_(S.c[met].is_(None), S.c[met] >= end)]
    if filtre == "hors":
        outside = [S.c.status == "cancelled", S.c.discharged_at.is_(None), S.c.discharged_at < start]
        outside.append(S.c.discharged_at >= end)
        if returning:
            outside.append(S.c.came_before.is_(False))
        return [sa.or_(*outside)]
    return []


def _tally(conn: Connection, where: list, denominator: list, counted: list) -> tuple[int, int, int]:
    """(rows meeting `where`, of them those meeting `denominator`, those meeting `counted` too): the
    three in one pass over the rows, not three counts."""

    def among(conditions: list) -> sa.ColumnElement[Any]:
        return sa.func.coalesce(sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0)), 0)

    query = sa.select(sa.func.count(), among(denominator), among([*denominator, *counted])).where(*where)
    elements, den, num = conn.execute(query).one()
    return int(elements), int(den), int(num)


def stay_totals(
    conn: Connection, structures: list[str], start: str, end: str, met: str, *, returning: bool = False
) -> tuple[int, int, int]:
    """An explanation of stays' totals: the stays of `stays_touching`, those of the denominator
    (`count_stays`, DS1.4: `count_returning_stays`), those counted — the indicator's own counts."""
    denominator = _stay_denominator(start, end, returning=returning)
    return _tally(conn, [_touching(structures, start, end)], denominator, [S.c[met] < end])


def report_totals(
    conn: Connection, structures: list[str], types: Sequence[str], level: str, start: str, end: str
) -> tuple[int, int, int]:
    """An explanation of reports' totals: every report `reports` lists, those of the denominator
    (`count_reports`: not replaced), those counted (fed before the period's end)."""
    denominator = [D.c.superseded_seq.is_(None)]
    return _tally(conn, _produced(structures, types, start, end), denominator, [_fed_by(types, level, end)])


def stays_page(
    conn: Connection, structures: list[str], start: str, end: str, where: list, offset: int, limit: int
) -> list[dict[str, Any]]:
    """A page of `stays_touching` (its order: structure, number) among those meeting `where`."""
    query = sa.select(*_STAY).where(_touching(structures, start, end), *where)
    return _dicts(conn.execute(query.order_by(S.c.structure, S.c.number).offset(offset).limit(limit)))


def documents_of_stays(
    conn: Connection, keys: Sequence[tuple[str, str]], types: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The documents (of `types`; all without) of the stays `keys`, each stay's in production order."""
    found = []
    for part in chunks(sorted(set(keys))):
        wanted = set(part)
        query = sa.select(*_DOC).where(*_pairs(D.c.structure, D.c.stay_number, part))
        if types:
            query = query.where(D.c.type_code.in_(list(types)))
        rows = _dicts(conn.execute(query.order_by(D.c.produced_seq)))
        found += [r for r in rows if (r["structure"], r["stay_number"]) in wanted]
    return found


def stays_of_patients(conn: Connection, patients: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    """Every stay of the patients (structure, patient id), by admission (`earlier_stays`' order)."""
    found = []
    for part in chunks(sorted(set(patients))):
        wanted = set(part)
        rows = _dicts(conn.execute(sa.select(*_STAY).where(*_pairs(S.c.structure, S.c.patient_id, part))))
        found += [r for r in rows if (r["structure"], r["patient_id"]) in wanted]
    return sorted(found, key=lambda r: (r["admitted_at"] or "", r["structure"], r["number"]))


def messages_of_stays(conn: Connection, keys: Sequence[tuple[str, str]], end: str) -> list[dict[str, Any]]:
    """The messages to the patient of the stays `keys` tried before `end` (`messages_of`' rows), by seq."""
    found = []
    for part in chunks(sorted(set(keys))):
        wanted = set(part)
        query = (
            sa.select(M, D.c.qualified)
            .join(D, D.c.unique_id == M.c.unique_id, isouter=True)
            .where(*_pairs(M.c.structure, M.c.stay_number, part), M.c.patient.is_(True), M.c.tried_at < end)
        )
        rows = _dicts(conn.execute(query.order_by(M.c.seq)))
        found += [r for r in rows if (r["structure"], r["stay_number"]) in wanted]
    return sorted(found, key=lambda r: r["seq"])


def _fed_by(types: Sequence[str], level: str, end: str) -> sa.ColumnElement[bool]:
    """A report counted: fed as `count_reports` counts it, before `end` (never NULL: negated, it is the
    reports not counted)."""
    return sa.and_(*fed_document(types, level), sa.func.coalesce(D.c.fed_at, end) < end)


def report_selection(types: Sequence[str], level: str, end: str, filtre: str) -> list[sa.ColumnElement[bool]]:
    """The conditions a report of `reports` meets to be listed by `filtre`: in the denominator (not
    replaced by a later version), counted (fed as `count_reports` counts it), or not."""
    fed = _fed_by(types, level, end)
    if filtre == "comptes":
        return [D.c.superseded_seq.is_(None), fed]
    if filtre == "non-comptes":
        return [D.c.superseded_seq.is_(None), sa.not_(fed)]
    if filtre == "hors":
        return [D.c.superseded_seq.is_not(None)]
    return []


def reports_page(
    conn: Connection,
    structures: list[str],
    types: Sequence[str],
    period: tuple[str, str],
    where: list,
    offset: int,
    limit: int,
) -> list[dict[str, Any]]:
    """A page of `reports` (its order: production) among those meeting `where`."""
    query = sa.select(D).where(*_produced(structures, types, *period), *where).order_by(D.c.produced_seq)
    return _dicts(conn.execute(query.offset(offset).limit(limit)))


def _produced(structures: list[str], types: Sequence[str], start: str, end: str) -> list[sa.ColumnElement[bool]]:
    return [
        D.c.structure.in_(structures),
        D.c.type_code.in_(list(types)),
        D.c.produced_at >= start,
        D.c.produced_at < end,
    ]


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
