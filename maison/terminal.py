"""What the `maison` command and the demo show on a terminal: the console, progress bars, the cell's report.

Both `maison.cli` and `maison.demo` use them; they live here so that the command imports the demo
(to play it) and the demo never imports the command (issue 19 §1.2: no cycle between them).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from maison.core.storage import Database

if TYPE_CHECKING:
    from maison.seeding.directory import Directory

console = Console() if sys.stdout.isatty() else Console(width=110)  # logs and CI get whole tables


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


def seed_with_progress(db: Database, count: int, seed: int) -> int:
    from maison.seeding.referential import seed_referential

    with _bar() as progress:
        task = progress.add_task("INS referential", total=count)
        return seed_referential(db, count, seed=seed, progress=lambda n: progress.advance(task, n))


def seed_annuaire_with_progress(
    db: Database, roles: int, seed: int, seen: Callable[[Directory], None] | None = None
) -> dict[str, int]:
    from maison.seeding.directory import seed_directory

    with _bar() as progress:
        task = progress.add_task("Annuaire Santé", total=roles)
        return seed_directory(db, roles, seed, progress=lambda n: progress.advance(task, n), seen=seen)


def print_report(report: dict[str, Any], out: Console | None = None) -> None:
    """The cell's activity report, one row per structure (004 L343-345: meetings, incidents, corrections),
    on `out` (the demo's console) or the command's."""
    out = out or console
    from rich.table import Table

    table = Table(title=f"Rapport d'activité de la cellule d'identitovigilance — {report['semestre']}")
    for col in ("structure", "réunions", "incidents", "fusions", "dédoubl.", "appels INSi", "QUAL", "éligible"):
        table.add_column(col, justify="right")
    for part in report["structures"]:
        table.add_row(
            part["structure"],
            str(len(part["reunions"])),
            str(len(part["incidents"])),
            str(part["corrections"]["fusions"]),
            str(part["corrections"]["dedoublements"]),
            str(part["insi"]["appels"]),
            f"{part['statuts']['part_qualifiee']:.0%}",
            "oui" if part["eligible"] else "non",
        )
    out.print(table)
    for part in report["structures"]:
        for problem in part["manques"]:
            out.print(f"  [yellow]{part['structure']}[/]: {problem}")
