"""Which volet schematron of the CI-SIS pack judges a document, and which version of it.

The pack's own engine (`schematrons/moteur/compilverif.bat` of the ANS "testContenuCDA" kit) does not
choose: the operator names the volet schematron, and without one it checks the document with the
structuration minimale (`profils/structurationMinimale`, which the pack's ART-DECOR mapping
`ASIP-STRUCT-MIN-instance2schematron.xml` maps every `ClinicalDocument` to). Maison chooses for the
operator, from the pack itself, by three rules (issue 20 §2):

1. The index of which schematron checks which template is built from what the schematron's rules
   **test** — a rule whose context is the document (`cda:ClinicalDocument`, `*[cda:templateId/@root=…]`)
   and asserts or reports on its own `templateId` (`cda:templateId[@root='…' (and @extension='…')]`),
   or an absolute `cda:ClinicalDocument/cda:templateId[…]` — never from ids quoted in messages or
   comments (the BIO-CR-BIO 2024.01 header check of 1.2.250.1.213.1.1.1.55 is commented out: that
   schematron checks 1.3.6.1.4.1.19376.1.3.3, the IHE XD-LAB template, and nothing else).
2. The document's templates are taken **most specific first**: a template whose OID extends another
   declared one (1.2.250.1.213.1.1.1.5.3 under 1.2.250.1.213.1.1.1.5), then the ANS templates before
   the international profiles they specialise (IHE, HL7, DICOM), then the later declared (the CI-SIS
   declares from the generic to the specific). The first one the index knows picks the volet, among
   the schematrons that require no other ANS document template than the document declares (CS24's
   tests the generic certificate template too: it is not a CSE-MDE certificate's volet).
3. The **version** is the templateId's extension (or, when that template has none, the extension of
   a more specific one the document declares: the volet's own). A schematron that tests an explicit
   (root, extension) pair wins; else the one whose file name carries that version
   (`CI-SIS_<volet>_<version>.sch`). A template without extension, or with one that names no version
   of the pack (VSM's `201310`), takes the version **the pack maps it to**: the pack associates its
   example documents (`ExemplesCDA`) with the schematrons that check them (`<?oxygen SCHSchema?>`
   processing instructions, the same list `compilverif.bat` runs), so a template the examples declare
   maps to the volet schematron they name, or to none when they name only the profiles (the
   `01_Modèles_contenus_CDA.xml` catalogue: 1.2.250.1.213.1.1.1.13 without extension is checked with the
   structuration minimale only); templates the examples disagree on map to nothing. Else the only
   schematron accepting the template without extension; never the latest by default. When no rule
   gives one schematron, the document has none, and the choice says why (`reason`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lxml import etree

from maison.formats import xmlsafe
from maison.formats.cda import schematron
from maison.formats.cda.header import NS, TEMPLATE_CISIS, TEMPLATE_HL7_FRANCE, CdaHeader

ANS_TEMPLATES = "1.2.250.1.213."
_ANS_DOCUMENT = re.compile(r"^1\.2\.250\.1\.213\.1\.1\.1\.\d+(?:\.\d+)*$")
_Q = r"[\"']"
_ID = r"([0-9]+(?:\.[0-9]+)+)"
_STEP = r"(?<![\w:/.\-])(?:\./)?(?:[\w-]+:)?templateId"  # the context node's own templateId
_OWN_TEMPLATE = re.compile(
    rf"{_STEP}\s*(?:\[\s*@root\s*=\s*{_Q}{_ID}{_Q}(?:\s+and\s+@extension\s*=\s*{_Q}([^\"']+){_Q})?|/@root\s*=\s*{_Q}{_ID}{_Q})"
)
_ABSOLUTE = re.compile(
    rf"ClinicalDocument/(?:[\w-]+:)?templateId\s*(?:\[\s*@root\s*=\s*{_Q}{_ID}{_Q}"
    rf"(?:\s+and\s+@extension\s*=\s*{_Q}([^\"']+){_Q})?|/@root\s*=\s*{_Q}{_ID}{_Q})"
)
_DOCUMENT_CONTEXT = re.compile(r"^/?(?:(?:[\w-]+:)?ClinicalDocument|\*)(?:\[.*\])?$", re.S)
_ANY_TEMPLATE = re.compile(rf"templateId\s*(?:\[\s*@root\s*=\s*|/@root\s*=\s*){_Q}{_ID}{_Q}")
_VERSION = re.compile(r"_((?:\d+\.\d+_)?\d{4}\.\d{2})\.sch$")
MAPPINGS = "profils/**/*instance2schematron.xml"  # ART-DECOR "instance2schematron" mapping files
EXAMPLES = "../ExemplesCDA"  # beside the schematrons in the pack
_OXYGEN = re.compile(rb"<\?oxygen\s+SCHSchema=\"([^\"]+)\"")


@dataclass(frozen=True)
class VoletSchematron:
    path: Path
    version: str  # from the file name, CI-SIS_<volet>_<version>.sch
    templates: frozenset[tuple[str, str]]  # (root, extension) its rules test on the document; "" for any

    def volet_templates(self) -> set[str]:
        """The ANS document (volet) templates it tests, 1.2.250.1.213.1.1.1.x (sections are .1.1.2.x)."""
        return {root for root, _ in self.templates if _ANS_DOCUMENT.match(root)}

    def demands(self, root: str) -> set[str]:
        """The extensions this schematron requires of `root` (empty: it accepts the template without)."""
        return {ext for r, ext in self.templates if r == root and ext}


@dataclass(frozen=True)
class VoletChoice:
    schematron: Path | None
    templates: tuple[str, ...]  # the document's templates, most specific first (root, or root@extension)
    template: str = ""  # the one that chose it
    version: str = ""
    reason: str = ""  # how the version was decided, or why there is no volet schematron (French)


def tested_templates(sch: schematron.Schematron) -> frozenset[tuple[str, str]]:
    """The (root, extension) pairs a schematron's rules test on the document's own templateId."""
    found: set[tuple[str, str]] = set()

    def add(matches: list[tuple[str, ...]]) -> None:
        for root, ext, bare in matches:
            found.add((root or bare, ext))

    for rule in sch.rules:
        context = " ".join(rule.element.get("context", "").split())
        add(_ABSOLUTE.findall(context))
        document = bool(_DOCUMENT_CONTEXT.match(context))
        if document and context.lstrip("/").startswith("*"):
            found.update((root, "") for root in _ANY_TEMPLATE.findall(context))
        for check in rule.element.iter(schematron.SCH_ASSERT, schematron.SCH_REPORT):
            test = " ".join(check.get("test", "").split())
            add(_ABSOLUTE.findall(test))
            if document:
                add(_OWN_TEMPLATE.findall(test))
    return frozenset(found)


@lru_cache(maxsize=4)
def volet_index(directory: Path) -> dict[str, tuple[VoletSchematron, ...]]:
    """Template root → the volet schematrons (top-level `CI-SIS_*.sch`) whose rules test it."""
    index: dict[str, list[VoletSchematron]] = {}
    for path in sorted(directory.glob("CI-SIS_*.sch")):
        version = _VERSION.search(path.name)
        volet = VoletSchematron(path, version.group(1) if version else "", tested_templates(schematron.load(path)))
        for root in sorted({root for root, _ in volet.templates} - {TEMPLATE_CISIS, TEMPLATE_HL7_FRANCE}):
            index.setdefault(root, []).append(volet)
    return {root: tuple(volets) for root, volets in index.items()}


@lru_cache(maxsize=4)
def pack_mappings(directory: Path) -> dict[str, Path]:
    """What the pack's ART-DECOR mapping files map: a template root (`map/@templateRoot` without
    `@templateExt`, `template/@id`) or a root element (`map/@rootelement`, keyed `element:<name>`) to
    a schematron. In the CI-SIS pack: `ClinicalDocument` and 1.2.250.1.213.1.1.1.1 → the structuration
    minimale."""
    mapped: dict[str, Path] = {}
    for mapping in sorted(directory.glob(MAPPINGS)):
        for entry in etree.parse(str(mapping)).getroot().iter("map", "template"):
            target = mapping.parent / entry.get("sch", "")
            if not entry.get("sch") or not target.is_file():
                continue
            if entry.tag == "template" and entry.get("id"):
                mapped.setdefault(entry.get("id", ""), target)
            elif entry.get("templateRoot") and not entry.get("templateExt"):
                mapped.setdefault(entry.get("templateRoot", ""), target)
            elif entry.get("rootelement"):
                mapped.setdefault(f"element:{entry.get('rootelement')}", target)
    return mapped


@dataclass(frozen=True)
class PackMapping:
    schematron: Path | None  # None: the pack checks the template with its profiles only, no volet
    example: str


@lru_cache(maxsize=4)
def example_mappings(directory: Path) -> dict[tuple[str, str], PackMapping]:
    """(template root, extension) → the volet schematron the pack's structured examples declaring it
    name in their `<?oxygen SCHSchema?>` instructions (None when they name only the profiles); a
    template two examples map differently is left out."""
    found: dict[tuple[str, str], set[Path | None]] = {}
    where: dict[tuple[str, str], str] = {}
    for example in sorted((directory / EXAMPLES).glob("*.xml")):
        data = example.read_bytes()
        named = [Path(n.decode("utf-8", "replace")).name for n in _OXYGEN.findall(data[:16_384])]
        if not named:
            continue
        document = _clinical_document(xmlsafe.parse(data, max_bytes=len(data) + 1))
        if document is None or document.find("h:component/h:nonXMLBody", NS) is not None:
            continue  # an N1 has no volet schematron (SM:23-24): it maps no template
        volet = next((directory / n for n in named if n.startswith("CI-SIS_") and (directory / n).is_file()), None)
        for template in _declared(document):
            found.setdefault(template, set()).add(volet)
            where.setdefault(template, example.name)
    return {t: PackMapping(next(iter(v)), where[t]) for t, v in found.items() if len(v) == 1}


def _clinical_document(root: etree._Element) -> etree._Element | None:
    if root.tag == f"{{{NS['h']}}}ClinicalDocument":
        return root
    return next(root.iter(f"{{{NS['h']}}}ClinicalDocument"), None)  # a self-presenting example's


def structuration_minimale(directory: Path) -> Path | None:
    """The schematron the pack checks any ClinicalDocument with when no volet is named."""
    return pack_mappings(directory).get("element:ClinicalDocument")


def _declared(root: etree._Element) -> list[tuple[str, str]]:
    return [
        (str(t.get("root")), str(t.get("extension") or ""))
        for t in root.iterfind("h:templateId", NS)
        if t.get("root") and t.get("root") not in (TEMPLATE_HL7_FRANCE, TEMPLATE_CISIS)
    ]


def most_specific_first(templates: list[tuple[str, str]]) -> list[tuple[str, str]]:
    def key(item: tuple[int, tuple[str, str]]) -> tuple[int, bool, int]:
        position, (root, _) = item
        specialises = sum(1 for other, _ in templates if other != root and root.startswith(other + "."))
        return (-specialises, not root.startswith(ANS_TEMPLATES), -position)

    return [template for _, template in sorted(enumerate(templates), key=key)]


def _label(root: str, ext: str) -> str:
    return f"{root}@{ext}" if ext else root


def choose(header: CdaHeader, root: etree._Element, directory: Path) -> VoletChoice:
    """The volet schematron of a parsed ClinicalDocument, by the rules of the module docstring."""
    ordered = most_specific_first(_declared(root))
    labels = tuple(_label(r, e) for r, e in ordered)
    if header.level == "N1":
        return VoletChoice(None, labels, reason="document N1 (corps PDF) : pas de schématron de volet (SM:23-24)")
    declared = {r for r, _ in ordered}
    for position, (template, ext) in enumerate(ordered):
        candidates = tuple(c for c in volet_index(directory).get(template, ()) if not _foreign(c, declared))
        if candidates:
            hint = ext or next((e for _, e in ordered[:position] if e), "")
            example = _example_of(directory, [(template, ext), *ordered[:position]])
            return _version(labels, template, hint, candidates, example, pack_mappings(directory).get(template))
    listed = ", ".join(labels) or "aucun"
    return VoletChoice(None, labels, reason=f"aucun schématron de volet trouvé pour les templates {listed}")


def _foreign(volet: VoletSchematron, declared: set[str]) -> bool:
    """It requires an ANS document template the document neither declares nor specialises: another
    volet's (CS24's tests 1.2.250.1.213.1.1.1.5.3, which a CSE-MDE certificate does not declare)."""
    return any(
        t not in declared and not any(d.startswith(t + ".") for d in declared)
        for t in volet.volet_templates() - {TEMPLATE_CISIS}
    )


def _example_of(directory: Path, templates: list[tuple[str, str]]) -> PackMapping | None:
    """What the pack's examples map the first of these templates they know to."""
    mappings = example_mappings(directory)
    return next((mappings[t] for t in templates if t in mappings), None)


def _version(
    labels: tuple[str, ...],
    template: str,
    ext: str,
    candidates: tuple[VoletSchematron, ...],
    example: PackMapping | None,
    mapped: Path | None,
) -> VoletChoice:
    versions = ", ".join(sorted({c.version or c.path.name for c in candidates}))
    allowed: list[VoletSchematron] = []
    if ext:
        exact = [c for c in candidates if (template, ext) in c.templates]
        named = [c for c in candidates if ext in (c.version, c.version.rpartition("_")[2])]
        allowed = [c for c in exact or named if not c.demands(template) - {ext}]
        if len(allowed) == 1:
            how = "extension testée par le schématron" if exact else "version du nom du schématron"
            return VoletChoice(allowed[0].path, labels, template, ext, f"version {ext} ({how})")
    if example is not None and (example.schematron is None or any(c.path == example.schematron for c in candidates)):
        if example.schematron is None:
            return VoletChoice(
                None,
                labels,
                template,
                ext,
                f"aucun schématron de volet trouvé pour les templates {', '.join(labels)} : le paquet vérifie "
                f"{_label(template, ext)} avec ses profils seulement (exemple {example.example})",
            )
        version = next(c.version for c in candidates if c.path == example.schematron)
        return VoletChoice(
            example.schematron,
            labels,
            template,
            version,
            f"version que le paquet lui associe (exemple {example.example})",
        )
    accepting = [c for c in candidates if not c.demands(template)]
    if not ext and len(accepting) == 1:
        only = accepting[0]
        return VoletChoice(
            only.path, labels, template, only.version, "template sans extension : seule version du paquet"
        )
    if not ext and mapped is not None and any(c.path == mapped for c in candidates):
        return VoletChoice(
            mapped, labels, template, "", "template sans extension : version du fichier de correspondance"
        )
    if len(allowed) > 1:  # a generic template several volets test, none more specific declared
        names = ", ".join(c.path.name for c in allowed)
        why = f"{template} en version {ext} est testé par {len(allowed)} volets ({names})"
    elif ext:
        why = f"{template} en version {ext} absent du paquet (versions : {versions})"
    else:
        why = f"{template} sans extension, version non désignée (versions : {versions})"
    return VoletChoice(
        None, labels, template, ext, f"aucun schématron de volet trouvé pour les templates {', '.join(labels)} : {why}"
    )
