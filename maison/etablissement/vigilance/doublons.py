"""Finding doublons (one person, two records) in a local patient index.

Blocking keeps the work near-linear: records are compared only inside blocks sharing
(birth date, sex) — which catches typos in names, missing accents, hyphen variants and swapped
first names — or sharing the phonetic birth name and first name and either the birth year or the
day and month — which catches a slip in the birth date.

Inside a block each trait is judged the way an identitovigilance cell reads two records: equal,
off by one keying slip (one letter inserted, dropped, replaced or two letters swapped; a hyphen or
space dropped; day and month swapped), or different. A doublon differs by at most one slip; two
different people sharing a birth date differ by a whole first name (twins) or a birth place
(homonyms), which no slip explains. Two records carrying different INS are two persons whatever
their traits, so they are never proposed.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import combinations

import jellyfish
from rapidfuzz.distance import OSA

from maison.core.ins_traits import match_form

THRESHOLD = 0.87
# Weights of the traits; a single keying slip on any of them keeps a pair above THRESHOLD,
# a different first name, or a different birth place plus anything else, does not.
W_NOM, W_PRENOMS, W_DATE, W_SEXE, W_LIEU = 0.35, 0.25, 0.25, 0.10, 0.05
DIFFERENT_PLACE = 0.85  # both birth places known and different: homonyms, not a doublon


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the detector needs of a record: its id and its traits in match form."""

    id: int
    nom: str
    prenoms: tuple[str, ...]
    sexe: str
    date_naissance: str
    lieu_naissance: str | None
    ins: str | None = None
    compact: str = field(default="", compare=False)  # the birth name without spaces
    sound: str = field(default="", compare=False)  # its phonetic key

    @classmethod
    def of(
        cls, id: int, nom: str, prenoms: str, sexe: str, date_naissance: str, lieu: str | None, ins: str | None = None
    ) -> Candidate:
        nom = match_form(nom)
        return cls(
            id,
            nom,
            tuple(match_form(prenoms).split(" ")),
            sexe,
            date_naissance,
            lieu,
            ins,
            nom.replace(" ", ""),
            _phonetic(nom),
        )


def _slip(a: str, b: str) -> bool:
    """One keying slip apart: a letter inserted, dropped, replaced, or two neighbours swapped.

    On a two-letter name only an inserted or dropped letter counts (VO / VOO): VO and VU are two names.
    """
    return OSA.distance(a, b, score_cutoff=1) <= 1 and (min(len(a), len(b)) >= 3 or len(a) != len(b))


def _nom_score(a: Candidate, b: Candidate) -> float:
    if a.nom == b.nom:
        return 1.0
    if a.compact == b.compact or _slip(a.compact, b.compact):
        return 0.9
    return 0.0


def _prenoms_score(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    if a == b or sorted(a) == sorted(b):
        return 1.0  # equal, or the same first names in another order
    if a[0] == b[0] and (a[: len(b)] == b or b[: len(a)] == a):
        return 0.95  # one record has only the first first name(s)
    if "".join(a) == "".join(b):
        return 0.9  # JEAN PIERRE / JEANPIERRE
    if (
        len(a) == len(b)
        and sum(x != y for x, y in zip(a, b, strict=True)) == 1
        and all(x == y or _slip(x, y) for x, y in zip(a, b, strict=True))
    ):
        return 0.9  # one slip in one first name
    return 0.0


def _date_score(a: str, b: str) -> float:
    if a == b:
        return 1.0
    swapped = f"{b[:4]}-{b[8:10]}-{b[5:7]}"
    if a == swapped or sum(x != y for x, y in zip(a, b, strict=False)) == 1:
        return 0.5
    return 0.0


def score(a: Candidate, b: Candidate) -> float:
    if a.ins and b.ins:
        return 1.0 if a.ins == b.ins else 0.0
    nom = _nom_score(a, b)
    if nom == 0.0:
        return 0.0
    total = (
        W_NOM * nom
        + W_PRENOMS * _prenoms_score(a.prenoms, b.prenoms)
        + W_DATE * _date_score(a.date_naissance, b.date_naissance)
        + W_SEXE * (a.sexe == b.sexe)
    )
    if a.lieu_naissance and b.lieu_naissance and a.lieu_naissance != b.lieu_naissance:
        total *= DIFFERENT_PLACE
    else:
        total += W_LIEU
    return round(total, 4)


def _phonetic(word: str) -> str:
    return jellyfish.metaphone(word.replace(" ", "")) or word[:3]


def blocks(records: Iterable[Candidate]) -> Iterator[list[Candidate]]:
    by_date: dict[tuple, list[Candidate]] = defaultdict(list)
    by_year: dict[tuple, list[Candidate]] = defaultdict(list)
    by_day: dict[tuple, list[Candidate]] = defaultdict(list)
    for r in records:
        by_date[(r.date_naissance, r.sexe)].append(r)
        given = _phonetic(r.prenoms[0])
        by_year[(r.sound, given, r.date_naissance[:4])].append(r)  # a slip in the day or month
        by_day[(r.sound, given, r.date_naissance[5:])].append(r)  # a slip in the year
    for table in (by_date, by_year, by_day):
        for members in table.values():
            if len(members) > 1:
                yield members


def find(
    records: Iterable[Candidate], threshold: float = THRESHOLD, max_block: int = 400
) -> list[tuple[int, int, float]]:
    """All pairs (id_a < id_b, score) at or above the threshold."""
    found: dict[tuple[int, int], float] = {}
    for members in blocks(records):
        pairs: Iterable[tuple[Candidate, Candidate]]
        if len(members) > max_block:  # a degenerate block (e.g. 1 January of unknown dates): sort by name
            members = sorted(members, key=lambda c: c.nom)
            pairs = (
                (members[i], members[j]) for i in range(len(members)) for j in range(i + 1, min(i + 20, len(members)))
            )
        else:
            pairs = combinations(members, 2)
        for a, b in pairs:
            key = (a.id, b.id) if a.id < b.id else (b.id, a.id)
            if key in found:
                continue
            s = score(a, b)
            if s >= threshold:
                found[key] = s
    return [(a, b, s) for (a, b), s in sorted(found.items())]


_TRAITS = ("nom_naissance", "prenoms", "sexe", "date_naissance", "lieu_naissance")
_LABELS = {
    "nom_naissance": "nom de naissance",
    "prenoms": "prénoms",
    "sexe": "sexe",
    "date_naissance": "date de naissance",
    "lieu_naissance": "lieu de naissance",
}


def collisions(histories: dict[int, list[dict]], threshold: float = THRESHOLD) -> list[tuple[int, float, str]]:
    """Records whose traits were changed into another person's: likely collisions.

    `histories` maps a record to the successive states of its traits (dicts with the five trait
    fields). A correction explained by a keying slip keeps the score above the threshold; a change
    of first name and birth date, or of sex, does not — two persons have probably been mixed up in
    one record, which the cell must examine (and split if so).
    """
    found = []
    for record, states in histories.items():
        for before, after in itertools.pairwise(states):
            a = Candidate.of(record, *(before[k] for k in _TRAITS))
            b = Candidate.of(record, *(after[k] for k in _TRAITS))
            s = score(a, b)
            if s < threshold:
                changed = [_LABELS[k] for k in _TRAITS if before[k] != after[k]]
                found.append((record, s, "traits modifiés : " + ", ".join(changed)))
                break
    return found
