"""The maison table (seed 001 L196-216; SPEC.md §0, §6 "Conformity and maturity") as data.

Rows are software categories, columns the règles socles (security, interoperability, ethics) and
the services et référentiels socles (INS, Pro Santé Connect, FINESS/RPPS/Annuaire Santé, the SAS
platform, ViaTrajectoire, the DMP, MSSanté, the ordonnance numérique). Each row keeps the seed line
it was read from. Three rows of the seed are misaligned — the tab-separated cells of L207 (opérateur
MSSanté), L209 (PDE) and L210 (PDS) sit one column left of the header — so each keeps both
readings: the cells where they are printed, and the cells shifted one column right; neither is
chosen, the verdict is given under both (`Requirement.readings`).

What the house can observe of a software is what the audit trail records it did (`Exercise`); the
règles socles, the SAS and ViaTrajectoire are outside the house and are reported "non observable
ici" (declared if somebody declares them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Service(StrEnum):
    """The columns of the maison table (seed 001 L197-198)."""

    SECURITE = "securite"  # PGSSI-S, SSI, HDS
    INTEROPERABILITE = "interoperabilite"  # CI-SIS, portabilité
    ETHIQUE = "ethique"  # RGPD, Ecoscore, accessibilité
    INS = "ins"
    PSC = "psc"
    ANNUAIRE = "annuaire"  # FINESS/RPPS/Annuaire Santé
    SAS = "sas"
    VIATRAJECTOIRE = "viatrajectoire"
    DMP = "dmp"
    MSSANTE = "mssante"
    ORDONNANCE = "ordonnance"


RULES = (Service.SECURITE, Service.INTEROPERABILITE, Service.ETHIQUE)
# the ticked columns of L198, in the seed's order
SOCLE_SERVICES = (
    Service.INS,
    Service.PSC,
    Service.ANNUAIRE,
    Service.SAS,
    Service.VIATRAJECTOIRE,
    Service.DMP,
    Service.MSSANTE,
    Service.ORDONNANCE,
)
# what the house sees in its own trail; the rest is "non observable ici" (issue 23 §3.1)
OBSERVABLE = frozenset({Service.INS, Service.PSC, Service.ANNUAIRE, Service.DMP, Service.MSSANTE, Service.ORDONNANCE})


@dataclass(frozen=True)
class Reading:
    """One reading of a row: the rules' text per column and the ticked services."""

    security: str
    interoperability: str
    ethics: str
    services: frozenset[Service]
    name: str = "telle-quelle"  # "telle-quelle" (as printed) or "decalee" (shifted one column right)

    def required(self) -> frozenset[Service]:
        """Every column the row fills: the ticked services and the rules with a text."""
        rules = {
            s
            for s, text in zip(RULES, (self.security, self.interoperability, self.ethics), strict=True)
            if text.strip()
        }
        return self.services | rules


@dataclass(frozen=True)
class Requirement:
    """A category's row: its seed line, its readings (two when the seed's row is misaligned)."""

    category: str
    label: str
    sector: str
    referencing: str
    seed_line: int
    readings: tuple[Reading, ...]
    ambiguity: str = ""

    @property
    def ambiguous(self) -> bool:
        return len(self.readings) > 1


def _row(cells: list[str], name: str = "telle-quelle") -> Reading:
    """Cells 3.. of a seed row (security, interop, ethics, then the eight services of L198)."""
    ticks = frozenset(s for s, c in zip(SOCLE_SERVICES, cells[3:11], strict=True) if c == "✓")
    return Reading(cells[0], cells[1], cells[2], ticks, name)


def _cells(line: str) -> list[str]:
    return line.split("|")


# The seed's rows as their cells, `|` for its tabs (columns: sector, referencing, category | security |
# interop | ethics | INS | PSC | Annuaire | SAS | ViaTrajectoire | DMP | MSSanté | Ordonnance).
_SANITAIRE = ("Logiciels professionnels/établissements de santé et du médico-social", "Référencement Sécur Sanitaire")
_MEDICO = ("Logiciels professionnels/établissements de santé et du médico-social", "Référencement Sécur Médico-Social")
_WELL_FORMED: tuple[tuple[str, str, tuple[str, str], int, str], ...] = (
    # category, label, (sector, referencing), seed line, cells from the security column on
    ("DPI", "DPI", _SANITAIRE, 199, "HDS, SSI|CI-SIS, Portabilité||✓|✓|✓|||✓|✓|"),
    ("PFI", "PFI", _SANITAIRE, 200, "HDS, SSI|CI-SIS, Portabilité||✓|✓|✓|||✓|✓|"),
    ("RIS", "RIS", _SANITAIRE, 201, "HDS, SSI|CI-SIS, Portabilité||✓|✓|✓|||✓|✓|"),
    ("DRIMBOX", "Drim Box", _SANITAIRE, 202, "HDS, SSI|CI-SIS, Portabilité||✓|✓|✓|||✓|✓|"),
    ("LGC", "LGC", _SANITAIRE, 203, "HDS, SSI|CI-SIS, Portabilité||✓|✓|✓|||✓|✓|✓"),
    ("LGO", "LGO", _SANITAIRE, 204, "HDS, SSI|CI-SIS, Portabilité||✓|✓|✓|||✓|✓|✓"),
    ("SGL", "SGL", _SANITAIRE, 205, "HDS|CI-SIS, Portabilité||✓|✓|✓|||✓|✓|"),
    ("AGENDA", "Solution d'agenda", _SANITAIRE, 206, "HDS|CI-SIS, Portabilité||||✓|✓||||"),
    # seed 001 L208: the DUI ticks ViaTrajectoire, not the DMP
    ("DUI", "DUI", _MEDICO, 208, "HDS, SSI|CI-SIS, Portabilité||✓|✓|✓||✓||✓|✓"),
    ("MES_V1", "Référencement MES V1 sans échanges", ("Applications patients/citoyens", ""), 211,
     "PGSSI-S, HDS|CI-SIS, Portabilité|✓|✓|||||||"),
    ("MES_V2", "Référencement MES V2 avec échanges", ("Applications patients/citoyens", ""), 212,
     "PGSSI-S +, HDS|CI-SIS, Portabilité|✓|✓|||||||"),
    ("DMN_LATM", "DMN V1 - Télésurveillance LATM PECAN", ("Dispositifs Médicaux", ""), 213,
     "HDS|Portabilité||✓|✓|✓|||||"),
    ("DMN_LPPR", "DMN V1 - LPPR et PECAN DTx", ("Dispositifs Médicaux", ""), 214, "HDS|Portabilité||✓|✓|✓|||||"),
    ("DMN_V2", "Certification DMN V2", ("Dispositifs Médicaux", ""), 215, "HDS|Portabilité||✓|✓|✓|||||"),
    ("TELECONSULTATION", "Certification SI Sociétés de Téléconsultation", ("Téléconsultation", ""), 216,
     "I.E, HDS, SSI|CI-SIS, Portabilité|✓|✓|✓|✓|||✓|✓|✓"),
)  # fmt: skip

# The misaligned rows, as printed (their first cell under the header's category column, L199's
# third): every cell one column left of where the header would put it.
_MISALIGNED: tuple[tuple[str, str, tuple[str, str], int, str, str], ...] = (
    # seed 001 L207: "Opérateur MSanté" under the referencing column, "HDS" under the category
    # column; as printed the ticks fall on INS, PSC, Annuaire, DMP, MSSanté (DPI's pattern) with no
    # rule; shifted right, HDS is the security and the ticks fall on PSC, Annuaire, SAS, MSSanté
    # and the ordonnance.
    ("OPERATEUR_MSS", "Opérateur MSSanté", ("Logiciels professionnels/établissements de santé et du médico-social",
     "Opérateur MSSanté"), 207, "|||✓|✓|✓|||✓|✓|", "HDS||||✓|✓|✓|||✓|✓"),
    # seed 001 L209-210: "PDE"/"PDS" in the sector column, the rules one column left; as printed,
    # ethics + INS, PSC, SAS, DMP, MSSanté (no Annuaire); shifted right, the DUI's row (L208).
    ("PDE", "PDE", ("PDE", ""), 209, "CI-SIS, Portabilité||✓|✓|✓||✓||✓|✓|",
     "HDS, SSI|CI-SIS, Portabilité||✓|✓|✓||✓||✓|✓"),
    ("PDS", "PDS", ("PDS", ""), 210, "CI-SIS, Portabilité||✓|✓|✓||✓||✓|✓|",
     "HDS, SSI|CI-SIS, Portabilité||✓|✓|✓||✓||✓|✓"),
)  # fmt: skip

AMBIGUITY = (
    "ligne décalée d'une colonne vers la gauche dans la source (seed 001 L{line}) : lue telle quelle, "
    "et décalée d'une colonne vers la droite ; le verdict est donné selon les deux lectures"
)


def _table() -> dict[str, Requirement]:
    rows: dict[str, Requirement] = {}
    for category, label, (sector, referencing), line, cells in _WELL_FORMED:
        rows[category] = Requirement(category, label, sector, referencing, line, (_row(_cells(cells)),))
    for category, label, (sector, referencing), line, printed, shifted in _MISALIGNED:
        readings = (_row(_cells(printed), "telle-quelle"), _row(_cells(shifted), "decalee"))
        rows[category] = Requirement(category, label, sector, referencing, line, readings, AMBIGUITY.format(line=line))
    return rows


MAISON: dict[str, Requirement] = _table()
CATEGORIES = tuple(MAISON)


class IdentityKind(StrEnum):
    """How else the trail may name a registered software, as the administrator declares it."""

    BAL = "bal"  # an MSSanté mailbox it sends from and receives in (mss.remettre's expediteur, bal)
    CLIENT_PSC = "client-psc"  # a Pro Santé Connect client of another name (an access token's azp)
    LOGICIEL = "logiciel"  # another actor_software: an API key issued under another name


@dataclass(frozen=True)
class Exercise:
    """What a software did of one service, from the trail: how many, first and last, and the audit
    records (seq) of the first and the last (the explanation's proof)."""

    kind: str  # e.g. "insi.appel", "dmp.n1", "mss.envoi" (KINDS)
    count: int
    first_at: str
    last_at: str
    first_seq: int
    last_seq: int

    def as_dict(self) -> dict[str, object]:
        return {
            "nombre": self.count,
            "premier": self.first_at,
            "dernier": self.last_at,
            "seq_premier": self.first_seq,
            "seq_dernier": self.last_seq,
        }


# The counters the fold keeps, and the service each one proves (issue 23 §3.1).
KINDS: dict[str, Service] = {
    "insi.appel": Service.INS,  # an answered INSi call (any CR)
    "insi.cr00": Service.INS,  # an INSi answer 00: one identity found
    "ins.association": Service.INS,  # the INS associated to a local identity on that 00 (002 L344)
    "psc.jeton": Service.PSC,  # a call made with a Pro Santé Connect token of the software's client
    "annuaire.acces": Service.ANNUAIRE,  # a recorded act on the Annuaire Santé
    "dmp.alimentation": Service.DMP,  # a lot fed (ITI-65) — the DMP takes only an INS it knows
    "dmp.n1": Service.DMP,  # a CDA R2 N1 document fed
    "dmp.n3": Service.DMP,  # a CDA R2 N3 document fed
    "mss.envoi": Service.MSSANTE,  # a message from the software's mailbox delivered to a mailbox
    "mss.reception": Service.MSSANTE,  # a message delivered to the software's mailbox
    "ordonnance.creation": Service.ORDONNANCE,
    "ordonnance.dispensation": Service.ORDONNANCE,
}

# What proves a service exercised (the rest of its counters are told, not required):
# INS — an INSi answer 00 (an INSi integration that never found anyone proved no association);
# DMP — a document fed, N1 or N3; MSSanté — a message sent; the ordonnance — created or dispensed.
PROOF: dict[Service, tuple[str, ...]] = {
    Service.INS: ("insi.cr00",),
    Service.PSC: ("psc.jeton",),
    Service.ANNUAIRE: ("annuaire.acces",),
    Service.DMP: ("dmp.n1", "dmp.n3"),
    Service.MSSANTE: ("mss.envoi",),
    Service.ORDONNANCE: ("ordonnance.creation", "ordonnance.dispensation"),
}


@dataclass(frozen=True)
class Verdict:
    """A software against one reading of its category's row."""

    reading: str
    exercised: tuple[Service, ...]  # required and seen in the trail
    missing: tuple[Service, ...]  # required, observable, not seen
    not_observable: tuple[Service, ...]  # required, outside the house (rules socles, SAS, ViaTrajectoire)
    declared: tuple[Service, ...] = ()  # among the not observable, declared by somebody
    beyond: tuple[Service, ...] = ()  # exercised though the row does not require it

    @property
    def conforme(self) -> bool:
        return not self.missing

    def as_dict(self) -> dict[str, object]:
        return {
            "lecture": self.reading,
            "conforme": self.conforme,
            "exerces": [s.value for s in self.exercised],
            "manquants": [s.value for s in self.missing],
            "non_observables": [s.value for s in self.not_observable],
            "declares": [s.value for s in self.declared],
            "hors_ligne": [s.value for s in self.beyond],
        }


def judge(
    requirement: Requirement, exercised: set[Service], declared: frozenset[Service] = frozenset()
) -> tuple[Verdict, ...]:
    """The verdict under each reading of the row."""
    verdicts = []
    for reading in requirement.readings:
        required = reading.required()
        order = [*RULES, *SOCLE_SERVICES]
        verdicts.append(
            Verdict(
                reading.name,
                tuple(s for s in order if s in required and s in OBSERVABLE and s in exercised),
                tuple(s for s in order if s in required and s in OBSERVABLE and s not in exercised),
                tuple(s for s in order if s in required and s not in OBSERVABLE),
                tuple(s for s in order if s in required and s not in OBSERVABLE and s in declared),
                tuple(s for s in order if s in exercised and s not in required),
            )
        )
    return tuple(verdicts)


@dataclass(frozen=True)
class SoftwareRow:
    """One registered software's conformity row."""

    idam: str
    name: str
    vendor: str
    version: str
    category: str
    identities: tuple[str, ...]  # how the trail names it: "logiciel:<actor_software>", "bal:<address>"
    exercises: dict[str, Exercise] = field(default_factory=dict)
    verdicts: tuple[Verdict, ...] = ()
    ambiguity: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "idam": self.idam,
            "nom": self.name,
            "editeur": self.vendor,
            "version": self.version,
            "categorie": self.category or None,
            "identites": list(self.identities),
            "exercice": {k: e.as_dict() for k, e in self.exercises.items()},
            "verdicts": [v.as_dict() for v in self.verdicts],
            "ambiguite": self.ambiguity or None,
        }
