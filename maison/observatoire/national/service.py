"""National statistics, monthly (issue 23 §2; SPEC.md §6 "National statistics"), from the trail.

How to call it::

    national = National(house.db, software=house.insi.registered_software)
    report = national.compute(actor, Period.parse("2026-S1"))   # folds what is new, then reads
    report.as_dict(); report.tables()

`fold()` reads the audit records after its cursor (a window of `seq` at a time, each window in one
transaction with the counters it moves); a report is an aggregation of those counters, never a
rescan of the trail. `rebuild()` folds again from seq 0.

What is read when (issue 23 brief: "say which, and why"):
- at fold time, only the trail: the structure and the software of a feed are its record's
  `actor_structure` / `actor_software`, the facts the record proves; a document's identity status
  (PID-32) and the Message-ID its PFI sent it under are the PFI's records (fold.py);
- at report time, the owning services' reference data: a structure's type is its secteur d'activité
  (TRE_R02) in the Annuaire Santé (`annuaire.organization`, as the DMP reads it), a software's name
  and vendor are the registry's (INSi's software registry, fed by the administration). Reference data
  changes (a software registered after its first feeds, a structure recategorised): reading it when
  the report is made shows each figure under today's names, and keeps a fold in two steps equal to a
  fold from 0, whatever was registered in between. A software known only by its Pro Santé Connect
  client id (a professional's token) is "inconnu" until it is registered under that id.

INSi's monthly figures are observatoire/insi.py's, read month by month as it counts them (not folded
here: the issue asks for them in the same shape, not for a second count).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from maison.core import audit
from maison.core.actor import Actor
from maison.core.storage import Database
from maison.identite.annuaire import service as annuaire
from maison.identite.annuaire.vocabulary import CS_SECTEUR
from maison.observatoire import insi
from maison.observatoire.national import fold, store
from maison.observatoire.national.model import (
    CITIZEN_KIND,
    MAILBOX_KINDS,
    DmpLine,
    InsiMonth,
    InsShare,
    MssLine,
    NationalReport,
    OrdonnanceMonth,
    SegurLine,
    Targets,
)
from maison.observatoire.report import Period

KIND = "national"
WINDOW = 50_000  # audit seqs read per transaction
ACTION = "observatoire.national"
Registry = Callable[[], Iterable[Mapping[str, str]]]
Names = dict[str, tuple[str, str]]  # software id -> (name, vendor)


class National:
    def __init__(self, db: Database, *, software: Registry = lambda: (), targets: Targets | None = None) -> None:
        self.db = db
        self.software = software  # the registered software: idam, name, vendor (INSi's registry)
        self.targets = targets or Targets()

    # --- the fold ---------------------------------------------------------------------------------

    def fold(self, window: int = WINDOW) -> int:
        """Fold the records written since the last fold; returns the seq folded to."""
        while True:
            with self.db.write() as conn:
                after = store.cursor(conn, KIND, lock=True)
                head = audit.last_seq(conn)
                if after >= head:
                    return after
                upto = min(head, after + window)
                facts = fold.read(
                    audit.records_after(conn, after, upto, fold.ACTIONS),
                    lambda a: store.mailboxes(conn, a),
                    lambda d: store.statuses(conn, d),
                )
                store.add_documents(conn, list(facts.documents.values()))
                store.add_ins_messages(conn, list(facts.qualified_messages.values()))
                store.add_mailboxes(conn, list(facts.mailboxes.values()))
                store.add_dmp(conn, facts.dmp_rows())
                store.add_messages(conn, list(facts.messages.values()))
                store.add_active(conn, list(facts.active.values()))
                store.add_counters(conn, facts.counters)
                store.add_actors(conn, facts.actor_rows())
                store.move_cursor(conn, KIND, upto)

    def rebuild(self) -> int:
        """Forget every counter and fold the whole trail again."""
        with self.db.write() as conn:
            store.forget(conn, KIND)
        return self.fold()

    # --- the report -------------------------------------------------------------------------------

    def compute(self, actor: Actor, period: Period) -> NationalReport:
        """The period's monthly statistics, after folding what is new. Audited as
        `observatoire.national` (the report names no patient, but it is read from their records)."""
        folded = self.fold()
        months = period.months()
        span = (months[0].label, months[-1].label)
        report = NationalReport(period, self.targets, folded_to=folded)
        software = {str(s["idam"]): (str(s.get("name", "")), str(s.get("vendor", ""))) for s in self.software()}
        with self.db.read() as conn:
            self._dmp(conn, report, span, software)
            self._mss(conn, report, span)
            self._ordonnance(conn, report, span)
            messages = store.ins_message_counts(conn, span)
        labels = [m.label for m in months]
        report.ins_share = _ins_share(report, messages, labels, self.targets)
        report.insi = [_insi_month(self.db, m) for m in labels]
        with self.db.write() as conn:
            audit.Trail.write(conn, actor, ACTION, purpose="HOPERAT", detail={"periode": period.label, "seq": folded})
        return report

    def _dmp(
        self,
        conn: store.Connection,
        report: NationalReport,
        span: tuple[str, str],
        software: Names,
    ) -> None:
        rows = store.dmp_rows(conn, span)
        types = {s: _structure_type(conn, s) for s in {r.structure for r in rows}}
        report.dmp = _lines(rows, lambda r: "")
        report.dmp_by_structure_type = _lines(rows, lambda r: types[r.structure])
        report.dmp_by_software = _lines(rows, lambda r: r.software, lambda k: software.get(k, ("", ""))[0])
        report.dmp_by_vendor = _lines(rows, lambda r: software.get(r.software, ("", "inconnu"))[1] or "inconnu")
        hr: dict[str, int] = defaultdict(int)
        for r in rows:
            hr[r.month] += r.hr_documents
        report.hr_excluded = dict(sorted(hr.items()))
        report.segur = _segur(rows, software, self.targets.segur_sendings)

    def _mss(self, conn: store.Connection, report: NationalReport, span: tuple[str, str]) -> None:
        flows: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in store.message_counts(conn, span):
            flows[(r.month, r.operator)][r.flow] = int(r.messages)
        active: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        for r in store.mailbox_counts(conn, span, active=True):
            active[(r.month, r.operator)][r.kind] = int(r.mailboxes)
        created: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        for r in store.mailbox_counts(conn, span, active=False):
            created[(r.month, r.operator)][r.kind] = int(r.mailboxes)
        report.mss = [
            MssLine(
                month,
                operator,
                flows[(month, operator)]["envoye"],
                flows[(month, operator)]["recu"],
                flows[(month, operator)]["patient"],
                created[(month, operator)].get(CITIZEN_KIND, 0),
                {k: active[(month, operator)].get(k, 0) for k in MAILBOX_KINDS},
                {k: created[(month, operator)].get(k, 0) for k in MAILBOX_KINDS},
            )
            for month, operator in sorted(set(flows) | set(active) | set(created))
        ]

    def _ordonnance(self, conn: store.Connection, report: NationalReport, span: tuple[str, str]) -> None:
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in store.counters(conn, span):
            counts[r.month][r.name] = int(r.value)
        actors: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
        for r in store.actor_counts(conn, span):
            actors[r.month][r.name] = (int(r.actors), int(r.new or 0))
        report.ordonnance = [_ordonnance_month(m, counts[m], actors[m]) for m in sorted(set(counts) | set(actors))]
        since = store.counters_until(conn, span[1])
        report.ordonnance_since_start = {
            **{name: since.get(name, 0) for name in fold.ORDONNANCE_COUNTERS.values()},
            **store.actors_until(conn, span[1]),
        }


def _lines(rows: list[Any], key: Callable[[Any], str], label: Callable[[str], str] = lambda k: "") -> list[DmpLine]:
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        line = sums[(r.month, key(r))]
        line[0] += r.feeds
        line[1] += r.documents
        line[2] += r.unqualified
    return [DmpLine(m, k, f, d, label(k), u) for (m, k), (f, d, u) in sorted(sums.items()) if f or d]


def _structure_type(conn: store.Connection, structure: str) -> str:
    """The structure's secteur d'activité (TRE_R02) in the Annuaire, "inconnu" when it lists none."""
    organization = annuaire.organization(conn, structure) if structure else None
    for concept in (organization or {}).get("type", []):
        for coding in concept.get("coding", []) if isinstance(concept, dict) else []:
            if isinstance(coding, dict) and coding.get("system") == CS_SECTEUR and coding.get("code"):
                return str(coding["code"])
    return "inconnu"


def _segur(rows: list[Any], software: Names, threshold: int) -> list[SegurLine]:
    """002 L145: "Atteinte des seuils de 10 envois DMP" — a software product's feeding transactions
    (hors HR, as 003 counts a sending) over the period, and how many structures sent them."""
    sendings: dict[str, int] = defaultdict(int)
    structures: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if r.feeds:
            sendings[r.software] += r.feeds
            structures[r.software].add(r.structure)
    lines = []
    for s, n in sorted(sendings.items()):
        name, vendor = software.get(s, ("", "inconnu"))
        lines.append(SegurLine(s, name, vendor or "inconnu", len(structures[s]), n, threshold))
    return lines


def _ins_share(
    report: NationalReport, messages: dict[str, tuple[int, int]], months: list[str], targets: Targets
) -> list[InsShare]:
    """000 L2017 (L2088): the share of health data exchanged with the INS, on DMP documents and MSSanté
    exchanges. A DMP document always carries the patient's INS: the DMP indexes a document only under
    an INS it found active in the national referential with its OID (dmp/service.py `_individu`:
    otherwise XDSUnknownPatientId, "patient non identifié par une INS qualifiée"); it is counted without
    a qualified INS when the PFI that received it recorded the identity as not qualified (PID-32, see
    fold.py `_feed`). An MSSanté message carries it when it goes to the patient's citizen mailbox,
    whose address is the matricule INS (000 L2087), or when a PFI sent it with a document of a
    qualified identity (fold.py `_pfi_message`); other messages between professionals carry their
    attachments unopened by the operators, and are counted without it."""
    documents: dict[str, int] = defaultdict(int)
    qualified: dict[str, int] = defaultdict(int)
    for line in report.dmp:
        documents[line.month] += line.documents
        qualified[line.month] += line.documents - line.unqualified
    return [
        InsShare(month, documents[month], qualified[month], *messages.get(month, (0, 0)), targets.ins_share)
        for month in months
    ]


def _ordonnance_month(month: str, counts: dict[str, int], actors: dict[str, tuple[int, int]]) -> OrdonnanceMonth:
    def who(name: str) -> tuple[int, int]:
        return actors.get(name, (0, 0))

    return OrdonnanceMonth(
        month,
        counts["creees"],
        counts["consultees_prescripteur"],
        counts["recherchees"],
        *who("prescripteurs"),
        who("logiciels_prescripteurs")[0],
        counts["consultees_executant"],
        counts["executees"],
        *who("executants"),
        who("logiciels_executants")[0],
    )


def _insi_month(db: Database, month: str) -> InsiMonth:
    """003 L316-322 as observatoire/insi.py counts them (not rewritten: read month by month)."""
    tables = insi.monthly(db, month)
    answers = {a: sum(line.calls.get(a, 0) for line in tables["etablissement"].values()) for a in insi.ANSWERS}
    by_vendor = {vendor: line.total for vendor, line in tables["editeur"].items()}
    return InsiMonth(month, sum(answers.values()), answers, len(tables["etablissement"]), by_vendor)
