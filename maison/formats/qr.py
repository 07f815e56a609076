"""QR codes: make them, draw them into a PDF cheaply, and read them back from a rendered PDF page.

Writing follows DESIGN (segno) for `encode`, which gives every serialiser segno has (SVG, PNG…).
The PDF path needs only the module matrix, and it is hot: the ordonnance numérique prints one QR
per page at ≥ 200 prescriptions/s. segno's pure-Python encoder spends ~1.4 ms per symbol, nearly
all of it scoring the eight masks (ISO/IEC 18004 §7.8.3); zxing-cpp's writer (C++, already here
to decode) builds the same kind of symbol, with the same standard mask scoring, in ~0.04 ms.
So `modules` asks zxing-cpp. The two libraries apply the penalty rules a little differently
(about half of prescription numbers get another mask from each), so their matrices for one
payload may differ by mask: both are valid symbols and decode to the same text (tests check it).

Reading is for tests and for the counter ("scan the paper copy"): `render_pdf_page` renders with
PDFium (pypdfium2) and `decode_qr` reads with zxing-cpp. Both take input from outside, so both
refuse what would cost unbounded memory (file size, page count irrelevant: one page at a time,
bitmap size), with an `InvalidInput` naming the problem.

PDFium is not thread-safe — not even across distinct documents (pypdfium2, "Incompatibility with
Threading"). Every PDFium call in this process must hold `PDFIUM_LOCK`, including the closing of
documents, pages and bitmaps, which is why they are closed explicitly, never left to the GC.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import pypdfium2
import segno
import zxingcpp
from fpdf import FPDF
from PIL import Image

from maison.core.errors import InvalidInput

ERROR_LEVEL = "M"  # ~15 % of the symbol may be lost (a stamp, a fold) and still read
MAX_PAYLOAD = 1000  # characters: far more than a number, far less than a 40-L symbol
MAX_PDF_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a rendered page above this is an attack or a poster, not a prescription
MAX_DPI = 1200
PDFIUM_LOCK = threading.Lock()

# QR alphanumeric mode (ISO/IEC 18004 §7.4.4): 5.5 bits a character instead of 8 in byte mode,
# which keeps an 18-character prescription number in a version 1 symbol (21 × 21) at level M.
_ALPHANUMERIC = re.compile(r"[0-9A-Z $%*+\-./:]+")
_PDF_MAGIC = b"%PDF-"
_FPDF_ERR_PASSWORD = 4  # PDFium's FPDF_GetLastError for an encrypted document


def _check_payload(payload: str) -> None:
    if not isinstance(payload, str) or not payload:
        raise InvalidInput("QR code : contenu vide ou qui n'est pas du texte", code="qr-contenu")
    if len(payload) > MAX_PAYLOAD:
        raise InvalidInput(f"QR code : {len(payload)} caractères (au plus {MAX_PAYLOAD})", code="qr-capacite")


def encode(payload: str) -> segno.QRCode:
    """`payload` as a segno QR code, error correction M, alphanumeric mode when the text allows it.

    `boost_error` is off so that the level is the one asked for, whatever the payload's length."""
    _check_payload(payload)
    mode = "alphanumeric" if _ALPHANUMERIC.fullmatch(payload) else None
    return segno.make_qr(payload, error=ERROR_LEVEL, mode=mode, boost_error=False)


def modules(payload: str) -> tuple[bytes, ...]:
    """The QR symbol for `payload` as rows of modules (1 dark, 0 light), no quiet zone.

    Same parameters as `encode` (level M; zxing-cpp chooses the most compact mode, alphanumeric
    for a prescription number) at a thirtieth of the cost: see the module docstring."""
    _check_payload(payload)
    symbol = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode, ec_level=ERROR_LEVEL)
    image = symbol.to_image(scale=1, add_quiet_zones=False)  # 8-bit grey: 0 dark, 255 light
    height, width = image.shape[0], image.shape[1]
    # zxingcpp.Image has the buffer protocol; its stubs do not declare it
    pixels = bytes(image).translate(_DARK)  # type: ignore[call-overload]
    return tuple(pixels[r * width : (r + 1) * width] for r in range(height))


_DARK = bytes([1] * 128 + [0] * 128)  # a grey value below mid-grey is a dark module


def qr_path(matrix: Sequence[Sequence[int]], x: float, y: float, module: float, *, page_height: float, k: float) -> str:
    """PDF content-stream operators that fill the dark modules of `matrix` in black.

    `x`, `y` are the symbol's top-left corner and `module` its module side, in the caller's unit
    (fpdf2's mm), `k` points per unit and `page_height` the page's height in that unit. Each
    horizontal run of dark modules is one rectangle, and a run repeated on the rows below grows
    downwards instead of starting another (the finder patterns' sides): ~75 rectangles instead
    of ~220 modules, all in one path filled once — so no hairline seams between neighbours when a
    renderer anti-aliases, because the subpaths are rasterised together."""
    m = module * k
    left, top = x * k, (page_height - y) * k
    rects: list[tuple[int, int, int, int]] = []  # first column, end column, first row, end row
    above: dict[tuple[int, int], int] = {}  # runs open on the previous row -> their first row
    for r, row in enumerate(matrix):
        here = {}
        for run in _RUN.finditer(bytes(row).translate(_NONZERO)):
            span = run.span()
            here[span] = above.pop(span, r)
        rects.extend((s, e, r0, r) for (s, e), r0 in above.items())
        above = here
    rects.extend((s, e, r0, len(matrix)) for (s, e), r0 in above.items())
    if not rects:
        return ""
    # One `cm` maps module units (y downwards) onto the page, so the rectangles are integers.
    ops = " ".join(f"{s} {r0} {e - s} {r1 - r0} re" for s, e, r0, r1 in rects)
    return f"q {m:.4f} 0 0 {-m:.4f} {left:.3f} {top:.3f} cm 0 g {ops} f Q"  # q/Q: nothing leaks out


_RUN = re.compile(rb"\x01+")
_NONZERO = bytes([0] + [1] * 255)


def draw_qr(pdf: FPDF, matrix: Sequence[Sequence[int]], x: float, y: float, module: float) -> float:
    """Draw `matrix` (`modules(...)`, or a segno code's `.matrix`) on `pdf`'s current page with its
    top-left corner at (`x`, `y`); returns the symbol's side. The caller keeps the quiet zone
    (4 modules) clear around it.

    Written straight into the page's content stream (fpdf2's `_out`, present since fpdf 1.x):
    one `rect()` per rectangle costs ~0.6 ms a symbol, the single path ~0.08 ms."""
    pdf._out(qr_path(matrix, x, y, module, page_height=pdf.h, k=pdf.k))
    return len(matrix) * module


# --- reading back ------------------------------------------------------------------------------


def _open(pdf: bytes) -> pypdfium2.PdfDocument:
    """The document, or InvalidInput: call with PDFIUM_LOCK held."""
    if not isinstance(pdf, (bytes, bytearray, memoryview)):
        raise InvalidInput("PDF attendu sous forme d'octets", code="pdf-type")
    data = bytes(pdf)
    if len(data) > MAX_PDF_BYTES:
        raise InvalidInput(f"PDF de {len(data)} octets (au plus {MAX_PDF_BYTES})", code="pdf-taille")
    # ISO 32000-1 §7.5.2 puts the header first; readers, PDFium included, accept it within the
    # first 1024 bytes, and so do we — nothing further.
    if _PDF_MAGIC not in data[:1024]:
        raise InvalidInput("ce n'est pas un PDF (pas d'en-tête %PDF-)", code="pdf-signature")
    try:
        return pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        if getattr(exc, "err_code", None) == _FPDF_ERR_PASSWORD:
            raise InvalidInput("PDF chiffré : illisible sans mot de passe", code="pdf-chiffre") from None
        raise InvalidInput(f"PDF illisible : {exc}", code="pdf-illisible") from None


def render_pdf_page(pdf: bytes, page: int = 0, dpi: int = 200, *, grayscale: bool = True) -> Image.Image:
    """Page `page` of `pdf` (0-based; negative counts from the end) as a PIL image at `dpi`.

    Grey by default: what a scanner needs, a third of the memory. Refuses (InvalidInput) what is
    not a PDF, a page that does not exist, and a page whose bitmap would exceed MAX_PIXELS — a
    hostile MediaBox can ask for 200 × 200 inches."""
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 1 <= dpi <= MAX_DPI:
        raise InvalidInput(f"résolution {dpi!r} : entier de 1 à {MAX_DPI} dpi", code="pdf-resolution")
    if isinstance(page, bool) or not isinstance(page, int):
        raise InvalidInput(f"numéro de page {page!r} : entier attendu", code="pdf-page")
    with PDFIUM_LOCK:
        document = _open(pdf)
        try:
            count = len(document)
            index = page + count if page < 0 else page
            if not 0 <= index < count:
                raise InvalidInput(f"page {page} : le PDF en a {count}", code="pdf-page")
            pdf_page = document[index]
            try:
                width, height = pdf_page.get_size()  # points, 1/72 inch
                pixels = (width * dpi / 72) * (height * dpi / 72)
                if not pixels <= MAX_PIXELS:  # also refuses NaN
                    raise InvalidInput(
                        f"page {page} : {pixels / 1e6:.0f} mégapixels à {dpi} dpi (au plus {MAX_PIXELS / 1e6:.0f})",
                        code="pdf-page-trop-grande",
                    )
                bitmap = pdf_page.render(scale=dpi / 72, grayscale=grayscale)
                try:
                    # to_pil shares the bitmap's buffer: copy before the bitmap is closed.
                    copy: Image.Image = bitmap.to_pil().copy()
                    return copy
                finally:
                    bitmap.close()
            finally:
                pdf_page.close()
        finally:
            document.close()


@dataclass(frozen=True, slots=True)
class Found:
    """One decoded QR code: its text and its bounding box in the image's pixels."""

    text: str
    left: int
    top: int
    right: int
    bottom: int


def find_qr(image: Image.Image) -> list[Found]:
    """Every QR code zxing-cpp reads in `image`, with where it is."""
    if not isinstance(image, Image.Image):
        raise InvalidInput("image attendue (PIL)", code="image-type")
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise InvalidInput(
            f"image de {width * height / 1e6:.0f} mégapixels (au plus {MAX_PIXELS / 1e6:.0f})", code="image-trop-grande"
        )
    if width == 0 or height == 0:
        return []
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("L")
    found = []
    # zxingcpp's stubs want BarcodeFormats; one BarcodeFormat is what its documentation passes
    for symbol in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode):  # type: ignore[arg-type]
        p = symbol.position
        xs = (p.top_left.x, p.top_right.x, p.bottom_left.x, p.bottom_right.x)
        ys = (p.top_left.y, p.top_right.y, p.bottom_left.y, p.bottom_right.y)
        found.append(Found(symbol.text, min(xs), min(ys), max(xs), max(ys)))
    return found


def decode_qr(image: Image.Image) -> list[str]:
    """The texts of the QR codes in `image`, in zxing-cpp's order (empty list: none found)."""
    return [f.text for f in find_qr(image)]
