import pytest
from hypothesis import given
from hypothesis import strategies as st

from maison.core.errors import InvalidInput
from maison.core.identifiers.checksums import is_luhn_valid, luhn_check_digit
from maison.core.identifiers.nir import MatriculeType, consistency_problems, nir_key, parse_matricule
from maison.core.identifiers.professionals import (
    department_of_structure,
    idnatps_from_rpps,
    is_am_number,
    is_finess,
    is_rpps,
    is_siret,
    parse_idnatps,
    parse_idnatstruct,
)


def test_nir_test_vector_of_the_seed():
    # seed 003 L229-234: 2 77 01 01 154 003 29, GARCIA-HAMMADI Sarah-Lou Anna, F, 21/01/1977, 01154.
    m = parse_matricule("2 77 01 01 154 003 29")
    assert m.key == "29" and m.type is MatriculeType.NIR and m.sex == "F"
    assert consistency_problems(m, sex="F", birth_date="1977-01-21", birth_place="01154") == []


def test_nir_key_corsica():
    # SPEC §1: 2A counts as 19, 2B as 18 in the key computation.
    number_a = "185022A004123"
    assert nir_key(number_a) == f"{97 - int('1850219004123') % 97:02d}"
    number_b = "185022B004123"
    assert nir_key(number_b) == f"{97 - int('1850218004123') % 97:02d}"
    assert parse_matricule(number_a + nir_key(number_a)).place == "2A004"


@pytest.mark.parametrize(
    "bad, code",
    [
        ("277010115400328", "nir-key"),  # wrong key
        ("27701011540032", "nir-format"),  # too short
        ("577010115400329", "nir-format"),  # first digit not 1/2/3/4/7/8
        ("2770101X5400329", "nir-format"),
        ("277010A11540032", "nir-format"),  # a letter outside the department place (found by hypothesis)
    ],
)
def test_invalid_matricules_are_refused(bad, code):
    with pytest.raises(InvalidInput) as err:
        parse_matricule(bad)
    assert err.value.code == code


def test_nia_is_recognised():
    number = "7800175123456"
    m = parse_matricule(number + nir_key(number))
    assert m.type is MatriculeType.NIA and m.oid == "1.2.250.1.213.1.4.9"


def test_nir_consistency_with_traits():
    m = parse_matricule("277010115400329")
    problems = consistency_problems(m, sex="M", birth_date="1978-02-21", birth_place="75056")
    assert len(problems) == 4
    # unknown month (date lunaire) agrees with any NIR month
    assert consistency_problems(m, sex="F", birth_date="1977-00-00", birth_place=None) == []
    # a pre-1976 Corsican NIR (département 20) agrees with a COG in 2A/2B
    number = "1500320004123"
    old = parse_matricule(number + nir_key(number))
    assert consistency_problems(old, sex="M", birth_date="1950-03-01", birth_place="2A004") == []


@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_luhn_check_digit_always_validates(payload):
    assert is_luhn_valid(payload + luhn_check_digit(payload))


def test_professional_identifiers_of_the_seed():
    # seed 001 L383-384: RPPS 99900038441, N°AM 991118019.
    assert is_rpps("99900038441") and not is_rpps("99900038442")
    assert is_am_number("991118019") and not is_am_number("991118018")
    assert idnatps_from_rpps("99900038441") == "899900038441"
    assert parse_idnatps("899900038441").kind == "RPPS"
    with pytest.raises(InvalidInput):
        parse_idnatps("899900038442")


def test_structure_identifiers():
    finess = "01000024" + luhn_check_digit("01000024")
    assert is_finess(finess)
    assert parse_idnatstruct("1" + finess).kind == "FINESS"
    assert department_of_structure("1" + finess) == "01"
    siret = "7320829550001" + luhn_check_digit("7320829550001")
    assert is_siret(siret) and parse_idnatstruct("3" + siret).kind == "SIRET"
    with pytest.raises(InvalidInput):
        parse_idnatstruct("9123")
