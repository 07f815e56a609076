"""`python -m maison` is the `maison` command."""

from maison.cli import app

app(prog_name="maison")
