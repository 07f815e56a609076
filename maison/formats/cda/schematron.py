"""The CI-SIS volet schematrons, evaluated with saxonche's XPath 3.1.

The ANS schematrons bind XSLT 2 (`queryBinding="xslt2"`): lxml's ISO skeleton is XSLT 1 only and
no Schematron→XSLT compiler ships with the pack, so this module interprets them (DESIGN.md): it
resolves `<include>` recursively, instantiates abstract patterns (`is-a` with `$param`
substitution), folds `<let>` into each test as an XPath 3.1 `let … return` prefix (setting
parameters to empty sequences crashes SaxonC), rewrites XSLT's `document()` into `doc()`, and
applies the first matching rule of each pattern to each node, as ISO Schematron says.

Which volet schematron a document gets is decided by its volet templateId (and the version in its
extension), from the ids each schematron's own header rules name. N1 documents have no volet
schematron: their body is a PDF (SM:23-24). Only the `error` asserts count as failures; `warning`
and `info` ones are reported as warnings.
"""

from __future__ import annotations

import copy
import os
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from maison.formats.cda.header import CdaHeader
from maison.formats.cda.rules import Finding

SCH = "http://purl.oclc.org/dsdl/schematron"
_ANS_TEMPLATE = re.compile(r"1\.2\.250\.1\.213\.1\.1\.1\.\d+(?:\.\d+)*")
_VERSION = re.compile(r"_(\d{4}\.\d{2}|\d+\.\d+_\d{4}\.\d{2})\.sch$")
_lock = threading.Lock()  # one SaxonC processor per process, used by one thread at a time
_processor = None


def _saxon() -> Any:  # a saxonche PySaxonProcessor (saxonche has no type information)
    """The process's SaxonC processor, made once: starting one per document would cost more than the rules."""
    global _processor
    if _processor is None:
        from saxonche import PySaxonProcessor

        _processor = PySaxonProcessor(license=False)
    return _processor


def _q(tag: str) -> str:
    return f"{{{SCH}}}{tag}"


@dataclass
class _Rule:
    pattern: str
    element: etree._Element
    base: Path


@dataclass
class Schematron:
    path: Path
    namespaces: dict[str, str]
    lets: list[tuple[str, str]]
    rules: list[_Rule]
    abstract_rules: dict[str, etree._Element]
    missing: list[str]  # includes the pack names but does not ship: those rules cannot run

    @classmethod
    def load(cls, path: Path) -> Schematron:
        schema = cls(path, {}, [], [], {}, [])
        abstract_patterns: dict[str, etree._Element] = {}
        instances: list[tuple[etree._Element, Path]] = []

        def walk(element: etree._Element, base: Path, pattern: str | None) -> None:
            for child in element:
                if not isinstance(child.tag, str):
                    continue
                if child.tag == _q("include"):
                    target = (base / child.get("href", "")).resolve()
                    if not target.is_file():
                        schema.missing.append(child.get("href", ""))
                        continue
                    included = etree.parse(str(target)).getroot()
                    holder = etree.Element("holder")
                    holder.append(included)
                    walk(holder, target.parent, pattern)
                elif child.tag == _q("ns"):
                    schema.namespaces[child.get("prefix", "")] = child.get("uri", "")
                elif child.tag == _q("pattern"):
                    if child.get("abstract") == "true":
                        abstract_patterns[child.get("id", "")] = child
                    elif child.get("is-a"):
                        instances.append((child, base))
                    else:
                        walk(child, base, child.get("id") or f"p{id(child)}")
                elif child.tag == _q("let"):
                    schema.lets.append((child.get("name", ""), _xslt2(child.get("value", ""))))
                elif child.tag == _q("rule"):
                    if child.get("abstract") == "true":
                        schema.abstract_rules[child.get("id", "")] = child
                    else:
                        schema.rules.append(_Rule(pattern or "default", child, base))
                elif child.tag in (_q("phase"), _q("title"), _q("p"), _q("diagnostics")):
                    continue
                else:
                    walk(child, base, pattern)

        walk(etree.parse(str(path)).getroot(), path.parent, None)
        for instance, base in instances:
            abstract = abstract_patterns.get(instance.get("is-a", ""))
            if abstract is None:
                continue
            params = {p.get("name", ""): p.get("value", "") for p in instance.findall(_q("param"))}
            names = sorted(params, key=len, reverse=True)
            for rule in abstract.findall(_q("rule")):
                concrete = copy.deepcopy(rule)
                for node in concrete.iter():
                    for attribute in ("context", "test", "value", "select"):
                        value = node.get(attribute)
                        if value:
                            for name in names:
                                value = value.replace(f"${name}", params[name])
                            node.set(attribute, value)
                schema.rules.append(_Rule(instance.get("id") or f"p{id(instance)}", concrete, base))
        return schema

    def validate(self, document_text: str) -> list[Finding]:
        """Run the rules over a document given as text (serialised from the already parsed, hardened
        tree, so whatever encoding it declared has been dealt with)."""
        findings = [
            Finding(
                "schematron-incomplet",
                f"{self.path.name} inclut {href}, absent du paquet CI-SIS : ces règles ne sont pas évaluées",
                href,
                self.path.name,
                "warning",
            )
            for href in self.missing
        ]
        with _lock:
            processor = _saxon()
            xpath = processor.new_xpath_processor()
            xpath.set_cwd(str(self.path.parent) + os.sep)
            for prefix, uri in self.namespaces.items():
                xpath.declare_namespace(prefix, uri)
            try:
                document = processor.parse_xml(xml_text=document_text)
            except Exception as exc:  # noqa: BLE001 - reported as a finding, never a 500
                return findings + [
                    Finding("schematron-document", f"document illisible par Saxon : {exc}"[:300], "/", self.path.name)
                ]
            handled: dict[str, set[str]] = {}
            for rule in self.rules:
                context = rule.element.get("context", "")
                expression = context if context.startswith("/") else f"//({context})"
                xpath.set_context(xdm_item=document)
                try:
                    nodes = xpath.evaluate(_with_lets(self.lets, expression))
                except Exception as exc:  # noqa: BLE001 - a broken rule of the pack is reported, not fatal
                    findings.append(
                        Finding(
                            "schematron-regle",
                            f"contexte non évaluable : {exc}"[:300],
                            context,
                            _where(self.path, rule.element),
                            "warning",
                        )
                    )
                    continue
                seen = handled.setdefault(rule.pattern, set())
                for index in range(nodes.size if nodes is not None else 0):
                    node = nodes.item_at(index)
                    xpath.set_context(xdm_item=node)
                    node_path = xpath.evaluate_single("path(.)").string_value
                    if node_path in seen:
                        continue  # ISO Schematron: the first rule of a pattern that matches a node wins
                    seen.add(node_path)
                    self._assert(xpath, rule.element, node_path, list(self.lets), findings)
        return findings

    def _assert(
        self, xpath: Any, rule: etree._Element, node_path: str, lets: list[tuple[str, str]], findings: list[Finding]
    ) -> None:
        for child in rule:
            if not isinstance(child.tag, str):
                continue
            if child.tag == _q("let"):
                lets.append((child.get("name", ""), _xslt2(child.get("value", ""))))
            elif child.tag == _q("extends"):
                base = self.abstract_rules.get(child.get("rule", ""))
                if base is not None:
                    self._assert(xpath, base, node_path, lets, findings)
            elif child.tag in (_q("assert"), _q("report")):
                test = _xslt2(child.get("test", ""))
                try:
                    outcome = xpath.effective_boolean_value(_with_lets(lets, f"boolean(({test}))"))
                except Exception as exc:  # noqa: BLE001
                    findings.append(
                        Finding(
                            "schematron-regle",
                            f"test non évaluable : {exc}"[:300],
                            node_path,
                            _where(self.path, child),
                            "warning",
                        )
                    )
                    continue
                if outcome != (child.tag == _q("assert")):
                    message = " ".join("".join(child.itertext()).split())
                    role = (child.get("role") or child.get("flag") or "error").lower()
                    findings.append(
                        Finding(
                            "schematron",
                            message[:500],
                            node_path,
                            _where(self.path, child),
                            "error" if role in ("error", "fatal") else "warning",
                        )
                    )


def _xslt2(expression: str) -> str:
    return re.sub(r"\bdocument\(", "doc(", expression)


def _with_lets(lets: list[tuple[str, str]], expression: str) -> str:
    if not lets:
        return expression
    return "let " + ", ".join(f"${name} := ({value})" for name, value in lets) + f" return ({expression})"


def _where(path: Path, element: etree._Element) -> str:
    return f"{path.name}:{element.sourceline}"


@lru_cache(maxsize=64)
def load(path: Path) -> Schematron:
    return Schematron.load(path)


@lru_cache(maxsize=4)
def volet_index(directory: Path) -> dict[str, list[tuple[str, Path]]]:
    """ANS volet templateId → [(version, schematron)], from the ids each top-level schematron and its
    header (`Entete_*`) rules name."""
    index: dict[str, list[tuple[str, Path]]] = {}
    for path in sorted(directory.glob("CI-SIS_*.sch")):
        text = path.read_text(encoding="utf-8")
        named = set(re.findall(r"templateId/@root\s*=\s*[\"'](1\.2\.250\.1\.213\.1\.1\.1\.[\d.]+)[\"']", text))
        for href in re.findall(r'href="([^"]*Entete[^"]*)"', text):
            entete = directory / href
            if entete.is_file():
                named |= set(_ANS_TEMPLATE.findall(entete.read_text(encoding="utf-8")))
        version = _VERSION.search(path.name)
        for template in named - {"1.2.250.1.213.1.1.1.1"}:
            index.setdefault(template, []).append((version.group(1) if version else "", path))
    return index


def schematron_for(header: CdaHeader, root: etree._Element, directory: Path) -> Path | None:
    """The volet schematron of an N3 document: the one naming its volet templateId, of the version
    its templateId extension gives, else the latest."""
    if header.level != "N3":
        return None
    index = volet_index(directory)
    ns = {"h": "urn:hl7-org:v3"}
    for template in header.volet_templates:
        candidates = index.get(template)
        if not candidates:
            continue
        extensions = root.xpath(f"h:templateId[@root='{template}']/@extension", namespaces=ns)
        wanted = [p for v, p in candidates if extensions and v.endswith(str(extensions[0]))]
        return wanted[0] if wanted else max(candidates)[1]
    return None
