"""The biology report (CI-SIS volet CR-BIO 2024.01, "Compte rendu d'examens de biologie médicale") as a CDA R2 N3.

The volet profiles IHE PaLM XD-LAB. What this module writes, as the official examples
(`ExemplesCDA/BIO-CR-BIO_2024.01_*.xml`) and `schematrons/CI-SIS_BIO-CR-BIO_2024.01.sch` want it:

    ClinicalDocument     IHE XD-LAB + CR-BIO 2024.01 templateIds, code 11502-2, title fixed
      structuredBody
        section          FR-CR-BIO-Chapitre, one per `Chapter`: a narrative table and one entry
          entry/act      FR-Resultats-examens-de-biologie-medicale (Laboratory Report Data Processing)
            procedure    FR-Prelevement: the `Specimen`
            observation  FR-Resultat-examens-de-biologie-element-clinique-pertinent: a `Result`
            organizer    FR-Batterie-examens-de-biologie-medicale: a `Battery` of results
        section          FR-Document-PDF-copie: the PDF handed to the patient (required by the volet)

The narrative is generated from the same objects as the entries, and every observation's code
points to its row (`originalText/reference`, which E_laboratoryObservation_fr.sch requires): what
a reader sees and what a machine reads cannot drift apart. Everything is checked before anything
is written: a non-LOINC code, a unit outside UCUM, an interpretation or a status the volet refuses
raises ValueError naming the rule. The code lists (UCUM table, ObservationInterpretation and
SpecimenType value sets) are read at run time from the configured CI-SIS pack.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

from lxml import etree

from maison.core.identifiers.checksums import luhn_check_digit
from maison.formats import ucum
from maison.formats.cda.build import (
    LOINC,
    XSI,
    DocumentHeader,
    Participant,
    Professional,
    Writer,
    ts,
    write_header,
)
from maison.formats.cda.header import Code
from maison.formats.pdf import document_pdf
from maison.formats.svs import read_value_set

# Document level (Entete_CR-BIO.sch; example BIO-CR-BIO_2024.01_Glycémie_mole.xml:36-38)
TEMPLATE_XD_LAB = "1.3.6.1.4.1.19376.1.3.3"  # IHE PaLM XD-LAB, required by Entete_CR-BIO.sch
TEMPLATE_CR_BIO = ("1.2.250.1.213.1.1.1.55", "2024.01")  # selects the 2024.01 volet schematron
TYPE = Code("11502-2", LOINC, "CR d'examens biologiques")  # fixed by Entete_CR-BIO.sch (code)
TITLE = "Compte rendu d'examens biologiques"  # fixed by Entete_CR-BIO.sch (title)
TEMPLATE_PERFORMER = "1.3.6.1.4.1.19376.1.3.3.1.7"  # FR-Laboratoire-executant (E_FR-Laboratoire-executant.sch)
TEMPLATE_PRESCRIBER = "1.3.6.1.4.1.19376.1.3.3.1.6"  # the ordering physician (example :239)
# Body (examples BIO-CR-BIO_2024.01_Microbiologie_V1.xml, _TSH_1.xml)
SECTION_CHAPTER = ("1.3.6.1.4.1.19376.1.3.3.2.1", "1.2.250.1.213.1.1.2.70")  # Laboratory Specialty, FR-CR-BIO-Chapitre
ENTRY_REPORT = ("1.3.6.1.4.1.19376.1.3.1", "1.2.250.1.213.1.1.3.21")  # FR-Resultats-examens-de-biologie-medicale
ENTRY_OBSERVATION = ("1.3.6.1.4.1.19376.1.3.1.6", "1.2.250.1.213.1.1.3.80")  # FR-Resultat-…-element-clinique-…
ENTRY_BATTERY = ("1.3.6.1.4.1.19376.1.3.1.4", "1.2.250.1.213.1.1.3.78")  # FR-Batterie-examens-de-biologie-medicale
ENTRY_SPECIMEN = ("1.3.6.1.4.1.19376.1.3.1.2", "1.2.250.1.213.1.1.3.77")  # FR-Prelevement
ENTRY_RECEIVED = ("1.3.6.1.4.1.19376.1.3.1.3", "1.2.250.1.213.1.1.3.107")  # FR-Echantillon-date-reception
SECTION_PDF = "1.2.250.1.213.1.1.2.243"  # FR-Document-PDF-copie, required (CI-SIS_BIO-CR-BIO_2024.01.sch:77-78)
ENTRY_ATTACHED = "1.2.250.1.213.1.1.3.18"  # FR-Document-attache (E_organizerDocumentAttache_ANS.sch)
ENTRY_ATTACHED_TYPE = ("1.3.6.1.4.1.19376.1.5.3.1.4.13", "1.2.250.1.213.1.1.3.48", "1.2.250.1.213.1.1.3.48.18")
SYS_INTERPRETATION = "2.16.840.1.113883.5.83"  # HL7 ObservationInterpretation
SYS_SPECIMEN_TYPE = "2.16.840.1.113883.18.311"  # HL7 v2 table 0487, as JDV_HL7_SpecimenType_CISIS lists it
# sic, 1.3.5 and not 1.3.6: the code system E_FR-Prelevement.sch demands for SPRECEIVE (as the examples write it)
SYS_IHE_ACT = "1.3.5.1.4.1.19376.1.5.3.2"
JDV_INTERPRETATION = Path("cisis/jeuxDeValeurs/JDV_HL7_ObservationInterpretation_CISIS.xml")
JDV_SPECIMEN_TYPE = Path("cisis/jeuxDeValeurs/JDV_HL7_SpecimenType_CISIS.xml")
RESULT_STATUSES = ("completed", "aborted")  # E_FR-Resultat-examens-de-biologie-element-clinique-pertinent.sch
GROUP_STATUSES = ("completed", "active", "aborted")  # E_FR-Batterie-… and E_FR-Resultats-examens-… .sch
_LOINC = re.compile(r"^(\d{1,7})-(\d)$")
_XSI_TYPE = f"{{{XSI}}}type"

Number = Decimal | int | str


@dataclass(frozen=True)
class Quantity:
    """A measured value (PQ). Kept as written (`"1.950"` keeps its three decimals)."""

    value: Number
    unit: str  # UCUM; "1" for a pure number, written without @unit (HL7's default unit)


@dataclass(frozen=True)
class ReferenceRange:
    """The normal range of a quantity (IVL_PQ): either bound may be open."""

    low: Number | None = None
    high: Number | None = None
    unit: str | None = None  # default: the result's unit


@dataclass(frozen=True)
class Result:
    """One laboratory observation: a LOINC-coded test with a quantity, a coded or a text value."""

    code: Code  # LOINC, with its display name (E_FR-Resultats-examens-de-biologie-medicale.sch)
    value: Quantity | Code | str | None  # None only for an aborted test
    time: datetime  # the biologically relevant time (effectiveTime), usually the collection
    reference_range: ReferenceRange | None = None
    interpretation: str | None = None  # JDV_HL7_ObservationInterpretation_CISIS: N, H, L, A, HH, LL…
    status: str = "completed"  # completed or aborted
    method: str = ""  # the technique, as the report prints it ("ECL Modular")
    label: str = ""  # the name printed in the report; default: the LOINC display name


@dataclass(frozen=True)
class Battery:
    """Results ordered and reported together (a LOINC panel: bilan lipidique, NFS…)."""

    code: Code  # LOINC
    results: Sequence[Result]
    status: str = "completed"
    label: str = ""


@dataclass(frozen=True)
class Specimen:
    id: tuple[str, str]  # (root, extension) of the sample; PaLM requires exactly one (E_specimenCollection_int.sch)
    type: Code  # JDV_HL7_SpecimenType_CISIS, e.g. Code("BLD", SYS_SPECIMEN_TYPE, "Sang total")
    collected: datetime
    received: datetime | None = None  # arrival at the laboratory


@dataclass(frozen=True)
class Chapter:
    """A chapter of the report (a laboratory specialty: Biochimie, Hématologie…), one CDA section."""

    code: Code  # LOINC specialty, e.g. 18719-5 Biochimie
    title: str
    items: Sequence[Result | Battery]
    specimen: Specimen | None = None
    status: str = "completed"  # active while results are still pending


@dataclass(frozen=True)
class _Vocabulary:
    units: frozenset[str]
    interpretations: dict[str, str]  # code → display
    specimen_types: dict[str, str]


@lru_cache(maxsize=4)
def _vocabulary(reference_path: Path) -> _Vocabulary:
    def codes(path: Path, system: str) -> dict[str, str]:
        return {c.code: c.display for c in read_value_set(reference_path / path).concepts if c.code_system == system}

    return _Vocabulary(
        ucum.cisis_units(reference_path),
        codes(JDV_INTERPRETATION, SYS_INTERPRETATION),
        codes(JDV_SPECIMEN_TYPE, SYS_SPECIMEN_TYPE),
    )


# ---------------------------------------------------------------------------------------------- checks


def check_loinc(code: Code, where: str) -> None:
    """A LOINC code with its display name and a right mod-10 check digit (LOINC Users' Guide: the
    Luhn algorithm). The volet wants LOINC codes for acts and observations, displayName included
    (E_FR-Resultats-examens-de-biologie-medicale.sch)."""
    if code.system != LOINC:
        raise ValueError(f"{where} : code {code.code}@{code.system or '?'} non LOINC ({LOINC} attendu)")
    match = _LOINC.match(code.code)
    if not match:
        raise ValueError(f"{where} : « {code.code} » n'est pas un code LOINC (chiffres-clé, ex. 2345-7)")
    if luhn_check_digit(match.group(1)) != match.group(2):
        raise ValueError(
            f"{where} : code LOINC {code.code} : clé de contrôle fausse "
            f"({match.group(1)}-{luhn_check_digit(match.group(1))} attendu)"
        )
    if not code.display:
        raise ValueError(f"{where} : code LOINC {code.code} sans displayName")


def _number(value: Number, where: str) -> str:
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{where} : « {value} » n'est pas un nombre") from None
    if not number.is_finite():
        raise ValueError(f"{where} : « {value} » n'est pas un nombre fini")
    return str(value).strip() if isinstance(value, str) else str(number)


def _unit(unit: str, where: str, vocabulary: _Vocabulary) -> None:
    if unit == "1":  # the pure number: written without @unit, nothing for terminologie.sch to check
        return
    try:
        ucum.check_unit(unit, vocabulary.units)
    except ValueError as exc:
        raise ValueError(f"{where} : {exc}") from None


def _check_result(r: Result, where: str, vocabulary: _Vocabulary) -> None:
    where = f"{where}, résultat {r.code.code}"
    check_loinc(r.code, where)
    if r.status not in RESULT_STATUSES:  # E_FR-Resultat-examens-de-biologie-element-clinique-pertinent.sch
        raise ValueError(f"{where} : statut « {r.status} » ({' ou '.join(RESULT_STATUSES)} attendu)")
    if r.value is None and r.status != "aborted":
        raise ValueError(f"{where} : valeur absente (seul un examen non réalisé, « aborted », n'en a pas)")
    if isinstance(r.value, Quantity):
        _number(r.value.value, where)
        _unit(r.value.unit, where, vocabulary)
    elif isinstance(r.value, Code) and not (r.value.code and r.value.system):
        raise ValueError(f"{where} : valeur codée sans code ou sans système de codes")
    if r.interpretation is not None and r.interpretation not in vocabulary.interpretations:
        raise ValueError(
            f"{where} : interprétation « {r.interpretation} » hors "
            "JDV_HL7_ObservationInterpretation_CISIS (JDV_HL7_ObservationInterpretation-CISIS.sch)"
        )
    rng = r.reference_range
    if rng is not None:
        if not isinstance(r.value, Quantity):
            raise ValueError(f"{where} : un intervalle de référence ne s'applique qu'à une valeur mesurée")
        if rng.low is None and rng.high is None:
            raise ValueError(f"{where} : intervalle de référence sans borne")
        _unit(rng.unit or r.value.unit, f"{where}, intervalle de référence", vocabulary)
        low = Decimal(_number(rng.low, where)) if rng.low is not None else None
        high = Decimal(_number(rng.high, where)) if rng.high is not None else None
        if low is not None and high is not None and low > high:
            raise ValueError(f"{where} : intervalle de référence inversé ({rng.low} > {rng.high})")


def _check(
    header: DocumentHeader, chapters: Sequence[Chapter], performer: Professional, vocabulary: _Vocabulary
) -> None:
    if (header.type.code, header.type.system) != (TYPE.code, TYPE.system):
        raise ValueError(f"un CR-BIO a le type LOINC {TYPE.code} (Entete_CR-BIO.sch), pas {header.type.code}")
    if not chapters:  # CI-SIS_BIO-CR-BIO_2024.01.sch, pattern variables: at least one chapter
        raise ValueError("un CR-BIO compte au moins un chapitre (CI-SIS_BIO-CR-BIO_2024.01.sch)")
    # Entete_CR-BIO.sch, rule documentationOf/serviceEvent/performer: the laboratory and its director, reachable
    missing = [
        label
        for label, value in (
            ("adresse du biologiste", performer.address),
            ("télécom du biologiste", performer.telecom),
            ("adresse du laboratoire", performer.structure_address),
            ("télécom du laboratoire", performer.structure_telecom),
        )
        if not value
    ]
    if missing:
        raise ValueError(
            f"laboratoire exécutant {performer.idnatps} : {', '.join(missing)} manquant(s) "
            "(Entete_CR-BIO.sch, performer)"
        )
    for n, chapter in enumerate(chapters, 1):
        where = f"chapitre {n} ({chapter.title})"
        check_loinc(chapter.code, where)
        if chapter.status not in GROUP_STATUSES:  # E_FR-Resultats-examens-de-biologie-medicale.sch
            raise ValueError(f"{where} : statut « {chapter.status} » ({', '.join(GROUP_STATUSES)} attendu)")
        if not chapter.items:  # the act needs one COMP entryRelationship (E_FR-Resultats-examens-…sch)
            raise ValueError(f"{where} : aucun résultat")
        kind = chapter.specimen.type if chapter.specimen else None
        if kind and (kind.system != SYS_SPECIMEN_TYPE or kind.code not in vocabulary.specimen_types):
            raise ValueError(
                f"{where} : nature d'échantillon {kind.code}@{kind.system} hors JDV_HL7_SpecimenType_CISIS"
            )
        for item in chapter.items:
            if isinstance(item, Battery):
                check_loinc(item.code, f"{where}, batterie")
                if item.status not in GROUP_STATUSES:  # E_FR-Batterie-examens-de-biologie-medicale.sch
                    raise ValueError(f"{where}, batterie {item.code.code} : statut « {item.status} »")
                if not item.results:
                    raise ValueError(f"{where}, batterie {item.code.code} : aucun résultat")
                for result in item.results:
                    _check_result(result, f"{where}, batterie {item.code.code}", vocabulary)
            else:
                _check_result(item, where, vocabulary)


# ---------------------------------------------------------------------------------------------- what is shown


@dataclass(frozen=True)
class _Row:
    """One printed line of a chapter: the same strings feed the CDA narrative and the PDF."""

    id: str  # the narrative ID the entry's originalText points to
    label: str
    value: str = ""
    unit: str = ""
    range: str = ""
    interpretation: str = ""
    method: str = ""
    method_id: str = ""
    battery: bool = False


def _shown(value: Quantity | Code | str | None) -> tuple[str, str]:
    if isinstance(value, Quantity):
        return str(value.value).strip(), "" if value.unit == "1" else value.unit
    if isinstance(value, Code):
        return value.display or value.code, ""
    return (value, "") if value is not None else ("non réalisé", "")


def _range(r: Result) -> str:
    rng = r.reference_range
    if rng is None:
        return ""
    unit = rng.unit or (r.value.unit if isinstance(r.value, Quantity) else "")
    suffix = f" {unit}" if unit and unit != "1" and unit != getattr(r.value, "unit", None) else ""
    if rng.low is not None and rng.high is not None:
        return f"{rng.low} - {rng.high}{suffix}"
    return f"min {rng.low}{suffix}" if rng.low is not None else f"max {rng.high}{suffix}"


def _rows(chapter: Chapter, number: int, vocabulary: _Vocabulary) -> list[_Row]:
    rows: list[_Row] = []

    def result_row(r: Result, key: str) -> _Row:
        value, unit = _shown(r.value)
        return _Row(
            f"res-{key}",
            r.label or r.code.display,
            value,
            unit,
            _range(r),
            vocabulary.interpretations.get(r.interpretation or "", ""),
            r.method,
            f"met-{key}" if r.method else "",
        )

    for i, item in enumerate(chapter.items, 1):
        if isinstance(item, Battery):
            rows.append(_Row(f"bat-{number}-{i}", item.label or item.code.display, battery=True))
            rows += [result_row(r, f"{number}-{i}-{j}") for j, r in enumerate(item.results, 1)]
        else:
            rows.append(result_row(item, f"{number}-{i}"))
    return rows


def _specimen_line(s: Specimen, vocabulary: _Vocabulary) -> str:
    kind = s.type.display or vocabulary.specimen_types.get(s.type.code, s.type.code)
    line = f"Prélèvement : {kind}, le {_day_time(s.collected)}"
    return line + (f" ; reçu au laboratoire le {_day_time(s.received)}" if s.received else "")


def _day_time(moment: datetime) -> str:
    local = ts(moment)
    return f"{local[6:8]}/{local[4:6]}/{local[0:4]} à {local[8:10]}:{local[10:12]}"


# ---------------------------------------------------------------------------------------------- the document


def crbio_pdf(header: DocumentHeader, chapters: Sequence[Chapter], *, reference_path: Path) -> bytes:
    """The printed report: the same rows as the N3's narrative. It is what the N3 embeds as its
    PDF copy and what the paired N1 carries, so the three renderings say the same thing."""
    vocabulary = _vocabulary(reference_path)
    p, a = header.patient, header.author
    sections = [
        ("Patient", [f"{p.birth_family} {p.birth_givens}, né(e) le {p.birth_date}, INS {p.ins}"]),
        ("Laboratoire", [f"{a.structure_name} - biologiste : {a.given} {a.family}"]),
    ]
    for n, chapter in enumerate(chapters, 1):
        lines = [_specimen_line(chapter.specimen, vocabulary)] if chapter.specimen else []
        for row in _rows(chapter, n, vocabulary):
            if row.battery:
                lines.append(row.label.upper())
                continue
            extras = [f"référence {row.range}" if row.range else "", row.interpretation, row.method]
            lines.append(f"{row.label} : {row.value} {row.unit}".rstrip() + "".join(f" ; {e}" for e in extras if e))
        sections.append((chapter.title, lines))
    return document_pdf(TITLE, sections, footer=f"Document {header.unique_id}, version {header.version}")


def crbio_n3(
    header: DocumentHeader,
    chapters: Sequence[Chapter],
    *,
    reference_path: Path,
    pdf: bytes | None = None,
    performer: Professional | None = None,
    validated: datetime | None = None,
    prescriber: Professional | None = None,
    prescribed: datetime | None = None,
    order: tuple[str, str] | None = None,
) -> bytes:
    """The CR-BIO 2024.01 N3 of `chapters`. The volet fixes the type's display and the title, and
    the first chapter is the main act (first documentationOf, example Glycémie_mole.xml:352), the
    other chapters one documentationOf each: what `header` holds there is replaced.

    `performer` is the executing laboratory's biologist (default: the author), `validated` when
    the results were validated (default: the end of the service, else the creation); `prescriber`,
    `prescribed` and `order` (root, extension) identify the prescription. `pdf` is the PDF copy
    the document embeds; by default `crbio_pdf` renders it. Raises ValueError on anything the volet
    refuses, before writing."""
    vocabulary = _vocabulary(reference_path)
    performer = performer or header.author
    _check(header, chapters, performer, vocabulary)
    if pdf is not None and not pdf.startswith(b"%PDF-"):
        raise ValueError("la copie du document (FR-Document-PDF-copie) est un PDF")
    events = list(dict.fromkeys(c.code for c in chapters))
    header = replace(header, type=TYPE, title=TITLE, service_event=events[0])
    w = Writer()
    write_header(
        w,
        header,
        (TEMPLATE_XD_LAB, TEMPLATE_CR_BIO),
        participants=[Participant("REF", prescriber, prescribed, TEMPLATE_PRESCRIBER)] if prescriber else (),
        orders=[order] if order else (),
        performer=performer,
        performer_template=TEMPLATE_PERFORMER,
        performed=validated or header.service_stop or header.created,
        other_events=events[1:],
        responsible=header.author,
    )  # Entete_CR-BIO.sch: encompassingEncounter/responsibleParty
    body = w.add(w.add(w.root, "component"), "structuredBody")
    for n, chapter in enumerate(chapters, 1):
        _chapter(w, w.add(w.add(body, "component"), "section"), chapter, n, vocabulary)
    _pdf_section(
        w,
        w.add(w.add(body, "component"), "section"),
        header,
        pdf if pdf is not None else crbio_pdf(header, chapters, reference_path=reference_path),
    )
    data: bytes = etree.tostring(w.root, xml_declaration=True, encoding="UTF-8")
    return data


def _templates(w: Writer, parent: etree._Element, roots: Sequence[str]) -> None:
    for root in roots:
        w.add(parent, "templateId", root=root)


def _coded(w: Writer, parent: etree._Element, tag: str, code: Code, reference: str) -> etree._Element:
    node = w.code(parent, tag, code)
    w.add(w.add(node, "originalText"), "reference", value=f"#{reference}")
    return node


def _chapter(w: Writer, section: etree._Element, chapter: Chapter, n: int, vocabulary: _Vocabulary) -> None:
    """A chapter with its text and exactly one entry (S_laboratorySpecialty.sch: text and one entry,
    or sub-sections; the one-level form is the Microbiologie example's)."""
    _templates(w, section, SECTION_CHAPTER)
    w.code(section, "code", chapter.code)
    w.add(section, "title", chapter.title)
    rows = _rows(chapter, n, vocabulary)
    _narrative(w, w.add(section, "text"), chapter, n, rows, vocabulary)
    entry = w.add(section, "entry", typeCode="DRIV")  # typeCode required (E_FR-Resultats-examens-…sch)
    _templates(w, entry, ENTRY_REPORT)
    act = w.add(entry, "act", classCode="ACT", moodCode="EVN")
    w.code(act, "code", chapter.code)
    w.add(act, "statusCode", code=chapter.status)
    if chapter.specimen:
        _specimen(w, w.add(act, "entryRelationship", typeCode="COMP"), chapter.specimen, n, vocabulary)
    shown = iter(rows)  # in the items' order: a battery's row, then its results'
    for item in chapter.items:
        holder = w.add(act, "entryRelationship", typeCode="COMP")
        if isinstance(item, Battery):
            organizer = w.add(holder, "organizer", classCode="BATTERY", moodCode="EVN")
            _templates(w, organizer, ENTRY_BATTERY)
            _coded(w, organizer, "code", item.code, next(shown).id)
            w.add(organizer, "statusCode", code=item.status)
            for result in item.results:
                _observation(w, w.add(organizer, "component"), result, next(shown), vocabulary)
        else:
            _observation(w, holder, item, next(shown), vocabulary)


def _narrative(
    w: Writer, text: etree._Element, chapter: Chapter, n: int, rows: list[_Row], vocabulary: _Vocabulary
) -> None:
    if chapter.specimen:
        w.add(text, "paragraph", _specimen_line(chapter.specimen, vocabulary), ID=f"spec-{n}")
    table = w.add(text, "table", border="1")
    head = w.add(w.add(table, "thead"), "tr")
    for title in ("Examen", "Résultat", "Unité", "Valeurs de référence", "Interprétation"):
        w.add(head, "th", title)
    tbody = w.add(table, "tbody")
    for row in rows:
        tr = w.add(tbody, "tr")
        if row.battery:
            w.add(w.add(tr, "td", colspan="5"), "content", row.label, ID=row.id, styleCode="Bold")
            continue
        cell = w.add(tr, "td")
        w.add(cell, "content", row.label, ID=row.id)
        if row.method:
            w.add(cell, "br")
            w.add(cell, "content", f"({row.method})", ID=row.method_id, styleCode="Italics")
        for value in (row.value, row.unit, row.range, row.interpretation):
            w.add(tr, "td", value)


def _observation(w: Writer, holder: etree._Element, r: Result, row: _Row, vocabulary: _Vocabulary) -> None:
    obs = w.add(holder, "observation", classCode="OBS", moodCode="EVN")
    _templates(w, obs, ENTRY_OBSERVATION)
    _coded(w, obs, "code", r.code, row.id)  # originalText/reference 1..1: E_laboratoryObservation_fr.sch
    w.add(obs, "statusCode", code=r.status)
    w.add(obs, "effectiveTime", value=ts(r.time))
    value = r.value
    if isinstance(value, Quantity):
        unit = {} if value.unit == "1" else {"unit": value.unit}
        w.add(obs, "value", **{_XSI_TYPE: "PQ"}, value=_number(value.value, r.code.code), **unit)
    elif isinstance(value, Code):
        w.code(obs, "value", value).set(_XSI_TYPE, "CD")
    elif value is not None:
        w.add(obs, "value", value, **{_XSI_TYPE: "ST"})
    if r.interpretation:  # in JDV_HL7_ObservationInterpretation_CISIS (checked, and by the volet schematron)
        w.code(
            obs,
            "interpretationCode",
            Code(r.interpretation, SYS_INTERPRETATION, vocabulary.interpretations[r.interpretation]),
        )
    if r.method:
        w.add(w.add(w.add(obs, "methodCode"), "originalText"), "reference", value=f"#{row.method_id}")
    rng = r.reference_range
    if rng is not None and isinstance(value, Quantity):
        range_unit = rng.unit or value.unit
        attrs = {} if range_unit == "1" else {"unit": range_unit}
        observation_range = w.add(
            w.add(obs, "referenceRange", typeCode="REFV"), "observationRange", classCode="OBS", moodCode="EVN.CRT"
        )
        interval = w.add(observation_range, "value", **{_XSI_TYPE: "IVL_PQ"})
        if rng.low is not None:
            w.add(interval, "low", value=_number(rng.low, r.code.code), **attrs)
        if rng.high is not None:
            w.add(interval, "high", value=_number(rng.high, r.code.code), **attrs)
        # a normal range is interpreted N, as in every CI-SIS example
        w.code(observation_range, "interpretationCode", Code("N", SYS_INTERPRETATION, vocabulary.interpretations["N"]))


def _specimen(w: Writer, holder: etree._Element, s: Specimen, n: int, vocabulary: _Vocabulary) -> None:
    procedure = w.add(holder, "procedure", classCode="PROC", moodCode="EVN")
    _templates(w, procedure, ENTRY_SPECIMEN)
    w.add(procedure, "effectiveTime", value=ts(s.collected))  # required (E_specimenCollection_int.sch)
    # E_FR-Prelevement.sch: a participant PRD whose participantRole is a SPEC; PaLM: exactly one id
    role = w.add(w.add(procedure, "participant", typeCode="PRD"), "participantRole", classCode="SPEC")
    w.add(role, "id", root=s.id[0], extension=s.id[1])
    kind = replace(s.type, display=s.type.display or vocabulary.specimen_types[s.type.code])
    _coded(w, w.add(role, "playingEntity"), "code", kind, f"spec-{n}")
    if s.received:  # E_FR-Prelevement.sch: the reception act carries its time, SPRECEIVE in "1.3.5…"
        act = w.add(w.add(procedure, "entryRelationship", typeCode="COMP"), "act", classCode="ACT", moodCode="EVN")
        _templates(w, act, ENTRY_RECEIVED)
        w.code(act, "code", Code("SPRECEIVE", SYS_IHE_ACT, "Échantillon reçu"))
        w.add(act, "effectiveTime", value=ts(s.received))


def _pdf_section(w: Writer, section: etree._Element, header: DocumentHeader, pdf: bytes) -> None:
    """The CR-BIO's copy section; its ids are name-based UUIDs of the document id, so that the same
    document is written the same way twice."""
    pdf_copy_section(
        w,
        section,
        pdf,
        "Copie PDF du compte rendu",
        lambda name: str(uuid.uuid5(uuid.NAMESPACE_OID, f"{header.unique_id}/{name}")).upper(),
    )


def pdf_copy_section(w: Writer, section: etree._Element, pdf: bytes, label: str, uid: Callable[[str], str]) -> None:
    """FR-Document-PDF-copie as S_documentPDFCopie_ANS.sch, E_organizerDocumentAttache_ANS.sch and
    E_typeDocumentAttache_ANS.sch want it, for any N3 volet that carries the PDF beside its entries;
    `uid(name)` gives each element's stable id."""
    w.add(section, "templateId", root=SECTION_PDF)
    w.add(section, "id", root=uid("pdf-section"))
    w.code(section, "code", Code("55108-5", LOINC, "Copie du document"))
    w.add(section, "title", "Copie du document")
    text = w.add(section, "text")
    w.add(text, "paragraph", label, ID="pdf-copie-type")
    cell = w.add(w.add(w.add(w.add(text, "table"), "tbody"), "tr"), "td")
    w.add(cell, "renderMultiMedia", referencedObject="pdf-copie")
    organizer = w.add(w.add(section, "entry"), "organizer", classCode="CLUSTER", moodCode="EVN")
    w.add(organizer, "templateId", root=ENTRY_ATTACHED)
    w.add(organizer, "id", root=uid("pdf-organizer"))
    w.code(organizer, "code", Code("55107-7", LOINC, "Document attaché"))
    w.add(organizer, "statusCode", code="completed")
    kind = w.add(w.add(organizer, "component"), "observation", classCode="OBS", moodCode="EVN")
    _templates(w, kind, ENTRY_ATTACHED_TYPE)
    w.add(kind, "id", root=uid("pdf-type"))
    w.code(kind, "code", Code("69764-9", LOINC, "Type de document"))
    w.add(w.add(kind, "text"), "reference", value="#pdf-copie-type")
    w.add(kind, "statusCode", code="completed")
    w.add(kind, "effectiveTime", nullFlavor="NA")
    w.code(kind, "value", Code("55108-5", LOINC, "Copie du document")).set(_XSI_TYPE, "CD")
    media = w.add(w.add(organizer, "component"), "observationMedia", classCode="OBS", moodCode="EVN", ID="pdf-copie")
    w.add(media, "value", base64.b64encode(pdf).decode(), mediaType="application/pdf", representation="B64")
