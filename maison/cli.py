"""The `maison` command: serve the house, seed it, play the demo."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from maison.core.config import load_settings

app = typer.Typer(help="Maison: la maison du numérique en santé, runnable.", no_args_is_help=True)
console = Console()


def _settings(data_dir: Path | None, host: str | None = None, port: int | None = None):  # type: ignore[no-untyped-def]
    return load_settings().with_overrides(data_dir=data_dir, host=host, port=port)


def seed_with_progress(db, count: int, seed: int) -> int:  # type: ignore[no-untyped-def]
    from maison.seeding import seed_referential

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("INS referential", total=count)
        return seed_referential(db, count, seed=seed, progress=lambda n: progress.advance(task, n))


@app.command()
def serve(host: str = typer.Option(None, help="Listen address (default 127.0.0.1)"),
          port: int = typer.Option(None, help="HTTP port (default 8080)"),
          data_dir: Path = typer.Option(None, help="Where the embedded SQLite database lives"),
          workers: int = typer.Option(1, help="Server processes sharing the port (one per core)")) -> None:
    """Run every service of the house, one HTTP port, each service under its own path."""
    from maison.serving import serve as run

    settings = _settings(data_dir, host, port)
    scheme = "https" if settings.tls_cert else "http"
    console.print(f"Maison on {scheme}://{settings.host}:{settings.port}/ — {workers} process(es), "
                  f"database {settings.effective_database_url}")
    try:
        run(settings, workers)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def seed(count: int = typer.Option(100_000, help="How many synthetic identities"),
         seed_value: int = typer.Option(2026, "--seed", help="Random seed (reproducible)"),
         data_dir: Path = typer.Option(None)) -> None:
    """Fill the national INS referential with a synthetic French population."""
    from maison.core.storage import Database

    settings = _settings(data_dir)
    db = Database(settings.effective_database_url)
    db.migrate()
    n = seed_with_progress(db, count, seed_value)
    console.print(f"{n} identities in {settings.effective_database_url}")


@app.command()
def demo(count: int = typer.Option(100_000, help="Synthetic identities to seed"),
         data_dir: Path = typer.Option(Path("data/demo"), help="A fresh directory for the demo database")) -> None:
    """Seed, start the services, and play the end-to-end scenario over the real protocols."""
    from maison.demo import play

    raise typer.Exit(play(_settings(data_dir), count, console))


if __name__ == "__main__":
    app()
