"""One CDA document read and judged: hardened parse, XSD, CI-SIS header rules, optional schematron.

This is what the DMP runs on every submitted document and what `maison cda inspect` prints. The
hash and size are those of the exact bytes received: registries compare them with the submitted
metadata (XDS `hash` is SHA-1; PDSm carries it base64-encoded in `attachment.hash`).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from maison.core.terminology import Terminology
from maison.formats import xmlsafe
from maison.formats.cda import schema, schematron
from maison.formats.cda.header import FORMAT_N1_PDF, CdaHeader, read_header
from maison.formats.cda.rules import Finding, check_header


@dataclass
class CdaReport:
    header: CdaHeader
    findings: list[Finding]
    size: int
    sha1: bytes
    root: etree._Element = field(repr=False)
    format_code: str | None = None

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


def inspect_cda(
    data: bytes,
    terminology: Terminology,
    reference_path: Path,
    *,
    max_bytes: int,
    volet_formats: dict[str, str] | None = None,
    for_dmp: bool = True,
    schematrons: Path | None = None,
) -> CdaReport:
    """Parse and judge one document. Raises the parser's errors (malformed XML, DTD/entities,
    too large) — nothing else about a document can be judged without a tree. With `schematrons`
    (the CI-SIS pack's directory), an N3 document is also checked against its volet schematron."""
    root = xmlsafe.parse(data, max_bytes=max_bytes)
    if xmlsafe.local(root.tag) != "ClinicalDocument" or xmlsafe.namespace(root.tag) != "urn:hl7-org:v3":
        header = read_header(root)
        return CdaReport(
            header,
            [Finding("cda-racine", "l'élément racine doit être {urn:hl7-org:v3}ClinicalDocument", "/", "CDA R2")],
            len(data),
            hashlib.sha1(data).digest(),
            root,
        )
    header = read_header(root)
    findings = schema.validate(root, reference_path) + check_header(header, terminology, for_dmp=for_dmp)
    volet = schematron.schematron_for(header, root, schematrons) if schematrons else None
    if volet is not None:
        findings += schematron.load(volet).validate(etree.tostring(root, encoding="unicode"))
    return CdaReport(
        header, findings, len(data), hashlib.sha1(data).digest(), root, format_code(header, volet_formats or {})
    )
