"""`maison cda inspect FILE`: what a CDA document says about itself and whether the DMP would take it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from maison.core.config import Settings, load_settings
from maison.core.errors import MaisonError
from maison.core.terminology import Terminology
from maison.formats.cda.document import CdaReport, inspect_cda
from maison.formats.svs import read_value_set
from maison.formats.xds_codes import TYPE_CLASS, VOLET_FORMAT

cda = typer.Typer(help="CDA R2 documents (CI-SIS).", no_args_is_help=True)


def _code(code) -> str:
    return f"{code.code} ({code.display or code.system})" if code else "—"


def render(report: CdaReport, console: Console) -> None:
    h = report.header
    table = Table(title="En-tête CDA → métadonnées", show_header=False)
    table.add_column("champ", style="bold")
    table.add_column("valeur")
    author = h.authors[0] if h.authors else None
    rows = [
        ("uniqueId", h.unique_id or "—"),
        ("niveau", h.level),
        ("typeCode", _code(h.type_code)),
        ("classCode", TYPE_CLASS.get(h.type_code.code, "—") if h.type_code else "—"),
        ("formatCode", report.format_code or "—"),
        ("titre", h.title or "—"),
        ("creationTime (UTC)", h.creation.isoformat() if h.creation else h.effective_time or "—"),
        ("confidentialité", _code(h.confidentiality)),
        ("langue", h.language or "—"),
        ("patient INS", str(h.patient.ins) if h.patient.ins else "—"),
        ("patient", f"{h.patient.birth_family} {h.patient.birth_givens} ({h.patient.gender}, {h.patient.birth_date})"),
        (
            "auteur",
            f"{author.idnatps or author.device or '—'} {author.family} {author.given}".strip() if author else "—",
        ),
        ("spécialité auteur", _code(author.code) if author else "—"),
        ("structure gardienne", str(h.custodian) if h.custodian else "—"),
        ("cadre d'exercice", _code(h.practice_setting)),
        ("secteur d'activité", _code(h.facility_type)),
        ("acte", f"{h.service_start} → {h.service_stop or '…'}"),
        ("codes événement", ", ".join(c.code for c in h.event_codes) or "—"),
        ("remplace", h.replaces or "—"),
        ("études PACS", ", ".join(h.study_instance_uids) or "—"),
        ("taille / SHA-1", f"{report.size} octets / {report.sha1_base64}"),
        ("présentation", "auto-présentable (xsl:stylesheet)" if report.self_presenting else "CDA"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    _volet(report, console)
    if report.valid:
        checked = ["XSD CDA_extended", "règles d'en-tête CI-SIS", *(f"schématron {n}" for n in report.schematrons_run)]
        console.print(f"[green]conforme[/green] : {', '.join(checked)}")
        if not report.findings:
            return
    problems = Table(title="Constats", show_lines=False)
    for column in ("gravité", "code", "message", "où", "source"):
        problems.add_column(column)
    for f in report.findings:
        problems.add_row(
            "erreur" if f.severity == "error" else "avertissement", f.code, f.message, f.location, f.source
        )
    console.print(problems)


@lru_cache(maxsize=2)
def _terminology(settings: Settings) -> Terminology:
    """The CI-SIS value sets, read once per process (0.4 s): a session that inspects many files pays it once."""
    return Terminology.from_settings(settings, read_value_set)


def _volet(report: CdaReport, console: Console) -> None:
    """Which volet schematron judged the document, or why none did: never claimed when it did not run."""
    choice = report.volet
    if choice is None:
        console.print("schématrons : paquet CI-SIS absent, non évalués")
        return
    if choice.schematron is not None:
        console.print(
            f"schématron du volet : {choice.schematron.name} (template {choice.template}, {choice.reason})",
            soft_wrap=True,
        )
        return
    console.print(choice.reason, soft_wrap=True)
    if report.schematrons_run:
        console.print(f"vérifié avec le schématron de structuration minimale : {', '.join(report.schematrons_run)}")


@cda.command()
def inspect(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CDA R2 XML file")) -> None:
    """Print the header metadata and the validation result; exit 1 when the document is not conform."""
    settings = load_settings()
    console = Console()
    try:
        schematrons = settings.reference_path / "cisis" / "schematrons"
        report = inspect_cda(
            file.read_bytes(),
            _terminology(settings),
            settings.reference_path,
            max_bytes=max(settings.max_body_bytes, file.stat().st_size),
            schematrons=schematrons if schematrons.is_dir() else None,
            volet_formats=VOLET_FORMAT,
            structuration_minimale=True,
        )
    except MaisonError as exc:
        console.print(f"[red]refusé[/red] ({exc.code}) : {exc.message}")
        raise typer.Exit(2) from None
    render(report, console)
    raise typer.Exit(0 if report.valid else 1)
