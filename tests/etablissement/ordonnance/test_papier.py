"""The paper ordonnance (maison/etablissement/ordonnance/papier.py) and the QR helpers it stands on
(maison/formats/qr.py): every check reads the PDF back as a pharmacist would — PDFium renders the
page, zxing-cpp decodes the QR code from the pixels, PDFium extracts the text."""

from __future__ import annotations

import io
import re
import threading
from dataclasses import replace
from datetime import UTC, date, datetime

import pypdfium2
import pytest
from fpdf import FPDF
from PIL import Image

from maison.core.errors import InvalidInput
from maison.etablissement.ordonnance import papier
from maison.etablissement.ordonnance.papier import (
    MENTION_CONSENT,
    MENTION_DONNEES,
    PaperPatient,
    PaperPrescriber,
    number_from_pdf,
    ordonnance_pdf,
    qr_payload,
)
from maison.etablissement.ordonnance.prescription import Line, LineKind, Prescription
from maison.formats import qr
from maison.formats.ordonnance import SYS_CIP, SYS_LOINC, SYS_LPP, new_number

# seed 001 L406 prints N°01527BP22JCNZZYGHZ; its check characters are the CNAM's, not Maison's
# (numero.py), so the tests use its 16 first characters with Maison's two check characters.
NUMBER = "01527BP22JCNZZYGQV"
# seed 001 L379-388: the prescriber and patient of the seed's paper copy
DOCTOR = PaperPrescriber(
    "Dr ADEMIS Pierre",
    ("26 avenue du Professeur Lemierre", "72020 Paris"),
    "Médecine Générale",
    "99900038441",
    "991118019",
)
PATIENT = PaperPatient("Essai", "Alain", date(1975, 1, 1), 80.0)
# seed 001 L392-395: the seed's line, as a coded medicine
PARACETAMOL = Line(
    1,
    LineKind.MEDICAMENT,
    "Paracétamol 1 000 mg comprimé",
    "3400930000014",
    SYS_CIP,
    "1 comprimé (voie orale) en cas de fièvre supérieure à 38°5, à renouveler toutes les 8 heures "
    "si besoin.\nNe pas dépasser 3 comprimés par jour.\nTraitement pour une semaine",
    1,
    "{boîte}",
    renewals=2,
)
BANDAGE = Line(2, LineKind.DISPOSITIF, "Bande de contention", "1101017", SYS_LPP, "Au lever", 2, substitutable=False)
GLUCOSE = Line(3, LineKind.BIOLOGIE, "Glucose [Masse/Volume] Sérum", "2345-7", SYS_LOINC)
LINES = (PARACETAMOL, BANDAGE, GLUCOSE)


def _prescription(lines: tuple[Line, ...] = LINES, *, consent: bool = True, number: str = NUMBER) -> Prescription:
    return Prescription(
        number,
        "810000000002",
        datetime(2020, 9, 3, 9, 30, tzinfo=UTC),
        date(2020, 9, 3),
        consent,
        lines,
    )


def _pages_text(pdf: bytes, *, collapse: bool = True) -> list[str]:
    """Each page's text, whitespace collapsed (the PDF breaks long sentences over lines)."""
    with qr.PDFIUM_LOCK:
        document = pypdfium2.PdfDocument(pdf)
        try:
            texts = []
            for index in range(len(document)):
                page = document[index]
                textpage = page.get_textpage()
                raw = textpage.get_text_bounded()
                texts.append(re.sub(r"\s+", " ", raw) if collapse else raw)
                textpage.close()
                page.close()
            return texts
        finally:
            document.close()


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return ordonnance_pdf(_prescription(), DOCTOR, PATIENT)


@pytest.fixture(scope="module")
def text(pdf: bytes) -> str:
    (page,) = _pages_text(pdf)
    return page


# --- the QR code --------------------------------------------------------------------------------


def test_the_qr_code_read_from_the_rendered_page_is_the_number(pdf):
    # seed 001 L397-400: the QR code and the number make the paper copy an ordonnance numérique
    image = qr.render_pdf_page(pdf, 0, 200)
    assert qr.decode_qr(image) == [NUMBER]
    assert number_from_pdf(pdf) == NUMBER


def test_the_qr_code_sits_in_the_bottom_left_corner(pdf):
    # seed 001 L399: "un QR code en bas à gauche"
    image = qr.render_pdf_page(pdf, 0, 200)
    (found,) = qr.find_qr(image)
    width, height = image.size
    assert found.right < width / 2 and found.top > height / 2  # the bottom-left quarter…
    assert found.left < width * 0.15 and found.bottom > height * 0.9  # …and in its corner
    side_mm = (found.right - found.left) / 200 * 25.4
    assert 15 < side_mm < 19  # 21 modules of 0.8 mm


def test_the_payload_is_the_number_in_alphanumeric_mode():
    assert qr_payload(NUMBER) == NUMBER
    symbol = qr.encode(qr_payload(NUMBER))
    assert (symbol.mode, symbol.version, symbol.error) == ("alphanumeric", 1, "M")
    assert len(qr.modules(NUMBER)) == 21  # version 1: 21 × 21 modules
    with pytest.raises(InvalidInput) as refused:
        qr_payload("01527BP22JCNZZYGHZ")  # the seed's number fails Maison's check characters
    assert refused.value.code == "numero-cle"


def test_an_invalid_number_is_never_printed():
    with pytest.raises(InvalidInput) as refused:
        ordonnance_pdf(_prescription(number="NOT-A-NUMBER"), DOCTOR, PATIENT)
    assert refused.value.code.startswith("numero-")


# --- the zones and the mentions ------------------------------------------------------------------


def test_the_prescriber_zone(text):
    # seed 001 L379-384
    for expected in (
        "Dr ADEMIS Pierre",
        "26 avenue du Professeur Lemierre",
        "72020 Paris",
        "Médecine Générale",
        "N° RPPS : 99900038441",
        "N°AM : 991118019",
    ):
        assert expected in text


def test_the_patient_zone_and_the_date(text):
    # seed 001 L386-390
    for expected in ("Alain ESSAI", "01/01/1975", "80 kg", "Le 03 septembre 2020"):
        assert expected in text


def test_each_line_with_its_instructions_quantity_renewals_and_substitution(text):
    # seed 001 L392-395: the line as prescribed, with its posology
    for n, line in enumerate(LINES, 1):
        assert f"{n}. {line.label}" in text
    assert "en cas de fièvre supérieure à 38°5" in text
    assert "Ne pas dépasser 3 comprimés par jour." in text
    assert "Quantité : 1 boîte" in text  # UCUM annotation {boîte} printed as a word
    assert "à renouveler 2 fois" in text
    assert "non substituable" in text
    assert text.count("non substituable") == 1  # only the bandage
    assert "renouveler 0 fois" not in text


def test_the_posology_keeps_its_paragraphs(pdf):
    # seed 001 L393-395: three lines of instructions, three paragraphs on paper
    (raw,) = _pages_text(pdf, collapse=False)
    lines = raw.splitlines()
    assert "Ne pas dépasser 3 comprimés par jour." in lines
    assert "Traitement pour une semaine" in lines


def test_e_prescription_and_the_number_beside_the_qr_code(text):
    # seed 001 L405-406
    assert "e-prescription" in text
    assert f"N°{NUMBER}" in text


def test_the_mentions_legales_say_oui_when_the_patient_consented(text):
    # seed 001 L408-409, verbatim; L417: OUI or NON
    assert MENTION_CONSENT.format(consent="OUI") in text
    assert "a été délivré ou exécuté sur la présente prescription : OUI." in text
    assert MENTION_DONNEES in text
    assert (
        "Pour en savoir plus sur la gestion de vos données personnelles et pour exercer vos droits, "
        "reportez-vous à https://www.ameli.fr." in text
    )


def test_the_mentions_legales_say_non_when_the_patient_refused():
    # seed 001 L408, L417: "Indication (OUI ou NON) de l'accord du patient"
    (text,) = _pages_text(ordonnance_pdf(_prescription(consent=False), DOCTOR, PATIENT))
    assert "a été délivré ou exécuté sur la présente prescription : NON." in text
    assert "prescription : OUI" not in text
    assert MENTION_DONNEES in text


def test_the_signature_zone(text):
    # seed 001 L377
    assert "Signature du prescripteur" in text


def test_french_dates_and_weights():
    assert papier.date_fr(date(2026, 11, 21)) == "Le 21 novembre 2026"
    assert papier.date_fr(date(2020, 2, 3)) == "Le 03 février 2020"
    (text,) = _pages_text(ordonnance_pdf(_prescription(), DOCTOR, replace(PATIENT, weight_kg=12.5)))
    assert "12,5 kg" in text
    (text,) = _pages_text(ordonnance_pdf(_prescription(), DOCTOR, replace(PATIENT, weight_kg=None)))
    assert " kg" not in text
    with pytest.raises(InvalidInput) as refused:
        ordonnance_pdf(_prescription(), DOCTOR, replace(PATIENT, weight_kg=-3))
    assert refused.value.code == "patient-poids"


# --- pagination -----------------------------------------------------------------------------------


def test_forty_lines_paginate_and_every_page_carries_the_qr_code_and_mentions():
    lines = tuple(replace(LINES[i % 3], number=i + 1, label=f"{LINES[i % 3].label} n{i + 1}") for i in range(40))
    pdf = ordonnance_pdf(_prescription(lines, consent=False), DOCTOR, PATIENT)
    pages = _pages_text(pdf)
    assert len(pages) >= 2
    everything = " ".join(pages)
    for line in lines:  # every line printed exactly once, in order
        assert everything.count(f"{line.number}. {line.label} ") == 1
    positions = [everything.index(f"{line.number}. {line.label} ") for line in lines]
    assert positions == sorted(positions)
    for index, page in enumerate(pages):
        # seed 001 L397-409 on every page: a separated page still says what it is
        assert f"N°{NUMBER}" in page and "prescription : NON." in page and MENTION_DONNEES in page
        assert f"Page {index + 1}/{len(pages)}" in page
        (found,) = qr.find_qr(qr.render_pdf_page(pdf, index, 150))
        assert found.text == NUMBER
    assert "Dr ADEMIS Pierre - Alain ESSAI - Le 03 septembre 2020 (suite)" in pages[1]
    assert "Signature du prescripteur" in pages[-1] and "Signature du prescripteur" not in pages[0]
    assert number_from_pdf(pdf) == NUMBER


def test_a_line_longer_than_a_page_is_split_and_nothing_overflows():
    huge = replace(PARACETAMOL, instructions="\n".join(["Une posologie sur sa propre ligne."] * 58))  # ~2000 chars
    unbroken = replace(BANDAGE, number=3, instructions="Z" * 2000)  # no space at all: cut, never overflowing
    pdf = ordonnance_pdf(_prescription((huge, BANDAGE, unbroken)), DOCTOR, PATIENT)
    pages = _pages_text(pdf)
    assert len(pages) == 2 and "Z" * 50 in " ".join(pages)
    assert "Une posologie" in pages[0] and "Une posologie" in pages[1]  # taller than a page: split
    assert " ".join(pages).count("Une posologie sur sa propre ligne.") == 58
    assert number_from_pdf(pdf) == NUMBER
    right_margin = (210 - papier.MARGIN) / 25.4 * 72 + 1  # points
    with qr.PDFIUM_LOCK:
        document = pypdfium2.PdfDocument(pdf)
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            rights = [textpage.get_charbox(i)[2] for i in range(textpage.count_chars())]
            textpage.close()
            page.close()
            assert max(rights) < right_margin
        document.close()


def test_hostile_text_is_printed_without_breaking_the_page():
    odd = replace(PARACETAMOL, label="Vitamine D\x00\x07 — “forte” 💊 œuf", instructions="a\tb\rc\x1bd")
    (text,) = _pages_text(ordonnance_pdf(_prescription((odd,)), DOCTOR, PATIENT))
    assert "Vitamine D" in text and "oeuf" in text and '"forte"' in text


def test_the_same_prescription_gives_the_same_bytes(pdf):
    assert ordonnance_pdf(_prescription(), DOCTOR, PATIENT) == pdf


def test_threads_do_not_share_state(pdf):
    results: list[bytes] = []
    numbers = [new_number() for _ in range(8)]

    def work(number: str) -> None:
        for _ in range(5):
            results.append(ordonnance_pdf(_prescription(number=number), DOCTOR, PATIENT))

    threads = [threading.Thread(target=work, args=(n,)) for n in numbers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 40
    assert {number_from_pdf(p) for p in results[::5]} <= set(numbers)
    assert ordonnance_pdf(_prescription(), DOCTOR, PATIENT) == pdf


# --- reading back refuses what is not an ordonnance ------------------------------------------------


def _plain_pdf(draw=None) -> bytes:
    doc = FPDF(format="A4")
    doc.add_page()
    doc.set_font("Helvetica", "", 12)
    doc.text(20, 20, "Ordonnance manuscrite, sans QR code")
    if draw:
        draw(doc)
    return bytes(doc.output())


def test_number_from_pdf_refuses_a_pdf_without_qr_code():
    with pytest.raises(InvalidInput) as refused:
        number_from_pdf(_plain_pdf())
    assert refused.value.code == "ordonnance-sans-qr"


def test_number_from_pdf_refuses_a_qr_code_that_is_not_a_number():
    pdf = _plain_pdf(lambda doc: qr.draw_qr(doc, qr.modules("HTTPS://EXAMPLE.ORG"), 20, 250, 0.8))
    with pytest.raises(InvalidInput) as refused:
        number_from_pdf(pdf)
    assert refused.value.code == "ordonnance-qr-numero"


@pytest.mark.parametrize("garbage", [b"", b"garbage", b"\x89PNG\r\n\x1a\n" + bytes(100), b"%PDF-1.7\n garbage"])
def test_number_from_pdf_refuses_garbage(garbage):
    with pytest.raises(InvalidInput) as refused:
        number_from_pdf(garbage)
    assert refused.value.code in ("pdf-signature", "pdf-illisible")


# --- maison.formats.qr ------------------------------------------------------------------------------


def test_segno_and_zxing_symbols_both_decode_to_the_payload():
    number = new_number()
    for matrix in (qr.encode(number).matrix, qr.modules(number)):
        pdf = _plain_pdf(lambda doc, m=matrix: qr.draw_qr(doc, m, 30, 60, 0.5))
        assert qr.decode_qr(qr.render_pdf_page(pdf, 0, 200)) == [number]


def test_the_qr_path_merges_runs():
    matrix = qr.modules(NUMBER)
    dark = sum(sum(row) for row in matrix)
    path = qr.qr_path(matrix, 10, 10, 1, page_height=297, k=72 / 25.4)
    assert path.startswith("q ") and path.endswith(" f Q")
    assert 0 < path.count(" re") < dark / 2
    assert qr.qr_path([b"\x00\x00", b"\x00\x00"], 0, 0, 1, page_height=297, k=1) == ""


@pytest.mark.parametrize("payload, code", [("", "qr-contenu"), (None, "qr-contenu"), ("9" * 1001, "qr-capacite")])
def test_qr_encoding_refuses_empty_or_oversized_payloads(payload, code):
    for make in (qr.encode, qr.modules):
        with pytest.raises(InvalidInput) as refused:
            make(payload)
        assert refused.value.code == code


def test_render_refuses_what_is_not_a_pdf(pdf):
    cases = [
        ("not bytes", "pdf-type"),
        (b"", "pdf-signature"),
        (b"GIF89a" + bytes(50), "pdf-signature"),
        (b"%PDF-1.4\n%%EOF", "pdf-illisible"),
        (pdf[: len(pdf) // 3], "pdf-illisible"),
    ]
    for data, code in cases:
        with pytest.raises(InvalidInput) as refused:
            qr.render_pdf_page(data)  # type: ignore[arg-type]  # a wrong type on purpose
        assert refused.value.code == code, data[:20]


def test_render_accepts_a_header_within_the_first_kilobyte(pdf):
    assert qr.decode_qr(qr.render_pdf_page(b"\n" * 500 + pdf, 0, 150)) == [NUMBER]


def test_render_refuses_a_page_that_does_not_exist(pdf):
    assert qr.render_pdf_page(pdf, -1, 20).size == qr.render_pdf_page(pdf, 0, 20).size
    for page in (1, -2, 10**9, "0", True):
        with pytest.raises(InvalidInput) as refused:
            qr.render_pdf_page(pdf, page)  # type: ignore[arg-type]  # a wrong type on purpose
        assert refused.value.code == "pdf-page"


def test_render_refuses_absurd_resolutions(pdf):
    for dpi in (0, -72, 5000, 72.5, "200"):
        with pytest.raises(InvalidInput) as refused:
            qr.render_pdf_page(pdf, 0, dpi)  # type: ignore[arg-type]  # a wrong type on purpose
        assert refused.value.code == "pdf-resolution"


def test_render_refuses_a_poster_sized_page():
    poster = FPDF(format=(5000, 5000))  # mm: ~1.5 gigapixels at 200 dpi
    poster.add_page()
    data = bytes(poster.output())
    with pytest.raises(InvalidInput) as refused:
        qr.render_pdf_page(data)
    assert refused.value.code == "pdf-page-trop-grande"
    assert qr.render_pdf_page(data, 0, 10).size == (1969, 1969)  # the same page at 10 dpi is fine


def test_render_refuses_an_oversized_file(pdf, monkeypatch):
    monkeypatch.setattr(qr, "MAX_PDF_BYTES", len(pdf) - 1)
    with pytest.raises(InvalidInput) as refused:
        qr.render_pdf_page(pdf)
    assert refused.value.code == "pdf-taille"


def test_render_refuses_an_encrypted_pdf():
    doc = FPDF()
    doc.set_encryption(owner_password="owner", user_password="secret")
    doc.add_page()
    with pytest.raises(InvalidInput) as refused:
        qr.render_pdf_page(bytes(doc.output()))
    assert refused.value.code == "pdf-chiffre"


def test_decode_refuses_what_is_not_an_image_and_huge_images(monkeypatch):
    with pytest.raises(InvalidInput) as refused:
        qr.decode_qr(b"\x89PNG")  # type: ignore[arg-type]  # a wrong type on purpose
    assert refused.value.code == "image-type"
    monkeypatch.setattr(qr, "MAX_PIXELS", 10_000)
    with pytest.raises(InvalidInput) as refused:
        qr.decode_qr(Image.new("L", (101, 100), 255))
    assert refused.value.code == "image-trop-grande"


def test_decode_reads_other_image_modes_and_finds_nothing_in_blank_images():
    assert qr.decode_qr(Image.new("L", (200, 200), 255)) == []
    assert qr.decode_qr(Image.new("1", (0, 0))) == []
    png = io.BytesIO()
    qr.encode(NUMBER).save(png, kind="png", scale=4, border=4)  # segno's own rendering
    symbol = Image.open(png)
    assert qr.decode_qr(symbol) == [NUMBER]
    assert qr.decode_qr(symbol.convert("P")) == [NUMBER]
