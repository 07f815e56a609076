"""The SUN-ES prerequisites as data: what each asks, the funding windows, the declared items, a check.

Seed 004 L174-181: seven prerequisites — six for volet 1 (DMP), one more for volet 2 (MSSanté); an
establishment's application to a volet is validated by the ARS only when all of that volet's are met.
Each prerequisite is assessed "à l'instant t (date de transmission)", every semester (004 L373, L405,
L506, L604, L653, L677, L723); all but PS2.2 are proven once for the programme (004 L156), PS2.2
again at each funding window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from maison.core.errors import InvalidInput
from maison.observatoire.report import Period, Table


class Prerequisite(StrEnum):
    PS1_1 = "PS1.1"
    PS1_2 = "PS1.2"
    PS2_1 = "PS2.1"
    PS2_2 = "PS2.2"
    PS3_1 = "PS3.1"
    PS3_2 = "PS3.2"
    PS4_1 = "PS4.1"


LABELS = {  # 004 L291-303
    Prerequisite.PS1_1: "Cellule d'identitovigilance opérationnelle",
    Prerequisite.PS1_2: "Appropriation du référentiel national d'identitovigilance (RNIV 1 et RNIV 2)",
    Prerequisite.PS2_1: "Politique de sécurité et plan d'action SSI, responsable sécurité",
    Prerequisite.PS2_2: "Audit externe de cybersurveillance",
    Prerequisite.PS3_1: "Capacité du SIH à alimenter le DMP",
    Prerequisite.PS3_2: "Messagerie opérationnelle intégrée à l'espace de confiance MSSanté",
    Prerequisite.PS4_1: "Message test vers/depuis la MSS citoyenne",
}

# 004 L174: volet 1 is validated with the six; L181: volet 2 with those six and PS4.1.
VOLET_1 = (
    Prerequisite.PS1_1,
    Prerequisite.PS1_2,
    Prerequisite.PS2_1,
    Prerequisite.PS2_2,
    Prerequisite.PS3_1,
    Prerequisite.PS3_2,
)
VOLET_2 = (*VOLET_1, Prerequisite.PS4_1)


class Item(StrEnum):
    """What a structure declares, each with its evidence (004's "documents justificatifs")."""

    RNIV = "questionnaire-rniv"  # PS1.2, 004 L397, L412
    PSSI = "pssi"  # PS2.1, 004 L516: signed by the director, under 3 years
    PSSI_GHT = "pssi-ght"  # PS2.1 GHT, 004 L464: the GHT's framework PSSI, declined per site
    RISK_ANALYSIS = "analyse-risques"  # PS2.1, 004 L476-478
    ACTION_PLAN = "plan-action-ssi"  # PS2.1, 004 L479: tied to instruction 309 of 14 Oct 2016
    INCIDENT_PROCEDURE = "procedure-incidents"  # PS2.1, 004 L480: art. L.1111-8-2 CSP
    RSSI = "rssi"  # PS2.1, 004 L482 (the GHT's RSSI when declared for a GHT, 004 L468)
    SECURITY_REFERENT = "referent-ssi"  # PS2.1 GHT, 004 L468: a security referent per site
    RSSI_MEETING = "reunion-rssi"  # PS2.1, 004 L483, L525-527
    CYBER_AUDIT = "audit-cybersurveillance"  # PS2.2, 004 L575-595
    CME_DECISION = "decision-cme-dmp"  # PS3.1 fallback, 004 L657
    DMP_SCREENSHOTS = "captures-alimentation-dmp"  # PS3.1 fallback, 004 L657: version + screenshots
    MSS_SEND_PROOF = "preuve-envoi-mss"  # PS3.2 fallback, 004 L683
    MSS_PURCHASE_ORDER = "bon-de-commande-mss"  # PS4.1, window 2 only, 004 L712, L728


PREREQUISITE_OF = {
    Item.RNIV: Prerequisite.PS1_2,
    Item.PSSI: Prerequisite.PS2_1,
    Item.PSSI_GHT: Prerequisite.PS2_1,
    Item.RISK_ANALYSIS: Prerequisite.PS2_1,
    Item.ACTION_PLAN: Prerequisite.PS2_1,
    Item.INCIDENT_PROCEDURE: Prerequisite.PS2_1,
    Item.RSSI: Prerequisite.PS2_1,
    Item.SECURITY_REFERENT: Prerequisite.PS2_1,
    Item.RSSI_MEETING: Prerequisite.PS2_1,
    Item.CYBER_AUDIT: Prerequisite.PS2_2,
    Item.CME_DECISION: Prerequisite.PS3_1,
    Item.DMP_SCREENSHOTS: Prerequisite.PS3_1,
    Item.MSS_SEND_PROOF: Prerequisite.PS3_2,
    Item.MSS_PURCHASE_ORDER: Prerequisite.PS4_1,
}

# The items declared for a GHT as a whole (004 L464, L468); every other item is a structure's.
GHT_ITEMS = frozenset({Item.PSSI_GHT, Item.RSSI, Item.RSSI_MEETING})

# Seed 000 L784-792: the four funding windows of volet 1, each a semester.
WINDOWS = {
    1: (date(2022, 1, 1), date(2022, 7, 1)),
    2: (date(2022, 7, 1), date(2023, 1, 1)),
    3: (date(2023, 1, 1), date(2023, 7, 1)),
    4: (date(2023, 7, 1), date(2024, 1, 1)),
}

# Roles that read any structure's prerequisites (the ARS validates the applications, 004 L174, L181;
# the ANS and DGOS follow the programme). A structure reads its own; a GHT's support reads its GHT's.
READER_ROLES = frozenset({"agent-ars", "agent-ans"})

_FINESS = re.compile(r"^\d{9,10}$|^\d{14,15}$", re.ASCII)  # FINESS (with or without the 1 prefix), SIRET
_GHT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", re.ASCII)


def window_of(day: date) -> int:
    """The funding window a day belongs to (000 L784-792). Before window 1, applications were for it
    (000 L785: called from September 2021); after window 4 — the last the seed names — each later
    semester is counted as a further window, so that PS2.2 is still proven again each time."""
    if day < WINDOWS[1][0]:
        return 1
    for number, (start, end) in WINDOWS.items():
        if start <= day < end:
            return number
    last_start = WINDOWS[4][0]
    return 4 + (day.year - last_start.year) * 2 + (1 if day.month >= 7 else 0) - (1 if last_start.month >= 7 else 0)


@dataclass(frozen=True)
class Scope:
    """A structure (its FINESS) or a GHT (`ght:<code>`), as the house's administrator recorded it."""

    code: str
    ght: bool = False

    @classmethod
    def parse(cls, text: str) -> Scope:
        text = text.strip()
        if text.lower().startswith("ght:") and _GHT.match(text[4:]):
            return cls(text[4:], ght=True)
        if _FINESS.match(text):
            return cls(text)
        raise InvalidInput(f"périmètre {text[:80]!r} : un FINESS ou ght:<code> attendu", code="perimetre-invalide")

    @property
    def holder(self) -> str:
        """How declarations name it."""
        return f"ght:{self.code}" if self.ght else self.code

    def __str__(self) -> str:
        return self.holder


@dataclass(frozen=True)
class Evidence:
    """A file kept in the blob store, named by its SHA-256, its type found from its bytes."""

    sha256: str
    filename: str
    media_type: str
    size: int


@dataclass(frozen=True)
class Declaration:
    id: int
    holder: str
    item: Item
    effective_on: date
    window: int | None
    facts: dict[str, Any]
    evidence: Evidence | None
    declared_by: str
    declared_structure: str
    declared_at: str

    @property
    def proof(self) -> str:
        return f"déclaration {self.id} ({self.item}, {self.effective_on.isoformat()}, par {self.declared_by})"


@dataclass(frozen=True)
class Check:
    """One prerequisite for one structure (or a GHT's own items) at instant t: met or what is missing,
    how it was established (`etabli` from the house's records, `declare` from declarations, or both),
    and the proofs (audit seqs, declaration ids)."""

    prerequisite: Prerequisite
    structure: str
    missing: tuple[str, ...]
    source: str
    proofs: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def met(self) -> bool:
        return not self.missing

    def as_dict(self) -> dict[str, Any]:
        return {
            "prerequis": str(self.prerequisite),
            "libelle": LABELS[self.prerequisite],
            "structure": self.structure,
            "atteint": self.met,
            "source": self.source,
            "manques": list(self.missing),
            "preuves": list(self.proofs),
            "remarques": list(self.notes),
        }


@dataclass(frozen=True)
class Eligibility:
    volet: int
    missing: tuple[str, ...]  # "PS2.2 (1750000019) : …", one per missing item

    @property
    def eligible(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class PrerequisReport:
    """The prerequisites of a scope for a period, at instant t, and the two volets' eligibility."""

    scope: Scope
    period: Period
    at: date
    window: int
    structures: tuple[str, ...]
    checks: tuple[Check, ...]
    volets: tuple[Eligibility, ...] = field(default=())

    def check(self, prerequisite: Prerequisite, structure: str | None = None) -> Check:
        return next(
            c for c in self.checks if c.prerequisite == prerequisite and (structure is None or c.structure == structure)
        )

    def volet(self, number: int) -> Eligibility:
        return next(v for v in self.volets if v.volet == number)

    def as_dict(self) -> dict[str, Any]:
        return {
            "perimetre": str(self.scope),
            "periode": self.period.label,
            "instant": self.at.isoformat(),
            "fenetre": self.window,
            "structures": list(self.structures),
            "prerequis": [c.as_dict() for c in self.checks],
            "volets": [{"volet": v.volet, "eligible": v.eligible, "manques": list(v.missing)} for v in self.volets],
        }

    def tables(self) -> list[Table]:
        rows = tuple(
            (str(c.prerequisite), c.structure, "oui" if c.met else "non", c.source, " ; ".join(c.missing))
            for c in self.checks
        )
        volets = tuple((f"volet {v.volet}", "oui" if v.eligible else "non", " ; ".join(v.missing)) for v in self.volets)
        title = f"Prérequis SUN-ES — {self.scope} — {self.period.label} (à l'instant {self.at.isoformat()})"
        return [
            Table(title, ("prérequis", "structure", "atteint", "source", "manques"), rows),
            Table(
                f"Éligibilité SUN-ES — {self.scope} — fenêtre {self.window}", ("volet", "éligible", "manques"), volets
            ),
        ]
