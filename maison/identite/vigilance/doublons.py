"""Finding doublons (one person, two records) in a local patient index.

Blocking keeps the work near-linear: records are compared only inside blocks sharing
(birth date, sex) — which catches typos in names, missing accents, hyphen variants and swapped
first names — or sharing (phonetic birth name, phonetic first name, birth year) — which catches
typos in the birth date. Inside a block the pair score weighs birth name, first names (as an
ordered list and as a set, so a swap still matches), birth date (a one-character typo or a
day/month swap counts half), sex and birth place. Two records carrying different INS are two
persons whatever their traits (homonyms), so they are never proposed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import combinations

import jellyfish
from rapidfuzz.distance import Levenshtein
from rapidfuzz.fuzz import ratio

from maison.identite.ins.traits import match_form

THRESHOLD = 0.86


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

    @classmethod
    def of(cls, id: int, nom: str, prenoms: str, sexe: str, date_naissance: str, lieu: str | None,
           ins: str | None = None) -> "Candidate":
        return cls(id, match_form(nom), tuple(match_form(prenoms).split(" ")), sexe, date_naissance, lieu, ins)


def _date_score(a: str, b: str) -> float:
    if a == b:
        return 1.0
    swapped = f"{b[:4]}-{b[8:10]}-{b[5:7]}"
    if a == swapped or Levenshtein.distance(a, b) == 1:
        return 0.5
    return 0.0


def score(a: Candidate, b: Candidate) -> float:
    if a.ins and b.ins and a.ins != b.ins:
        return 0.0
    nom = ratio(a.nom, b.nom) / 100
    ordered = ratio(" ".join(a.prenoms), " ".join(b.prenoms)) / 100
    first = ratio(a.prenoms[0], b.prenoms[0]) / 100
    as_set = 1.0 if set(a.prenoms) == set(b.prenoms) else len(set(a.prenoms) & set(b.prenoms)) / max(
        len(set(a.prenoms) | set(b.prenoms)), 1)
    given = max(ordered, first * 0.95, as_set)
    place = 1.0 if not a.lieu_naissance or not b.lieu_naissance or a.lieu_naissance == b.lieu_naissance else 0.0
    total = 0.35 * nom + 0.25 * given + 0.25 * _date_score(a.date_naissance, b.date_naissance) \
        + 0.1 * (a.sexe == b.sexe) + 0.05 * place
    if a.ins and a.ins == b.ins:
        total = 1.0
    return round(total, 4)


def _phonetic(word: str) -> str:
    return jellyfish.metaphone(word.replace(" ", "")) or word[:3]


def blocks(records: Iterable[Candidate]) -> Iterator[list[Candidate]]:
    by_date: dict[tuple, list[Candidate]] = defaultdict(list)
    by_sound: dict[tuple, list[Candidate]] = defaultdict(list)
    for r in records:
        by_date[(r.date_naissance, r.sexe)].append(r)
        by_sound[(_phonetic(r.nom), _phonetic(r.prenoms[0]), r.date_naissance[:4])].append(r)
    for table in (by_date, by_sound):
        for members in table.values():
            if len(members) > 1:
                yield members


def find(records: Iterable[Candidate], threshold: float = THRESHOLD, max_block: int = 400
         ) -> list[tuple[int, int, float]]:
    """All pairs (id_a < id_b, score) at or above the threshold."""
    found: dict[tuple[int, int], float] = {}
    for members in blocks(records):
        if len(members) > max_block:  # a degenerate block (e.g. 1 January of unknown dates): sort by name
            members = sorted(members, key=lambda c: c.nom)
            pairs = ((members[i], members[j]) for i in range(len(members))
                     for j in range(i + 1, min(i + 20, len(members))))
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
