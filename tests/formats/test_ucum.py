"""UCUM units: the grammar, and the CI-SIS table terminologie.sch (rule is-code-ucum-exist) checks PQ units against."""

from pathlib import Path

import pytest
from lxml import etree

from maison.formats.ucum import check_unit, cisis_units, syntax_error


@pytest.fixture(scope="module")
def known(reference_path: Path) -> frozenset[str]:
    return cisis_units(reference_path)


@pytest.mark.parametrize(
    "unit",
    [
        "mmol/L",
        "m[IU]/L",
        "10*9/L",
        "10*-3",
        "10^3",
        "/uL",
        "kg.m/s2",
        "m-2",
        "%",
        "Cel",
        "mm[Hg]",
        "{ratio}",
        "/100{cells}",
        "g/(8.h){shift}",
        "mL/min/{1.73_m2}",
        "[pH]",
    ],
)
def test_grammar_accepts_unit_terms(unit):
    assert syntax_error(unit) is None


@pytest.mark.parametrize(
    "unit,reason",
    [
        ("", "vide"),
        ("m/", "n'est suivi d'aucun terme"),
        ("mmol//L", "n'est suivi d'aucun terme"),
        ("10+3/L", "10*n"),
        ("mL/12h", "12.h"),
        ("µg/L", "le micro s'écrit « u »"),
        ("mg /L", "interdit"),
        ("(m", "parenthèse non fermée"),
        ("[IU/L", "crochet non fermé"),
        ("{cells/uL", "accolade non fermée"),
        ("m+", "signe d'exposant sans chiffre"),
        (".m", "unité attendue"),
        ("m)", "inattendu"),
    ],
)
def test_grammar_refuses_with_the_reason(unit, reason):
    assert reason in syntax_error(unit)


def test_every_unit_of_the_cisis_table_is_a_unit_term(known):
    """759 of the 761 entries; the two others carry a trailing space in the table itself."""
    assert len(known) == 761
    assert sorted(u for u in known if syntax_error(u)) == ["L/(min.m2) ", "g/kg "]


def test_the_art_decor_verdicts_are_followed(reference_path, known):
    """The ART-DECOR UCUM test table shipped with the structuration minimale
    (profils/structurationMinimale/include/voc-UCUM.xml): each unit it calls an error is refused,
    except [IU], which UCUM has defined since 1.9 and the CI-SIS table and the TSH example use."""
    table = etree.parse(str(reference_path / "cisis/schematrons/profils/structurationMinimale/include/voc-UCUM.xml"))
    accepted = []
    for entry in table.getroot():
        if entry.get("message") == "OK" or not entry.get("unit"):
            continue
        try:
            check_unit(entry.get("unit"), known)
            accepted.append(entry.get("unit"))
        except ValueError:
            pass
    assert accepted and all("[IU]" in unit for unit in accepted)


def test_annotations_are_stripped_as_terminologie_sch_strips_them(known):
    check_unit("{cells}/uL", known)  # "{cells}" goes, "/uL" is listed
    check_unit("{ratio}", known)  # nothing left: accepted
    with pytest.raises(ValueError, match="absente de la table UCUM du CI-SIS.*is-code-ucum-exist"):
        check_unit("{INR}", known)  # '\{.[a-z]*.\}' does not strip upper-case annotations
    with pytest.raises(ValueError, match="absente de la table"):
        check_unit("IU/L", known)  # a unit term, but not one UCUM defines: [IU]/L
