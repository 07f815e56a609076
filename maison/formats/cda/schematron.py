"""The CI-SIS volet schematrons, evaluated with saxonche's XPath 3.1.

The ANS schematrons bind XSLT 2 (`queryBinding="xslt2"`): lxml's ISO skeleton is XSLT 1 only and
no Schematron→XSLT compiler ships with the pack, so this module interprets them (DESIGN.md): it
resolves `<include>` recursively, instantiates abstract patterns (`is-a` with `$param`
substitution), folds `<let>` into each test as an XPath 3.1 `let … return` prefix (setting
parameters to empty sequences crashes SaxonC), rewrites XSLT's `document()` into `doc()`, and
applies the first matching rule of each pattern to each node, as ISO Schematron says.

As the pack's engine (its `moteur/compilverif.bat`: ISO `iso_dsdl_include`, `iso_abstract_expand`,
`iso_svrl_for_xslt2`, run by Saxon) does, only the patterns the schema's `defaultPhase` activates run,
and an assert's message is the SVRL text: its `<value-of select>` and `<name>` evaluated on the node
that failed. Each finding names the file and line of the assert, the included file when the rule
lives in one. Which volet schematron a document gets is `volets.py`'s choice. Only the `error` asserts
count as failures; `warning` and `info` ones are reported as warnings.
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

from maison.formats.cda.rules import Finding

SCH = "http://purl.oclc.org/dsdl/schematron"
SCH_ASSERT = f"{{{SCH}}}assert"
SCH_REPORT = f"{{{SCH}}}report"
_lock = threading.Lock()  # one SaxonC processor per process, used by one thread at a time
_processor = None


def _saxon() -> Any:  # a saxonche PySaxonProcessor (saxonche has no type information)
    """The process's SaxonC processor, made once: starting one per document would cost more than the rules."""
    global _processor
    if _processor is None:
        from saxonche import PySaxonProcessor

        _processor = PySaxonProcessor(license=False)
    return _processor


def shared_saxon() -> tuple[Any, threading.Lock]:
    """The process's SaxonC processor and the lock every user of it holds (the portals' CDA display,
    `maison.portail.cda_html`, runs the CI-SIS stylesheet on it): one processor, one thread at a time."""
    with _lock:
        return _saxon(), _lock


def _q(tag: str) -> str:
    return f"{{{SCH}}}{tag}"


@dataclass
class _Rule:
    pattern: str
    element: etree._Element
    source: Path  # the file the rule is written in (an included one, or the abstract pattern's)


@dataclass
class Schematron:
    path: Path
    namespaces: dict[str, str]
    lets: list[tuple[str, str]]
    rules: list[_Rule]
    abstract_rules: dict[str, tuple[etree._Element, Path]]
    missing: list[str]  # includes the pack names but does not ship: those rules cannot run
    phase: str = ""  # the defaultPhase whose active patterns run ("" when the schema has none: all run)

    @classmethod
    def load(cls, path: Path) -> Schematron:
        schema = cls(path, {}, [], [], {}, [])
        abstract_patterns: dict[str, tuple[etree._Element, Path]] = {}
        instances: list[etree._Element] = []
        phases: dict[str, set[str]] = {}

        def walk(element: etree._Element, source: Path, pattern: str | None) -> None:
            for child in element:
                if not isinstance(child.tag, str):
                    continue
                if child.tag == _q("include"):
                    target = (source.parent / child.get("href", "")).resolve()
                    if not target.is_file():
                        schema.missing.append(child.get("href", ""))
                        continue
                    included = etree.parse(str(target)).getroot()
                    holder = etree.Element("holder")
                    holder.append(included)
                    walk(holder, target, pattern)
                elif child.tag == _q("ns"):
                    schema.namespaces[child.get("prefix", "")] = child.get("uri", "")
                elif child.tag == _q("pattern"):
                    if child.get("abstract") == "true":
                        abstract_patterns[child.get("id", "")] = (child, source)
                    elif child.get("is-a"):
                        instances.append(child)
                    else:
                        walk(child, source, child.get("id") or f"p{id(child)}")
                elif child.tag == _q("let"):
                    schema.lets.append((child.get("name", ""), _xslt2(child.get("value", ""))))
                elif child.tag == _q("rule"):
                    if child.get("abstract") == "true":
                        schema.abstract_rules[child.get("id", "")] = (child, source)
                    else:
                        schema.rules.append(_Rule(pattern or "default", child, source))
                elif child.tag == _q("phase"):
                    phases[child.get("id", "")] = {a.get("pattern", "") for a in child.iter(_q("active"))}
                elif child.tag in (_q("title"), _q("p"), _q("diagnostics")):
                    continue
                else:
                    walk(child, source, pattern)

        root = etree.parse(str(path)).getroot()
        walk(root, path, None)
        for instance in instances:
            abstract, source = abstract_patterns.get(instance.get("is-a", ""), (None, path))
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
                schema.rules.append(_Rule(instance.get("id") or f"p{id(instance)}", concrete, source))
        schema.phase = root.get("defaultPhase", "")
        if schema.phase in phases:  # ISO Schematron §6.3: the default phase's active patterns only
            schema.rules = [rule for rule in schema.rules if rule.pattern in phases[schema.phase]]
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
            matched = self._matched(xpath, document)
            for rule, hits in zip(self.rules, matched, strict=True):
                if not hits:
                    continue
                context = rule.element.get("context", "")
                expression = _context(context)
                seen = handled.setdefault(rule.pattern, set())
                if self._batch(xpath, document, rule, expression, seen, findings):
                    continue
                xpath.set_context(xdm_item=document)
                try:
                    nodes = xpath.evaluate(_with_lets(self.lets, expression))
                except Exception as exc:  # noqa: BLE001 - a broken rule of the pack is reported, not fatal
                    findings.append(
                        Finding(
                            "schematron-regle",
                            f"contexte non évaluable : {exc}"[:300],
                            context,
                            self._where(rule.source, rule.element),
                            "warning",
                        )
                    )
                    continue
                for index in range(nodes.size if nodes is not None else 0):
                    node = nodes.item_at(index)
                    xpath.set_context(xdm_item=node)
                    node_path = xpath.evaluate_single("path(.)").string_value
                    if node_path in seen:
                        continue  # ISO Schematron: the first rule of a pattern that matches a node wins
                    seen.add(node_path)
                    self._assert(xpath, rule.element, rule.source, node_path, list(self.lets), findings)
        return findings

    def _matched(self, xpath: Any, document: Any) -> list[bool]:
        """Which rules have a node to judge, all contexts counted in one evaluation: most of the
        structuration minimale's datatype rules match nothing in a given document, and compiling
        their asserts for nothing was most of its cost. All True when a context cannot be evaluated
        (each rule then reports its own)."""
        counts = ", ".join(f"count({_context(rule.element.get('context', ''))})" for rule in self.rules)
        xpath.set_context(xdm_item=document)
        try:
            values = xpath.evaluate(_with_lets(self.lets, f"({counts})"))
        except Exception:  # noqa: BLE001
            return [True] * len(self.rules)
        if values is None or values.size != len(self.rules):
            return [True] * len(self.rules)
        return [values.item_at(i).string_value != "0" for i in range(values.size)]

    def _batch(
        self, xpath: Any, document: Any, rule: _Rule, expression: str, seen: set[str], findings: list[Finding]
    ) -> bool:
        """A rule's asserts over all its nodes in one XPath evaluation, `(path, test₁, test₂…)` per node:
        SaxonC compiles every expression it is given, and compiling one per node and assert made the
        structuration minimale (766 rules) take seconds a document. False when the rule cannot be run
        so (a test that fails to evaluate): the caller then runs it node by node, which reports the
        broken test precisely.

        Measured (issue 20, 2026-12-07): compiling a whole schematron into one XSLT 3.0 stylesheet, as
        the ISO skeleton does, gave the same findings on every example but took 15 s to compile the
        structuration minimale with SaxonC HE (its just-in-time compilation needs EE), for 0.2 s a
        document after; interpreted this way it is about 1 s a document with nothing to compile, and
        the volet schematrons (10-60 ms) gained nothing compiled."""
        lets: list[tuple[str, str]] = []
        checks: list[tuple[etree._Element, Path]] = []
        if not self._flatten(rule.element, rule.source, lets, checks):
            return False
        tests = ", ".join(f"boolean(({_xslt2(c.get('test', ''))}))" for c, _ in checks)
        row = _with_lets(lets, f"(path(.){', ' if tests else ''}{tests})")
        xpath.set_context(xdm_item=document)
        try:
            values = xpath.evaluate(_with_lets(self.lets, f"for $n in ({expression}) return $n ! ({row})"))
        except Exception:  # noqa: BLE001 - run node by node, where the failing test is reported
            return False
        items = [values.item_at(i).string_value for i in range(values.size)] if values is not None else []
        width = 1 + len(checks)
        for start in range(0, len(items), width):
            node_path = items[start]
            if node_path in seen:
                continue  # ISO Schematron: the first rule of a pattern that matches a node wins
            seen.add(node_path)
            for (check, source), outcome in zip(checks, items[start + 1 : start + width], strict=True):
                if (outcome == "true") != (check.tag == SCH_ASSERT):
                    xpath.set_context(xdm_item=document)
                    xpath.set_context(xdm_item=xpath.evaluate_single(node_path))
                    findings.append(self._failure(xpath, check, source, node_path, [*self.lets, *lets]))
        return True

    def _flatten(
        self,
        rule: etree._Element,
        source: Path,
        lets: list[tuple[str, str]],
        checks: list[tuple[etree._Element, Path]],
    ) -> bool:
        """A rule's lets and asserts in document order, an `extends`'s abstract rule's in its place."""
        for child in rule:
            if not isinstance(child.tag, str):
                continue
            if child.tag == _q("let"):
                lets.append((child.get("name", ""), _xslt2(child.get("value", ""))))
            elif child.tag in (SCH_ASSERT, SCH_REPORT):
                checks.append((child, source))
            elif child.tag == _q("extends") and child.get("rule", "") in self.abstract_rules:
                base, base_source = self.abstract_rules[child.get("rule", "")]
                if not self._flatten(base, base_source, lets, checks):
                    return False
            else:
                return False
        return True

    def _failure(
        self, xpath: Any, check: etree._Element, source: Path, node_path: str, lets: list[tuple[str, str]]
    ) -> Finding:
        role = (check.get("role") or check.get("flag") or "error").lower()
        return Finding(
            "schematron",
            _message(xpath, check, lets)[:500],
            node_path,
            self._where(source, check),
            "error" if role in ("error", "fatal") else "warning",
        )

    def _where(self, source: Path, element: etree._Element) -> str:
        """`file:line` of a rule or assert, the file relative to the top schematron's directory: the
        included file where the rule is written, not the schematron that includes it."""
        try:
            name = source.relative_to(self.path.parent).as_posix()
        except ValueError:
            name = source.name
        return f"{name}:{element.sourceline}"

    def _assert(
        self,
        xpath: Any,
        rule: etree._Element,
        source: Path,
        node_path: str,
        lets: list[tuple[str, str]],
        findings: list[Finding],
    ) -> None:
        for child in rule:
            if not isinstance(child.tag, str):
                continue
            if child.tag == _q("let"):
                lets.append((child.get("name", ""), _xslt2(child.get("value", ""))))
            elif child.tag == _q("extends"):
                base, base_source = self.abstract_rules.get(child.get("rule", ""), (None, source))
                if base is not None:
                    self._assert(xpath, base, base_source, node_path, lets, findings)
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
                            self._where(source, child),
                            "warning",
                        )
                    )
                    continue
                if outcome != (child.tag == SCH_ASSERT):
                    findings.append(self._failure(xpath, child, source, node_path, lets))


def _message(xpath: Any, assertion: etree._Element, lets: list[tuple[str, str]]) -> str:
    """An assert's or report's text as the SVRL `svrl:text` gives it: `<value-of select>` and `<name
    path>` evaluated on the node in context (ISO Schematron §5.4.14, §5.4.7), other inline elements
    (`emph`, `dir`, `span`) by their text. An expression that cannot be evaluated keeps its source."""
    parts = [assertion.text or ""]
    for child in assertion:
        if isinstance(child.tag, str):
            if child.tag == _q("value-of"):
                parts.append(
                    _evaluate(xpath, lets, f"string-join(({_xslt2(child.get('select', ''))}) ! string(), ' ')")
                )
            elif child.tag == _q("name"):
                parts.append(_evaluate(xpath, lets, f"name({child.get('path') or '.'})"))
            else:
                parts.append("".join(child.itertext()))
        parts.append(child.tail or "")
    return " ".join("".join(parts).split())


def _evaluate(xpath: Any, lets: list[tuple[str, str]], expression: str) -> str:
    try:
        item = xpath.evaluate_single(_with_lets(lets, expression))
    except Exception:  # noqa: BLE001 - a message part that cannot be computed is shown as written
        return f"{{{expression}}}"
    return item.string_value if item is not None else ""


def _context(context: str) -> str:
    """A rule context as an expression selecting its nodes (ISO Schematron: a pattern matched anywhere)."""
    return context if context.startswith("/") else f"//({context})"


def _xslt2(expression: str) -> str:
    return re.sub(r"\bdocument\(", "doc(", expression)


def _with_lets(lets: list[tuple[str, str]], expression: str) -> str:
    if not lets:
        return expression
    return "let " + ", ".join(f"${name} := ({value})" for name, value in lets) + f" return ({expression})"


@lru_cache(maxsize=96)
def load(path: Path) -> Schematron:
    """A schematron read once per process (includes resolved, abstract patterns instantiated, phase
    applied): the pack's 60-odd volets and the structuration minimale all fit."""
    return Schematron.load(path)
