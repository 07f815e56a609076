"""Filling the national referential with a synthetic population, fast (bulk inserts, one transaction per batch)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from maison.core.storage import Database
from maison.identite.ins import store
from maison.identite.ins.population import generate


def seed_referential(
    db: Database, count: int, *, seed: int = 2026, batch: int = 20_000, progress: Callable[[int], None] | None = None
) -> int:
    """Insert `count` synthetic identities with their matricules and carte Vitale rights."""
    done = 0
    people = generate(count, seed)
    since = date(2020, 1, 1)
    while done < count:
        chunk = [p for _, p in zip(range(min(batch, count - done)), people, strict=False)]
        if not chunk:
            break
        with db.write() as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    store.ins_person.insert().returning(store.ins_person.c.id, sort_by_parameter_order=True),
                    [store.person_row(p.traits) for p in chunk],
                )
            ]
            store.bulk_insert(
                conn,
                store.ins_matricule,
                [
                    {
                        "number": p.matricule[:13],
                        "cle": p.matricule[13:],
                        "type": "NIA" if p.matricule[0] in "78" else "NIR",
                        "person_id": pid,
                        "date_deb": since,
                        "date_fin": None,
                    }
                    for p, pid in zip(chunk, ids, strict=True)
                ],
            )
            store.bulk_insert(
                conn,
                store.ins_beneficiary,
                [
                    {
                        "ouvrant_droit": (p.ouvrant_droit or p.matricule)[:13],
                        "person_id": pid,
                        "rang_naissance": p.rang_naissance,
                    }
                    for p, pid in zip(chunk, ids, strict=True)
                ],
            )
        done += len(chunk)
        if progress:
            progress(len(chunk))
    return done
