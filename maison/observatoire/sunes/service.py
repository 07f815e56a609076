"""SUN-ES usage indicators for a structure or a GHT, per semester (seed 004 L185-207; issue 23 §1.1-1.2),
computed from what happened — the audit trail and the stays of the GAM — not declared by hand.

How to call it::

    sunes = SunEs(db, house.sejours, settings, mailbox_kind=lambda a: ...)  # the house's Sejours, Settings,
    report = sunes.compute(actor, Scope.structure(FINESS), Period.parse("2026-S1"))  # MSSanté directory
    report.as_dict(); report.tables()
    why = sunes.explain(actor, Scope.ght("GHT-75"), Period.parse("2026-S1"), "DS1.1")
    why.as_dict(); why.tables()
    page = sunes.explain_page(actor, Scope.ght("GHT-75"), Period.parse("2026-S1"), "DS1.1", number=2, size=50,
                              filtre="non-comptes")  # page.totals, page.items, page.pages
    sunes.declare_cme(actor, FINESS, "2026-03-12", "CME", "PV de la CME du 12 mars 2026")   # DS4.3

How each fact is established (the fold, `Folding`), from the records the services leave:
- a stay: every PAM record of the GAM (`sejours.A01` … `sejours.Z99`, issue 22 §1) names the stay
  (structure + PV1-19); the fold reads the stay as it is now through `Sejours.stays_by_key` — so a
  stay cancelled by A11 (or A38) is `cancelled` and leaves every denominator; an A13 (discharge
  cancelled) takes it out of the period until its next A03; a merge (A40, `identitovigilance.merge`)
  refolds the absorbed patient's stays under the survivor. Denominator of the per-stay lines: the
  stays discharged in the period (004 L191-193, L203 "taux de séjours"; a discharge letter and a
  discharge prescription exist once the stay is over). DS1.4's "patients déjà venus" (004 L194): a
  stay whose patient had an earlier, not cancelled, stay at the same structure;
- a document produced: the PFI's `pfi.hl7.document` record (the DPI, the lab system or the RIS sent
  it over HL7 v2; the PFI carries the hospital's sendings, seed 002 L436) with the stay (PV1-19 and
  its authority), the LOINC type (JDV_J07, model.py), the CDA levels sent (N1, then its N3) and
  PID-32 — QUAL is a qualified INS (PAM FR 2.11; a VALI identity's INS was not checked, so it is not
  a qualified INS); the date it is produced is the PFI's reception (DS2.1 and DS3.1 count reports
  produced in the period);
- fed to the DMP: the PFI's `pfi.hl7.dmp` record of that document with outcome success (the DMP
  answered 200 to ITI-65); a refusal is kept with its code; a withdrawal (`pfi.hl7.dmp` of a
  deletion, or the DMP's own `dmp.supprimer` of the document) removes the feed: the line says "le
  DMP a été alimenté", and a withdrawn document no longer feeds it (the producer withdraws what was
  wrong, 000 L1062), whenever the withdrawal happens — a report recomputed later says so. A
  replacement (T10) is a new version of the same document: it feeds the stay, and the replaced
  version leaves the reports' count (a report is not produced twice);
- fed to the DMP outside the PFI: the DMP's `dmp.alimenter` record of a lot, for a document the PFI
  did not send — its stay is the CDA's componentOf/encompassingEncounter/id (extension, for the
  feeding structure), its level the CDA's body, an N3 going with the N1 it transforms (002 L790);
  its INS counts as qualified (the DMP takes a CDA only with the referential's INS and traits);
- sent by MSSanté: the PFI's `pfi.hl7.mss` record per recipient (sent, delivered, read, or failed).
  A recipient in the citizen domain (patient.mssante.fr, 000 L2087) is the patient (DS4.2, any
  message — no INS condition, 004 L203); any other a professional correspondent (DS4.1, 004 L202)
  if the MSSanté directory types it PER (or does not know it): an ORG, APP or CAB mailbox is not a
  correspondent. DS4.1 counts the correspondents the structure addressed a CDA to in the period,
  and among them those that were sent one for a qualified INS.
A feed or a sending counts when it happened before the period's end (the rate is that of the
period); DS1.4's historical documents count when fed since the stay's admission. DS4.3 is declared
(`declare_cme`): a meeting is not in the trail; the report shows the last declaration of the scope
dated before the period's end, with its evidence and its declarant.

The fold (`fold`) reads only the records after its cursor, by windows of seqs, and writes the facts
and the cursor in one transaction; `fold(from_zero=True)` rebuilds them. The indicators are SQL
counts over the facts (store.py); each explanation lists every stay, report or correspondent with
the reason it is counted or not and the audit seqs that prove it — all of them (`explain`, the export:
seconds for a GHT's semester of ~150 000 stays) or one page with the whole explanation's totals
(`explain_page`: the totals are the indicator's SQL counts, the page's elements are selected, ordered
and cut by SQL and only their rows read, then judged by the same code — a page costs about the same
whatever the period holds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from maison.core import audit
from maison.core.actor import Actor
from maison.core.config import Settings
from maison.core.errors import InvalidInput, NotFound
from maison.core.storage import Database
from maison.etablissement.sejours.service import Sejours
from maison.formats.mime import CITIZEN_DOMAIN
from maison.observatoire.report import Period
from maison.observatoire.sunes import store
from maison.observatoire.sunes.model import (
    FILTERS,
    INDICATORS,
    PAGE_SIZES,
    CmePresentation,
    Explanation,
    ExplanationPage,
    Indicator,
    Item,
    Result,
    Scope,
    SunesReport,
    Totals,
    Unit,
    indicator,
)

KIND = "sunes"
PAM_EVENTS = ("A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A11", "A12", "A13", "A21", "A22", "A38", "Z99")
ACTIONS = (
    *(f"sejours.{event}" for event in PAM_EVENTS),  # issue 22 §1: each PAM event on a stay
    "pfi.hl7.document",
    "pfi.hl7.dmp",
    "pfi.hl7.mss",
    "dmp.alimenter",
    "dmp.supprimer",
    "identitovigilance.ght",
    "identitovigilance.merge",  # A40: the absorbed patient's stays are the survivor's
)
WINDOW = 50_000  # seqs read per fold transaction


def _met_column(i: Indicator) -> str:
    """The stay's derived column of a per-stay line: ds11_at for DS1.1 … ds42_at for DS4.2."""
    return "ds" + i.code[2:].replace(".", "") + "_at"


# the per-stay lines whose condition is a document of the stay (004 L191-193): the column the fold keeps
# with the first time a document met it (DS4.2's, a message to the patient, and DS1.4's are the store's)
FIRST_FED = {
    _met_column(i): store.fed_document(i.types, i.level, qualified=i.qualified_ins)
    for i in INDICATORS.values()
    if i.unit is Unit.STAYS and i.types
}


def _utc(text: str | None) -> str | None:
    """An ISO timestamp (a PAM time carries its offset) as UTC, so that facts compare as text."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class Folding:
    """One window of records applied to the facts, in seq order, in the caller's write transaction."""

    def __init__(self, conn: Any, records: list[dict[str, Any]], kinds: dict[str, str] | None = None) -> None:
        """`records`: the window's records as `parsed` leaves them (each detail read once, under "d")."""
        self.conn = conn
        self.kinds = kinds or {}
        self.records = records
        named = [r["d"].get("document", "") for r in self.records] + [r["d"].get("remplace", "") for r in self.records]
        named += [
            u
            for r in self.records
            if r["action"] == "dmp.alimenter"
            for u in [*r["d"].get("documents", []), *r["d"].get("remplace_cda", [])]
        ]
        self.docs = store.documents(conn, [n for n in named if n and isinstance(n, str)])
        mss = [(r["d"]["document"], r["d"]["destinataire"]) for r in self.records if r["action"] == "pfi.hl7.mss"]
        self.msgs = store.messages(conn, mss)
        # the facts as the store held them: only what the window changed is written back
        self.stored_docs = {u: dict(d) for u, d in self.docs.items()}
        self.stored_msgs = {k: dict(m) for k, m in self.msgs.items()}
        self.touched: set[str] = set()
        self.touched_msgs: set[tuple[str, str]] = set()

    def apply(self, stays: dict[tuple[str, str], tuple[Any, int]]) -> None:
        """`stays`: each stay the window's records touched, as it is now, with the last such record's seq."""
        handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "pfi.hl7.document": self._produced,
            "pfi.hl7.dmp": self._dmp_leg,
            "pfi.hl7.mss": self._mss_leg,
            "dmp.alimenter": self._fed_directly,
            "dmp.supprimer": self._withdrawn,
            "identitovigilance.ght": self._ght,
        }
        for record in self.records:
            if record["action"] in handlers:
                handlers[record["action"]](record)
        # every stay whose facts changed — and its patient's other stays (DS1.4) — gets its lines refreshed
        keys = set(stays) | {(self.docs[u]["structure"], self.docs[u]["stay_number"]) for u in self.touched}
        keys |= {(self.msgs[k]["structure"], self.msgs[k]["stay_number"]) for k in self.touched_msgs}
        known = store.stored_stays(self.conn, keys)  # before: a stay moved by a merge leaves its patient
        rows = [_stay_row(stay, seq) for stay, seq in stays.values()]
        store.put_stays(self.conn, rows, known)
        store.put_documents(self.conn, *store.changes(self.docs, self.stored_docs, self.touched))
        store.put_messages(self.conn, *store.changes(self.msgs, self.stored_msgs, self.touched_msgs))
        patients = {(k[0], r["patient_id"]) for k, r in known.items()} | {
            (r["structure"], r["patient_id"]) for r in rows
        }
        store.refresh_stays(self.conn, patients, FIRST_FED, store.fed_document((), ""))

    def _produced(self, record: dict[str, Any]) -> None:
        d = record["d"]
        # records written before the PFI named the type, levels and PID-32 cannot be classified
        if record["outcome"] != "success" or d.get("action") not in ("initial", "remplacement") or "type" not in d:
            return
        uid = d["document"]
        if uid not in self.docs:
            self.docs[uid] = dict(
                unique_id=uid,
                structure=d["structure_sejour"],
                stay_number=d["sejour"],
                type_code=d["type"],
                levels="+".join(dict.fromkeys(d["niveaux"])),
                ins=record["patient"] or "",
                qualified=d["statut_ins"] == "QUAL",  # PAM FR 2.11 PID-32: only QUAL is a qualified INS
                produced_at=record["recorded_at"],
                produced_seq=record["seq"],
                fed_at=None,
                fed_seq=None,
                refused_seq=None,
                refused_code="",
                deleted_seq=None,
                superseded_seq=None,
            )
            self.touched.add(uid)
        replaced = self.docs.get(d.get("remplace") or "")
        if d["action"] == "remplacement" and replaced is not None and replaced["superseded_seq"] is None:
            replaced["superseded_seq"] = record["seq"]
            self.touched.add(replaced["unique_id"])

    def _dmp_leg(self, record: dict[str, Any]) -> None:
        d = record["d"]
        doc = self.docs.get(d["document"])
        if doc is None:
            return
        ok = record["outcome"] == "success"
        if d["action"] == "suppression":
            if ok and doc["deleted_seq"] is None:
                doc["deleted_seq"] = record["seq"]
        elif ok and doc["fed_seq"] is None:
            doc["fed_at"], doc["fed_seq"] = record["recorded_at"], record["seq"]
        elif not ok and doc["fed_seq"] is None:
            doc["refused_seq"], doc["refused_code"] = record["seq"], str(d.get("code", ""))[:64]
        self.touched.add(doc["unique_id"])

    def _mss_leg(self, record: dict[str, Any]) -> None:
        d = record["d"]
        key = (d["document"], d["destinataire"])
        structure, _, number = d["sejour"].partition("/")
        msg = self.msgs.setdefault(
            key,
            dict(
                unique_id=key[0],
                recipient=key[1],
                structure=structure,
                stay_number=number,
                patient=key[1].lower().endswith("@" + CITIZEN_DOMAIN),
                kind=self.kinds.get(key[1], ""),
                state="",
                tried_at=record["recorded_at"],
                sent_at=None,
                seq=record["seq"],
            ),
        )
        if record["outcome"] == "success":
            msg["state"] = d["etat"]
            if msg["sent_at"] is None:
                msg["sent_at"], msg["seq"] = record["recorded_at"], record["seq"]
        elif msg["sent_at"] is None:
            msg["state"], msg["seq"] = d.get("etat") or "echec", record["seq"]
        self.touched_msgs.add(key)

    def _fed_directly(self, record: dict[str, Any]) -> None:
        """A lot the DMP accepted (ITI-65). A document the PFI sent is already a fact (its PID-32 says
        whether the INS was qualified): the DMP's record of it changes nothing. Any other was fed by the
        structure's software itself: its stay is the CDA's componentOf/encompassingEncounter/id
        (extension: the stay number; the structure: the feeder's), and its INS counts as qualified —
        the DMP took it only with the recordTarget's INS equal to the lot's and its birth name, date and
        sex equal to the INS referential's (partage/dmp/service.py, `_judge`)."""
        d = record["d"]
        if record["outcome"] != "success" or not {"niveaux", "n1_de", "sejours"} <= d.keys():
            return  # a refusal, or a record written before the DMP named levels and stays
        replaced = d.get("remplace_cda") or [""] * len(d["documents"])
        lot = list(zip(d["documents"], d["types"], d["niveaux"], d["n1_de"], d["sejours"], replaced, strict=True))
        for uid, type_code, level, _, stay, old in (row for row in lot if not row[3]):  # the N1s first
            former = self.docs.get(old)
            if former is not None and former["superseded_seq"] is None:  # RPLC: one report, a new version
                former["superseded_seq"] = record["seq"]
                self.touched.add(old)
            if uid not in self.docs:
                self.docs[uid] = dict(
                    unique_id=uid,
                    structure=record["actor_structure"],
                    stay_number=stay.partition("^")[2],
                    type_code=type_code,
                    levels=level,
                    ins=record["patient"] or "",
                    qualified=True,
                    produced_at=record["recorded_at"],
                    produced_seq=record["seq"],
                    fed_at=record["recorded_at"],
                    fed_seq=record["seq"],
                    refused_seq=None,
                    refused_code="",
                    deleted_seq=None,
                    superseded_seq=None,
                )
                self.touched.add(uid)
        for _, _, level, n1, _, _ in (row for row in lot if row[3]):  # an N3 goes with its N1 (002 L790)
            doc = self.docs.get(n1)
            if doc is not None and n1 in self.touched and level not in doc["levels"]:
                doc["levels"] = f"{doc['levels']}+{level}"

    def _withdrawn(self, record: dict[str, Any]) -> None:
        doc = self.docs.get(record["d"].get("document", ""))
        if record["outcome"] == "success" and doc is not None and doc["deleted_seq"] is None:
            doc["deleted_seq"] = record["seq"]
            self.touched.add(doc["unique_id"])

    def _ght(self, record: dict[str, Any]) -> None:
        if record["outcome"] == "success":
            store.put_ght(self.conn, record["d"]["ght"], list(record["d"].get("membres", [])), record["seq"])


def parsed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records the fold applies (a success or a failure), each with its detail read once under "d"."""
    kept = [r for r in records if r["outcome"] in ("success", "failure")]
    for r in kept:
        r["d"] = audit.detail_of(r)
    return kept


def _stay_row(stay: Any, seq: int) -> dict[str, Any]:
    return dict(
        structure=stay.structure,
        number=stay.number,
        patient_id=stay.patient_id,
        ipp=stay.ipp,
        patient_class=stay.patient_class,
        status=stay.status.value,
        admitted_at=_utc(stay.admitted_at),
        discharged_at=_utc(stay.discharged_at),
        seq=seq,
    )


class SunEs:
    """The SUN-ES indicators of a structure or a GHT (see the module's docstring)."""

    def __init__(
        self,
        db: Database,
        sejours: Sejours,
        settings: Settings,
        trail: audit.Trail | None = None,
        mailbox_kind: Callable[[str], str | None] | None = None,
    ) -> None:
        """`mailbox_kind`: the MSSanté directory's type of an address (PER, ORG, APP, CAB; None when
        unknown) — the house wires its operators' `Mss.mailboxes.find(address).kind`. Without it, every
        professional address counts as a correspondent."""
        self.db = db
        self.sejours = sejours
        self.settings = settings
        self.trail = trail or sejours.trail
        self.mailbox_kind = mailbox_kind
        self.reader = audit.SYSTEM  # the fold reads the stays as the house, for the indicators

    # --- the fold ----------------------------------------------------------------------------------

    def fold(self, *, from_zero: bool = False, window: int = WINDOW) -> int:
        """Fold the records after the cursor into the facts; returns the seq folded to."""
        if from_zero:
            with self.db.write() as conn:
                store.forget(conn, KIND)
        while True:
            with self.db.read() as conn:
                after, head = store.cursor(conn, KIND), audit.last_seq(conn)
                if after >= head:
                    return after
                upto = min(after + window, head)
                records = parsed(audit.records_after(conn, after, upto, ACTIONS))
            stays, kinds = self._stays(records), self._kinds(records)
            with self.db.write() as conn:
                if store.cursor(conn, KIND, lock=True) != after:  # another fold went ahead meanwhile
                    continue
                Folding(conn, records, kinds).apply(stays)
                store.move_cursor(conn, KIND, upto)

    def _stays(self, records: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[Any, int]]:
        """The stays the window's PAM records name — and, for a merge (A40), the absorbed patient's
        stays already folded — read as they are now, each with the seq of the last record about it."""
        seqs: dict[tuple[str, str], int] = {}
        for r in records:
            if r["outcome"] != "success":
                continue
            d = r["d"]
            if r["action"].startswith("sejours.") and d.get("sejour"):
                seqs[(d["structure"], d["sejour"])] = r["seq"]
            elif r["action"] == "identitovigilance.merge" and d.get("absorbed_ipp"):
                with self.db.read() as conn:
                    for key in store.stays_of_ipp(conn, d.get("structure", ""), d["absorbed_ipp"]):
                        seqs[key] = r["seq"]
        if not seqs:
            return {}
        # by parts of 5 000 keys (two IN lists, well under any backend's limit on parameters): each call is
        # an audited read of its own, which waits for the journal's commit
        parts = store.chunks(sorted(seqs), 5000)
        found = [s for part in parts for s in self.sejours.stays_by_key(self.reader, list(part))]
        return {(s.structure, s.number): (s, seqs[(s.structure, s.number)]) for s in found}

    def _kinds(self, records: list[dict[str, Any]]) -> dict[str, str]:
        """The directory's type of each professional address the window's MSSanté legs name."""
        if self.mailbox_kind is None:
            return {}
        addresses = {r["d"].get("destinataire", "") for r in records if r["action"] == "pfi.hl7.mss"}
        return {a: self.mailbox_kind(a) or "" for a in addresses if a and not a.lower().endswith("@" + CITIZEN_DOMAIN)}

    # --- the report ----------------------------------------------------------------------------------

    def known(self) -> tuple[dict[str, list[str]], list[str]]:
        """The GHTs (with their members) and the structures with stays that the folded facts hold:
        what SUN-ES has figures of. Codes only, no patient: the caller decides who sees which."""
        self.fold()
        with self.db.read() as conn:
            return store.ghts(conn), store.stay_structures(conn)

    def compute(self, actor: Actor, scope: Scope, period: Period) -> SunesReport:
        """Every DS indicator of `scope` over `period` (SQL counts over the folded facts) and DS4.3."""
        folded = self.fold()
        start, end = period.bounds
        with self.db.read() as conn:
            structures = self._structures(conn, scope)
            results = tuple(self._result(conn, i, structures, start, end) for i in INDICATORS.values())
            cme = store.last_cme(conn, structures, end)
        self.trail.read(actor, "observatoire.sunes", detail=self._audited(scope, period, structures))
        return SunesReport(scope, tuple(structures), period, results, _cme(cme), folded)

    def _structures(self, conn: Any, scope: Scope) -> list[str]:
        if scope.kind == "structure":
            return [scope.code]
        if scope.kind != "ght":
            raise InvalidInput(f"périmètre {scope.kind!r} : structure ou ght", code="perimetre")
        members = store.ght_members(conn, scope.code)
        if not members:
            raise NotFound(f"GHT {scope.code} inconnu", code="ght-inconnu")
        return members

    def _result(self, conn: Any, i: Indicator, structures: list[str], start: str, end: str) -> Result:
        target = int(getattr(self.settings, i.setting))
        if i.unit is Unit.STAYS:
            den = store.count_stays(conn, structures, start, end, None)
            num = store.count_stays(conn, structures, start, end, _met_column(i))
        elif i.unit is Unit.RETURNING_STAYS:
            den = store.count_returning_stays(conn, structures, start, end, counted=False)
            num = store.count_returning_stays(conn, structures, start, end, counted=True)
        elif i.unit is Unit.REPORTS:
            den = store.count_reports(conn, structures, i.types, start, end, None)
            num = store.count_reports(conn, structures, i.types, start, end, store.fed_document(i.types, i.level))
        else:
            den = store.count_correspondents(conn, structures, start, end, counted=False)
            num = store.count_correspondents(conn, structures, start, end, counted=True)
        return Result(i, num, den, target)

    @staticmethod
    def _audited(scope: Scope, period: Period, structures: list[str], **more: str) -> dict[str, Any]:
        return {"perimetre": f"{scope.kind}:{scope.code}", "structures": structures, "periode": period.label, **more}

    # --- the explanation -------------------------------------------------------------------------------

    def explain(self, actor: Actor, scope: Scope, period: Period, code: str) -> Explanation:
        """Every stay, report or correspondent of one indicator: counted or not, why, and the proof."""
        i = indicator(code)
        self.fold()
        start, end = period.bounds
        with self.db.read() as conn:
            structures = self._structures(conn, scope)
            items = _EXPLAINERS[i.unit if i.code != "DS4.2" else "DS4.2"](conn, i, structures, start, end)
        self.trail.read(actor, "observatoire.sunes", detail=self._audited(scope, period, structures, indicateur=i.code))
        return Explanation(i, period, tuple(items))

    def explain_page(
        self,
        actor: Actor,
        scope: Scope,
        period: Period,
        code: str,
        *,
        number: int = 1,
        size: int = 50,
        filtre: str = "tous",
    ) -> ExplanationPage:
        """One page of `explain`'s list — the same elements in the same order, judged and proven the
        same way — filtered (FILTERS: all, counted, not counted, out of the denominator), with the whole
        explanation's totals. The totals are SQL counts over the folded facts (the indicator's own);
        the page's elements are selected, ordered and cut by SQL, and only their documents, earlier stays
        or messages are read: a page costs far less than the full list (the totals and the selection
        still pass over the period's rows, in SQL). DS4.1's addresses are grouped in SQL, then cut."""
        i = indicator(code)
        if filtre not in FILTERS:
            raise InvalidInput(f"filtre {filtre!r} : {', '.join(FILTERS)}", code="filtre-invalide")
        if number < 1:
            raise InvalidInput(f"page {number} : les pages se comptent à partir de 1", code="page-invalide")
        if size not in PAGE_SIZES:
            raise InvalidInput(f"taille de page {size} : de 1 à 500 éléments", code="taille-invalide")
        self.fold()
        with self.db.read() as conn:
            structures = self._structures(conn, scope)
            page, chosen = self._page(conn, i, structures, period, filtre, number, size)
        if number > page.pages:
            raise InvalidInput(f"page {number} : l'explication en compte {page.pages}", code="page-invalide")
        more = {"indicateur": i.code, "page": str(number), "taille": str(size), "filtre": filtre}
        self.trail.read(actor, "observatoire.sunes", detail=self._audited(scope, period, structures, **more))
        return replace(page, items=tuple(chosen))

    def _page(
        self, conn: Any, i: Indicator, structures: list[str], period: Period, filtre: str, number: int, size: int
    ) -> tuple[ExplanationPage, list[Item]]:
        """The page (its totals) and its elements (none past the last page)."""
        start, end = period.bounds
        offset = (number - 1) * size
        if i.unit is Unit.CORRESPONDENTS:
            totals, items = _page_correspondents(conn, structures, start, end, filtre, offset, size)
        elif i.unit is Unit.REPORTS:
            totals = Totals(*store.report_totals(conn, structures, i.types, i.level, start, end))
            where = store.report_selection(i.types, i.level, end, filtre)
            rows = store.reports_page(conn, structures, i.types, (start, end), where, offset, size)
            items = _report_items(rows, i, end)
        else:
            returning = i.unit is Unit.RETURNING_STAYS
            met = "ds14_at" if returning else _met_column(i)
            totals = Totals(*store.stay_totals(conn, structures, start, end, met, returning=returning))
            where = store.stay_selection(start, end, met, filtre, returning=returning)
            stays = store.stays_page(conn, structures, start, end, where, offset, size)
            items = _PAGERS[i.unit if i.code != "DS4.2" else "DS4.2"](conn, i, stays, start, end)
        return ExplanationPage(i, period, totals, filtre, number, size), items

    # --- DS4.3 ---------------------------------------------------------------------------------------

    def declare_cme(
        self, actor: Actor, structure: str, presented_on: str, instance: str, evidence: str
    ) -> CmePresentation:
        """DS4.3 (004 L205-207): the presentation of the citizen messaging's features and use cases to
        the CME (or the equivalent instance), declared with its evidence (the minutes), by whom, when."""
        try:
            day = date.fromisoformat(presented_on) if presented_on.isascii() else None
        except ValueError:
            day = None
        if day is None or day > datetime.now(UTC).date():
            raise InvalidInput(f"date de présentation {presented_on!r} invalide ou future", code="date-cme")
        if not evidence.strip() or not instance.strip():
            raise InvalidInput("la présentation se déclare avec son instance et sa preuve", code="preuve-absente")
        row = dict(
            structure=structure,
            presented_on=day.isoformat(),
            instance=instance.strip()[:128],
            evidence=evidence.strip(),
            declared_by=actor.person,
            declared_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        with self.db.write() as conn:
            store.add_cme(conn, row)
            self.trail.write(conn, actor, "observatoire.sunes.cme", purpose="HOPERAT", detail=row)
        return _cme(row)  # type: ignore[return-value]


def _cme(row: dict[str, Any] | None) -> CmePresentation | None:
    if row is None:
        return None
    return CmePresentation(
        row["structure"], row["presented_on"], row["instance"], row["evidence"], row["declared_by"], row["declared_at"]
    )


# --- the explainers: one reason per element, the same conditions as the store's counts --------------


def _key(stay: dict[str, Any]) -> str:
    return f"{stay['structure']}/{stay['number']}"


def _discharged_in(stay: dict[str, Any], start: str, end: str) -> bool:
    return stay["status"] != "cancelled" and bool(stay["discharged_at"]) and start <= stay["discharged_at"] < end


def _outside(stay: dict[str, Any]) -> Item:
    """A stay of the period's admissions that no denominator holds."""
    if stay["status"] == "cancelled":
        reason = "séjour annulé (A11/A38) : hors dénominateur"
    else:
        reason = "séjour non terminé (ou sortie hors période) : hors dénominateur"
    return Item(_key(stay), False, False, reason, (stay["seq"],))


def _doc_verdict(doc: dict[str, Any], i: Indicator, end: str, since: str | None = None) -> tuple[int, str]:
    """(rank, reason): rank 6 counts; below, the first condition of the seed's line it fails."""
    fed = f"{i.document} {i.agreed('alimenté')}"
    if doc["fed_seq"] is None:
        if doc["refused_seq"] is not None:
            return 0, f"{i.document} {i.agreed('refusé')} par le DMP ({doc['refused_code']})"
        return 0, f"{i.document} {i.agreed('produit')}, non {i.agreed('transmis')} au DMP"
    if doc["deleted_seq"] is not None:
        return 1, f"{fed} puis {i.agreed('supprimé')} du DMP"
    if doc["fed_at"] >= end:
        return 2, f"{fed} après la fin de la période"
    if since is not None and doc["fed_at"] < since:
        return 2, f"{fed} avant ce séjour (pas une reprise d'historique)"
    if i.level and i.level not in doc["levels"]:
        return 3, f"{fed} en {doc['levels']} alors que le {i.level} est requis"
    if i.qualified_ins and not doc["qualified"]:
        return 4, f"{fed} sans INS qualifiée (PID-32 autre que QUAL)"
    return 6, f"{fed} ({doc['levels']}, INS qualifiée)"


_SEQS = ("produced_seq", "fed_seq", "refused_seq", "deleted_seq", "superseded_seq")


def _doc_seqs(doc: dict[str, Any]) -> list[int]:
    return [doc[n] for n in _SEQS if doc[n] is not None]


def _judge_stay(
    stay: dict[str, Any], docs: list[dict[str, Any]], i: Indicator, end: str, since: str | None = None
) -> Item:
    if not docs:
        return Item(_key(stay), True, False, f"{i.agreed('aucun')} {i.document}", (stay["seq"],))
    rank, reason, seqs = -1, "", [stay["seq"]]
    for d in docs:  # the best verdict, the first document's among equals
        verdict = _doc_verdict(d, i, end, since)
        if verdict[0] > rank:
            rank, reason = verdict
        seqs += _doc_seqs(d)
    return Item(_key(stay), True, rank == 6, reason, tuple(seqs))


def _by_stay(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        found.setdefault((r["structure"], r["stay_number"]), []).append(r)
    return found


def _keys(stays: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(s["structure"], s["number"]) for s in stays]


def _stay_items(
    stays: list[dict[str, Any]], docs: dict[tuple[str, str], list[dict[str, Any]]], i: Indicator, start: str, end: str
) -> list[Item]:
    return [
        _judge_stay(s, docs.get((s["structure"], s["number"]), []), i, end)
        if _discharged_in(s, start, end)
        else _outside(s)
        for s in stays
    ]


def _explain_stays(conn: Any, i: Indicator, structures: list[str], start: str, end: str) -> list[Item]:
    stays = store.stays_touching(conn, structures, start, end)
    docs = _by_stay(store.documents_of_stays_touching(conn, structures, start, end, i.types))
    return _stay_items(stays, docs, i, start, end)


def _page_stays(conn: Any, i: Indicator, stays: list[dict[str, Any]], start: str, end: str) -> list[Item]:
    return _stay_items(stays, _by_stay(store.documents_of_stays(conn, _keys(stays), i.types)), i, start, end)


def _returning_items(
    stays: list[dict[str, Any]],
    earlier: list[dict[str, Any]],
    earlier_docs: dict[tuple[str, str], list[dict[str, Any]]],
    i: Indicator,
    start: str,
    end: str,
) -> list[Item]:
    """`earlier`: stays of the patients of `stays` (at least those earlier than one of them), by admission."""
    by_patient: dict[tuple[str, int], list[dict[str, Any]]] = {}  # each stay's patient's stays: no rescan per stay
    for e in earlier:
        by_patient.setdefault((e["structure"], e["patient_id"]), []).append(e)
    items = []
    for s in stays:
        if not _discharged_in(s, start, end):
            items.append(_outside(s))
            continue
        before = [
            e
            for e in by_patient.get((s["structure"], s["patient_id"]), [])
            if e["number"] != s["number"]
            and e["status"] != "cancelled"
            and e["admitted_at"] is not None
            and s["admitted_at"] is not None
            and e["admitted_at"] < s["admitted_at"]
        ]
        if not before:
            items.append(Item(_key(s), False, False, "première venue du patient : hors dénominateur", (s["seq"],)))
            continue
        docs = [d for e in before for d in earlier_docs.get((e["structure"], e["number"]), [])]
        items.append(_judge_stay(s, docs, i, end, since=s["admitted_at"]))
    return items


def _explain_returning(conn: Any, i: Indicator, structures: list[str], start: str, end: str) -> list[Item]:
    stays = store.stays_touching(conn, structures, start, end)
    earlier_docs = _by_stay(store.documents_of_earlier_stays(conn, structures, start, end))
    return _returning_items(stays, store.earlier_stays(conn, structures, start, end), earlier_docs, i, start, end)


def _page_returning(conn: Any, i: Indicator, stays: list[dict[str, Any]], start: str, end: str) -> list[Item]:
    earlier = store.stays_of_patients(conn, {(s["structure"], s["patient_id"]) for s in stays})
    earlier_docs = _by_stay(store.documents_of_stays(conn, _keys(earlier)))
    return _returning_items(stays, earlier, earlier_docs, i, start, end)


def _report_items(rows: list[dict[str, Any]], i: Indicator, end: str) -> list[Item]:
    items = []
    for doc in rows:
        stay = f"/{doc['stay_number']}" if doc["stay_number"] else ""  # a report fed with no stay named
        key = f"{doc['structure']}{stay} {doc['unique_id']}"
        if doc["superseded_seq"] is not None:
            reason = "remplacé par une nouvelle version : compté une fois"
            items.append(Item(key, False, False, reason, tuple(_doc_seqs(doc))))
            continue
        rank, reason = _doc_verdict(doc, i, end)
        items.append(Item(key, True, rank == 6, reason, tuple(_doc_seqs(doc))))
    return items


def _explain_reports(conn: Any, i: Indicator, structures: list[str], start: str, end: str) -> list[Item]:
    return _report_items(store.reports(conn, structures, i.types, start, end), i, end)


def _patient_message_items(
    stays: list[dict[str, Any]], sent: dict[tuple[str, str], list[dict[str, Any]]], start: str, end: str
) -> list[Item]:
    items = []
    for s in stays:
        if not _discharged_in(s, start, end):
            items.append(_outside(s))
            continue
        msgs = sent.get((s["structure"], s["number"]), [])
        done = [m for m in msgs if m["state"] in store.SENT and m["sent_at"] < end]
        seqs = (s["seq"], *(m["seq"] for m in msgs))
        if done:  # 004 L203: a message, with or without attachment — no INS condition
            items.append(Item(_key(s), True, True, f"message envoyé au patient ({done[0]['recipient']})", seqs))
        elif msgs:
            items.append(Item(_key(s), True, False, "message au patient en échec ou envoyé après la période", seqs))
        else:
            items.append(Item(_key(s), True, False, "aucun message au patient", seqs))
    return items


def _explain_patient_messages(conn: Any, i: Indicator, structures: list[str], start: str, end: str) -> list[Item]:
    stays = store.stays_touching(conn, structures, start, end)
    sent = _by_stay(store.messages_of(conn, structures, start, end, patient=True))
    return _patient_message_items(stays, sent, start, end)


def _page_patient_messages(conn: Any, i: Indicator, stays: list[dict[str, Any]], start: str, end: str) -> list[Item]:
    return _patient_message_items(stays, _by_stay(store.messages_of_stays(conn, _keys(stays), end)), start, end)


def _explain_correspondents(conn: Any, i: Indicator, structures: list[str], start: str, end: str) -> list[Item]:
    return _correspondent_items(store.messages_of(conn, structures, start, end, patient=False), end)


def _page_correspondents(
    conn: Any, structures: list[str], start: str, end: str, filtre: str, offset: int, size: int
) -> tuple[Totals, list[Item]]:
    """DS4.1's totals and page: each address's verdict as `_correspondent_items` reaches it — in the
    denominator by its first message's mailbox type, counted if one was sent for a qualified INS — from
    the addresses grouped in SQL; then the page's addresses' messages only, judged by the same code."""
    first: dict[str, tuple[int, str]] = {}
    counted: set[str] = set()
    for g in store.correspondents(conn, structures, start, end):
        if g["recipient"] not in first or g["first"] < first[g["recipient"]][0]:
            first[g["recipient"]] = (g["first"], g["kind"])
        if g["counted"]:
            counted.add(g["recipient"])
    verdicts = [(r, first[r][1] in store.PERSONAL, r in counted) for r in sorted(first)]
    kept = [Item(r, den, den and met, "", ()) for r, den, met in verdicts]
    totals = Totals(len(kept), sum(k.in_denominator for k in kept), sum(k.counted for k in kept))
    page = [k.key for k in kept if k.selected_by(filtre)][offset : offset + size]
    messages = store.messages_of(conn, structures, start, end, patient=False, recipients=page) if page else []
    return totals, _correspondent_items(messages, end)


def _correspondent_items(messages: list[dict[str, Any]], end: str) -> list[Item]:
    by_recipient: dict[str, list[dict[str, Any]]] = {}
    for m in messages:
        by_recipient.setdefault(m["recipient"], []).append(m)
    items = []
    for recipient, msgs in sorted(by_recipient.items()):
        sent = [m for m in msgs if m["state"] in store.SENT and m["sent_at"] < end]
        seqs = tuple(m["seq"] for m in msgs)
        if msgs[0]["kind"] not in store.PERSONAL:  # 004 L202: the correspondents themselves, equipped
            items.append(Item(recipient, False, False, f"boîte {msgs[0]['kind']} : pas un correspondant PER", seqs))
        elif any(m["qualified"] for m in sent):
            items.append(Item(recipient, True, True, "document CDA envoyé avec une INS qualifiée", seqs))
        elif sent:
            items.append(Item(recipient, True, False, "documents envoyés sans INS qualifiée (PID-32)", seqs))
        else:
            items.append(Item(recipient, True, False, "envoi MSSanté en échec (ou après la période)", seqs))
    return items


_EXPLAINERS: dict[object, Callable[[Any, Indicator, list[str], str, str], list[Item]]] = {
    Unit.STAYS: _explain_stays,
    Unit.RETURNING_STAYS: _explain_returning,
    Unit.REPORTS: _explain_reports,
    Unit.CORRESPONDENTS: _explain_correspondents,
    "DS4.2": _explain_patient_messages,
}

# an explanation's page of stays: the page's stays (selected, ordered and cut by SQL) judged by these
_PAGERS: dict[object, Callable[[Any, Indicator, list[dict[str, Any]], str, str], list[Item]]] = {
    Unit.STAYS: _page_stays,
    Unit.RETURNING_STAYS: _page_returning,
    "DS4.2": _page_patient_messages,
}
