"""The conformity and MATURIN-H facts (issue 23 §3), folded from the audit trail by seq cursor.

`conf_exercise` holds, per trail identity (`logiciel:<actor_software>` or `bal:<address>`), kind of
exercise and day, a counter with its first and last record (time and seq): a report sums the days
of its period, never rereads the trail. `conf_application` holds the same per structure, for
MATURIN-H's shares of applications. `conf_psc_client` names each Pro Santé Connect client as it
was registered (the link from a client id to its software). The administrator's declarations —
a software's other names in the trail (its MSSanté mailboxes, a PSC client, an API key's name),
what is declared of what the house cannot observe — and the establishments' MATURIN-H
declarations are rows of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection as Connection

from maison.core.storage import metadata

Row = sa.Row


def _counter() -> list[sa.Column]:
    """How many, and the first and last audit record (time and seq) of a folded counter."""
    return [
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("first_at", sa.String(32), nullable=False),
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("last_at", sa.String(32), nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
    ]


conf_cursor = sa.Table(
    "conf_cursor",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

conf_exercise = sa.Table(
    "conf_exercise",
    metadata,
    sa.Column("identity", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    *_counter(),
)

conf_application = sa.Table(
    "conf_application",
    metadata,
    sa.Column("structure", sa.String(128), primary_key=True),
    sa.Column("identity", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    *_counter(),
)

conf_psc_client = sa.Table(
    "conf_psc_client",
    metadata,
    sa.Column("client_id", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Index("ix_conf_psc_client_name", "name"),
)

conf_identity = sa.Table(
    "conf_identity",
    metadata,
    sa.Column("idam", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),  # IdentityKind: bal / client-psc / logiciel
    sa.Column("value", sa.String(256), primary_key=True),
    sa.Column("declared_by", sa.String(128), nullable=False),
    sa.Column("declared_at", sa.String(32), nullable=False),
)

conf_declaration = sa.Table(
    "conf_declaration",
    metadata,
    sa.Column("idam", sa.String(32), primary_key=True),
    sa.Column("service", sa.String(32), primary_key=True),
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("declared_by", sa.String(128), nullable=False),
    sa.Column("declared_at", sa.String(32), nullable=False),
)

mat_declaration = sa.Table(
    "mat_declaration",
    metadata,
    sa.Column("structure", sa.String(64), primary_key=True),
    sa.Column("criterion", sa.String(16), primary_key=True),
    sa.Column("value", sa.String(32), nullable=False),  # "oui" / "non" / a number / "na"
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("declared_by", sa.String(128), nullable=False),
    sa.Column("declared_at", sa.String(32), nullable=False),
)


@dataclass
class Tally:
    """A counter being folded: how many, and its first and last record."""

    total: int
    first_at: str
    first_seq: int
    last_at: str
    last_seq: int

    def add(self, at: str, seq: int, n: int = 1) -> None:
        self.total += n
        self.last_at, self.last_seq = at, seq


def cursor(conn: Connection, name: str) -> int:
    """The last seq folded, its row locked for the fold's transaction (two folds never count twice)."""
    query = sa.select(conf_cursor.c.seq).where(conf_cursor.c.name == name).with_for_update()
    value = conn.execute(query).scalar()
    return int(value or 0)


def has_cursor(conn: Connection, name: str) -> bool:
    return conn.execute(sa.select(conf_cursor.c.seq).where(conf_cursor.c.name == name)).first() is not None


def create_cursor(conn: Connection, name: str) -> None:
    """The cursor's row at 0, so that a fold always locks it (a concurrent creation fails on its key)."""
    conn.execute(conf_cursor.insert().values(name=name, seq=0))


def position(conn: Connection, name: str) -> int:
    """The last seq folded, unlocked (what a report says it counted up to)."""
    return int(conn.execute(sa.select(conf_cursor.c.seq).where(conf_cursor.c.name == name)).scalar() or 0)


def set_cursor(conn: Connection, name: str, seq: int) -> None:
    if not conn.execute(conf_cursor.update().where(conf_cursor.c.name == name).values(seq=seq)).rowcount:
        conn.execute(conf_cursor.insert().values(name=name, seq=seq))


def _merge(conn: Connection, table: sa.Table, keys: tuple[str, ...], tallies: dict[tuple, Tally]) -> None:
    """Add a batch's tallies to their rows: the first record stays, the last is the batch's (seq
    grows). The rows of the batch's days are read once; then one UPDATE and one INSERT, executemany."""
    if not tallies:
        return
    days = sorted({key[-1] for key in tallies})
    existing = {tuple(r) for r in conn.execute(sa.select(*(table.c[k] for k in keys)).where(table.c.day.in_(days)))}
    rows = [{**dict(zip(keys, key, strict=True)), **vars(t)} for key, t in tallies.items()]
    old = [r for r, key in zip(rows, tallies, strict=True) if key in existing]
    new = [r for r, key in zip(rows, tallies, strict=True) if key not in existing]
    if old:
        where = sa.and_(*(table.c[k] == sa.bindparam(f"k_{k}") for k in keys))
        update = table.update().where(where)
        values = {
            "total": table.c.total + sa.bindparam("t"),
            "last_at": sa.bindparam("la"),
            "last_seq": sa.bindparam("ls"),
        }
        params = [
            {**{f"k_{k}": r[k] for k in keys}, "t": r["total"], "la": r["last_at"], "ls": r["last_seq"]} for r in old
        ]
        conn.execute(update.values(values), params)
    if new:
        conn.execute(table.insert(), new)


def add_exercises(conn: Connection, tallies: dict[tuple[str, str, str], Tally]) -> None:
    _merge(conn, conf_exercise, ("identity", "kind", "day"), dict(tallies))


def add_applications(conn: Connection, tallies: dict[tuple[str, str, str, str], Tally]) -> None:
    _merge(conn, conf_application, ("structure", "identity", "kind", "day"), dict(tallies))


def name_psc_clients(conn: Connection, names: dict[str, tuple[str, int]]) -> None:
    for client_id, (name, seq) in names.items():
        conn.execute(conf_psc_client.delete().where(conf_psc_client.c.client_id == client_id))
        conn.execute(conf_psc_client.insert().values(client_id=client_id, name=name, seq=seq))


def clear_folds(conn: Connection, name: str) -> None:
    """A fold from 0: every folded fact goes (the declarations stay: they are not from the trail)."""
    for table in (conf_exercise, conf_application, conf_psc_client):
        conn.execute(table.delete())
    conn.execute(conf_cursor.delete().where(conf_cursor.c.name == name))


def psc_clients_named(conn: Connection, names: Sequence[str]) -> list[Row]:
    query = sa.select(conf_psc_client).where(conf_psc_client.c.name.in_(list(names)))
    return list(conn.execute(query.order_by(conf_psc_client.c.client_id)))


def exercises(conn: Connection, identities: Iterable[str], since: str, until: str) -> list[Row]:
    """The daily counters of `identities` in [since, until) (days as ISO dates)."""
    query = sa.select(conf_exercise).where(
        conf_exercise.c.identity.in_(list(identities)), conf_exercise.c.day >= since, conf_exercise.c.day < until
    )
    return list(conn.execute(query.order_by(conf_exercise.c.first_seq)))


def applications(conn: Connection, structure: str, since: str, until: str) -> list[Row]:
    query = sa.select(conf_application).where(
        conf_application.c.structure == structure, conf_application.c.day >= since, conf_application.c.day < until
    )
    return list(conn.execute(query.order_by(conf_application.c.first_seq)))


def declare_identity(conn: Connection, idam: str, kind: str, value: str, by: str, at: str) -> None:
    table = conf_identity
    conn.execute(table.delete().where(table.c.idam == idam, table.c.kind == kind, table.c.value == value))
    conn.execute(table.insert().values(idam=idam, kind=kind, value=value, declared_by=by, declared_at=at))


def identities(conn: Connection) -> list[Row]:
    return list(conn.execute(sa.select(conf_identity).order_by(conf_identity.c.idam, conf_identity.c.value)))


def declare_service(conn: Connection, idam: str, service: str, evidence: str, by: str, at: str) -> None:
    conn.execute(
        conf_declaration.delete().where(conf_declaration.c.idam == idam, conf_declaration.c.service == service)
    )
    conn.execute(
        conf_declaration.insert().values(idam=idam, service=service, evidence=evidence, declared_by=by, declared_at=at)
    )


def service_declarations(conn: Connection) -> list[Row]:
    return list(conn.execute(sa.select(conf_declaration).order_by(conf_declaration.c.idam)))


def declare_criterion(
    conn: Connection, structure: str, criterion: str, value: str, evidence: str, by: str, at: str
) -> None:
    table = mat_declaration
    conn.execute(table.delete().where(table.c.structure == structure, table.c.criterion == criterion))
    conn.execute(
        table.insert().values(
            structure=structure, criterion=criterion, value=value, evidence=evidence, declared_by=by, declared_at=at
        )
    )


def criterion_declarations(conn: Connection, structure: str) -> list[Row]:
    return list(conn.execute(sa.select(mat_declaration).where(mat_declaration.c.structure == structure)))
