"""Doublon detection over a large local patient index with planted doublons.

Builds (once, cached in bench/.cache) one hospital's index of N records in SQLite: synthetic
people as the admission desk typed them (accents, hyphens, lower case), among whom the
population's own twins and homonyms, plus a share of planted doublons — a second record of the
same person with one keying slip: a typo in the birth name or a first name, first names swapped,
accents missing, a hyphen dropped or added, only the first first name, day and month swapped or a
digit wrong in the birth date. Then times `PatientIndex.detect_duplicates` — the real scan: read
the index, block, score, queue reviews — and scores the queued reviews against the planted truth.

Goal (issue 2): < 120 s over 1 million identities, precision and recall >= 0.98.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from unidecode import unidecode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from maison.core.actor import Actor  # noqa: E402
from maison.core.storage import Database  # noqa: E402
from maison.etablissement.vigilance import store  # noqa: E402
from maison.etablissement.vigilance.service import PatientIndex  # noqa: E402
from maison.migrations import migrate  # noqa: E402
from maison.seeding.population import generate  # noqa: E402

STRUCTURE = "1750000019"
CELL = Actor(person="899900038441", structure=STRUCTURE, software="bench", role="cellule-identitovigilance")
GOAL_SECONDS, GOAL_QUALITY = 120, 0.98
DOUBLON_RATE = 0.02
console = Console(width=120)


def _typo(word: str, rnd: random.Random) -> str:
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    if len(letters) < 4:
        return word + word[-1]
    i = rnd.choice(letters[1:])
    kind = rnd.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1 :]  # dropped
    if kind == 1:
        return word[:i] + rnd.choice("AEIOULNRST").lower() + word[i:]  # inserted
    if kind == 2:
        return word[:i] + rnd.choice("BCDFGMPV").lower() + word[i + 1 :]  # replaced
    j = i - 1
    return word[:j] + word[i] + word[j] + word[i + 1 :]  # neighbours swapped


def _hyphen(nom: str, rnd: random.Random) -> str:
    if "-" in nom:
        return nom.replace("-", rnd.choice(("", " ")), 1)
    if " " in nom:
        return nom.replace(" ", "-", 1)
    return nom[:2] + rnd.choice("- ") + nom[2:]  # LEGRAND -> LE-GRAND


def _date_slip(date: str, rnd: random.Random) -> str:
    y, m, d = date.split("-")
    if d != "00" and int(d) <= 12 and d != m and rnd.random() < 0.5:
        return f"{y}-{d}-{m}"
    digit = rnd.choice((2, 3, 9))  # a decade, a year or a day digit
    chars = list(date)
    chars[digit] = str((int(chars[digit]) + rnd.choice((1, 9))) % 10)
    candidate = "".join(chars)
    try:
        datetime.strptime(candidate.replace("-00", "-01"), "%Y-%m-%d")
    except ValueError:
        return f"{y}-{m}-{d}"
    return candidate


VARIANTS = (
    "typo-nom",
    "typo-prenom",
    "prenoms-inverses",
    "sans-accents",
    "trait-d-union",
    "premier-prenom-seul",
    "date-jour-mois-ou-chiffre",
)


def plant(nom: str, prenoms: str, date: str, rnd: random.Random) -> tuple[str, str, str, str]:
    """A second record of the same person, with one keying slip; returns (variant, nom, prenoms, date)."""
    names = prenoms.split(" ")
    variant = rnd.choice(VARIANTS)
    if variant == "prenoms-inverses" and len(names) < 2 or variant == "premier-prenom-seul" and len(names) < 2:
        variant = "typo-prenom"
    if variant == "trait-d-union" and "-" not in nom and " " not in nom and len(nom) < 6:
        variant = "typo-nom"
    if variant == "typo-nom":
        nom = _typo(nom, rnd)
    elif variant == "typo-prenom":
        names[0] = _typo(names[0], rnd)
    elif variant == "prenoms-inverses":
        names[0], names[1] = names[1], names[0]
    elif variant == "sans-accents":
        nom, names = unidecode(nom), [unidecode(n) for n in names]
    elif variant == "trait-d-union":
        nom = _hyphen(nom, rnd)
    elif variant == "premier-prenom-seul":
        names = names[:1]
    else:
        new = _date_slip(date, rnd)
        if new == date:
            variant, nom = "typo-nom", _typo(nom, rnd)
        date = new
    return variant, nom, " ".join(names), date


def prepare(count: int, seed: int) -> tuple[Path, dict[tuple[int, int], str]]:
    """The cached index and the planted truth: (original id, doublon id) -> variant."""
    data = ROOT / "bench" / ".cache" / f"identitovigilance-{count}-{seed}"
    truth_file = data / "truth.json"
    if truth_file.is_file():
        return data, {(a, b): v for a, b, v in json.loads(truth_file.read_text())}
    shutil.rmtree(data, ignore_errors=True)
    db = Database(f"sqlite:///{data / 'maison.db'}")
    migrate(db)
    rnd = random.Random(seed)
    now = datetime.now(UTC).isoformat()
    base = dict(
        structure=STRUCTURE,
        status="PROV",
        insi_retrieved=False,
        document_checked=False,
        collection_method="SM",
        attributes="",
        version=1,
        created_at=now,
        updated_at=now,
    )
    rows: list[dict] = []
    truth: dict[tuple[int, int], str] = {}
    next_id = 1
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("local index", total=count)
        for person in generate(count, seed):
            if next_id > count:
                break
            t = person.traits
            rows.append(
                {
                    **base,
                    "id": next_id,
                    "ipp": f"IPP{next_id:08d}",
                    "nom_naissance": person.display_nom,
                    "prenoms": person.display_prenoms,
                    "sexe": t.sexe,
                    "date_naissance": t.date_naissance,
                    "lieu_naissance": t.lieu_naissance,
                }
            )
            original = next_id
            next_id += 1
            if next_id <= count and rnd.random() < DOUBLON_RATE:
                variant, nom, prenoms, date = plant(person.display_nom, person.display_prenoms, t.date_naissance, rnd)
                lieu = t.lieu_naissance if rnd.random() < 0.8 else None  # the desk did not always ask
                rows.append(
                    {
                        **base,
                        "id": next_id,
                        "ipp": f"IPP{next_id:08d}",
                        "nom_naissance": nom,
                        "prenoms": prenoms,
                        "sexe": t.sexe,
                        "date_naissance": date,
                        "lieu_naissance": lieu,
                    }
                )
                truth[(original, next_id)] = variant
                next_id += 1
            if len(rows) >= 20_000:
                with db.write() as conn:
                    conn.execute(store.vig_patient.insert(), rows)
                progress.advance(task, len(rows))
                rows = []
        if rows:
            with db.write() as conn:
                conn.execute(store.vig_patient.insert(), rows)
            progress.advance(task, len(rows))
    db.dispose()
    truth_file.write_text(json.dumps([[a, b, v] for (a, b), v in sorted(truth.items())]))
    return data, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000, help="records in the local index")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--show-errors", action="store_true", help="print missed and false pairs")
    args = parser.parse_args()
    data, truth = prepare(args.count, args.seed)
    work = data.with_name(data.name + "-run")
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(data, work)  # each run starts from the same index, without earlier reviews
    db = Database(f"sqlite:///{work / 'maison.db'}")
    index = PatientIndex(db)
    with console.status("detect_duplicates over the whole index…"):
        started = time.perf_counter()
        queued = index.detect_duplicates(CELL, STRUCTURE)
        elapsed = time.perf_counter() - started
    with db.read() as conn:
        found = {
            (r.patient_a, r.patient_b)
            for r in conn.execute(
                sa.select(store.vig_review.c.patient_a, store.vig_review.c.patient_b).where(
                    store.vig_review.c.kind == "doublon"
                )
            )
        }
    if args.show_errors:  # missed doublons, then false alarms, for whoever tunes the detector
        with db.read() as conn:
            for a, b in sorted(set(truth) - found)[:15] + sorted(found - set(truth))[:15]:
                print(
                    [
                        tuple(
                            conn.execute(
                                sa.select(
                                    store.vig_patient.c.nom_naissance,
                                    store.vig_patient.c.prenoms,
                                    store.vig_patient.c.date_naissance,
                                    store.vig_patient.c.lieu_naissance,
                                ).where(store.vig_patient.c.id == i)
                            ).one()
                        )
                        for i in (a, b)
                    ]
                )
    db.dispose()
    shutil.rmtree(work)
    planted = set(truth)
    true_positive = len(found & planted)
    precision = true_positive / len(found) if found else 0.0
    recall = true_positive / len(planted) if planted else 0.0
    variants = Counter(truth.values())
    missed = Counter(truth[p] for p in planted - found)
    result = {
        "benchmark": "identitovigilance-doublons",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "records": args.count,
        "planted": len(planted),
        "queued": queued,
        "true_positives": true_positive,
        "false_positives": len(found - planted),
        "missed": len(planted - found),
        "recall_by_variant": {v: round(1 - missed[v] / n, 4) for v, n in sorted(variants.items())},
        "seconds": round(elapsed, 1),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "goal": {"seconds": GOAL_SECONDS, "precision": GOAL_QUALITY, "recall": GOAL_QUALITY},
        "goal_met": elapsed < GOAL_SECONDS and precision >= GOAL_QUALITY and recall >= GOAL_QUALITY,
    }
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "identitovigilance.json").write_text(json.dumps(result, indent=2))
    table = Table(title=f"Doublon detection — {args.count:,} records, {len(planted):,} planted doublons")
    for col in ("seconds", "queued", "true pos.", "false pos.", "missed", "precision", "recall", "goal met"):
        table.add_column(col, justify="right")
    table.add_row(
        f"{elapsed:.1f}",
        f"{queued:,}",
        f"{true_positive:,}",
        f"{len(found - planted):,}",
        f"{len(planted - found):,}",
        f"{precision:.4f}",
        f"{recall:.4f}",
        "yes" if result["goal_met"] else "no",
    )
    console.print(table)
    console.print(
        f"goal: < {GOAL_SECONDS} s, precision and recall ≥ {GOAL_QUALITY}; recall by variant: "
        + ", ".join(f"{k} {v:.3f} (n={variants[k]})" for k, v in result["recall_by_variant"].items())
    )


if __name__ == "__main__":
    main()
