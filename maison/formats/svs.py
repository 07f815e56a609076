"""Reading one CI-SIS value-set file (IHE ITI SVS `RetrieveValueSetResponse`, `urn:ihe:iti:svs:2008`).

The files are published by the ANS, not written by us: they go through the hardened parser like
any outside XML, and a file that is empty, malformed or hostile is refused with a `MaisonError`
that the registry records rather than lets crash the load.

A retired set (`dateFin` on the `ValueSet`, as on JDV_J48_ProfessionNonPS_CISIS) retires its
concepts that carry no end of their own. The set's `dateValid` is not passed down: it dates the
version of the set, not the day its codes became usable.

SVS is a wire format read with the hardened parser, so it lives in `formats`; the registry of value
sets (`maison.core.terminology`) is on the ground floor and receives what this module parses:
`Terminology.from_directory(path, read_value_set)`. Run as a module, it regenerates core's default
table from the files (`python -m maison.formats.svs [JEUX_DE_VALEURS_DIR]`).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import typer

from maison.core.config import load_settings
from maison.core.errors import MalformedRequest
from maison.core.terminology.derive import DEFAULT_OIDS, TARGET, render
from maison.core.terminology.registry import Terminology, value_set_directory
from maison.core.terminology.valuesets import Concept, ValueSet
from maison.formats import xmlsafe

SVS = "{urn:ihe:iti:svs:2008}"


def read_value_set(path: Path) -> ValueSet:
    root = xmlsafe.parse(path.read_bytes())
    element = root.find(f"{SVS}ValueSet")
    if root.tag != f"{SVS}RetrieveValueSetResponse" or element is None or not element.get("id"):
        raise MalformedRequest("pas une réponse IHE SVS avec un ValueSet identifié", code="svs-invalide")
    set_end = _day(element.get("dateFin"))
    concepts = tuple(
        Concept(
            c.get("code"),
            c.get("codeSystem", ""),
            c.get("displayName", ""),
            _day(c.get("dateValid")),
            _day(c.get("dateFin")) or set_end,
        )
        for c in element.iter(f"{SVS}Concept")
        if c.get("code")  # a few stub files hold one placeholder concept with an empty code
    )
    name = (element.get("displayName") or path.stem).removesuffix(".tabs")
    return ValueSet(element.get("id"), name, concepts, path.name)


def _day(stamp: str | None) -> date | None:
    """`20241213120000` (the NOS timestamp) → 2024-12-13; empty or absent → None."""
    if not stamp:
        return None
    try:
        return datetime.strptime(stamp[:8], "%Y%m%d").date()
    except ValueError:
        raise MalformedRequest(f"date NOS illisible : {stamp!r}", code="svs-invalide") from None


def main(directory: Path = typer.Argument(None, help="jeuxDeValeurs directory (default: from the settings)")) -> None:
    """Regenerate `maison/core/terminology/defaults.py` from the CI-SIS files."""
    terminology = Terminology.from_directory(directory or value_set_directory(load_settings()), read_value_set)
    TARGET.write_text(render(terminology), encoding="utf-8")
    typer.echo(f"{TARGET}: {len(DEFAULT_OIDS)} value sets from {terminology.origin}")


if __name__ == "__main__":
    typer.run(main)
