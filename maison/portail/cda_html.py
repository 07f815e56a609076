"""A CDA R2 document shown as HTML by the CI-SIS display stylesheet, run with saxonche.

The stylesheet is the ANS's (`cisis/FeuilleDeStyle/cda_CRBIO.xsl` under the configured reference
path, never a copy of ours). Written to run in a browser's XSLT 1 processor, it switches to XSL-FO
(for a PDF) when `system-property('xsl:vendor')` names Saxonica; a three-line wrapper stylesheet
imports it and overrides that global variable (XSLT 3.0 §3.11.3: the importing module's declaration
wins), so Saxon produces the HTML a browser would. `useJavascript` is off; the page it makes still
holds the stylesheet's own inline styles and scripts, so it is served with its own CSP (styles
allowed, no script at all, sandboxed) — see `patient.py`'s viewer.

Compiling the 1.4 MB stylesheet takes seconds: done once per process and reference path, under a lock
(one SaxonC processor per process, `maison.formats.cda.schematron`'s rule too).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from maison.core.errors import MaisonError
from maison.formats import xmlsafe
from maison.formats.cda.schematron import shared_saxon

STYLESHEET = Path("cisis") / "FeuilleDeStyle" / "cda_CRBIO.xsl"


class DisplayUnavailable(MaisonError):
    """The reference pack of this deployment has no CI-SIS display stylesheet: the house cannot show a
    structured document (the PDF of an N1 still shows)."""

    http_status = 503
    code = "feuille-de-style-absente"


def _wrapper(stylesheet: Path) -> str:
    return f"""<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:import href="{stylesheet.resolve().as_uri()}"/>
  <xsl:variable name="vendor" select="'Maison'"/>
  <xsl:output method="html" version="5" encoding="utf-8" indent="no"/>
</xsl:stylesheet>"""


@cache
def _executable(reference_path: Path, processor: Any) -> Any:  # a PyXsltExecutable (saxonche is untyped)
    stylesheet = reference_path / STYLESHEET
    if not stylesheet.is_file():
        raise DisplayUnavailable(f"la feuille de style d'affichage CI-SIS est absente : {stylesheet}")
    executable = processor.new_xslt30_processor().compile_stylesheet(stylesheet_text=_wrapper(stylesheet))
    executable.set_parameter("useJavascript", processor.make_string_value("false"))
    return executable


def render(cda: bytes, reference_path: Path) -> str:
    """The HTML page of `cda`. The document is parsed by the hardened parser first (no entity, no
    network): Saxon then only sees what lxml accepted, re-serialised."""
    root = xmlsafe.parse(cda, max_bytes=len(cda) + 1)  # MaisonError (400/413) on a bad document
    text = etree.tostring(root, encoding="unicode")
    processor, lock = shared_saxon()
    with lock:
        try:
            node = processor.parse_xml(xml_text=text)
            return str(_executable(reference_path, processor).transform_to_string(xdm_node=node))
        except MaisonError:
            raise
        except Exception as error:  # saxonche raises PySaxonApiError, not importable without it
            raise MaisonError(f"affichage du document impossible : {error}", code="affichage") from None
