"""`maison cle emettre | revoquer`: a structure's API keys, each with its scope.

The key is printed once and never stored (only its digest is); its issuance and revocation are
security events of the audit trail. Scopes: see `maison.core.auth.KeyScope` — the structure's
administrator registers its identity provider and declares to RPPS+, its software and desk act for
it, an MSSanté operator publishes its mailboxes, an LPP provider executes device prescriptions, the
house's administrator validates RPPS+ declarations.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from maison.core.config import load_settings

cle = typer.Typer(help="Structure API keys and their scopes.", no_args_is_help=True)
console = Console()


def _database(data_dir: Path | None):
    from maison.core.storage import Database
    from maison.migrations import migrate

    db = Database(load_settings().with_overrides(data_dir=data_dir).effective_database_url)
    migrate(db)
    return db


@cle.command("emettre")
def emettre(
    structure: str = typer.Argument(
        ..., help="The structure (IdNatStruct or Annuaire id; 'maison' for the house's administrator)"
    ),
    portee: str = typer.Option(
        "logiciel",
        help="administrateur-structure, logiciel, accueil, operateur-mss, fournisseur-lpp or administrateur-maison",
    ),
    logiciel: str = typer.Option(..., help="The software the key is for"),
    personne: str = typer.Option(..., help="Who the key is issued to"),
    role: str = typer.Option("", help="The holder's role, kept in the audit trail"),
    data_dir: Path = typer.Option(None),
) -> None:
    """Issue a key and print it once."""
    from maison.core.actor import KeyScope
    from maison.core.auth import issue_key

    try:
        scope = KeyScope(portee)
    except ValueError:
        raise typer.BadParameter(f"portée inconnue : {portee}") from None
    db = _database(data_dir)
    try:
        key = issue_key(db, structure, logiciel, personne, role, scope)
    finally:
        db.dispose()
    console.print(f"clé « {scope.value} » de {structure} pour {personne} ({logiciel}) — affichée une seule fois :")
    print(key)


@cle.command("revoquer")
def revoquer(
    empreinte: str = typer.Argument(
        ...,
        help="The first 12+ characters of the key's digest, as the "
        "securite.cle-emise record of the audit trail gives it",
    ),
    data_dir: Path = typer.Option(None),
) -> None:
    """Revoke a key: it is refused from the next call on."""
    from maison.core.auth import revoke_key

    db = _database(data_dir)
    try:
        count = revoke_key(db, empreinte)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    finally:
        db.dispose()
    console.print(f"{count} clé(s) révoquée(s)")
    raise typer.Exit(0 if count else 1)
