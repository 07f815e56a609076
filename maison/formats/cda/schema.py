"""XSD validation of CDA R2 documents against the CI-SIS schema (`infrastructure/cda/CDA_extended.xsd`).

The schema is loaded from the configured reference path (it is public specification data, never
copied into the repository) once per process; libxml2 validates a document in about a millisecond.
The XSD only checks CDA R2 structure and the French extensions (sdtc, lab, ps3-20, pharm): the
CI-SIS header rules are `rules.py`'s.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lxml import etree

from maison.formats.cda.rules import Finding

SCHEMA = Path("cisis/infrastructure/cda/CDA_extended.xsd")


@lru_cache(maxsize=4)
def _schema(path: Path) -> etree.XMLSchema:
    # The XSD files are trusted local artefacts; parsing them needs their xs:include/xs:import.
    return etree.XMLSchema(etree.parse(str(path)))


def schema_path(reference_path: Path) -> Path:
    return reference_path / SCHEMA


def validate(root: etree._Element, reference_path: Path, *, limit: int = 20) -> list[Finding]:
    """The XSD errors of a parsed document (at most `limit`), as findings with their line."""
    schema = _schema(schema_path(reference_path))
    if schema.validate(root.getroottree()):
        return []
    return [
        Finding("cda-xsd", e.message, f"ligne {e.line}", "CDA_extended.xsd") for e in list(schema.error_log)[:limit]
    ]
