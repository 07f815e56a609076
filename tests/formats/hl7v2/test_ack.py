"""The ACK: sender and receiver swapped, MSA-2 = MSH-10, ERR from the refusal (HL7 v2.5 §2.15.5, §2.15.8)."""

import hl7
import pytest

from maison.formats.hl7v2.ack import Header, ack, check_encoding_characters, escape
from maison.formats.hl7v2.refusal import ErrorCode, Hl7Refusal

MSH = "MSH|^~\\&|GAM|CHU-X|DPI|CHU-X|20240306111154||ADT^A01^ADT_A01|3975|D|2.5^FRA^2.11|||||FRA|UNICODE UTF-8|FR"


def test_an_ack_swaps_sender_and_receiver_and_echoes_the_control_id():
    answer = hl7.parse(ack(Header.read(MSH), "AA").strip("\r"))
    assert [str(answer.extract_field("MSH", 1, n)) for n in (3, 4, 5, 6)] == ["DPI", "CHU-X", "GAM", "CHU-X"]
    assert str(answer.extract_field("MSH", 1, 9, 1, 1)) == "ACK"
    assert str(answer.extract_field("MSH", 1, 9, 1, 2)) == "A01"
    assert str(answer.extract_field("MSH", 1, 18)) == "UNICODE UTF-8"
    assert str(answer.extract_field("MSA", 1, 1)) == "AA"
    assert str(answer.extract_field("MSA", 1, 2)) == "3975"


def test_a_refusal_names_segment_field_and_table_0357_code():
    refusal = Hl7Refusal("numéro de séjour | absent", ErrorCode.REQUIRED_FIELD, "PV1", 1, 19)
    answer = hl7.parse(ack(Header.read(MSH), "AE", refusal).strip("\r"))
    assert str(answer.extract_field("MSA", 1, 1)) == "AE"
    assert str(answer.extract_field("ERR", 1, 2, 1, 1)) == "PV1"
    assert str(answer.extract_field("ERR", 1, 2, 1, 3)) == "19"
    assert str(answer.extract_field("ERR", 1, 3, 1, 1)) == "101"
    assert str(answer.extract_field("ERR", 1, 3, 1, 3)) == "HL70357"
    assert str(answer.extract_field("ERR", 1, 4)) == "E"
    assert "\\F\\" in str(answer.segment("ERR")[8])  # the user message's | escaped


def test_a_header_that_is_not_msh_gives_an_empty_header():
    assert Header.read("PID|1").control_id == ""
    assert "MSA|AR|" in ack(Header.read("garbage"), "AR")


@pytest.mark.parametrize("text,field", [("MSH#^~\\&#GAM", 1), ("MSH|^~\\#|GAM", 2), ("MSH|^~|GAM", 2)])
def test_wrong_encoding_characters_are_ar(text, field):
    with pytest.raises(Hl7Refusal) as refused:
        check_encoding_characters(text)
    assert (refused.value.acknowledgment, refused.value.segment, refused.value.field) == ("AR", "MSH", field)


def test_escape():
    assert escape("a|b^c&d~e\\f") == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"
