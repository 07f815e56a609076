"""`maison indicateurs …`: the observatory's reports on a terminal, as JSON or CSV, or as an HTML page
with charts (issue 23 §4).

    maison indicateurs sunes --structure 1750000019 --periode 2026-S1
    maison indicateurs sunes --ght GHT-75 --html rapport.html
    maison indicateurs explication DS1.1 --structure 1750000019 --format csv
    maison indicateurs explication DS1.1 --ght GHT-75 --page 1 --taille 50 --filtre non-comptes
    maison indicateurs national --periode 2026-05 --format json
    maison indicateurs conformite | maturin --structure … | prerequis --structure …
    maison indicateurs replier

Whoever runs the command owns the data directory: it acts as the house itself (an actor with no
credential, `cli:<user>`), reads every report, and each read is audited under that name by the
room that computes it. The trail's new records are folded first, with a progress bar. Every report
is signed at the audit chain position it was computed at; when the chain is broken the report is
still printed, the reason is said on the error output; `--strict` checks the whole chain (not only
after the last signed checkpoint) and makes the command fail (exit 3) on a report it cannot sign.
"""

from __future__ import annotations

import csv
import getpass
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from maison.admin_cli import _house
from maison.core.actor import Actor
from maison.observatoire.report import Period, Table
from maison.observatoire.service import Observatoire, Served
from maison.terminal import console

indicateurs = typer.Typer(
    help="Les indicateurs de l'observatoire : SUN-ES, statistiques nationales, conformité, MATURIN-H.",
    no_args_is_help=True,
)
UNSIGNED_EXIT = 3
progress_console = Console(stderr=True)  # the progress never mixes with a JSON or CSV output


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


DATA_DIR = typer.Option(None, help="The house's data directory")
STRUCTURE = typer.Option(None, "--structure", help="La structure (FINESS, IdNatStruct)")
GHT = typer.Option(None, "--ght", help="Le GHT (son code)")
PERIODE = typer.Option(None, "--periode", help="2026-S1, 2026-05 ou 2026-01-01..2026-03-31 (défaut : en cours)")
FORMAT = typer.Option(Format.table, "--format", help="table (rich), json ou csv (une section par tableau)")
HTML = typer.Option(None, "--html", help="Écrire aussi le rapport HTML (graphiques) dans ce fichier")
STRICT = typer.Option(
    False, "--strict", help="Vérifier toute la chaîne d'audit, et échouer (code 3) si le rapport ne peut être signé"
)


def operator() -> Actor:
    return Actor(person=f"cli:{getpass.getuser()}", structure="maison", software="maison-cli")


@contextmanager
def _working(what: str) -> Iterator[None]:
    columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=progress_console, transient=True) as progress:
        progress.add_task(what, total=None)
        yield


def _fold(house) -> None:
    """Fold every room's new records first, a step per room on the progress bar."""
    from maison.observatoire.service import KINDS

    columns = (TextColumn("[bold]{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=progress_console, transient=True) as progress:
        task = progress.add_task("repli de la trace d'audit", total=len(KINDS) - 1)
        house.observatoire.fold(lambda kind, seq: progress.update(task, advance=1, description=f"{kind} : seq {seq}"))


def _period(text: str | None, monthly: bool = False) -> Period:
    from maison.observatoire.api import period_of

    return period_of(text, monthly=monthly)


def _scope(structure: str | None, ght: str | None):
    from maison.observatoire.api import scope_of

    return scope_of(structure, ght)


def csv_text(tables: list[Table]) -> str:
    """One section per table: its title as a `#` line, its header and rows (`;`, as the GIE's CSV), a blank line."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    for table in tables:
        out.write(f"# {table.title}\n")
        writer.writerow(table.columns)
        writer.writerows(["" if v is None else v for v in row] for row in table.rows)
        out.write("\n")
    return out.getvalue()


def _rich(table: Table) -> RichTable:
    shown = RichTable(title=table.title, caption="\n".join(table.notes) or None)
    for column in table.columns:
        shown.add_column(column)
    for row in table.rows:
        shown.add_row(*("—" if v is None else str(v) for v in row))
    return shown


def _emit(served_list: list[Served], fmt: Format, html: Path | None, strict: bool, page: list[Served]) -> None:
    """Print the reports; write the HTML page (the reports, and `page`'s series after them)."""
    from maison.observatoire.page import render

    if fmt is Format.json:
        data = [s.as_dict() for s in served_list]
        typer.echo(orjson.dumps(data[0] if len(data) == 1 else data, option=orjson.OPT_INDENT_2).decode())
    elif fmt is Format.csv:
        typer.echo(csv_text([t for s in served_list for t in s.tables]), nl=False)
    else:
        for served in served_list:
            for table in served.tables:
                console.print(_rich(table))
            seal = served.seal
            state = f"signé (clé {seal.key_id})" if seal.signed else "NON SIGNÉ"
            console.print(f"{served.title} : {state}, trace d'audit jusqu'à seq {seal.seq}")
    if html is not None:
        html.write_text(render(served_list[0].title, served_list + page), encoding="utf-8")
        typer.echo(f"rapport HTML écrit : {html}", err=True)
    unsigned = [s for s in served_list + page if not s.seal.signed]
    for served in unsigned:
        typer.echo(f"ATTENTION — {served.title} : rapport non signé : {served.seal.reason}", err=True)
    if unsigned and strict:
        raise typer.Exit(UNSIGNED_EXIT)


def _serve(
    data_dir: Path | None,
    what: str,
    compute: Callable[[Observatoire], list[Served]],
    output: tuple[Format, Path | None, bool],
    series: Callable[[Observatoire], list[Table]] | None = None,
) -> None:
    """Open the house, fold the trail, compute with a progress line, print or write the reports."""
    fmt, html, strict = output
    with _house(data_dir) as house:
        house.observatoire.sealer.full = strict  # --strict: the whole chain checked before signing
        _fold(house)
        with _working(what):
            served = compute(house.observatoire)
            page = [house.observatoire.series("Séries", series(house.observatoire))] if series and html else []
        _emit(served, fmt, html, strict, page)


@indicateurs.command("sunes")
def sunes(
    structure: str = STRUCTURE,
    ght: str = GHT,
    periode: str = PERIODE,
    format: Format = FORMAT,
    html: Path = HTML,
    strict: bool = STRICT,
    data_dir: Path = DATA_DIR,
) -> None:
    """Les indicateurs SUN-ES (DS1.1 à DS4.2 et DS4.3) d'une structure ou d'un GHT."""
    _serve(
        data_dir,
        "calcul des indicateurs SUN-ES",
        lambda obs: [obs.sunes(operator(), _scope(structure, ght), _period(periode))],
        (format, html, strict),
        lambda obs: [
            obs.sunes_by_month(operator(), _scope(structure, ght), _period(periode)),
            obs.sunes_by_service(operator(), _scope(structure, ght), _period(periode)),
        ],
    )


@indicateurs.command("explication")
def explication(
    indicateur: str = typer.Argument(..., help="DS1.1, DS1.2, … DS4.2"),
    structure: str = STRUCTURE,
    ght: str = GHT,
    periode: str = PERIODE,
    format: Format = FORMAT,
    html: Path = HTML,
    strict: bool = STRICT,
    page: int = typer.Option(None, "--page", help="Une page (à partir de 1) et les totaux ; sans : tout"),
    taille: int = typer.Option(50, "--taille", help="Éléments par page (1 à 500), avec --page"),
    filtre: str = typer.Option("tous", "--filtre", help="tous, comptes, non-comptes ou hors, avec --page"),
    data_dir: Path = DATA_DIR,
) -> None:
    """Chaque séjour, compte rendu ou correspondant d'un indicateur : compté ou non, pourquoi, ses traces
    (toute l'explication, ou avec --page une page et les totaux)."""

    def explain(obs: Observatoire) -> list[Served]:
        scope, period = _scope(structure, ght), _period(periode)
        if page is None:
            return [obs.explain(operator(), scope, period, indicateur)]
        return [obs.explain_page(operator(), scope, period, indicateur, number=page, size=taille, filtre=filtre)]

    _serve(data_dir, f"explication de {indicateur}", explain, (format, html, strict))


@indicateurs.command("prerequis")
def prerequis(
    structure: str = STRUCTURE,
    ght: str = GHT,
    periode: str = PERIODE,
    format: Format = FORMAT,
    html: Path = HTML,
    strict: bool = STRICT,
    data_dir: Path = DATA_DIR,
) -> None:
    """Les prérequis PS1.1 à PS4.1 et l'éligibilité aux volets 1 et 2."""
    _serve(
        data_dir,
        "évaluation des prérequis",
        lambda obs: [obs.prerequis(operator(), _scope(structure, ght), _period(periode))],
        (format, html, strict),
    )


@indicateurs.command("national")
def national(
    periode: str = typer.Option(None, "--periode", help="2026-05, 2026-S1… (défaut : le mois en cours)"),
    format: Format = FORMAT,
    html: Path = HTML,
    strict: bool = STRICT,
    data_dir: Path = DATA_DIR,
) -> None:
    """Les statistiques nationales mensuelles (DMP, MSSanté, INS qualifiée, ordonnance numérique, INSi, Ségur)."""
    compute = lambda obs: [obs.national(operator(), _period(periode, monthly=True))]  # noqa: E731
    _serve(data_dir, "calcul des statistiques nationales", compute, (format, html, strict))


@indicateurs.command("conformite")
def conformite(
    periode: str = PERIODE,
    format: Format = FORMAT,
    html: Path = HTML,
    strict: bool = STRICT,
    data_dir: Path = DATA_DIR,
) -> None:
    """La table de la maison : chaque logiciel enregistré, ce qu'il a exercé, son verdict."""
    compute = lambda obs: [obs.conformite(operator(), _period(periode))]  # noqa: E731
    _serve(data_dir, "conformité des logiciels", compute, (format, html, strict))


@indicateurs.command("maturin")
def maturin(
    structure: str = typer.Option(..., "--structure", help="La structure (FINESS, IdNatStruct)"),
    type_: str = typer.Option("CH-PARTIE-GHT", "--type", help="Le type d'établissement MATURIN-H"),
    periode: str = PERIODE,
    format: Format = FORMAT,
    html: Path = HTML,
    strict: bool = STRICT,
    data_dir: Path = DATA_DIR,
) -> None:
    """MATURIN-H : critères, valeurs calculées ou déclarées, score et niveau (A, B, C, D)."""
    compute = lambda obs: [obs.maturin(operator(), structure, _period(periode), type_)]  # noqa: E731
    _serve(data_dir, "MATURIN-H", compute, (format, html, strict))


@indicateurs.command("replier")
def replier(data_dir: Path = DATA_DIR) -> None:
    """Replier maintenant les nouvelles traces d'audit dans les faits de chaque rapport."""
    with _house(data_dir) as house:
        done = house.observatoire.fold()
    for kind, seq in done.items():
        typer.echo(f"{kind} : replié jusqu'à seq {seq}")
