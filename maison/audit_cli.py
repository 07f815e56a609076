"""`maison audit checkpoint | verify | cle-publique`: anchor the audit trail and check it.

`verify` exits 0 when the chain is intact and agrees with every signed checkpoint, 1 when it found
a break (each one printed: the first bad sequence number, the checkpoint contradicted), 2 when it
cannot check (no key to verify with, unreadable public key).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from maison.core.config import load_settings

audit = typer.Typer(help="The audit trail: signed checkpoints, verification.", no_args_is_help=True)
console = Console() if sys.stdout.isatty() else Console(width=110)


def _settings(data_dir: Path | None):
    return load_settings().with_overrides(data_dir=data_dir)


@audit.command("checkpoint")
def checkpoint(data_dir: Path = typer.Option(None)) -> None:
    """Sign the chain's head now and append it to the checkpoint file (the server does it periodically)."""
    from maison.core import audit_anchor
    from maison.core.storage import Database

    settings = _settings(data_dir)
    db = Database(settings.effective_database_url)
    try:
        written = audit_anchor.checkpoint(db, settings.keystore(), settings.effective_checkpoint_path)
    finally:
        db.dispose()
    if written is None:
        console.print("Rien de nouveau : le dernier point de contrôle couvre déjà la tête de chaîne.")
    else:
        console.print(
            f"Point de contrôle seq {written['seq']} ({written['hash'][:16]}…) signé, "
            f"clé {written['key']}, dans {settings.effective_checkpoint_path}"
        )


@audit.command("cle-publique")
def public_key(data_dir: Path = typer.Option(None)) -> None:
    """Print the checkpoint key's public half (PEM), for an auditor's `verify --cle-publique`."""
    from maison.core.audit_anchor import Signer

    typer.echo(Signer(_settings(data_dir).keystore()).public_pem().decode(), nl=False)


@audit.command("verify")
def verify(
    data_dir: Path = typer.Option(None),
    cle_publique: Path = typer.Option(
        None, "--cle-publique", help="Verify with this public key (PEM) instead of the key store's"
    ),
) -> None:
    """Check the chain record by record and against every signed checkpoint; say where it breaks."""
    from maison.core import audit_anchor
    from maison.core.keystore import KeyStoreError
    from maison.core.storage import Database

    settings = _settings(data_dir)
    try:
        public = (
            audit_anchor.load_public_key(cle_publique.read_bytes())
            if cle_publique
            else audit_anchor.Signer(settings.keystore()).public
        )
    except (OSError, ValueError, KeyStoreError) as exc:
        console.print(f"[red]Vérification impossible[/] : {exc}")
        raise typer.Exit(2) from None
    db = Database(settings.effective_database_url)
    try:
        report = audit_anchor.verify(db, settings.effective_checkpoint_path, public)
    finally:
        db.dispose()
    _render(report, settings.effective_checkpoint_path)
    raise typer.Exit(0 if report.intact else 1)


def _render(report, path: Path) -> None:
    table = Table(title="Piste d'audit", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("enregistrements", str(report.records))
    table.add_row("tête de chaîne", f"seq {report.head_seq}")
    table.add_row("points de contrôle valides", f"{report.checkpoints} ({path})")
    table.add_row("ancrée jusqu'à", f"seq {report.anchored_seq}")
    console.print(table)
    if report.intact:
        if report.checkpoints == 0:
            console.print(
                "[yellow]Chaîne intègre mais non ancrée[/] : aucun point de contrôle signé (`maison audit checkpoint`)."
            )
        else:
            console.print(
                f"[green]Intègre[/] : chaîne cohérente et conforme aux {report.checkpoints} point(s) "
                f"de contrôle; {report.head_seq - report.anchored_seq} enregistrement(s) postérieurs "
                "au dernier point, pas encore ancrés."
            )
        return
    problems = Table(title="Ruptures", show_lines=False)
    for col in ("nature", "seq", "point (ligne)", "détail"):
        problems.add_column(col)
    for finding in report.findings:
        problems.add_row(finding.kind, str(finding.seq or "—"), str(finding.line or "—"), finding.message)
    console.print(problems)
    first = report.first_bad_seq
    console.print(
        "[red]Piste d'audit altérée[/]" + (f" : premier enregistrement en cause seq {first}." if first else ".")
    )
