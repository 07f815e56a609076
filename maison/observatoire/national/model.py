"""The national statistics' figures: rows of the monthly series and the report that holds them.

Each row is one line of a table the seeds print (003 L1740-1750 for the DMP, 001 L424-462 for the
ordonnance numérique, 003 L316-322 for INSi), counted from the trail; the targets they are held
against are settings (`Targets`), never constants of the code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from maison.observatoire.report import Period, Table

# The reimbursement history (historique des remboursements) is the one document the Assurance Maladie
# feeds itself: CI-SIS volet CNAM-HR, ClinicalDocument/code REMB of JDV_J07 (1.2.250.1.213.1.1.4.12,
# "Données de remboursement", Entete_CNAM-HR.sch), legalAuthenticator "Assurance maladie". The DMP
# indexes it under that typeCode; 003 L1749-1750 count every feed "hors HR".
HR_TYPE_CODE = "REMB"
MAILBOX_KINDS = ("PER", "ORG", "APP", "CAB")  # 002 L469-489; the citizen mailbox is PAT
CITIZEN_KIND = "PAT"


@dataclass(frozen=True)
class Targets:
    """The thresholds the figures are held against (settings, not constants)."""

    ins_share: float = 0.90  # 000 L2017, L2088: 90 % of health data shared with the INS by December 2022
    segur_sendings: int = 10  # 002 L145: "Atteinte des seuils de 10 envois DMP pour les SONS concernés"


@dataclass(frozen=True)
class DmpLine:
    """Feeds of one month by one key (all, a structure type, a software, a vendor), HR excluded."""

    month: str
    key: str
    feeds: int
    documents: int
    label: str = ""  # the software's name, when the key is a software
    unqualified: int = 0  # documents whose producer's PFI recorded the identity as not qualified (PID-32)


@dataclass(frozen=True)
class MssLine:
    """One operator's month (000 L2734-2752: the operators' monthly indicator report)."""

    month: str
    operator: str
    sent: int
    received: int
    to_patients: int
    citizen_opened: int
    active: dict[str, int]  # PER / ORG / APP / CAB: mailboxes that sent or received in the month
    created: dict[str, int]


@dataclass(frozen=True)
class InsShare:
    """000 L2017, L2088: the share of documents fed and of MSSanté exchanges carrying the INS."""

    month: str
    dmp_documents: int
    dmp_with_ins: int
    mss_messages: int
    mss_with_ins: int
    target: float

    @staticmethod
    def _rate(num: int, den: int) -> float | None:
        return round(num / den, 4) if den else None

    @property
    def share(self) -> float | None:
        return self._rate(self.dmp_with_ins + self.mss_with_ins, self.dmp_documents + self.mss_messages)

    @property
    def met(self) -> bool | None:
        return None if self.share is None else self.share >= self.target


@dataclass(frozen=True)
class OrdonnanceMonth:
    """001 L424-462: the doctors' view and the pharmacists' view, for one month."""

    month: str
    created: int
    read_by_prescriber: int
    searched: int
    prescribers: int  # doctors who created at least one in the month
    new_prescribers: int  # the "(+ N)" of 001 L431: first creation in this month
    prescriber_software: int
    read_by_dispenser: int
    executed: int
    dispensers: int  # structures (pharmacies) that executed at least one in the month
    new_dispensers: int  # 001 L451 "(+ N)"
    dispenser_software: int


@dataclass(frozen=True)
class SegurLine:
    """002 L141-147: a software product's DMP sendings against the vague 1 threshold."""

    software: str
    name: str
    vendor: str
    structures: int
    sendings: int
    threshold: int

    @property
    def reached(self) -> bool:
        return self.sendings >= self.threshold


@dataclass(frozen=True)
class InsiMonth:
    """003 L316-322: one month of INSi calls, as observatoire/insi.py counts them."""

    month: str
    calls: int
    answers: dict[str, int]
    structures: int
    by_vendor: dict[str, int]


@dataclass
class NationalReport:
    """The national statistics of a period, month by month. `tables()` gives them to print or draw."""

    period: Period
    targets: Targets
    dmp: list[DmpLine] = field(default_factory=list)
    dmp_by_structure_type: list[DmpLine] = field(default_factory=list)
    dmp_by_software: list[DmpLine] = field(default_factory=list)
    dmp_by_vendor: list[DmpLine] = field(default_factory=list)
    hr_excluded: dict[str, int] = field(default_factory=dict)  # month -> HR documents left out
    mss: list[MssLine] = field(default_factory=list)
    ins_share: list[InsShare] = field(default_factory=list)
    ordonnance: list[OrdonnanceMonth] = field(default_factory=list)
    ordonnance_since_start: dict[str, int] = field(default_factory=dict)
    segur: list[SegurLine] = field(default_factory=list)
    insi: list[InsiMonth] = field(default_factory=list)
    folded_to: int = 0  # the audit seq the figures include

    def as_dict(self) -> dict[str, object]:
        return {
            "periode": self.period.label,
            "sequenceAudit": self.folded_to,
            "cibles": asdict(self.targets),
            "dmp": [asdict(x) for x in self.dmp],
            "dmpParTypeDeStructure": [asdict(x) for x in self.dmp_by_structure_type],
            "dmpParLogiciel": [asdict(x) for x in self.dmp_by_software],
            "dmpParEditeur": [asdict(x) for x in self.dmp_by_vendor],
            "dmpHistoriqueRemboursementExclu": dict(self.hr_excluded),
            "mssante": [asdict(x) for x in self.mss],
            "partINS": [{**asdict(x), "part": x.share, "atteinte": x.met} for x in self.ins_share],
            "ordonnance": [asdict(x) for x in self.ordonnance],
            "ordonnanceDepuisLeDebut": dict(self.ordonnance_since_start),
            "segurVague1": [{**asdict(x), "atteint": x.reached} for x in self.segur],
            "insi": [asdict(x) for x in self.insi],
        }

    def tables(self) -> list[Table]:
        from maison.observatoire.national.tables import tables  # the presentation, kept apart

        return tables(self)
