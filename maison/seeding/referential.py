"""Filling the national referential with a synthetic population, fast: one transaction per batch,
through the referential's own bulk load (`Referential.load`), which owns the INS tables."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date

from maison.core.storage import Database
from maison.identite.ins.referential import Referential
from maison.seeding.population import generate

SINCE = date(2020, 1, 1)  # the matricules' start of validity in a seeded referential


def seed_referential(
    db: Database, count: int, *, seed: int = 2026, batch: int = 20_000, progress: Callable[[int], None] | None = None
) -> int:
    """Insert `count` synthetic identities with their matricules and carte Vitale rights."""
    referential = Referential(db)
    done = 0
    people = generate(count, seed)
    while done < count:
        chunk = list(itertools.islice(people, min(batch, count - done)))
        if not chunk:
            break
        done += referential.load(
            [(p.traits, p.matricule, p.ouvrant_droit, p.rang_naissance) for p in chunk], since=SINCE
        )
        if progress:
            progress(len(chunk))
    return done
