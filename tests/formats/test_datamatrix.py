"""Datamatrix INS: the payload format (ANS "Datamatrix INS" v2.2) and its PNG rendering/reading."""

from __future__ import annotations

import io
import os
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from maison.core.errors import InvalidInput
from maison.core.identifiers.nir import OID_INS_NIR, OID_INS_NIR_TEST, nir_key
from maison.core.ins_traits import Traits
from maison.formats import datamatrix
from maison.formats.datamatrix import (
    HEADER,
    MAX_CONTENT_LENGTH,
    InsDatamatrix,
    content,
    parse_content,
    read_png,
    render_png,
)

GS = "\x1d"
# Seed 003 L229: 2 77 01 01 154 003 29, GARCIA-HAMMADI Sarah-Lou Anna, F, 21/01/1977, 01154.
SEED = InsDatamatrix(
    "277010115400329", OID_INS_NIR, Traits.of("GARCIA-HAMMADI", "SARAH-LOU ANNA", "F", "1977-01-21", "01154")
)
SEED_CONTENT = (
    "IS010000000000000000000000S1277010115400329S21.2.250.1.213.1.4.8\x1dS3SARAH-LOU ANNA\x1d"
    "S4GARCIA-HAMMADI\x1dS5FS621-01-1977S701154"
)

# Mediboard/ZXing style: fields in another order, a 20-character OID (so no GS after S2) and S4
# last (so no GS at the end). 1 85 06 13 201 123 key 47, born 18/06/1985 in 13201.
OTHER_ORDER = (
    "IS010000000000000000000000S5MS618-06-1985S713201S21.2.250.1.213.1.4.10"
    "S1185061320112347S3JEAN PIERRE\x1dS4D'ARTAGNAN"
)


def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def _refused(text: str, code: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        parse_content(text)
    assert info.value.code == code, info.value.message
    assert info.value.message.startswith("Datamatrix INS : ")
    return info.value


# --- Payload -----------------------------------------------------------------------------------


def test_seed_vector_exact_content_and_round_trip():
    assert content(SEED) == SEED_CONTENT
    back = parse_content(SEED_CONTENT)
    assert back == SEED
    assert back.traits.prenoms == ("SARAH-LOU", "ANNA") and back.traits.date_naissance == "1977-01-21"


def test_fields_in_any_order_and_twenty_character_oid():
    assert nir_key("1850613201123") == "47"
    dm = parse_content(OTHER_ORDER)
    assert dm.matricule == "185061320112347" and dm.oid == OID_INS_NIR_TEST and len(dm.oid) == 20
    assert dm.traits == Traits("D'ARTAGNAN", ("JEAN", "PIERRE"), "M", "1985-06-18", "13201")
    # Written back in the spec's order: still no GS after a 20-character OID.
    assert content(dm) == (
        "IS010000000000000000000000S1185061320112347S21.2.250.1.213.1.4.10S3JEAN PIERRE\x1d"
        "S4D'ARTAGNAN\x1dS5MS618-06-1985S713201"
    )


def test_birth_place_unknown_is_omitted():
    dm = InsDatamatrix(
        SEED.matricule, SEED.oid, Traits("GARCIA-HAMMADI", ("SARAH-LOU", "ANNA"), "F", "1977-01-21", None)
    )
    text = content(dm)
    assert text.endswith("S5FS621-01-1977") and "S7" not in text
    assert parse_content(text) == dm
    assert parse_content(_replace(SEED_CONTENT, "S701154", "")).traits.lieu_naissance is None


def test_lunar_date_and_foreign_birth_place():
    dm = InsDatamatrix(SEED.matricule, SEED.oid, Traits("GARCIA-HAMMADI", ("SARAH-LOU",), "F", "1977-00-00", "99352"))
    text = content(dm)
    assert "S600-00-1977S799352" in text
    assert parse_content(text) == dm


def test_maximum_lengths_carry_no_separator():
    prenoms = ("A" * 49, "B" * 50)  # 49 + 1 + 50 = 100
    dm = InsDatamatrix(SEED.matricule, OID_INS_NIR_TEST, Traits("C" * 100, prenoms, "F", "1977-01-21", "01154"))
    text = content(dm)
    assert GS not in text and len(text) == MAX_CONTENT_LENGTH
    assert parse_content(text) == dm


@settings(max_examples=50, deadline=None)
@given(
    nom=st.from_regex(r"\A[A-Z]{1,20}(?:[ '\-][A-Z]{1,20}){0,2}\Z"),
    # S3 holds at most 100 characters (spec v2.2): longer lists are refused, tested above
    prenoms=st.lists(st.from_regex(r"\A[A-Z]{1,15}(?:-[A-Z]{1,15})?\Z"), min_size=1, max_size=4).filter(
        lambda p: len(" ".join(p)) <= 100
    ),
    oid=st.sampled_from([OID_INS_NIR, OID_INS_NIR_TEST]),
    lieu=st.sampled_from([None, "01154", "2A004", "99352"]),
)
def test_round_trip_property(nom, prenoms, oid, lieu):
    dm = InsDatamatrix(SEED.matricule, oid, Traits(nom, tuple(prenoms), "F", "1977-01-21", lieu))
    assert parse_content(content(dm)) == dm


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "datamatrix-vide"),
        ("DC03" + SEED_CONTENT[4:], "datamatrix-entete"),  # a 2D-Doc, not an INS
        ("IS02" + SEED_CONTENT[4:], "datamatrix-version"),
        (_replace(SEED_CONTENT, HEADER, "IS010000000000000000000001"), "datamatrix-entete"),
        ("IS0100000000", "datamatrix-entete"),  # truncated header
        (HEADER, "datamatrix-tronque"),  # header only
        (_replace(SEED_CONTENT, "S1277010115400329", "S1277010115400328"), "nir-key"),
        (_replace(SEED_CONTENT, "S1277010115400329", "S1577010115400329"), "nir-format"),
        (_replace(SEED_CONTENT, "GARCIA-HAMMADI", "Garcia-Hammadi"), "datamatrix-trait-non-normalise"),
        (_replace(SEED_CONTENT, "GARCIA-HAMMADI", "GARCÍA-HAMMADI"), "datamatrix-caractere"),
        (_replace(SEED_CONTENT, "SARAH-LOU ANNA", "SARAH-LOU  ANNA"), "datamatrix-trait-non-normalise"),
        (_replace(SEED_CONTENT, "SARAH-LOU ANNA", "SARAH2"), "datamatrix-trait-non-normalise"),
        (SEED_CONTENT + "S8X", "datamatrix-champ-inconnu"),
        (SEED_CONTENT + "S5F", "datamatrix-champ-double"),
        (_replace(SEED_CONTENT, "S5F", ""), "datamatrix-champ-absent"),
        (SEED_CONTENT[:-3], "datamatrix-tronque"),  # cut inside S7
        (SEED_CONTENT.split("S6")[0] + "S621-01", "datamatrix-tronque"),
        (SEED_CONTENT + "S", "datamatrix-tronque"),
        (SEED_CONTENT + "A" * (MAX_CONTENT_LENGTH - len(SEED_CONTENT) + 1), "datamatrix-trop-long"),
        (_replace(SEED_CONTENT, "S5F", "S5X"), "sexe"),
        (_replace(SEED_CONTENT, "21-01-1977", "1977-01-21"), "date-format"),
        (_replace(SEED_CONTENT, "21-01-1977", "30-02-1977"), "date-invalid"),
        (_replace(SEED_CONTENT, "S701154", "S70115A"), "cog-format"),
        (_replace(SEED_CONTENT, "1.2.250.1.213.1.4.8", "1.2.250.1.213.1.A.8"), "datamatrix-oid"),
        (_replace(SEED_CONTENT, "1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4"), "datamatrix-longueur"),
        (_replace(SEED_CONTENT, "1.2.250.1.213.1.4.8\x1d", "1.2.250.1.213.1.4.8"), "datamatrix-oid"),  # GS missing
        (_replace(OTHER_ORDER, "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.10\x1d"), "datamatrix-separateur"),
        (SEED_CONTENT.split("S7")[0].replace("S5F", "") + "\x1dS5F", "datamatrix-separateur"),
        (_replace(OTHER_ORDER, "D'ARTAGNAN", "D'ARTAGNAN\x1d"), "datamatrix-separateur"),  # GS after the last field
        (_replace(SEED_CONTENT, "S3SARAH-LOU ANNA", "S3"), "datamatrix-longueur"),
        (SEED_CONTENT + "\n", "datamatrix-caractere"),
        (_replace(SEED_CONTENT, "\x1dS4", "\x1eS4"), "datamatrix-caractere"),
    ],
)
def test_rejected_contents(text, code):
    _refused(text, code)


def test_error_messages_say_where_and_why():
    assert (
        "clé 28 invalide"
        in _refused(_replace(SEED_CONTENT, "S1277010115400329", "S1277010115400328"), "nir-key").message
    )
    assert "'S8'" in _refused(SEED_CONTENT + "S8X", "datamatrix-champ-inconnu").message
    assert (
        "S4 (nom de naissance)"
        in _refused(_replace(SEED_CONTENT, "GARCIA-HAMMADI", "Garcia"), "datamatrix-trait-non-normalise").message
    )
    assert "U+000A" in _refused(SEED_CONTENT + "\n", "datamatrix-caractere").message


@pytest.mark.parametrize(
    ("dm", "code"),
    [
        (InsDatamatrix("277010115400328", OID_INS_NIR, SEED.traits), "nir-key"),
        (InsDatamatrix("2 77 01 01 154 003 29", OID_INS_NIR, SEED.traits), "datamatrix-longueur"),
        (InsDatamatrix("2770101154003.29", OID_INS_NIR, SEED.traits), "datamatrix-longueur"),
        (InsDatamatrix("27701011540 29", OID_INS_NIR, SEED.traits), "datamatrix-longueur"),
        (InsDatamatrix("2770101154 0329", OID_INS_NIR, SEED.traits), "nir-format"),
        (InsDatamatrix(SEED.matricule, "1.2.250.1.213", SEED.traits), "datamatrix-longueur"),
        (InsDatamatrix(SEED.matricule, "1.2.250.1.213.1.4.8.1", SEED.traits), "datamatrix-longueur"),
        (
            InsDatamatrix(SEED.matricule, OID_INS_NIR, Traits("Garcia", ("SARAH",), "F", "1977-01-21")),
            "datamatrix-trait-non-normalise",
        ),
        (
            InsDatamatrix(SEED.matricule, OID_INS_NIR, Traits("GARCÍA", ("SARAH",), "F", "1977-01-21")),
            "datamatrix-caractere",
        ),
        (
            InsDatamatrix(SEED.matricule, OID_INS_NIR, Traits("GARCIA", ("MARIE ANNE",), "F", "1977-01-21")),
            "datamatrix-trait-non-normalise",
        ),
        (InsDatamatrix(SEED.matricule, OID_INS_NIR, Traits("GARCIA", (), "F", "1977-01-21")), "datamatrix-longueur"),
        (
            InsDatamatrix(SEED.matricule, OID_INS_NIR, Traits("C" * 101, ("SARAH",), "F", "1977-01-21")),
            "datamatrix-longueur",
        ),
        (InsDatamatrix(SEED.matricule, OID_INS_NIR, Traits("GARCIA", ("SARAH",), "X", "1977-01-21")), "sexe"),
        (InsDatamatrix(SEED.matricule, OID_INS_NIR, Traits("GARCIA", ("SARAH",), "F", "21/01/1977")), "date-format"),
        (
            InsDatamatrix(SEED.matricule, OID_INS_NIR, Traits("GARCIA", ("SARAH",), "F", "1977-01-21", "1154")),
            "datamatrix-longueur",
        ),
    ],
)
def test_content_refuses_what_the_format_cannot_carry(dm, code):
    with pytest.raises(InvalidInput) as info:
        content(dm)
    assert info.value.code == code, info.value.message


# --- Images ------------------------------------------------------------------------------------


def test_png_round_trip_through_a_file(tmp_path):
    path = tmp_path / "ins.png"
    render_png(SEED, path, module_size=6)
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert width == height and width % 6 == 0
    assert read_png(path) == SEED
    assert read_png(str(path)) == SEED


def test_png_round_trip_through_bytes_and_module_size():
    sizes = []
    for module_size in (2, 4):
        buffer = io.BytesIO()
        render_png(SEED, buffer, module_size=module_size)
        assert read_png(buffer.getvalue()) == SEED
        sizes.append(Image.open(io.BytesIO(buffer.getvalue())).size[0])
    assert sizes[1] == 2 * sizes[0]


def test_png_on_a_page_with_transparency_and_margin():
    buffer = io.BytesIO()
    render_png(SEED, buffer)
    symbol = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    page = Image.new("LA", (symbol.width + 200, symbol.height + 120), (0, 0))  # transparent page
    page.paste(Image.merge("LA", (symbol, Image.new("L", symbol.size, 255))), (150, 40))
    out = io.BytesIO()
    page.save(out, format="PNG")
    assert read_png(out.getvalue()) == SEED


def test_png_bad_module_size():
    with pytest.raises(InvalidInput) as info:
        render_png(SEED, io.BytesIO(), module_size=0)
    assert info.value.code == "datamatrix-module"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_declaring(width: int, height: int) -> bytes:
    """A few dozen bytes that claim a huge greyscale image: the classic decompression bomb header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def _read_refused(source) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        read_png(source)
    return info.value


@pytest.mark.parametrize("size", [(100_000, 100_000), (5_000, 4_000), (1, 20_000_000)])
def test_tiny_png_declaring_huge_dimensions(size):
    data = _png_declaring(*size)
    assert len(data) < 200
    assert _read_refused(data).code == "datamatrix-image-trop-grande"


def test_hostile_or_useless_images():
    assert _read_refused(os.urandom(4096)).code == "datamatrix-image"
    assert _read_refused(b"").code == "datamatrix-image"
    buffer = io.BytesIO()
    render_png(SEED, buffer)
    assert _read_refused(buffer.getvalue()[:200]).code == "datamatrix-image"  # truncated PNG
    assert _read_refused(_png_declaring(64, 64)).code == "datamatrix-image"  # IDAT too short
    jpeg = io.BytesIO()
    Image.new("L", (32, 32), 255).save(jpeg, format="JPEG")
    assert _read_refused(jpeg.getvalue()).code == "datamatrix-image"  # PNG only
    blank = io.BytesIO()
    Image.new("L", (200, 200), 255).save(blank, format="PNG")
    assert _read_refused(blank.getvalue()).code == "datamatrix-illisible"
    assert _read_refused(b"\x89PNG" + b"\x00" * (datamatrix.MAX_IMAGE_BYTES + 1)).code == "datamatrix-image-trop-grande"
    assert _read_refused(12345).code == "datamatrix-image"


def test_missing_file(tmp_path):
    assert _read_refused(tmp_path / "absent.png").code == "datamatrix-image"


def test_noise_is_refused_within_the_time_limit(monkeypatch):
    monkeypatch.setattr(datamatrix, "DECODE_TIMEOUT_MS", 300)
    noise = Image.frombytes("L", (300, 300), os.urandom(300 * 300))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    assert _read_refused(buffer.getvalue()).code == "datamatrix-illisible"


def test_symbol_that_is_not_an_ins_is_ignored():
    from pylibdmtx import pylibdmtx

    encoded = pylibdmtx.encode(b"DC04FR000001")
    image = Image.frombytes("RGB", (encoded.width, encoded.height), encoded.pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    assert _read_refused(buffer.getvalue()).code == "datamatrix-illisible"


def test_valid_symbol_with_invalid_ins_payload_is_refused():
    from pylibdmtx import pylibdmtx

    encoded = pylibdmtx.encode(_replace(SEED_CONTENT, "S1277010115400329", "S1277010115400328").encode())
    image = Image.frombytes("RGB", (encoded.width, encoded.height), encoded.pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    assert _read_refused(buffer.getvalue()).code == "nir-key"


@settings(max_examples=300, deadline=None)
@given(
    cut=st.integers(0, len(SEED_CONTENT)),
    drop=st.integers(0, 5),
    insert=st.text(alphabet=st.sampled_from("S1234567890 -'.AZaé\x1d\x00"), max_size=6),
)
def test_mangled_content_is_parsed_or_refused_never_crashes(cut, drop, insert):
    text = SEED_CONTENT[:cut] + insert + SEED_CONTENT[cut + drop :]
    try:
        dm = parse_content(text)
    except InvalidInput as exc:
        assert exc.message.startswith("Datamatrix INS : ")
    else:
        assert content(dm) == text or parse_content(content(dm)) == dm


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (9, 40)])
def test_an_image_too_small_for_any_symbol_is_refused_before_libdmtx(size):
    """libdmtx asserts on a 2×2 image and aborts the whole server (found by Schemathesis on
    $lire-datamatrix, issue 21 §3.1): such an image is a refusal, never handed to it."""
    buffer = io.BytesIO()
    Image.new("L", size, 255).save(buffer, "PNG")
    with pytest.raises(InvalidInput, match="trop petite"):
        datamatrix.read_png(buffer.getvalue())
