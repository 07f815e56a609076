"""Writing the human-readable PDF of a document: what the N1 carries and what the patient is handed.

Seed 002 L403-406: the N1 is "la copie conforme du document remis au patient", so every document
the house produces has a real paginated PDF, written with fpdf2 (DESIGN: reportlab or fpdf2).
"""

from __future__ import annotations

import unicodedata

from fpdf import FPDF

# The PDF core fonts (no font file to ship) cover Windows-1252; French typography outside it is
# spelled the way a typewriter would, and any other character by its unaccented form or "?".
_TYPEWRITER = str.maketrans(
    {
        "\u2014": "-",
        "\u2013": "-",
        "\u2019": "'",
        "\u2018": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u0153": "oe",
        "\u0152": "OE",
        "\u202f": " ",
        "\u2009": " ",
        "\u00a0": " ",
    }
)


def printable(text: str) -> str:
    """`text` in the characters the core fonts can draw (what patients type may be anything)."""
    text = text.translate(_TYPEWRITER)
    if all(ord(c) < 256 for c in text):
        return text
    return "".join(
        c if ord(c) < 256 else (unicodedata.normalize("NFKD", c).encode("latin-1", "ignore").decode("latin-1") or "?")
        for c in text
    )


def document_pdf(title: str, sections: list[tuple[str, list[str]]], *, footer: str = "", min_bytes: int = 0) -> bytes:
    """A PDF with a title and titled sections of paragraphs. `min_bytes` pads with annex pages of
    uncompressed text, for benchmarks that need documents of a given size."""
    annex_lines = 0
    while True:
        data = _render(title, sections, footer, annex_lines)
        if len(data) >= min_bytes:
            return data
        annex_lines += max(40, (min_bytes - len(data)) // 120)


_ANNEX = "Annexe : relevé des constantes et des administrations pendant le séjour. " * 2


def _render(title: str, sections: list[tuple[str, list[str]]], footer: str, annex_lines: int) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(printable(title))
    pdf.set_creator("Maison")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()

    def write(height: float, text: str) -> None:
        pdf.multi_cell(0, height, printable(text), new_x="LMARGIN", new_y="NEXT")

    pdf.set_font("Helvetica", "B", 15)
    write(9, title)
    pdf.ln(3)
    for heading, paragraphs in sections:
        pdf.set_font("Helvetica", "B", 11)
        write(7, heading)
        pdf.set_font("Helvetica", "", 10)
        for paragraph in paragraphs:
            write(5.5, paragraph)
        pdf.ln(2)
    if footer:
        pdf.set_font("Helvetica", "I", 8)
        write(5, footer)
    if annex_lines:
        pdf.set_compression(False)
        pdf.add_page()
        pdf.set_font("Helvetica", "", 6)
        for _ in range(annex_lines):
            pdf.cell(0, 3, _ANNEX[:150], new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
