"""The lean field reader: python-hl7's answers on every example of the reference, HL7 escapes decoded,
formatting commands (FT only, HL7 v2.5 §2.7.6) refused instead of expanded."""

from __future__ import annotations

from pathlib import Path

import hl7
import pytest

from maison.formats.hl7v2.fields import Fields
from maison.formats.hl7v2.listener import fields as read_fields
from maison.formats.hl7v2.refusal import ErrorCode, Hl7Refusal


def _examples(reference_path: Path) -> list[Path]:
    root = reference_path / "hl7v2" / "exemples"
    found = [p for p in root.rglob("*") if p.suffix.lower() in (".hl7", ".er7", ".txt") and p.is_file()]
    return [p for p in found if p.read_bytes().lstrip().startswith(b"MSH")]


def _python_hl7(message: hl7.Message, segment: str, fld: int, rep: int, comp: int, sub: int) -> str:
    try:
        return str(message.extract_field(segment, 1, fld, rep, comp, sub)).strip()
    except (KeyError, IndexError):
        return ""


def test_every_reference_message_reads_as_python_hl7_reads_it(reference_path: Path) -> None:
    examples = _examples(reference_path)
    assert len(examples) >= 10
    compared = 0
    for path in examples:
        raw = path.read_bytes()
        text = raw.decode("utf-8") if raw.isascii() or _utf8(raw) else raw.decode("latin-1")
        try:
            lean = read_fields(text)
        except Hl7Refusal as refused:  # the V2.0 volet's examples write MSH-2 with "˜" (U+02DC) for "~"
            assert (refused.segment, refused.field) == ("MSH", 2) and "\u02dc" in text[:9]
            continue
        tree = hl7.parse(lean.text)
        assert lean.text + "\r" == str(tree)  # the digest of idempotence is unchanged (pam.read)
        for segment in {str(s[0][0]) for s in tree}:
            width = max(len(s) for s in tree.segments(segment))
            for fld in range(1, width + 2):
                for rep, comp, sub in ((1, 1, 1), (1, 2, 1), (2, 1, 1), (1, 1, 2), (1, 4, 2), (1, 10, 1), (3, 9, 1)):
                    expected = _python_hl7(tree, segment, fld, rep, comp, sub)
                    assert lean.field(segment, fld, rep, comp, sub) == expected, (path.name, segment, fld, rep, comp)
                    compared += 1
            if segment in ("PID", "PV1", "ZBE", "OBX"):
                value = tree.segment(segment)[3] if len(tree.segment(segment)) > 3 else ""
                repeated = value and isinstance(value[0], hl7.Repetition)
                assert lean.repetitions(segment, 3) == (len(value) if repeated else 1)
    assert compared > 5000


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


MSH = "MSH|^~\\&|GAM|CHU|MAISON|CHU|20261207080000||ADT^A01^ADT_A01|1|P|2.5"


def test_escapes_decode_to_the_separators_and_bytes() -> None:
    f = Fields(MSH + "\rPID|1||X||DUPONT\\S\\MARTIN\\T\\A\\F\\B\\R\\C\\E\\D\\X41E9\\^JEAN\\H\\LUC\\N\\")
    assert f.field("PID", 5) == "DUPONT^MARTIN&A|B~C\\DAé"
    assert f.field("PID", 5, 1, 2) == "JEANLUC"
    assert f.field("MSH", 1) == "|" and f.field("MSH", 2) == "^~\\&" and f.field("MSH", 9, 1, 2) == "A01"


@pytest.mark.parametrize("escape", ["\\.sp999999999\\", "\\.br\\", "\\Zlocal\\", "\\X4\\", "\\Xzz\\", "\\ouvert"])
def test_formatting_commands_and_bad_escapes_are_a_data_type_error_naming_the_field(escape: str) -> None:
    f = Fields(MSH + f"\rPID|1||X||DUPONT{escape}^JEAN")
    with pytest.raises(Hl7Refusal) as refused:
        f.field("PID", 5)
    assert (refused.value.code, refused.value.segment, refused.value.field) == (ErrorCode.DATA_TYPE, "PID", 5)


def test_python_hl7_would_expand_a_spacing_command_into_a_gigabyte() -> None:
    """Why the lean reader refuses formatting commands: python-hl7's unescape repeats CR n times."""
    tree = hl7.parse(MSH + "\rPID|1||X||DUPONT\\.sp12\\")
    assert str(tree.extract_field("PID", 1, 5, 1, 1)) == "DUPONT" + "\r" * 12


@pytest.mark.parametrize("text", ["PID|1", MSH + "\rpid|1", MSH + "\rP D|1", MSH + "\r\x00\x01\x02"])
def test_lines_that_are_not_segments_are_refused_ar(text: str) -> None:
    with pytest.raises(Hl7Refusal) as refused:
        Fields(text)
    assert refused.value.acknowledgment == "AR"


def test_absent_reads_empty_and_repetitions_count() -> None:
    f = Fields(MSH + "\rPID|1||A^^^X~B^^^Y||N\rZBE||")
    assert (f.field("PV1", 19), f.field("PID", 40), f.field("PID", 3, 3), f.field("PID", 3, 1, 4)) == ("", "", "", "X")
    assert (f.repetitions("PID", 3), f.repetitions("PID", 5), f.repetitions("PID", 40), f.repetitions("PV1", 1)) == (
        2,
        1,
        0,
        0,
    )
    assert f.has("ZBE") and not f.has("PV1") and f.occurrences("ZBE") == 1


def test_text_unescapes_with_one_line_break_per_formatting_command() -> None:
    from maison.formats.hl7v2.fields import unescape_text

    assert unescape_text("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X3C2F\\") == "a|b^c&d~e\\f</"
    assert unescape_text("ligne\\.br\\suite\\.sp999999999\\fin\\H\\gras\\N\\") == "ligne\nsuite\nfin" + "gras"
    assert unescape_text("<ClinicalDocument/>") == "<ClinicalDocument/>"
