"""The paper copy of an ordonnance numérique: the PDF the patient is handed, and reading it back.

Seed 001 L363-418 draws it: a prescriber zone (name, address, specialty, N° RPPS, N° AM), a
patient zone (name, date of birth, weight), the date ("Le 03 septembre 2020"), the lines, the
prescriber's signature, and what makes it recognisable as an ordonnance numérique (L397-401):
a QR code at the bottom left, "e-prescription" and the prescription number beside it
(L405-406), and the two mentions légales (L408-409, verbatim below; L417: OUI or NON is the
patient's consent to the prescriber seeing the execution).

The QR code's content. The CNAM's cahier des charges that defines the payload of the real QR code
is not among the seeds; what the pharmacist needs from it is the number, to fetch the
prescription from the base. So Maison's QR code carries exactly the 18-character number, upper
case, in QR alphanumeric mode (a version 1 symbol, 21 × 21 modules, error correction M).

Layout choices the seed leaves open, and why:
- The QR code, "e-prescription", the number and the mentions légales are printed at the foot of
  EVERY page, not only the last: a page separated from the others still says what it is and
  still scans to its prescription; a pharmacist scans whichever page is on top.
- A line is never split across two pages unless it is longer than a page by itself, so that a
  renewal or "non substituable" never sits away from its product. Pages after the first repeat
  a one-line header (prescriber, patient, date) and show "Page i/n".
- The signature zone follows the last line, on the last page.

The prescription printed is the one the base answered (prescription.py reads its FHIR Bundle), so
the paper carries the number and the lines on record.

Performance (the base creates ≥ 200 prescriptions/s with their PDF on 2 cores): the layout is
computed from the core fonts' width tables and drawn with fpdf2's `text()`, the cheapest call it
has, instead of `multi_cell` (which reshapes and re-measures every fragment); the wrapped mentions
légales are computed once per OUI/NON; the QR code is one PDF path built from zxing-cpp's module
matrix (see maison.formats.qr). About 1.1 ms of CPU for a 3-line prescription (timeit, one
core). Content streams stay compressed: zlib costs ~0.1 ms (10 %) and shrinks that PDF from
4.1 to 2.4 KB, which the blob store and the DMP copy (base64 in a CDA) keep for years.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date

from fpdf import FPDF
from fpdf.fonts import CORE_FONTS_CHARWIDTHS

from maison.core.errors import InvalidInput
from maison.etablissement.ordonnance.prescription import Line, Prescription
from maison.formats import qr
from maison.formats.ordonnance import parse_number
from maison.formats.pdf import printable

# seed 001 L408-409, verbatim; {consent} is OUI or NON (L417)
MENTION_CONSENT = (
    "Le patient ou le ou les titulaire(s) de l'autorité parentale a (ont) accepté que je puisse "
    "consulter ce qui a été délivré ou exécuté sur la présente prescription : {consent}."
)
MENTION_DONNEES = (
    "Les données de la prescription sont transmises électroniquement à l'Assurance maladie qui "
    "traite vos données dans le cadre de ses missions. Pour en savoir plus sur la gestion de vos "
    "données personnelles et pour exercer vos droits, reportez-vous à https://www.ameli.fr."
)
E_PRESCRIPTION = "e-prescription"  # seed 001 L405

MOIS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)

# --- the page, in mm (A4) ----------------------------------------------------------------------
PAGE_W, PAGE_H = 210.0, 297.0
MARGIN = 15.0
BOTTOM = 10.0
TEXT_W = PAGE_W - 2 * MARGIN
QR_MODULE = 0.8  # 21 modules: a 16.8 mm symbol, read by any counter scanner or phone
QR_QUIET = 4  # modules of white around the symbol (ISO/IEC 18004 §6.3.8)
FOOT_X = MARGIN + 21 * QR_MODULE + 5  # the column beside the QR code
FOOT_W = PAGE_W - MARGIN - FOOT_X
MENTION_SIZE = 6.5
MENTION_LEAD = 2.9
FOOT_TOP = PAGE_H - BOTTOM - 2 * 4.2 - 4 * MENTION_LEAD - 1  # e-prescription, N°, up to 4 lines of mentions
BODY_BOTTOM = FOOT_TOP - 5
SIGNATURE_W, SIGNATURE_H = 70.0, 28.0
LINE_GAP = 3.0
INDENT = 7.0
MAX_ADDRESS_LINES = 6

_WIDTHS = {"": CORE_FONTS_CHARWIDTHS["helvetica"], "B": CORE_FONTS_CHARWIDTHS["helveticaB"]}
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class PaperPrescriber:
    """The prescriber zone (001 L379-384), as the prescriber wants it printed."""

    name: str  # "Dr ADEMIS Pierre"
    address_lines: tuple[str, ...]
    specialty: str
    rpps: str
    am_number: str  # N° AM: the Assurance maladie's number of the practice


@dataclass(frozen=True, slots=True)
class PaperPatient:
    """The patient zone (001 L386-388). The base holds no patient identity (000 L3697): these come
    from the prescriber's software, for the paper only."""

    family: str
    given: str
    birth_date: date
    weight_kg: float | None = None


def qr_payload(number: str) -> str:
    """What the QR code carries: the prescription number itself (see the module docstring)."""
    return parse_number(number)


def date_fr(day: date) -> str:
    """ "Le 03 septembre 2020" (001 L390: day on two digits)."""
    return f"Le {day.day:02d} {MOIS[day.month - 1]} {day.year}"


# --- text layout on the core fonts' metrics ----------------------------------------------------


def _clean(text: str) -> str:
    """What can be drawn: latin-1 (pdf.printable), no control characters but the line feed, which
    separates the paragraphs of a posology (001 L393-395)."""
    return _CONTROL.sub(" ", printable(text.replace("\r\n", "\n").replace("\r", "\n")))


def _width(text: str, style: str, size: float) -> float:
    """Width in mm of `text` (already `_clean`: every character is in the width table)."""
    return sum(map(_WIDTHS[style].__getitem__, text)) * size / 1000 * 25.4 / 72


def _wrap(text: str, style: str, size: float, width: float) -> list[str]:
    """Greedy word wrap of one paragraph (`_clean` text) to `width` mm; a word wider than a line is
    cut. A no-break space (U+00A0) binds its neighbours and prints as a space."""
    width_of = _WIDTHS[style].__getitem__
    limit = width * 1000 * 72 / 25.4 / size  # in thousandths of the font size
    space = width_of(" ")
    lines: list[str] = []
    current: list[str] = []
    used = 0.0
    for word in _SPACES.split(text):
        if not word:
            continue
        w = sum(map(width_of, word))
        while w > limit:  # a very long word (a URL, garbage): cut it where the line is full
            room, cut, acc = limit - (used + space if current else 0), 0, 0.0
            while cut < len(word) and acc + width_of(word[cut]) <= room:
                acc += width_of(word[cut])
                cut += 1
            if not cut and not current:
                cut = 1  # a line narrower than one character: one a line, never an endless loop
            if cut:
                current.append(word[:cut])
                word = word[cut:]
                w = sum(map(width_of, word))
            lines.append(" ".join(current))
            current, used = [], 0.0
        if not word:
            continue
        if current and used + space + w > limit:
            lines.append(" ".join(current))
            current, used = [], 0.0
        if current:
            used += space
        current.append(word)
        used += w
    if current:
        lines.append(" ".join(current))
    return [line.replace("\xa0", " ") for line in lines]


_SPACES = re.compile(r"[ \t\n\r\f\v]+")  # str.split() would also split at U+00A0


@dataclass(frozen=True, slots=True)
class _Row:
    """One printed line of text: `lead` is the advance from the previous baseline."""

    style: str
    size: float
    x: float
    text: str
    lead: float


def _rows(style: str, size: float, x: float, text: str, lead: float) -> list[_Row]:
    out = []
    for paragraph in _clean(text).split("\n"):
        for piece in _wrap(paragraph, style, size, TEXT_W - x) or [""]:
            out.append(_Row(style, size, x, piece, lead))
    return out


def _number(value: float) -> str:
    """30.0 → "30", 2.5 → "2,5" (French decimal comma)."""
    return f"{value:g}".replace(".", ",")


def _unit(unit: str) -> str:
    """UCUM as a reader reads it: an annotation "{boîte}" prints "boîte"."""
    return unit[1:-1] if unit.startswith("{") and unit.endswith("}") else unit


def _line_rows(line: Line) -> list[_Row]:
    """One prescription line: number and label, instructions, then quantity, renewals, substitution."""
    rows = _rows("B", 10, 0, f"{line.number}. {line.label.strip() or 'Acte'}", 4.6)
    # the number hangs: continuation lines of the label start under the label's first letter
    rows = rows[:1] + [_Row(r.style, r.size, INDENT, r.text, r.lead) for r in rows[1:]]
    if line.instructions.strip():
        rows += _rows("", 10, INDENT, line.instructions.strip(), 4.4)
    details = []
    if line.quantity is not None:
        details.append(f"Quantité : {_number(line.quantity)} {_unit(line.unit)}".rstrip())
    if line.renewals:
        details.append(f"à renouveler {line.renewals} fois")
    if not line.substitutable:
        details.append("non substituable")
    if details:
        rows += _rows("B", 9, INDENT, " - ".join(details), 4.2)
    return rows


@functools.lru_cache(maxsize=2)
def _mentions(consent: bool) -> tuple[str, ...]:
    """The mentions légales, wrapped once per OUI/NON for the whole process (immutable)."""
    # French typography's no-break spaces around the colon keep "OUI." with its sentence
    first = _clean(MENTION_CONSENT.format(consent="OUI" if consent else "NON")).replace(" : ", "\xa0:\xa0")
    return tuple(_wrap(first, "", MENTION_SIZE, FOOT_W) + _wrap(_clean(MENTION_DONNEES), "", MENTION_SIZE, FOOT_W))


# --- pagination ---------------------------------------------------------------------------------


def _paginate(
    blocks: list[list[_Row]], first_top: float, next_top: float
) -> tuple[list[list[tuple[float, _Row]]], float]:
    """Baselines for every row, page by page; and where the signature zone starts on the last page."""
    pages: list[list[tuple[float, _Row]]] = [[]]
    top = first_top
    y = top
    for block in blocks:
        height = sum(r.lead for r in block)
        if y + height > BODY_BOTTOM and y > top:  # does not fit here, but a fresh page may hold it
            pages.append([])
            top = y = next_top
        for row in block:
            if y + row.lead > BODY_BOTTOM:  # longer than a page by itself: split it
                pages.append([])
                top = y = next_top
            y += row.lead
            pages[-1].append((y, row))
        y += LINE_GAP
    if y + SIGNATURE_H > BODY_BOTTOM:
        pages.append([])
        y = next_top
    return pages, y


# --- the document -------------------------------------------------------------------------------


def ordonnance_pdf(prescription: Prescription, prescriber: PaperPrescriber, patient: PaperPatient) -> bytes:
    """The paper ordonnance (seed 001 L363-418) as a PDF: A4, as many pages as the lines need.

    ~1.1 ms of CPU for 3 lines (timeit, one core). Every call builds its own FPDF: nothing
    mutable is shared between threads; what is shared (font width tables, the wrapped mentions)
    is read-only."""
    number = qr_payload(prescription.number)
    if patient.weight_kg is not None and not 0 < patient.weight_kg < 1000:
        raise InvalidInput(f"poids du patient {patient.weight_kg} kg", code="patient-poids")
    if len(prescriber.address_lines) > MAX_ADDRESS_LINES:
        raise InvalidInput(
            f"adresse du prescripteur sur {len(prescriber.address_lines)} lignes (au plus {MAX_ADDRESS_LINES})",
            code="prescripteur-adresse",
        )
    when = _clean(date_fr(prescription.prescribed_on))
    patient_name = f"{patient.given.strip()} {patient.family.strip().upper()}".strip()
    blocks = [_line_rows(line) for line in prescription.lines]
    pages, signature_y = _paginate(blocks, _date_baseline(prescriber) + 4.5, MARGIN + 8)
    matrix = qr.modules(number)
    mentions = _mentions(prescription.consent)

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_creator("Maison")
    pdf.set_title(f"Ordonnance N°{number}")
    pdf.set_creation_date(prescription.created_at)  # the same prescription gives the same bytes
    text = pdf.text
    total = len(pages)
    for index, rows in enumerate(pages):
        pdf.add_page()
        if index == 0:
            _first_header(pdf, prescriber, patient, patient_name, when)
        else:
            pdf.set_font("Helvetica", "", 9)
            text(MARGIN, MARGIN + 4, _fit(f"{prescriber.name} - {patient_name} - {when} (suite)", "", 9, TEXT_W))
            pdf.line(MARGIN, MARGIN + 6, PAGE_W - MARGIN, MARGIN + 6)
        style = size = None
        for y, row in rows:
            if (row.style, row.size) != (style, size):
                style, size = row.style, row.size
                pdf.set_font("Helvetica", style, size)
            text(MARGIN + row.x, y, row.text)
        if index == total - 1:
            _signature(pdf, signature_y)
        _foot(pdf, matrix, number, mentions, index, total)
    return bytes(pdf.output())


def _date_baseline(prescriber: PaperPrescriber) -> float:
    """The date's baseline on page 1: under the taller of the prescriber and patient zones."""
    return MARGIN + 4 + 4.2 * max(len(prescriber.address_lines) + 3, 2) + 8


def _fit(text: str, style: str, size: float, width: float) -> str:
    """`text` cut to what fits on one line of `width` mm (a header zone does not wrap)."""
    lines = _wrap(_clean(text), style, size, width)
    return lines[0] if lines else ""


def _first_header(pdf: FPDF, prescriber: PaperPrescriber, patient: PaperPatient, patient_name: str, when: str) -> None:
    """The prescriber zone at the left, the patient zone at the right, the date under them."""
    text = pdf.text
    column = PAGE_W / 2 - MARGIN
    y = MARGIN + 4
    pdf.set_font("Helvetica", "B", 11)
    text(MARGIN, y, _fit(prescriber.name, "B", 11, column))
    pdf.set_font("Helvetica", "", 9)
    for entry in (
        *prescriber.address_lines,
        prescriber.specialty,
        f"N° RPPS : {prescriber.rpps}",
        f"N°AM : {prescriber.am_number}",
    ):  # the seed's spelling, 001 L383-384
        y += 4.2
        text(MARGIN, y, _fit(entry, "", 9, column))
    x = PAGE_W / 2 + 15
    y = MARGIN + 4
    pdf.set_font("Helvetica", "B", 11)
    text(x, y, _fit(patient_name, "B", 11, PAGE_W - MARGIN - x))
    pdf.set_font("Helvetica", "", 9)
    b = patient.birth_date
    y += 4.2
    text(x, y, f"{b.day:02d}/{b.month:02d}/{b.year:04d}")
    if patient.weight_kg is not None:
        y += 4.2
        text(x, y, f"{_number(round(patient.weight_kg, 1))} kg")
    y = _date_baseline(prescriber)
    pdf.set_font("Helvetica", "", 10)
    text(PAGE_W - MARGIN - _width(when, "", 10), y, when)
    pdf.line(MARGIN, y + 2.5, PAGE_W - MARGIN, y + 2.5)


def _signature(pdf: FPDF, y: float) -> None:
    x = PAGE_W - MARGIN - SIGNATURE_W
    pdf.rect(x, y + 2, SIGNATURE_W, SIGNATURE_H - 4)
    pdf.set_font("Helvetica", "", 7)
    pdf.text(x + 2, y + 5.5, "Signature du prescripteur")


def _foot(pdf: FPDF, matrix: tuple[bytes, ...], number: str, mentions: tuple[str, ...], index: int, total: int) -> None:
    """QR code bottom left; beside it "e-prescription", the number, the mentions légales (001 L397-409)."""
    side = len(matrix) * QR_MODULE
    qr.draw_qr(pdf, matrix, MARGIN, PAGE_H - BOTTOM - side, QR_MODULE)
    text = pdf.text
    y = FOOT_TOP + 3.5
    pdf.set_font("Helvetica", "B", 9)
    text(FOOT_X, y, E_PRESCRIPTION)
    if total > 1:
        page = f"Page {index + 1}/{total}"
        pdf.set_font("Helvetica", "", 8)
        text(PAGE_W - MARGIN - _width(page, "", 8), y, page)
    pdf.set_font("Helvetica", "B", 9)
    y += 4.2
    text(FOOT_X, y, f"N°{number}")  # 001 L406: no space after N°
    pdf.set_font("Helvetica", "", MENTION_SIZE)
    y += 1.3
    for mention in mentions:
        y += MENTION_LEAD
        text(FOOT_X, y, mention)


# --- reading the paper back ---------------------------------------------------------------------


def number_from_pdf(pdf: bytes, *, dpi: int = 150) -> str:
    """The prescription number read from the QR code of a paper ordonnance's PDF.

    Renders the first page (our QR is on every page), then the last one (for software that prints
    it only there), decodes, and validates with the number's check characters. InvalidInput when
    the PDF is unreadable, carries no QR code, or a QR code that is not a prescription number."""
    seen: list[str] = []
    for page in (0, -1):
        image = qr.render_pdf_page(pdf, page, dpi)
        for text in qr.decode_qr(image):
            try:
                return parse_number(text)
            except InvalidInput:
                seen.append(text)
    if seen:
        raise InvalidInput(
            f"le QR code ne porte pas un numéro de prescription ({seen[0][:40]!r})", code="ordonnance-qr-numero"
        )
    raise InvalidInput("aucun QR code lisible sur l'ordonnance", code="ordonnance-sans-qr")
