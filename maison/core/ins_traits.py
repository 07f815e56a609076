"""The five INS traits and how they are written and compared.

Seed 000 L2055: the matricule INS with the traits — nom de naissance, prénom(s) de naissance
(the ordered list, and the first one), date de naissance, sexe, code lieu de naissance (INSEE COG;
99xxx abroad) — forms the INS.

The national referential keeps traits in the civil-registry form used by INSi: upper case Latin
letters without diacritics, with space, hyphen and apostrophe as the only separators; ligatures
spelled out (Œ → OE). `normalise_name` produces that form from whatever a desk typed. Matching
compares `match_form`, where hyphens and apostrophes count as spaces, so that `SAINT-JUST` and
`SAINT JUST`, `D'ARC` and `D ARC` are the same name but `DARC` is not.

Birth dates are `YYYY-MM-DD` where the day, or day and month, may be `00` when unknown
(the "date lunaire" the INSi schema's `DateLunaire` type carries).

The traits are on the ground floor because every floor reads them the same way: the INS
Datamatrix (`formats`), the national referential and INSi (`identite.ins`), the local patient
index and the messages a PFI integrates (issue 19 §1.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from unidecode import unidecode

from maison.core.errors import InvalidInput

_NOT_ALLOWED = re.compile(r"[^A-Z '\-]")
_SPACES = re.compile(r" {2,}")
_LUNAR_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_COG = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")
SEXES = ("M", "F")


def normalise_name(value: str) -> str:
    """Civil-registry form: upper case, no diacritics, only letters, space, hyphen, apostrophe."""
    text = unidecode(value or "").upper().replace("`", "'").replace("’", "'")
    text = _NOT_ALLOWED.sub(" ", text)
    text = _SPACES.sub(" ", text).strip(" -'")
    return text


def match_form(value: str) -> str:
    """The comparison form: the normalised name with hyphens and apostrophes read as spaces."""
    return _SPACES.sub(" ", normalise_name(value).replace("-", " ").replace("'", " ")).strip()


def check_birth_date(value: str) -> str:
    """Accept `YYYY-MM-DD` (or `DD/MM/YYYY`), day/month `00` allowed when unknown; refuse the future."""
    text = (value or "").strip()
    if "/" in text and len(text) == 10:
        text = f"{text[6:10]}-{text[3:5]}-{text[0:2]}"
    m = _LUNAR_DATE.match(text)
    if not m:
        raise InvalidInput(f"date de naissance '{value}' : format AAAA-MM-JJ attendu", code="date-format")
    year, month, day = (int(g) for g in m.groups())
    if month == 0 and day != 0:
        raise InvalidInput(f"date de naissance '{value}' : jour connu sans mois", code="date-format")
    try:
        date(year, month or 1, day or 1)
    except ValueError:
        raise InvalidInput(f"date de naissance '{value}' : date inexistante", code="date-invalid") from None
    if year < 1850 or text > date.today().isoformat():
        raise InvalidInput(f"date de naissance '{value}' : hors limites", code="date-invalid")
    return text


def check_birth_place(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    text = value.strip().upper()
    if not _COG.match(text):
        raise InvalidInput(f"lieu de naissance '{value}' : code COG INSEE à 5 caractères attendu", code="cog-format")
    return text


def check_sex(value: str) -> str:
    text = (value or "").strip().upper()
    if text not in SEXES:
        raise InvalidInput(f"sexe '{value}' : M ou F attendu", code="sexe")
    return text


@dataclass(frozen=True, slots=True)
class Traits:
    """The identity traits, already normalised (build with `Traits.of`)."""

    nom_naissance: str
    prenoms: tuple[str, ...]
    sexe: str
    date_naissance: str
    lieu_naissance: str | None = None

    @classmethod
    def of(
        cls,
        nom_naissance: str,
        prenoms: str | list[str] | tuple[str, ...],
        sexe: str,
        date_naissance: str,
        lieu_naissance: str | None = None,
    ) -> Traits:
        if isinstance(prenoms, str):
            prenoms = prenoms.split(" ")
        given = tuple(p for p in (normalise_name(x) for x in prenoms) if p)
        nom = normalise_name(nom_naissance)
        if not nom:
            raise InvalidInput("nom de naissance absent", code="nom-absent")
        if not given:
            raise InvalidInput("prénom de naissance absent", code="prenom-absent")
        return cls(nom, given, check_sex(sexe), check_birth_date(date_naissance), check_birth_place(lieu_naissance))

    @property
    def premier_prenom(self) -> str:
        return self.prenoms[0]

    @property
    def liste_prenoms(self) -> str:
        return " ".join(self.prenoms)

    @property
    def born_abroad(self) -> bool:
        return bool(self.lieu_naissance and self.lieu_naissance.startswith("99"))
