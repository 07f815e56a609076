"""The synthetic population: reproducible, valid NIR/NIA, and full of the cases matching must survive."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pytest

from maison.core.identifiers.nir import consistency_problems, parse_matricule
from maison.core.ins_traits import Traits, normalise_name
from maison.seeding.population import (
    COMMUNES,
    NOMS,
    PAYS,
    PRENOMS_F,
    PRENOMS_M,
    Person,
    birth_place_name,
    generate,
)

SAMPLE_SIZE = 50_000
PARTICLE = re.compile(r"^(?:de |du |des |de la |le |la |d'|l')", re.IGNORECASE)


@pytest.fixture(scope="module")
def sample() -> list[Person]:
    return list(generate(SAMPLE_SIZE, seed=2026))


def is_minor(p: Person) -> bool:
    return p.traits.date_naissance > "2008-01-01"


# --- reproducibility -----------------------------------------------------------------------------


def test_same_seed_gives_the_same_stream() -> None:
    first = list(generate(1000, seed=42))
    assert first == list(generate(1000, seed=42))
    # A short stream is the beginning of a long one: the count does not change the draws.
    assert first == list(itertools.islice(generate(5000, seed=42), 1000))


def test_another_seed_gives_another_stream() -> None:
    a, b = list(generate(1000, seed=1)), list(generate(1000, seed=2))
    assert a != b
    assert len({p.matricule for p in a} & {p.matricule for p in b}) < 50


def test_default_seed_and_counts() -> None:
    assert list(generate(0)) == []
    assert len(list(generate(7))) == 7
    assert list(generate(20)) == list(generate(20, seed=2026))
    with pytest.raises(ValueError):
        list(generate(-1))


# --- matricules ----------------------------------------------------------------------------------


def test_every_matricule_is_valid_and_consistent_with_the_traits(sample: list[Person]) -> None:
    for p in sample:
        m = parse_matricule(p.matricule)
        assert m.value == p.matricule and len(p.matricule) == 15
        t = p.traits
        assert consistency_problems(m, sex=t.sexe, birth_date=t.date_naissance, birth_place=t.lieu_naissance) == [], p
        if p.ouvrant_droit is not None:
            assert len(p.ouvrant_droit) == 15
            parse_matricule(p.ouvrant_droit)


def test_matricules_are_unique_over_200_000_identities() -> None:
    matricules = [p.matricule for p in generate(200_000, seed=7)]
    assert len(set(matricules)) == len(matricules)


def test_nir_place_digits_are_the_cog_code_except_old_corsica(sample: list[Person]) -> None:
    for p in sample:
        place, code = p.matricule[5:10], p.traits.lieu_naissance
        if code[:2] in ("2A", "2B") and p.traits.date_naissance < "1976":
            assert place == "20" + code[2:]
        else:
            assert place == code


def test_nia_holders_are_born_abroad(sample: list[Person]) -> None:
    nia = [p for p in sample if p.matricule[0] in "78"]
    assert 0.005 < len(nia) / len(sample) < 0.015
    assert all(p.traits.lieu_naissance.startswith("99") for p in nia)
    assert {p.matricule[0] for p in nia} == {"7", "8"}
    assert all((p.matricule[0] == "7") == (p.traits.sexe == "M") for p in nia)


# --- traits and display forms --------------------------------------------------------------------


def test_traits_are_the_normalised_display_forms(sample: list[Person]) -> None:
    for p in sample:
        assert p.traits.nom_naissance == normalise_name(p.display_nom), p
        assert p.traits.prenoms == tuple(normalise_name(x) for x in p.display_prenoms.split(" ")), p
        assert 1 <= len(p.traits.prenoms) <= 4
    # Building them the slow, checked way gives the same traits (dates exist, COG well formed).
    for p in sample[:3000]:
        t = p.traits
        assert Traits.of(p.display_nom, p.display_prenoms.split(" "), t.sexe, t.date_naissance, t.lieu_naissance) == t


def test_display_names_carry_the_awkward_spellings(sample: list[Person]) -> None:
    noms = {p.display_nom for p in sample}
    prenoms = {x for p in sample for x in p.display_prenoms.split(" ")}
    assert any(PARTICLE.match(n) for n in noms)
    assert any("'" in n for n in noms)  # N'Diaye, D'Almeida
    assert any("-" in n for n in noms)  # double names
    assert any(not n.isascii() for n in noms)  # Lefèvre, Müller
    assert any(len(n) > 25 for n in noms)
    assert any(not x.isascii() for x in prenoms)  # Éloïse, Hélène
    assert any("-" in x for x in prenoms)  # Jean-Baptiste, Marie-Thérèse
    assert {"N'Diaye", "Le Bihan"} & noms


# --- the population's shape ----------------------------------------------------------------------


def test_birth_dates_and_unknown_parts(sample: list[Person]) -> None:
    years = Counter(int(p.traits.date_naissance[:4]) for p in sample)
    assert min(years) >= 1925 and max(years) <= 2025
    assert years[1970] > 3 * years[1930]  # the pyramid narrows at the top
    unknown_day = [p for p in sample if p.traits.date_naissance[8:] == "00" and p.traits.date_naissance[5:7] != "00"]
    unknown_month = [p for p in sample if p.traits.date_naissance[5:] == "00-00"]
    assert 0.003 < len(unknown_day) / len(sample) < 0.008
    assert 0 < len(unknown_month) / len(sample) < 0.003
    assert all(p.matricule[3:5] == p.traits.date_naissance[5:7] for p in unknown_day)
    assert all(20 <= int(p.matricule[3:5]) <= 30 for p in unknown_month)


def test_birth_places(sample: list[Person]) -> None:
    abroad = [p for p in sample if p.traits.lieu_naissance.startswith("99")]
    assert 0.06 < len(abroad) / len(sample) < 0.10
    places = {p.traits.lieu_naissance for p in sample}
    assert {"2A004", "2B033"} <= places
    assert {p.matricule[5:7] for p in sample if p.traits.lieu_naissance[:2] in ("2A", "2B")} >= {"20", "2A", "2B"}
    assert places & {"97105", "97209", "97302", "97411", "97611"}
    assert {"75115", "13208", "69383", "99352", "99350", "99139"} <= places
    assert all(birth_place_name(code) for code in places)


def test_birth_place_names() -> None:
    assert birth_place_name("2A004") == "Ajaccio"
    assert birth_place_name("20004") == "Ajaccio"  # NIR form for Corsicans born before 1976
    assert birth_place_name("2b033") == "Bastia"
    assert birth_place_name("75101") == "Paris 1er Arrondissement"
    assert birth_place_name("13216") == "Marseille 16e Arrondissement"
    assert birth_place_name("99352") == "Algérie"
    assert birth_place_name("97411") == "Saint-Denis"
    assert birth_place_name("00000") is None
    assert birth_place_name("") is None


def test_minors_are_attached_to_an_adult_met_earlier(sample: list[Person]) -> None:
    adults: set[str] = set()
    minors = 0
    for p in sample:
        if is_minor(p):
            minors += 1
            assert p.ouvrant_droit in adults, p
        else:
            assert p.ouvrant_droit is None
            adults.add(p.matricule)
    assert 0.12 < minors / len(sample) < 0.28


def test_twins(sample: list[Person]) -> None:
    pairs = [(a, b) for a, b in itertools.pairwise(sample) if b.rang_naissance == 2]
    assert len(pairs) > 0.005 * len(sample)
    for a, b in pairs:
        assert a.rang_naissance == 1
        assert a.traits.date_naissance == b.traits.date_naissance
        assert a.traits.lieu_naissance == b.traits.lieu_naissance
        assert a.ouvrant_droit == b.ouvrant_droit
        assert a.traits.nom_naissance == b.traits.nom_naissance
        assert a.traits.prenoms[0] != b.traits.prenoms[0]
        assert a.matricule != b.matricule
    assert any(a.ouvrant_droit is not None for a, _ in pairs)
    assert {p.rang_naissance for p in sample} == {1, 2}


def test_homonyms(sample: list[Person]) -> None:
    groups: dict[tuple, list[Person]] = {}
    for p in sample:
        t = p.traits
        groups.setdefault((t.nom_naissance, t.prenoms, t.sexe, t.date_naissance), []).append(p)
    homonyms = [g for g in groups.values() if len(g) > 1]
    assert len(homonyms) > 0.002 * len(sample)
    for g in homonyms:
        assert len({p.matricule for p in g}) == len(g)


# --- the curated lists ---------------------------------------------------------------------------


def test_curated_lists() -> None:
    assert len(NOMS) >= 300 and len(PRENOMS_F) >= 150 and len(PRENOMS_M) >= 150
    assert {n for n, _ in NOMS} >= {"N'Diaye", "D'Almeida", "Le Bihan", "Lefèvre", "Béranger", "Müller"}
    assert "Jean-Baptiste" in {n for n, _ in PRENOMS_M}
    assert {n for n, _ in PRENOMS_F} >= {"Marie-Thérèse", "Éloïse"}
    codes = [c for c, *_ in COMMUNES]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"(?:\d{5}|2[AB]\d{3})", c) and not c.startswith("99") for c in codes)
    assert {f"751{i:02d}" for i in range(1, 21)} | {f"132{i:02d}" for i in range(1, 17)} <= set(codes)
    assert {f"6938{i}" for i in range(1, 10)} <= set(codes)
    countries = [c for c, *_ in PAYS]
    assert len(countries) == len(set(countries)) and all(re.fullmatch(r"99\d{3}", c) for c in countries)
