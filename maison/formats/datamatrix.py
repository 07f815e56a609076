"""The "Datamatrix INS" printed on health documents (ANS spec "Datamatrix INS" v2.2).

A document that carries a qualified identity's INS prints it as an ECC200 Data Matrix (not GS1:
no FNC1) so that the next professional can capture the identity by scanning instead of typing —
the scan is the `CB` collection method. The payload is plain upper-case ASCII:

    IS010000000000000000000000            header: "IS", version "01", 22 reserved zeros
    S1 <matricule INS, 15>                fixed length
    S2 <OID of the matricule, 19-20>      variable: GS (0x1D) follows when shorter than 20
    S3 <prénoms de naissance, 1-100>      variable, space-separated list: GS when shorter than 100
    S4 <nom de naissance, 1-100>          variable: GS when shorter than 100
    S5 <sexe, M|F>                        fixed length
    S6 <date de naissance, JJ-MM-AAAA>    fixed length
    S7 <code lieu de naissance COG, 5>    fixed length, omitted when unknown

No GS ends the last field. Readers meet symbols written by other software, which may order the
fields differently (ZXing's test vector puts S4 last), so `parse_content` accepts any order; it is
otherwise strict, because a scanned identity goes straight into an identity record: every field
is checked (format, length, key of the matricule, normalised traits) and anything unexpected is
refused with a precise `InvalidInput` rather than guessed at.

This module does not decide whether an INS may be printed — only a qualified identity's may, and
that is the caller's business. It only refuses values the format cannot carry faithfully.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass
from typing import Any, BinaryIO

from PIL import Image
from pylibdmtx import pylibdmtx

from maison.core.errors import InvalidInput
from maison.core.identifiers.nir import parse_matricule
from maison.core.ins_traits import Traits, check_birth_date, check_birth_place, normalise_name

GS = "\x1d"
HEADER = "IS" + "01" + "0" * 22


@dataclass(frozen=True)
class _Field:
    ident: str
    label: str
    min_length: int
    max_length: int

    @property
    def fixed(self) -> bool:
        return self.min_length == self.max_length


_FIELDS = {
    f.ident: f
    for f in (
        _Field("S1", "matricule INS", 15, 15),
        _Field("S2", "OID", 19, 20),
        _Field("S3", "liste des prénoms de naissance", 1, 100),
        _Field("S4", "nom de naissance", 1, 100),
        _Field("S5", "sexe", 1, 1),
        _Field("S6", "date de naissance", 10, 10),
        _Field("S7", "code lieu de naissance", 5, 5),
    )
}
_REQUIRED = ("S1", "S2", "S3", "S4", "S5", "S6")

# The longest payload: every variable field at its maximum, which is exactly when no GS is written.
MAX_CONTENT_LENGTH = len(HEADER) + sum(2 + f.max_length for f in _FIELDS.values())

_OID = re.compile(r"^[0-2](?:\.(?:0|[1-9][0-9]*))+$")
_DATE = re.compile(r"^([0-9]{2})-([0-9]{2})-([0-9]{4})$")
_PRINTABLE = re.compile(r"[^\x20-\x7e\x1d]")  # the whole payload: printable ASCII and GS
_FIELD_CHARS = re.compile(r"[^\x20-\x7e]")  # one field's value: GS is a separator, never content

# Limits for images read from outside: a scan of a label or a page region, never a poster.
MAX_IMAGE_BYTES = 5_000_000
MAX_IMAGE_PIXELS = 16_000_000
DECODE_TIMEOUT_MS = 3_000


@dataclass(frozen=True)
class InsDatamatrix:
    """What a Datamatrix INS carries: the matricule (13 + key), its OID, and the traits."""

    matricule: str
    oid: str
    traits: Traits


def _error(message: str, code: str) -> InvalidInput:
    return InvalidInput(f"Datamatrix INS : {message}", code=code)


def _check_length(field: _Field, value: str) -> None:
    if not field.min_length <= len(value) <= field.max_length:
        expected = (
            f"{field.max_length} caractères" if field.fixed else f"{field.min_length} à {field.max_length} caractères"
        )
        raise _error(
            f"champ {field.ident} ({field.label}) de {len(value)} caractères, {expected} attendus",
            "datamatrix-longueur",
        )


def _check_name(field: _Field, value: str) -> None:
    # Names travel exactly as the national referential writes them; anything else (lower case,
    # diacritics, doubled spaces, digits) would be a different string from the INS traits.
    _check_length(field, value)
    if normalise_name(value) != value:
        raise _error(
            f"champ {field.ident} ({field.label}) '{value}' non normalisé : majuscules sans "
            "diacritiques, espace, tiret et apostrophe seuls attendus",
            "datamatrix-trait-non-normalise",
        )


def _check_value(ident: str, value: str) -> None:
    """Check one field value against the format, with a message that names the field."""
    field = _FIELDS[ident]
    bad = _FIELD_CHARS.search(value)
    if bad:
        raise _error(
            f"champ {ident} ({field.label}) : caractère interdit U+{ord(bad.group()):04X}", "datamatrix-caractere"
        )
    if ident in ("S3", "S4"):
        _check_name(field, value)
        return
    _check_length(field, value)
    if ident == "S1":
        try:
            matricule = parse_matricule(value)
        except InvalidInput as exc:
            raise _error(f"champ S1 : {exc.message}", exc.code) from None
        if matricule.value != value:
            raise _error(f"champ S1 : matricule '{value}' non normalisé (15 caractères sans séparateur)", "nir-format")
    elif ident == "S2":
        if not _OID.match(value):
            raise _error(f"champ S2 : OID '{value}' mal formé", "datamatrix-oid")
    elif ident == "S5":
        if value not in ("M", "F"):
            raise _error(f"champ S5 : sexe '{value}', M ou F attendu", "sexe")
    elif ident == "S6":
        m = _DATE.match(value)
        if not m:
            raise _error(f"champ S6 : date '{value}', format JJ-MM-AAAA attendu", "date-format")
        day, month, year = m.groups()
        try:
            check_birth_date(f"{year}-{month}-{day}")
        except InvalidInput as exc:
            raise _error(f"champ S6 : {exc.message}", exc.code) from None
    elif ident == "S7":
        try:
            place = check_birth_place(value)
        except InvalidInput as exc:
            raise _error(f"champ S7 : {exc.message}", exc.code) from None
        if place != value:
            raise _error(f"champ S7 : code COG '{value}' non normalisé", "cog-format")


def content(dm: InsDatamatrix) -> str:
    """The text payload of the symbol, fields in the spec's order (S1…S7).

    Refuses, rather than silently fixes, any value the format cannot carry: the printed identity
    must be the stored one character for character, so normalising here would hide a bad record.
    """
    t = dm.traits
    for prenom in t.prenoms:
        # The list is space-separated: a prénom holding a space would come back as two.
        if not prenom or " " in prenom:
            raise _error(
                f"prénom '{prenom}' vide ou contenant une espace : liste non représentable",
                "datamatrix-trait-non-normalise",
            )
    date = t.date_naissance or ""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", date):
        raise _error(f"date de naissance '{date}', format AAAA-MM-JJ attendu", "date-format")
    values = {
        "S1": dm.matricule or "",
        "S2": dm.oid or "",
        "S3": " ".join(t.prenoms),
        "S4": t.nom_naissance or "",
        "S5": t.sexe or "",
        "S6": f"{date[8:10]}-{date[5:7]}-{date[0:4]}",
    }
    if t.lieu_naissance:
        values["S7"] = t.lieu_naissance
    parts = [HEADER]
    last = list(values)[-1]
    for ident, value in values.items():
        _check_value(ident, value)
        field = _FIELDS[ident]
        parts.append(ident + value)
        if not field.fixed and len(value) < field.max_length and ident != last:
            parts.append(GS)
    return "".join(parts)


def _check_header(text: str) -> None:
    if not text.startswith("IS"):
        raise _error("entête 'IS' absent : ce n'est pas un Datamatrix INS", "datamatrix-entete")
    if len(text) < len(HEADER):
        raise _error(f"entête tronqué ({len(text)} caractères, {len(HEADER)} attendus)", "datamatrix-entete")
    if text[2:4] != "01":
        raise _error(f"version d'entête '{text[2:4]}' non prise en charge (01 attendue)", "datamatrix-version")
    if text[4 : len(HEADER)] != HEADER[4:]:
        raise _error("zone réservée de l'entête non nulle (22 zéros attendus)", "datamatrix-entete")


def _split_fields(text: str) -> dict[str, str]:
    """Cut the message zone into identifier → checked value, in whatever order the writer used."""
    values: dict[str, str] = {}
    pos = len(HEADER)
    end = len(text)
    if pos == end:
        raise _error("aucun champ après l'entête", "datamatrix-tronque")
    while pos < end:
        where = pos + 1  # 1-based positions in messages: what a person counting characters sees
        if text[pos] == GS:
            raise _error(f"séparateur GS inattendu au caractère {where}", "datamatrix-separateur")
        ident = text[pos : pos + 2]
        if len(ident) < 2:
            raise _error(f"identifiant de champ tronqué au caractère {where}", "datamatrix-tronque")
        field = _FIELDS.get(ident)
        if field is None:
            raise _error(f"identifiant de champ inconnu '{ident}' au caractère {where}", "datamatrix-champ-inconnu")
        if ident in values:
            raise _error(f"champ {ident} ({field.label}) présent deux fois", "datamatrix-champ-double")
        pos += 2
        if field.fixed:
            value = text[pos : pos + field.max_length]
            if GS in value or len(value) < field.max_length:
                raise _error(
                    f"champ {ident} ({field.label}) tronqué : {field.max_length} caractères attendus",
                    "datamatrix-tronque",
                )
            pos += field.max_length
        else:
            gs = text.find(GS, pos)
            stop = end if gs == -1 else gs
            if stop - pos > field.max_length:
                # A field at its maximum length carries no GS: the next identifier follows directly.
                value = text[pos : pos + field.max_length]
                pos += field.max_length
            else:
                value = text[pos:stop]
                if gs != -1:
                    if len(value) == field.max_length:
                        raise _error(
                            f"séparateur GS superflu après le champ {ident} de longueur maximale",
                            "datamatrix-separateur",
                        )
                    if gs + 1 == end:
                        raise _error(f"séparateur GS après le dernier champ ({ident})", "datamatrix-separateur")
                pos = stop + 1 if gs != -1 else end
        # Checked here, in reading order, so that a missing GS shows up as the field it overran.
        _check_value(ident, value)
        values[ident] = value
    missing = [i for i in _REQUIRED if i not in values]
    if missing:
        labels = ", ".join(f"{i} ({_FIELDS[i].label})" for i in missing)
        raise _error(f"champ(s) obligatoire(s) absent(s) : {labels}", "datamatrix-champ-absent")
    return values


def parse_content(text: str) -> InsDatamatrix:
    """Read a scanned payload back into an `InsDatamatrix`; the date comes back as AAAA-MM-JJ.

    The length is checked before anything else so that a hostile scanner input costs nothing.
    """
    if not isinstance(text, str) or not text:
        raise _error("contenu vide", "datamatrix-vide")
    if len(text) > MAX_CONTENT_LENGTH:
        raise _error(
            f"contenu de {len(text)} caractères, au plus {MAX_CONTENT_LENGTH} attendus", "datamatrix-trop-long"
        )
    bad = _PRINTABLE.search(text)
    if bad:
        raise _error(
            f"caractère interdit U+{ord(bad.group()):04X} au caractère {bad.start() + 1} "
            "(ASCII imprimable et GS seuls admis)",
            "datamatrix-caractere",
        )
    _check_header(text)
    values = _split_fields(text)
    birth = _DATE.match(values["S6"])
    assert birth is not None  # S6's format checked by _split_fields
    day, month, year = birth.groups()
    traits = Traits.of(values["S4"], values["S3"].split(" "), values["S5"], f"{year}-{month}-{day}", values.get("S7"))
    if traits.liste_prenoms != values["S3"]:
        # Traits.of drops empty prénoms: "A  B" would silently become "A B".
        raise _error(
            f"champ S3 (liste des prénoms de naissance) '{values['S3']}' non normalisé",
            "datamatrix-trait-non-normalise",
        )
    return InsDatamatrix(values["S1"], values["S2"], traits)


# --- Images ------------------------------------------------------------------------------------


def _modules(encoded: Any) -> list[list[bool]]:  # pylibdmtx's Encoded (pylibdmtx has no type information)
    """Recover the module grid (True = dark) from libdmtx's bitmap, whatever its module size and margin.

    libdmtx draws with its own module size and margin, which pylibdmtx does not let us set; reading
    the grid back lets us draw it at the size the caller asked for. The top-left module of an
    ECC200 symbol is always dark (the solid "L" edge meets the alternating top edge there), and the
    first dark run of that row is one module wide.
    """
    image = Image.frombytes("RGB", (encoded.width, encoded.height), encoded.pixels).convert("L")
    width, height = image.size
    grey = image.tobytes()  # mode "L": one byte per pixel, row after row

    def dark(x: int, y: int) -> bool:
        return grey[y * width + x] < 128

    top = next(y for y in range(height) if any(dark(x, y) for x in range(width)))
    left = next(x for x in range(width) if dark(x, top))
    run = 0
    while left + run < width and dark(left + run, top):
        run += 1
    cols, rows = (width - 2 * left) // run, (height - 2 * top) // run
    return [[dark(left + c * run + run // 2, top + r * run + run // 2) for c in range(cols)] for r in range(rows)]


def render_png(dm: InsDatamatrix, path_or_buffer: str | os.PathLike[str] | BinaryIO, *, module_size: int = 4) -> None:
    """Draw the symbol as a black-on-white PNG, `module_size` pixels per module, 2-module quiet zone.

    What is honoured of the spec: ECC200, not GS1 (no FNC1), and the 26-character header encoded
    in C40. pylibdmtx only exposes one encodation `scheme` for the whole message, so the whole
    message is written in C40 (GS and the punctuation go through the C40 shift sets), which is valid
    ECC200 and decodes to the same text. What is not honoured: the spec's intent of C40 for the
    header *then* the most compact mix for the rest (what BWIPP's `c40headerlength` does), so the
    symbol may be a size larger than the minimum; symbol size is libdmtx's smallest square that
    fits. Physical print size (module width in mm) depends on the printer and is not set here.
    """
    if not isinstance(module_size, int) or not 1 <= module_size <= 50:
        raise _error(f"taille de module {module_size!r}, entier de 1 à 50 attendu", "datamatrix-module")
    payload = content(dm).encode("ascii")
    try:
        encoded = pylibdmtx.encode(payload, scheme="C40", size="SquareAuto")
    except pylibdmtx.PyLibDMTXError as exc:
        raise _error(f"encodage impossible : {exc}", "datamatrix-encodage") from None
    grid = _modules(encoded)
    quiet = 2
    rows, cols = len(grid), len(grid[0])
    image = Image.new("1", ((cols + 2 * quiet) * module_size, (rows + 2 * quiet) * module_size), 1)
    for r, row in enumerate(grid):
        for c, dark in enumerate(row):
            if dark:
                x, y = (c + quiet) * module_size, (r + quiet) * module_size
                image.paste(0, (x, y, x + module_size, y + module_size))
    image.save(path_or_buffer, format="PNG")


def _read_limited(source: str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as fh:
                data = fh.read(MAX_IMAGE_BYTES + 1)
        except OSError as exc:
            raise _error(f"image illisible : {exc.strerror}", "datamatrix-image") from None
    elif hasattr(source, "read"):
        data = source.read(MAX_IMAGE_BYTES + 1)
    else:
        raise _error("image attendue sous forme de chemin ou d'octets", "datamatrix-image")
    if len(data) > MAX_IMAGE_BYTES:
        raise _error(f"image de plus de {MAX_IMAGE_BYTES} octets", "datamatrix-image-trop-grande")
    return data


# The smallest Data Matrix symbol is 10×10 modules (ISO/IEC 16022 Table 7): a smaller image holds none,
# and libdmtx's scan grid asserts (aborting the whole process) on one of 2×2 pixels or less.
MIN_SIDE = 10


def _load_image(data: bytes) -> Image.Image:
    """Open untrusted PNG bytes as an 8-bit grey image, refusing bombs before any pixel is decoded.

    `Image.open` only reads the header, so the declared size is checked before `load()` allocates
    anything; Pillow's own `MAX_IMAGE_PIXELS` guard stays in force behind ours (its warning is
    turned into a refusal) without changing that process-wide setting.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image: Image.Image = Image.open(io.BytesIO(data), formats=["PNG"])
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise _error(
                    f"image de {width}×{height} pixels, au plus {MAX_IMAGE_PIXELS} pixels",
                    "datamatrix-image-trop-grande",
                )
            if min(width, height) < MIN_SIDE:  # libdmtx aborts the process on a 2×2 image (an assert)
                raise _error(
                    f"image de {width}×{height} pixels : trop petite pour un Datamatrix (10×10 modules au moins)",
                    "datamatrix-image",
                )
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                # Transparent background: put it on white, as it would be printed.
                rgba = image.convert("RGBA")
                flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                flat.alpha_composite(rgba)
                image = flat
            return image.convert("L")
        except InvalidInput:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _error("image refusée : dimensions excessives", "datamatrix-image-trop-grande") from None
        except Exception as exc:  # noqa: BLE001 — any decoder failure on hostile bytes is a refusal, not a 500
            raise _error(f"image PNG illisible ({type(exc).__name__})", "datamatrix-image") from None


def read_png(path_or_bytes: str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO) -> InsDatamatrix:
    """Find the Datamatrix INS in a PNG (a scan or a rendered label) and parse it strictly.

    The image is untrusted: size limits come first, decoding is bounded in time, and every failure
    is an `InvalidInput`. Other Data Matrix symbols on the same page (a 2D-Doc, a drug code) are
    ignored; two different INS symbols are refused rather than one picked at random.
    """
    image = _load_image(_read_limited(path_or_bytes))
    try:
        found = pylibdmtx.decode(image, timeout=DECODE_TIMEOUT_MS, max_count=4)
    except Exception as exc:  # noqa: BLE001 — libdmtx errors on odd images are refusals too
        raise _error(f"décodage impossible ({type(exc).__name__})", "datamatrix-illisible") from None
    payloads = set()
    for symbol in found:
        try:
            text = symbol.data.decode("ascii")
        except UnicodeDecodeError:
            continue
        if text.startswith("IS"):
            payloads.add(text)
    if not payloads:
        raise _error("aucun Datamatrix INS lisible dans l'image", "datamatrix-illisible")
    if len(payloads) > 1:
        raise _error("plusieurs Datamatrix INS différents dans l'image", "datamatrix-ambigu")
    return parse_content(payloads.pop())
