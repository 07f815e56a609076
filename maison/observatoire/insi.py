"""Monthly INSi deployment statistics, by département, by vendor (éditeur) and by establishment.

The GIE SESAM-Vitale publishes these every month (seed 003 L316-322) as three tables — by
département, by éditeur, by établissement — in .xlsx and as a .zip of .csv files. Here they are
counted from the audit trail, where every INSi call is recorded with the calling structure, its
département, the software and its vendor, and the answer code: an answered call counts once,
whatever happened to it afterwards, and a refused call counts as an error.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from maison.core import audit
from maison.core.errors import InvalidInput
from maison.core.storage import Database

ANSWERS = ("00", "01", "02", "erreur")
DIMENSIONS = {"departement": "département", "editeur": "éditeur", "etablissement": "établissement"}
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass
class Line:
    """One row of a table: calls by answer, and how many establishments made them."""

    calls: Counter = field(default_factory=Counter)
    structures: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def as_dict(self) -> dict:
        return {
            "appels": self.total,
            **{f"cr_{a}": self.calls.get(a, 0) for a in ANSWERS},
            "etablissements": len(self.structures),
        }


def month_bounds(month: str) -> tuple[str, str]:
    m = _MONTH.match(month)
    if not m:
        raise InvalidInput(f"mois '{month}' : forme AAAA-MM attendue", code="mois")
    year, mon = int(m.group(1)), int(m.group(2))
    end = date(year + 1, 1, 1) if mon == 12 else date(year, mon + 1, 1)
    return date(year, mon, 1).isoformat(), end.isoformat()


def monthly(db: Database, month: str) -> dict[str, dict[str, Line]]:
    """The three tables of one month: {dimension: {key: Line}}."""
    since, until = month_bounds(month)
    tables: dict[str, dict[str, Line]] = {d: defaultdict(Line) for d in DIMENSIONS}
    with db.read() as conn:
        for event in audit.events(conn, action_prefix="insi.", since=since, until=until):
            detail = audit.detail_of(event)
            actor = detail.get("actor", {})
            answer = detail.get("cr") if event["outcome"] == "success" else "erreur"
            keys = {
                "departement": actor.get("department") or "inconnu",
                "editeur": actor.get("vendor") or "inconnu",
                "etablissement": event["actor_structure"],
            }
            for dimension, key in keys.items():
                line = tables[dimension][key]
                line.calls[answer or "erreur"] += 1
                line.structures.add(event["actor_structure"])
    return {d: dict(sorted(t.items())) for d, t in tables.items()}


def write_csv(tables: dict[str, dict[str, Line]], month: str, directory: Path) -> list[Path]:
    """One CSV per table, as in the GIE's monthly .zip (`;`-separated, UTF-8)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for dimension, rows in tables.items():
        path = directory / f"insi_{month}_par_{dimension}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, delimiter=";")
            writer.writerow([dimension, "appels", *(f"cr_{a}" for a in ANSWERS), "etablissements"])
            for key, line in rows.items():
                d = line.as_dict()
                writer.writerow([key, d["appels"], *(d[f"cr_{a}"] for a in ANSWERS), d["etablissements"]])
        written.append(path)
    return written
