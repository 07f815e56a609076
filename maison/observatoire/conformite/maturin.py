"""MATURIN-H, the maturity of a hospital's information system (seed 000 L4461-4501, L4534, L4563-4566).

Criteria are answered "oui/non" or by a value against a threshold (L4467), each tied to the maturity
degree it requires (A optimisé … E insuffisant, L4469-4475); score = 100 × met / applicable, level A
≥ 95, B ≥ 75, C ≥ 40, else D (L4499). The only grid the seed gives is its illustration "sécurité de
l'identification du patient" (L4491-4501, "non validé : purement illustratif"): its four criteria
are the data here. Criteria vary by establishment type and apply per legal entity (L4534): each
criterion names the types it applies to (the illustration applies to all), and an establishment may
declare a criterion non applicable ("na"), which leaves the denominator.

Values come from the house where it can (L4463: "le plus automatisé possible"): #1 and #3 are the
shares of the structure's registered software, among those the trail shows acting in it, that
used the identity referential (INSi, the local patient index) and the stays referential; #2 is the
identitovigilance cell's meetings, one at least in each semester of the period (L4495; a cell that
recorded no meeting at all in the house answers by its declaration); otherwise
the establishment's declaration (self-assessment, L4563-4566) with who, when and its evidence.

    report = Maturin(db, house.insi).evaluate(actor, structure, Period.parse("2026-S1"), kind="CHU")
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from maison.core.actor import Actor
from maison.core.audit import Trail
from maison.core.errors import InvalidInput
from maison.etablissement.vigilance.cellule import Cellule
from maison.observatoire.conformite import store
from maison.observatoire.conformite.fold import fold
from maison.observatoire.conformite.service import PURPOSE, Observed, trail_names
from maison.observatoire.report import Period, Table


class Degree(StrEnum):
    """The five maturity degrees (seed 000 L4471-4475)."""

    A = "optimisé"
    B = "maîtrisé"
    C = "défini"
    D = "de base"
    E = "insuffisant"


# Establishment types (seed 000 L4534).
TYPES = ("CHU", "CH-SUPPORT-GHT", "CH-PARTIE-GHT", "ESPIC", "HAD", "EHPAD", "CLINIQUE")


@dataclass(frozen=True)
class Criterion:
    reference: str
    description: str
    degree: Degree
    kind: str  # "oui/non" or "valeur"
    threshold: float | None = None  # for a value: met when >= threshold (a percentage)
    computed: str = ""  # how the house computes it, "" when only declared
    applies_to: frozenset[str] = frozenset(TYPES)
    seed_line: int = 0


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "#1",
        "Taux d'applications au cœur du processus de soins, de la gestion administrative du patient et du PMSI "
        "connectées à un référentiel unique d'identités des patients et en capacité d'intégrer l'INS",
        Degree.C,
        "valeur",
        90.0,
        "referentiel.identite",
        seed_line=4494,
    ),
    Criterion(
        "#2",
        "Cellule d'identitovigilance opérationnelle (réunion a minima une fois par semestre et capacité à livrer "
        "un rapport d'activité)",
        Degree.B,
        "oui/non",
        computed="cellule",
        seed_line=4495,
    ),
    Criterion(
        "#3",
        "Taux d'applications au cœur du processus de soins, de la gestion administrative du patient et du PMSI "
        "connectées à un référentiel unique de séjours et de mouvements des patients",
        Degree.C,
        "valeur",
        90.0,
        "referentiel.sejours",
        seed_line=4496,
    ),
    Criterion(
        "#4",
        "Existence d'un référentiel unique de structure de l'établissement (juridique, géographique, fonctionnel) "
        "piloté et mis à jour régulièrement dans les applicatifs",
        Degree.D,
        "oui/non",
        seed_line=4497,
    ),
)
BY_REFERENCE = {c.reference: c for c in CRITERIA}


def level(score: float) -> str:
    """Seed 000 L4499: A if >= 95; B if >= 75; C if >= 40; D if < 40."""
    if score >= 95:
        return "A"
    if score >= 75:
        return "B"
    if score >= 40:
        return "C"
    return "D"


@dataclass(frozen=True)
class Answer:
    criterion: Criterion
    value: str  # "oui"/"non", a percentage, or "na"
    met: bool | None  # None: not applicable
    source: str  # "calcule" / "declare" / "absent"
    evidence: str = ""
    declared_by: str = ""
    declared_at: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "critere": self.criterion.reference,
            "description": self.criterion.description,
            "degre": self.criterion.degree.value,
            "type": self.criterion.kind,
            "seuil": self.criterion.threshold,
            "valeur": self.value,
            "atteint": None if self.met is None else int(self.met),
            "source": self.source,
            "justificatif": self.evidence or None,
            "declare_par": self.declared_by or None,
            "declare_le": self.declared_at or None,
        }


def met(criterion: Criterion, value: str) -> bool | None:
    """A value against its criterion: None when not applicable ("na")."""
    if value == "na":
        return None
    if criterion.kind == "oui/non":
        return value == "oui"
    return float(value.rstrip("%")) >= (criterion.threshold or 0)


@dataclass(frozen=True)
class MaturinReport:
    structure: str
    establishment_type: str
    period: Period
    answers: tuple[Answer, ...]

    @property
    def applicable(self) -> int:
        return sum(1 for a in self.answers if a.met is not None)

    @property
    def met_count(self) -> int:
        return sum(1 for a in self.answers if a.met)

    @property
    def score(self) -> float:
        """100 × met / applicable (seed 000 L4498)."""
        return round(100 * self.met_count / self.applicable, 1) if self.applicable else 0.0

    @property
    def level(self) -> str:
        return level(self.score)

    def as_dict(self) -> dict[str, object]:
        return {
            "structure": self.structure,
            "type": self.establishment_type,
            "periode": self.period.label,
            "criteres": [a.as_dict() for a in self.answers],
            "atteints": self.met_count,
            "applicables": self.applicable,
            "score": self.score,
            "niveau": self.level,
        }

    def tables(self) -> list[Table]:
        rows = tuple(
            (a.criterion.reference, a.criterion.degree.value, a.criterion.kind, a.value,
             "—" if a.met is None else int(a.met), a.source)
            for a in self.answers
        )  # fmt: skip
        return [
            Table(
                f"MATURIN-H — sécurité de l'identification du patient — {self.structure} — {self.period.label}",
                ("critere", "degre", "type", "valeur", "atteint", "source"),
                rows,
                None,
                (f"score {self.score} sur 100 : niveau {self.level}", "grille illustrative du seed 000 L4491-4501"),
            )
        ]


def score(answers: list[tuple[Criterion, str]]) -> tuple[float, str]:
    """The seed's method on given values (its Tableau 1: three of four → 75 → B)."""
    results = [m for c, v in answers if (m := met(c, v)) is not None]
    value = round(100 * sum(results) / len(results), 1) if results else 0.0
    return value, level(value)


def _semesters(period: Period) -> list[tuple[date, date]]:
    out: list[tuple[date, date]] = []
    year, half = period.start.year, 1 if period.start.month <= 6 else 2
    while True:
        start = date(year, 1 if half == 1 else 7, 1)
        end = date(year, 7, 1) if half == 1 else date(year + 1, 1, 1)
        if start >= period.end:
            return out
        out.append((start, end))
        year, half = (year, 2) if half == 1 else (year + 1, 1)


@dataclass
class Maturin(Observed):
    def declare(self, actor: Actor, structure: str, reference: str, value: str, evidence: str) -> None:
        """The establishment's self-assessment of a criterion (seed 000 L4563-4566), with its evidence."""
        criterion = BY_REFERENCE.get(reference)
        if criterion is None:
            raise InvalidInput(f"critère {reference} inconnu", code="critere-inconnu")
        value = value.strip().lower()
        if value != "na":
            if criterion.kind == "oui/non" and value not in ("oui", "non"):
                raise InvalidInput(f"{reference} : oui, non ou na attendu", code="valeur-invalide")
            if criterion.kind == "valeur":
                try:
                    number = float(value.rstrip("%"))
                except ValueError:
                    raise InvalidInput(f"{reference} : pourcentage attendu", code="valeur-invalide") from None
                if not 0 <= number <= 100:
                    raise InvalidInput(f"{reference} : pourcentage de 0 à 100", code="valeur-invalide")
        if not evidence.strip():
            raise InvalidInput("déclaration sans justificatif", code="justificatif-absent")
        at = datetime.now(UTC).isoformat(timespec="seconds")
        with self.db.write() as conn:
            store.declare_criterion(conn, structure, reference, value, evidence.strip(), actor.person, at)
            detail = {"structure": structure, "critere": reference, "valeur": value}
            Trail.write(conn, actor, "observatoire.maturin.declaration", purpose=PURPOSE, detail=detail)

    def evaluate(self, actor: Actor, structure: str, period: Period, kind: str = "CH-PARTIE-GHT") -> MaturinReport:
        if kind not in TYPES:
            raise InvalidInput(f"type d'établissement {kind} : {', '.join(TYPES)}", code="type-etablissement")
        fold(self.db)
        with self.db.read() as conn:
            declared = {r.criterion: r for r in store.criterion_declarations(conn, structure)}
            apps = store.applications(conn, structure, *period.bounds)
            names = trail_names(conn, self.registry.registered_software())
        # the trail's names of each registered software → its IDAM: one application each
        product = {name: idam for idam, n in names.items() for name in n.own}
        answers = tuple(self._answer(c, structure, period, kind, apps, declared, product) for c in CRITERIA)
        self.trail.read(
            actor, "observatoire.maturin", purpose=PURPOSE, detail={"structure": structure, "periode": period.label}
        )
        return MaturinReport(structure, kind, period, answers)

    def _answer(
        self, criterion: Criterion, structure: str, period: Period, kind: str, apps, declared, product
    ) -> Answer:
        if kind not in criterion.applies_to:
            return Answer(criterion, "na", None, "type")
        computed = self._computed(criterion, structure, period, apps, product)
        if computed is not None:
            return Answer(criterion, computed, met(criterion, computed), "calcule")
        row = declared.get(criterion.reference)
        if row is None:
            return Answer(criterion, "non renseigné", False, "absent")
        return Answer(
            criterion, row.value, met(criterion, row.value), "declare", row.evidence, row.declared_by, row.declared_at
        )

    def _computed(self, criterion: Criterion, structure: str, period: Period, apps, product) -> str | None:
        if criterion.computed == "cellule":
            cell = Cellule(self.db)
            held = [len(cell.functioning(structure, s, e)[0]) for s, e in _semesters(period)]
            return "oui" if held and all(held) else None if not any(held) else "non"
        if criterion.computed.startswith("referentiel."):
            acting = {product[r.identity] for r in apps if r.kind == "activite" and r.identity in product}
            if not acting:
                return None  # no registered software seen in the structure: the declaration answers
            connected = {product[r.identity] for r in apps if r.kind == criterion.computed and r.identity in product}
            return f"{round(100 * len(connected) / len(acting), 1)}"
        return None
