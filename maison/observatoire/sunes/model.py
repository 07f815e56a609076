"""The SUN-ES usage indicators as data (seed 004 L185-207; SPEC.md §6), and the report they make.

Each indicator is one line of the seed: what is counted (stays, reports, correspondents), which
documents count (LOINC type codes of the CI-SIS value set JDV_J07 XdsTypeCode, reference/cisis/
jeuxDeValeurs/JDV_J07_XdsTypeCode_CISIS.xml), at which CDA R2 level, and whether the INS must be
qualified — only where the line says so (DS4.2 says nothing of it, 004 L203).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from maison.core.errors import InvalidInput
from maison.observatoire.report import Period, Table

# JDV_J07 XdsTypeCode (CI-SIS), the documents each line names
LETTRE_DE_LIAISON = ("11490-0",)  # "Lettre de liaison à la sortie d'un établissement de soins" (J07 L126)
# "ordonnance de sortie": the prescriptions of JDV_J07 — produits de santé, soins, autre (L207-215),
# and the professions' PRESC-* (L92-110) — not PRESC-AAT, a sick-leave notice, which prescribes no care
PRESCRIPTIONS = (
    "57833-6",
    "57832-8",
    "57828-6",
    "PRESC-BIO",
    "PRESC-KINE",
    "PRESC-INF",
    "PRESC-PEDI",
    "PRESC-ORTHOPHO",
    "PRESC-ORTHOPTIE",
)
COMPTE_RENDU_OPERATOIRE = ("34874-8",)  # "CR opératoire" (J07 L180)
BIOLOGIE = ("11502-2",)  # "CR d'examens biologiques" (J07 L132)
IMAGERIE = ("18748-4",)  # "CR d'imagerie médicale" (J07 L150)


class Unit(StrEnum):
    """What an indicator counts."""

    STAYS = "séjours"
    RETURNING_STAYS = "séjours de patients déjà venus"
    REPORTS = "comptes rendus"
    CORRESPONDENTS = "correspondants"


@dataclass(frozen=True)
class Indicator:
    code: str
    label: str
    unit: Unit
    seed_line: int  # seed 004
    types: tuple[str, ...] = ()
    level: str = ""  # the CDA R2 level the line requires ("" : none said)
    qualified_ins: bool = True
    document: str = ""  # the document's name in the explanations
    feminine: bool = False  # its gender, for the French of the explanations

    def agreed(self, word: str) -> str:
        """`word` agreeing with the document's name: "alimentée" for a lettre, "alimenté" for a CR."""
        return word + ("e" if self.feminine else "")

    @property
    def setting(self) -> str:
        return "sunes_cible_" + self.code.lower().replace(".", "_")


INDICATORS: dict[str, Indicator] = {
    i.code: i
    for i in (
        Indicator("DS1.1", "Alimentation du DMP en lettre de liaison", Unit.STAYS, 191, LETTRE_DE_LIAISON, "N1",
                  document="lettre de liaison", feminine=True),
        Indicator("DS1.2", "Alimentation du DMP en ordonnance de sortie", Unit.STAYS, 192, PRESCRIPTIONS, "N1",
                  document="ordonnance de sortie", feminine=True),
        Indicator("DS1.3", "Alimentation du DMP en compte-rendu opératoire (bonus)", Unit.STAYS, 193,
                  COMPTE_RENDU_OPERATOIRE, "N1", document="compte rendu opératoire"),
        # 004 L194: "au moins un document datant d'un ancien séjour ... avec une INS qualifiée" — no format
        Indicator("DS1.4", "Alimentation du DMP en documents historiques", Unit.RETURNING_STAYS, 194,
                  document="document d'un séjour antérieur"),
        Indicator("DS2.1", "Alimentation du DMP en CR de biologie médicale", Unit.REPORTS, 195, BIOLOGIE, "N3",
                  document="CR de biologie"),
        Indicator("DS3.1", "Alimentation du DMP en CR d'imagerie", Unit.REPORTS, 196, IMAGERIE, "N1",
                  document="CR d'imagerie"),
        Indicator("DS4.1", "Envoi de documents aux correspondants par MSSanté", Unit.CORRESPONDENTS, 202,
                  document="document CDA"),
        Indicator("DS4.2", "Envoi de messages aux patients par la MSSanté citoyenne", Unit.STAYS, 203,
                  qualified_ins=False, document="message au patient"),
    )
}  # fmt: skip


def indicator(code: str) -> Indicator:
    found = INDICATORS.get(code.upper().replace(" ", ""))
    if found is None:
        raise InvalidInput(f"indicateur {code!r} inconnu : {', '.join(INDICATORS)} ou DS4.3", code="indicateur")
    return found


@dataclass(frozen=True)
class Scope:
    """A structure (its FINESS) or a GHT (its code, members as the administrator recorded them)."""

    kind: str  # "structure" | "ght"
    code: str

    @classmethod
    def structure(cls, finess: str) -> Scope:
        return cls("structure", finess)

    @classmethod
    def ght(cls, code: str) -> Scope:
        return cls("ght", code)


@dataclass(frozen=True)
class Result:
    indicator: Indicator
    numerator: int
    denominator: int
    target: int  # % (a setting)

    @property
    def rate(self) -> float | None:
        return round(100 * self.numerator / self.denominator, 1) if self.denominator else None

    @property
    def met(self) -> bool | None:
        return None if self.rate is None else self.rate >= self.target

    def as_dict(self) -> dict[str, Any]:
        i = self.indicator
        return {
            "indicateur": i.code,
            "libelle": i.label,
            "unite": i.unit.value,
            "numerateur": self.numerator,
            "denominateur": self.denominator,
            "taux": self.rate,
            "cible": self.target,
            "atteinte": self.met,
            "source": f"seed 004 L{i.seed_line}",
        }


@dataclass(frozen=True)
class CmePresentation:
    """DS4.3 (004 L205-207): the citizen messaging presented to the CME (or equivalent), declared with
    its evidence — the house cannot observe a meeting."""

    structure: str
    presented_on: str
    instance: str
    evidence: str
    declared_by: str
    declared_at: str

    def as_dict(self) -> dict[str, str]:
        return {
            "structure": self.structure,
            "date_presentation": self.presented_on,
            "instance": self.instance,
            "preuve": self.evidence,
            "declare_par": self.declared_by,
            "declare_le": self.declared_at,
        }


@dataclass(frozen=True)
class SunesReport:
    scope: Scope
    structures: tuple[str, ...]
    period: Period
    results: tuple[Result, ...]
    cme: CmePresentation | None
    folded_to: int  # the audit seq the facts are folded to

    def result(self, code: str) -> Result:
        return next(r for r in self.results if r.indicator.code == code)

    def as_dict(self) -> dict[str, Any]:
        return {
            "perimetre": {"type": self.scope.kind, "code": self.scope.code, "structures": list(self.structures)},
            "periode": self.period.label,
            "indicateurs": [r.as_dict() for r in self.results],
            "DS4.3": {"presente": self.cme is not None, "preuve": self.cme.as_dict() if self.cme else None},
            "trace_jusqu_a": self.folded_to,
        }

    def tables(self) -> list[Table]:
        rows = tuple(
            (r.indicator.code, r.indicator.label, r.numerator, r.denominator, r.rate, r.target) for r in self.results
        )
        usage = Table(
            f"SUN-ES {self.scope.code} — {self.period.label}",
            ("indicateur", "libellé", "numérateur", "dénominateur", "taux %", "cible %"),
            rows,
            chart="bar",
            notes=tuple(f"{r.indicator.code} : seed 004 L{r.indicator.seed_line}" for r in self.results),
        )
        cme = self.cme
        row = ("oui", cme.presented_on, cme.instance, cme.evidence, cme.declared_by) if cme else ("non", "", "", "", "")
        ds43 = Table(
            title="DS4.3 — présentation de la messagerie citoyenne en CME",  # a keyword: not an sa.Table
            columns=("présentée", "date", "instance", "preuve", "déclarée par"),
            rows=(row,),
        )
        return [usage, ds43]


@dataclass(frozen=True)
class Item:
    """One stay, report or correspondent of an explanation: counted or not, why, and the audit
    records (seqs) that prove it."""

    key: str
    in_denominator: bool
    counted: bool
    reason: str
    seqs: tuple[int, ...]

    def selected_by(self, filtre: str) -> bool:
        """Whether a page filtered by `filtre` (FILTERS) lists it."""
        if filtre == "comptes":
            return self.counted
        if filtre == "non-comptes":
            return self.in_denominator and not self.counted
        if filtre == "hors":
            return not self.in_denominator
        return True

    def as_dict(self) -> dict[str, Any]:
        return {
            "element": self.key,
            "denominateur": self.in_denominator,
            "compte": self.counted,
            "raison": self.reason,
            "traces": list(self.seqs),
        }


@dataclass(frozen=True)
class Explanation:
    indicator: Indicator
    period: Period
    items: tuple[Item, ...] = field(default=())

    @property
    def numerator(self) -> int:
        return sum(1 for i in self.items if i.counted)

    @property
    def denominator(self) -> int:
        return sum(1 for i in self.items if i.in_denominator)

    def reason_of(self, key: str) -> str:
        return next(i.reason for i in self.items if i.key == key)

    def item(self, key: str) -> Item:
        return next(i for i in self.items if i.key == key)

    def as_dict(self) -> dict[str, Any]:
        return {
            "indicateur": self.indicator.code,
            "periode": self.period.label,
            "elements": [i.as_dict() for i in self.items],
        }

    def tables(self) -> list[Table]:
        return [
            Table(
                f"{self.indicator.code} — {self.indicator.unit.value} comptés et non comptés ({self.period.label})",
                ("élément", "dénominateur", "compté", "raison", "traces d'audit"),
                tuple((i.key, i.in_denominator, i.counted, i.reason, " ".join(map(str, i.seqs))) for i in self.items),
            )
        ]


# the selections of an explanation's page: which elements it lists
FILTERS = {"tous": "tous", "comptes": "comptés", "non-comptes": "non comptés", "hors": "hors dénominateur"}
PAGE_SIZES = range(1, 501)  # elements per page a caller may ask


@dataclass(frozen=True)
class Totals:
    """An explanation's counts, from SQL over the folded facts (not by judging every element): its
    elements, those in the denominator, those counted."""

    elements: int
    denominator: int
    numerator: int

    def selected(self, filtre: str) -> int:
        """How many elements `filtre` (FILTERS) selects."""
        return {
            "tous": self.elements,
            "comptes": self.numerator,
            "non-comptes": self.denominator - self.numerator,
            "hors": self.elements - self.denominator,
        }[filtre]

    def as_dict(self) -> dict[str, int]:
        return {
            "elements": self.elements,
            "denominateur": self.denominator,
            "numerateur": self.numerator,
            "non_comptes": self.denominator - self.numerator,
            "hors_denominateur": self.elements - self.denominator,
        }


@dataclass(frozen=True)
class ExplanationPage:
    """One page of an explanation — its elements in the full list's order, judged and proven as the
    full list judges them — with the whole explanation's totals: what a person reads (an explanation
    of a GHT's semester holds ~150 000 stays); `Explanation` is the full export."""

    indicator: Indicator
    period: Period
    totals: Totals
    filtre: str
    number: int  # from 1
    size: int
    items: tuple[Item, ...] = field(default=())

    @property
    def selected(self) -> int:
        return self.totals.selected(self.filtre)

    @property
    def pages(self) -> int:
        return max(1, -(-self.selected // self.size))

    @property
    def first(self) -> int:
        """The rank of the page's first element in the selection (from 1)."""
        return (self.number - 1) * self.size + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "indicateur": self.indicator.code,
            "periode": self.period.label,
            "totaux": self.totals.as_dict(),
            "filtre": self.filtre,
            "selection": self.selected,
            "page": self.number,
            "taille": self.size,
            "pages": self.pages,
            "elements": [i.as_dict() for i in self.items],
        }

    def tables(self) -> list[Table]:
        last = self.first + len(self.items) - 1
        return [
            Table(
                f"{self.indicator.code} — {self.indicator.unit.value} {self.first} à {last} sur {self.selected} "
                f"({FILTERS[self.filtre]}, page {self.number}/{self.pages}) — {self.period.label}",
                ("élément", "dénominateur", "compté", "raison", "traces d'audit"),
                tuple((i.key, i.in_denominator, i.counted, i.reason, " ".join(map(str, i.seqs))) for i in self.items),
                notes=(
                    f"{self.totals.numerator} compté(s) sur {self.totals.denominator} au dénominateur ; "
                    f"{self.totals.elements - self.totals.denominator} hors dénominateur",
                ),
            )
        ]
