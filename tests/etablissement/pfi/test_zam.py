"""The ZAM business acknowledgements (CI-SIS volet "Transmission de documents CDA en HL7v2" 2.1,
profils-messages.md): built as the volet's own example messages are ("Message metier reception DMP",
"… reception MSS", "… lecture MSS")."""

from __future__ import annotations

from pathlib import Path

import hl7

from maison.etablissement.pfi import zam

EXAMPLES = Path("/work/shared/reference/hl7v2/exemples/Volets/TRANS_DOC_CDA_HL7V2/V2.1/ORU/Transmission initiale ORU")
PARTIES = zam.Parties("PFI-X", "Organisation-X", "SIL-Y", "labo")


def example(name: str) -> hl7.Message:
    return hl7.parse(
        EXAMPLES.joinpath(name).read_text(encoding="utf-8").replace("\r\n", "\r").replace("\n", "\r").strip()
    )


def same(ours: hl7.Message, theirs: hl7.Message, *fields: tuple[str, int, int]) -> None:
    for segment, occurrence, number in fields:
        a = str(ours.segments(segment)[occurrence][number])
        b = str(theirs.segments(segment)[occurrence][number])
        assert a == b, (segment, occurrence, number, a, b)


def test_z01_is_the_volet_s_dmp_acknowledgement():
    _control, text = zam.dmp_received(PARTIES, "015", False, "DMPClosed", "DMP fermé")
    ours, theirs = hl7.parse(text.strip()), example("Message metier reception DMP")
    same(ours, theirs, ("MSH", 0, 3), ("MSH", 0, 4), ("MSH", 0, 5), ("MSH", 0, 6), ("MSH", 0, 9), ("MSH", 0, 12))
    same(ours, theirs, ("MSH", 0, 21), ("OBX", 0, 2), ("OBX", 0, 3), ("OBX", 0, 4), ("OBX", 0, 5), ("OBX", 0, 11))
    same(ours, theirs, ("ERR", 0, 3), ("ERR", 0, 4))
    assert str(ours.segment("ERR")[5]).startswith("DMPClosed^DMP fermé^")


def test_z02_and_z03_name_the_recipient_and_the_reader():
    _c, text = zam.mss_received(PARTIES, "015", "dr.x@test.mssante.fr", True)
    ours, theirs = hl7.parse(text.strip()), example("Message metier reception MSS")
    same(ours, theirs, ("MSH", 0, 9), ("OBX", 0, 2), ("OBX", 0, 3), ("OBX", 0, 4), ("OBX", 0, 5))
    assert str(ours.segments("OBX")[1][3]).startswith("DESTINATAIRE_MSS") and "ERR|" not in text
    _c, text = zam.mss_read(PARTIES, "015", "dr.x@test.mssante.fr", False, "904", "INS différent")
    read, theirs = hl7.parse(text.strip()), example("Message metier lecture MSS")
    same(read, theirs, ("MSH", 0, 9), ("OBX", 0, 3), ("OBX", 0, 4))
    assert str(read.segments("OBX")[1][5]) == "^^X.400^dr.x@test.mssante.fr"
    assert str(read.segment("ERR")[5]) == "904^INS différent^applicationErrorCondition"
