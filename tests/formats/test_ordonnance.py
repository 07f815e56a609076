"""The prescription number (maison/formats/ordonnance.py)."""

from __future__ import annotations

import re

import pytest

from maison.core.errors import InvalidInput
from maison.formats.ordonnance import ALPHABET, new_number, parse_number


def test_form_of_the_number():
    # seed 001 L406: N°01527BP22JCNZZYGHZ — 18 upper-case alphanumeric characters
    numbers = {new_number() for _ in range(2000)}
    assert len(numbers) == 2000
    assert all(re.fullmatch(r"[0-9A-Z]{18}", n) and parse_number(n) == n for n in numbers)


@pytest.mark.parametrize("seed", range(40))
def test_every_single_typo_and_adjacent_swap_is_detected(seed):
    number = new_number()
    for i in range(18):
        for c in ALPHABET:
            if c != number[i]:
                with pytest.raises(InvalidInput):
                    parse_number(number[:i] + c + number[i + 1 :])
    for i in range(17):
        if number[i] != number[i + 1]:
            with pytest.raises(InvalidInput) as err:
                parse_number(number[:i] + number[i + 1] + number[i] + number[i + 2 :])
            assert err.value.code == "numero-cle"


def test_what_is_typed_is_normalised_and_what_cannot_be_a_number_refused():
    number = new_number()
    assert parse_number(f" {number[:6].lower()} {number[6:12]}-{number[12:]} ") == number
    for text, code in (
        ("", "numero-longueur"),
        (number + "A", "numero-longueur"),
        (number[:17] + "é", "numero-caracteres"),
        (number[:17] + "_", "numero-caracteres"),
    ):
        with pytest.raises(InvalidInput) as err:
            parse_number(text)
        assert err.value.code == code
