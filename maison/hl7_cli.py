"""`maison hl7 envoyer FILE --port P`: play a GAM or a DPI — send the HL7 v2 messages of a file over
MLLP, one after the other on one connection, each waiting for its ACK (issue 22 §1.4).

The file holds one or more messages as the ANS examples are written (segments on lines, LF or CRLF),
each starting with `MSH|`. The exit status is 0 when every ACK is AA (or CA), 1 otherwise."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import typer
from rich.console import Console

from maison.formats.hl7v2.client import MllpClient, MllpError

hl7 = typer.Typer(help="HL7 v2 over MLLP (IHE PAM France, CI-SIS transmission de documents).", no_args_is_help=True)
console = Console()


def messages_of(text: str) -> list[str]:
    """The messages of a file: each from its `MSH|` to the next, segments separated by CR."""
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    return [m.strip("\r") + "\r" for m in re.split(r"(?=MSH\|)", text) if m.strip("\r ")]


@hl7.command("envoyer")
def envoyer(
    fichier: Path = typer.Argument(..., exists=True, dir_okay=False, help="Messages HL7 v2 (un ou plusieurs)"),
    host: str = typer.Option("127.0.0.1", "--host", help="Adresse du récepteur MLLP"),
    port: int = typer.Option(..., "--port", help="Port MLLP du récepteur"),
    tls_ca: Path = typer.Option(None, "--tls-ca", help="Autorité du certificat du récepteur : MLLP sur TLS"),
) -> None:
    """Envoyer les messages du fichier et afficher chaque acquittement."""
    context = ssl.create_default_context(cafile=str(tls_ca)) if tls_ca else None
    accepted = True
    try:
        with MllpClient(host, port, ssl_context=context) as client:
            for message in messages_of(fichier.read_text(encoding="utf-8")):
                answer = client.send(message)
                msa = next((s for s in answer.split("\r") if s.startswith("MSA|")), "MSA|?")
                accepted &= msa.split("|")[1] in ("AA", "CA")
                console.print(answer.replace("\r", "\n").strip(), markup=False, highlight=False)
    except (OSError, MllpError) as exc:
        console.print(f"échec de l'envoi : {exc}")
        raise typer.Exit(1) from None
    raise typer.Exit(0 if accepted else 1)
