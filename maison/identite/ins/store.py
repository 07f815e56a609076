"""Persistence of the national INS referential (the role the national identity bases play behind INSi).

Hot queries are all keyed: a trait search by (match key = birth name · birth date · sex), a
carte Vitale search by matricule or by (ouvrant droit, birth date). Nothing scans the table, so
the referential shards by person like everything else at national scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection as Connection  # re-exported: the type the callers' transactions have

from maison.core.ins_traits import Traits, match_form
from maison.core.storage import metadata

# What the service and the referential hold: a database row, and the connection of their transaction.
Row = sa.Row

ins_person = sa.Table(
    "ins_person",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("nom_naissance", sa.String(100), nullable=False),
    sa.Column("prenoms", sa.String(200), nullable=False),
    sa.Column("sexe", sa.String(1), nullable=False),
    sa.Column("date_naissance", sa.String(10), nullable=False),
    sa.Column("lieu_naissance", sa.String(5)),
    sa.Column("match_key", sa.String(140), nullable=False),
    sa.Column("merged_into", sa.BigInteger, sa.ForeignKey("ins_person.id")),
    sa.Index("ix_ins_person_match_key", "match_key"),
    sa.Index("ix_ins_person_merged_into", "merged_into"),
)

ins_matricule = sa.Table(
    "ins_matricule",
    metadata,
    sa.Column("number", sa.String(13), primary_key=True),
    sa.Column("cle", sa.String(2), nullable=False),
    sa.Column("type", sa.String(3), nullable=False),
    sa.Column("person_id", sa.BigInteger, sa.ForeignKey("ins_person.id"), nullable=False),
    sa.Column("date_deb", sa.Date, nullable=False),
    sa.Column("date_fin", sa.Date),
    sa.Index("ix_ins_matricule_person_id", "person_id"),
)

# Carte Vitale rights: who is covered under which ouvrant droit, with the rang de naissance that
# tells twins apart.
ins_beneficiary = sa.Table(
    "ins_beneficiary",
    metadata,
    sa.Column("ouvrant_droit", sa.String(13), nullable=False),
    sa.Column("person_id", sa.BigInteger, sa.ForeignKey("ins_person.id"), nullable=False),
    sa.Column("rang_naissance", sa.Integer, nullable=False, server_default="1"),
    sa.PrimaryKeyConstraint("ouvrant_droit", "person_id"),
)


def match_key(nom: str, date_naissance: str, sexe: str) -> str:
    return f"{match_form(nom)}|{date_naissance}|{sexe}"


def person_row(traits: Traits) -> dict:
    return {
        "nom_naissance": traits.nom_naissance,
        "prenoms": traits.liste_prenoms,
        "sexe": traits.sexe,
        "date_naissance": traits.date_naissance,
        "lieu_naissance": traits.lieu_naissance,
        "match_key": match_key(traits.nom_naissance, traits.date_naissance, traits.sexe),
    }


def insert_person(conn: Connection, traits: Traits) -> int:
    return conn.execute(ins_person.insert().values(**person_row(traits)).returning(ins_person.c.id)).scalar_one()


def insert_matricule(
    conn: Connection, person_id: int, number: str, cle: str, kind: str, date_deb, date_fin=None
) -> None:
    conn.execute(
        ins_matricule.insert().values(
            number=number, cle=cle, type=kind, person_id=person_id, date_deb=date_deb, date_fin=date_fin
        )
    )


def bulk_insert(conn: Connection, table: sa.Table, rows: Sequence[dict]) -> None:
    if rows:
        conn.execute(table.insert(), list(rows))


def load_people(conn: Connection, people: Sequence[tuple[Traits, str, str | None, int]], since: date) -> int:
    """A batch of registrations in one statement per table (the seeding's bulk load): each entry is
    (traits, matricule with its key, the ouvrant droit's matricule or None, rang de naissance).
    The caller vouches that matricules are unique and agree with the traits; returns the count."""
    if not people:
        return 0
    ids = [
        row[0]
        for row in conn.execute(
            ins_person.insert().returning(ins_person.c.id, sort_by_parameter_order=True),
            [person_row(traits) for traits, _, _, _ in people],
        )
    ]
    bulk_insert(
        conn,
        ins_matricule,
        [
            {
                "number": matricule[:13],
                "cle": matricule[13:],
                "type": "NIA" if matricule[0] in "78" else "NIR",
                "person_id": pid,
                "date_deb": since,
                "date_fin": None,
            }
            for (_, matricule, _, _), pid in zip(people, ids, strict=True)
        ],
    )
    bulk_insert(
        conn,
        ins_beneficiary,
        [
            {"ouvrant_droit": (ouvrant_droit or matricule)[:13], "person_id": pid, "rang_naissance": rang}
            for (_, matricule, ouvrant_droit, rang), pid in zip(people, ids, strict=True)
        ],
    )
    return len(ids)


_BY_KEY = sa.select(ins_person).where(ins_person.c.match_key == sa.bindparam("k"), ins_person.c.merged_into.is_(None))


def persons_by_key(conn: Connection, key: str) -> list[sa.Row]:
    return list(conn.execute(_BY_KEY, {"k": key}))


_PERSON = sa.select(ins_person).where(ins_person.c.id == sa.bindparam("i"))
_MATRICULE = sa.select(ins_matricule).where(ins_matricule.c.number == sa.bindparam("n"))
# The matricules of an identity and of every identity merged into it (its historic INS).
_MATRICULES_OF = (
    sa.select(ins_matricule)
    .where(
        sa.or_(
            ins_matricule.c.person_id == sa.bindparam("i"),
            ins_matricule.c.person_id.in_(
                sa.select(ins_person.c.id).where(ins_person.c.merged_into == sa.bindparam("i")).scalar_subquery()
            ),
        )
    )
    .order_by(ins_matricule.c.date_deb)
)


def person(conn: Connection, person_id: int) -> sa.Row | None:
    return conn.execute(_PERSON, {"i": person_id}).first()


def matricule(conn: Connection, number: str) -> sa.Row | None:
    return conn.execute(_MATRICULE, {"n": number}).first()


def matricules_of(conn: Connection, person_id: int) -> list[sa.Row]:
    """The identity's own matricules and those of the identities merged into it, oldest first."""
    return list(conn.execute(_MATRICULES_OF, {"i": person_id}))


def beneficiaries(conn: Connection, ouvrant_droit: str) -> list[sa.Row]:
    return list(
        conn.execute(
            sa.select(ins_beneficiary.c.person_id, ins_beneficiary.c.rang_naissance).where(
                ins_beneficiary.c.ouvrant_droit == ouvrant_droit
            )
        )
    )


def rights_of(conn: Connection, person_id: int) -> list[sa.Row]:
    return list(conn.execute(sa.select(ins_beneficiary).where(ins_beneficiary.c.person_id == person_id)))


def count_persons(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(ins_person)).scalar_one()


# Who may call INSi: software known by its CNDA authorisation number (the `IDAM` of ContexteLPS),
# and structures habilitated to the teleservice with the département they belong to.
insi_software = sa.Table(
    "insi_software",
    metadata,
    sa.Column("idam", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("vendor", sa.String(100), nullable=False),
    # the version the CNDA authorised under this IDAM (issue 21 §1.1); "" for those declared before it
    sa.Column("version", sa.String(32), nullable=False, server_default=""),
    # its category in the maison table (seed 001 L196-216: DPI, LGC, DUI…), against which the
    # observatory checks what it exercised (issue 23 §3.1); "" when the administrator gave none
    sa.Column("category", sa.String(32), nullable=False, server_default=""),
)

insi_structure = sa.Table(
    "insi_structure",
    metadata,
    sa.Column("identifier", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("department", sa.String(3), nullable=False),
)


def replace_software(
    conn: Connection, idam: str, name: str, vendor: str, version: str = "", category: str = ""
) -> None:
    """Declare (or redeclare) a software by its CNDA authorisation number."""
    conn.execute(insi_software.delete().where(insi_software.c.idam == idam))
    conn.execute(insi_software.insert().values(idam=idam, name=name, vendor=vendor, version=version, category=category))


def all_software(conn: Connection) -> list[Row]:
    """Every registered software (idam, name, vendor, version, category), by IDAM."""
    return list(conn.execute(sa.select(insi_software).order_by(insi_software.c.idam)))


def replace_structure(conn: Connection, identifier: str, name: str, department: str) -> None:
    """Habilitate (or re-habilitate) a structure to the teleservice."""
    conn.execute(insi_structure.delete().where(insi_structure.c.identifier == identifier))
    conn.execute(insi_structure.insert().values(identifier=identifier, name=name, department=department))


def software(conn: Connection, idam: str) -> tuple[str, str, str] | None:
    """(name, vendor, version) of a known software, or None."""
    columns = (insi_software.c.name, insi_software.c.vendor, insi_software.c.version)
    row = conn.execute(sa.select(*columns).where(insi_software.c.idam == idam)).first()
    return (row[0], row[1], row[2]) if row else None


def structure(conn: Connection, identifier: str) -> tuple[str, str] | None:
    """(name, département) of a habilitated structure, or None."""
    row = conn.execute(
        sa.select(insi_structure.c.name, insi_structure.c.department).where(insi_structure.c.identifier == identifier)
    ).first()
    return (row[0], row[1]) if row else None


def add_beneficiary(conn: Connection, ouvrant_droit: str, person_id: int, rang_naissance: int) -> None:
    conn.execute(
        ins_beneficiary.insert().values(ouvrant_droit=ouvrant_droit, person_id=person_id, rang_naissance=rang_naissance)
    )


def end_matricule(conn: Connection, number: str, when: date) -> None:
    """The matricule becomes historic from `when`."""
    conn.execute(ins_matricule.update().where(ins_matricule.c.number == number).values(date_fin=when))


def merge_person(conn: Connection, absorbed: int, survivor: int, when: date) -> None:
    """The absorbed identity, and those it had absorbed, merge into the survivor; its active
    matricules end on `when`. Merges stay one level deep: the survivor's historic INS are its own
    and those of `merged_into = survivor`. The Carte Vitale rights move apart (`drop_right`, `move_right`)."""
    conn.execute(
        ins_matricule.update()
        .where(ins_matricule.c.person_id == absorbed, ins_matricule.c.date_fin.is_(None))
        .values(date_fin=when)
    )
    conn.execute(
        ins_person.update()
        .where(sa.or_(ins_person.c.id == absorbed, ins_person.c.merged_into == absorbed))
        .values(merged_into=survivor)
    )


def drop_right(conn: Connection, ouvrant_droit: str, person_id: int) -> None:
    conn.execute(
        ins_beneficiary.delete().where(
            ins_beneficiary.c.ouvrant_droit == ouvrant_droit, ins_beneficiary.c.person_id == person_id
        )
    )


def move_right(conn: Connection, ouvrant_droit: str, person_id: int, to: int) -> None:
    conn.execute(
        ins_beneficiary.update()
        .where(ins_beneficiary.c.ouvrant_droit == ouvrant_droit, ins_beneficiary.c.person_id == person_id)
        .values(person_id=to)
    )
