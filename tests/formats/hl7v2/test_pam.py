"""Reading PAM France 2.11 (issue 22 §1.1): the ANS examples read field by field; what is missing or
malformed refused with its segment and field."""

from pathlib import Path

import pytest

from maison.formats.hl7v2 import pam
from maison.formats.hl7v2.listener import parse
from maison.formats.hl7v2.refusal import Hl7Refusal
from tests.etablissement.sejours.messages import PAM_EXAMPLES, adt, pid


def _read(text: str) -> pam.PamMessage:
    return pam.read(parse(text))


def test_the_ans_admission_example(reference_path: Path):
    msg = _read((reference_path / "hl7v2/exemples" / PAM_EXAMPLES[0]).read_text())
    assert (msg.event, msg.control_id, msg.sender) == ("A01", "3975", "GAM^CHU-X")
    p = msg.patient
    assert (p.structure, p.ipp, p.nom_naissance, p.prenoms, p.sexe) == (
        "000897406",
        "000003",
        "PAT-TROIS",
        "DOMINIQUE",
        "F",
    )
    assert (p.date_naissance, p.lieu_naissance, p.status) == ("1979-03-28", "63220", "VALI")
    assert (p.ins_number, p.ins_oid) == ("279035121518989", "1.2.250.1.213.1.4.10")
    assert (msg.stay_number, msg.stay_structure, msg.patient_class) == ("000897406", "000897406", "I")
    m = msg.movement
    assert (m.id, m.at, m.action, m.unit, m.unit_name, m.nature) == (
        "001",
        "2024-03-06T11:00:00+01:00",
        "INSERT",
        "6268",
        "Chir V",
        "HMS",
    )
    assert (msg.dmp.dmp_status, msg.dmp.feeding, msg.dmp.consultation) == ("ACTIF", "INO", "IC")


def test_the_ans_discharge_example_whose_zbe_is_one_field_late(reference_path: Path):
    msg = _read((reference_path / "hl7v2/exemples" / PAM_EXAMPLES[1]).read_text())
    assert (msg.event, msg.movement.id, msg.movement.action, msg.movement.unit) == ("A03", "002", "INSERT", "8782")


def test_attributes_used_names_and_offsets():
    text = adt("A28", "1", stay="", movement="", patient=pid(status="PROV~DOUTE"), at="202403061100+0200")
    text = text.replace("^^^^L||", "^^^^L~PAT-CINQ^CAMILLE^^^^^D||")
    msg = _read(text)
    assert msg.patient.attributes == frozenset({"douteuse"})
    assert (msg.patient.nom_utilise, msg.patient.prenom_utilise) == ("PAT-CINQ", "CAMILLE")
    assert msg.at == "2024-03-06T11:00:00+02:00"


@pytest.mark.parametrize(
    "text,where",
    [
        (adt("A01", "1").replace("EVN|", "XXX|"), ("AR", "EVN", None)),
        (adt("A01", "1").replace("PID|", "XXX|"), ("AR", "PID", None)),
        (adt("A40", "1", stay="", movement=""), ("AR", "MRG", None)),
        (adt("A01", "", stay="S1"), ("AR", "MSH", 10)),
        (adt("A01", "1").replace("|19790328|", "||"), ("AE", "PID", 7)),
        (adt("A01", "1").replace("PAT-TROIS^DOMINIQUE^DOMINIQUE", ""), ("AE", "PID", 5)),
        (adt("A01", "1").replace("000897406|20240306110000|", "000897406|06/03/2024|"), ("AE", "ZBE", 2)),
        (adt("A01", "1").replace("000897406|20240306110000|", "000897406|20241306110000|"), ("AE", "ZBE", 2)),
        # Arabic-Indic digits: int() would read them as a date (tests/hostile/test_ascii_digits.py's rule)
        (adt("A01", "1").replace("000897406|20240306110000|", "000897406|٢٠٢٤٠٣٠٦١١٠٠٠٠|"), ("AE", "ZBE", 2)),
        (adt("A01", "1", at="2024-03-06"), ("AE", "EVN", 6)),
        (adt("A01", "1", action="DELETE"), ("AE", "ZBE", 4)),
        (adt("A01", "1").replace("ZBE|M1^", "ZBE|^"), ("AE", "ZBE", 1)),
    ],
)
def test_what_is_missing_or_malformed_is_located(text, where):
    with pytest.raises(Hl7Refusal) as refused:
        _read(text)
    assert (refused.value.acknowledgment, refused.value.segment, refused.value.field) == where
