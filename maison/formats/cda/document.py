"""One CDA document read and judged: hardened parse, XSD, CI-SIS header rules, optional schematron.

This is what the DMP runs on every submitted document and what `maison cda inspect` prints. The
hash and size are those of the exact bytes received: registries compare them with the submitted
metadata (XDS `hash` is SHA-1; PDSm carries it base64-encoded in `attachment.hash`).

A self-presenting document ("CDA auto-présentable") is an XSLT stylesheet whose top-level data
element embeds the ClinicalDocument (the CI-SIS XSD `CDA_extended.xsd` imports the XSLT 2.0 schema
for it; XDS mimeType `application/xslt+xml`, xds-cda-metadata mapping.md:397-402): its header, XSD and
schematrons are those of the embedded document; whether a registry takes one is the registry's call.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from maison.core.terminology import Terminology
from maison.formats import xmlsafe
from maison.formats.cda import schema, schematron, volets
from maison.formats.cda.header import FORMAT_N1_PDF, V3, CdaHeader, read_header
from maison.formats.cda.rules import Finding, check_header

XSLT = "http://www.w3.org/1999/XSL/Transform"
MIME_SELF_PRESENTING = "application/xslt+xml"


@dataclass
class CdaReport:
    header: CdaHeader
    findings: list[Finding]
    size: int
    sha1: bytes
    root: etree._Element = field(repr=False)  # the ClinicalDocument (embedded one of a self-presenting document)
    format_code: str | None = None
    self_presenting: bool = False
    volet: volets.VoletChoice | None = None  # None: no schematron pack given
    schematrons_run: tuple[str, ...] = ()  # the schematrons that did run, by file name

    @property
    def valid(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def sha1_base64(self) -> str:
        return base64.b64encode(self.sha1).decode()


def format_code(header: CdaHeader, volet_formats: dict[str, str]) -> str | None:
    """XDS formatCode: the XDS-SD PDF code for N1 (cisis-cda.md §1.7), else the volet's code
    (ConceptMap ASS_A11, keyed by the volet templateId)."""
    if header.level == "N1":
        return FORMAT_N1_PDF
    return next((volet_formats[t] for t in header.volet_templates if t in volet_formats), None)


def embedded_document(root: etree._Element) -> etree._Element | None:
    """The ClinicalDocument a self-presenting document (`xsl:stylesheet` or `xsl:transform` root)
    carries in one of its top-level data elements, as a document of its own; None if it has none."""
    if xmlsafe.namespace(root.tag) != XSLT or xmlsafe.local(root.tag) not in ("stylesheet", "transform"):
        return None
    for holder in root:
        if not isinstance(holder.tag, str) or xmlsafe.namespace(holder.tag) == XSLT:
            continue
        found = holder if holder.tag == f"{{{V3}}}ClinicalDocument" else holder.find(f".//{{{V3}}}ClinicalDocument")
        if found is not None:
            return copy.deepcopy(found)  # its own tree: absolute XPaths (/cda:ClinicalDocument) start at it
    return None


def inspect_cda(
    data: bytes,
    terminology: Terminology,
    reference_path: Path,
    *,
    max_bytes: int,
    volet_formats: dict[str, str] | None = None,
    for_dmp: bool = True,
    schematrons: Path | None = None,
    structuration_minimale: bool = False,
) -> CdaReport:
    """Parse and judge one document. Raises the parser's errors (malformed XML, DTD/entities,
    too large) — nothing else about a document can be judged without a tree. With `schematrons`
    (the CI-SIS pack's directory), the document is also checked against the volet schematron
    `volets.choose` picks; with `structuration_minimale`, one that has none is checked against the
    structuration minimale schematron, as the pack's own engine does by default (its Python
    transcription, `rules.py`, runs in any case)."""
    received = xmlsafe.parse(data, max_bytes=max_bytes)
    root = embedded_document(received)
    self_presenting = root is not None
    if root is None:
        root = received
    if xmlsafe.local(root.tag) != "ClinicalDocument" or xmlsafe.namespace(root.tag) != V3:
        return CdaReport(
            read_header(root),
            [Finding("cda-racine", "l'élément racine doit être {urn:hl7-org:v3}ClinicalDocument", "/", "CDA R2")],
            len(data),
            hashlib.sha1(data).digest(),
            root,
        )
    header = read_header(root)
    findings = _xsd(received if self_presenting else None, root, reference_path)
    findings += check_header(header, terminology, for_dmp=for_dmp)
    report = CdaReport(
        header,
        findings,
        len(data),
        hashlib.sha1(data).digest(),
        root,
        format_code(header, volet_formats or {}),
        self_presenting,
    )
    if schematrons is not None:
        _schematrons(report, schematrons, structuration_minimale)
    return report


def _xsd(envelope: etree._Element | None, root: etree._Element, reference_path: Path) -> list[Finding]:
    """The XSD on the document; a self-presenting one's stylesheet envelope too, as the pack's
    validator reads the file (its errors once, whichever of the two saw them)."""
    findings = schema.validate(root, reference_path)
    if envelope is not None:
        seen = {f.message for f in findings}
        findings += [f for f in schema.validate(envelope, reference_path) if f.message not in seen]
    return findings


def _schematrons(report: CdaReport, directory: Path, structuration_minimale: bool) -> None:
    choice = volets.choose(report.header, report.root, directory)
    report.volet = choice
    chosen = choice.schematron
    if chosen is None and structuration_minimale:
        chosen = volets.structuration_minimale(directory)
    if chosen is not None:
        report.findings += schematron.load(chosen).validate(etree.tostring(report.root, encoding="unicode"))
        report.schematrons_run = (chosen.name,)
