"""The observatory as it is served (issue 23 §4): who may read which report, the folds kept from
running twice at once, and every report signed at the chain position it was computed at.

The reports are the rooms' (`sunes`, `national`, `conformite` with MATURIN-H, `prerequis`); this
module wires them for `maison indicateurs` and `/observatoire`, which both call it::

    obs = house.observatoire
    served = obs.sunes(actor, Scope.structure("1750000019"), Period.parse("2026-S1"))
    served.as_dict(); served.tables; served.seal.signed

Who reads (issue 23 §4 "readable by an ARS or ANS agent role and by the structure for itself only"):
- an ARS or ANS agent — an actor whose role is `agent-ars` or `agent-ans` (the prerequisites' own
  `READER_ROLES`): a Pro Santé Connect professional whose situation d'exercice carries that role, or a
  key the house's administrator issued with it (`maison cle emettre ARS-IDF --portee logiciel --role
  agent-ars`: the role of a key is the administrator's to give, never the holder's) — reads every report;
- a structure reads its own SUN-ES indicators, explanations, prerequisites and MATURIN-H (its staff,
  acting in it, or its software's key); a GHT's reports are its support establishment's to read (004
  L347, L349: the support carries the GHT's application);
- the national statistics and the conformity of every registered software are the ARS's and the
  ANS's only (they span every structure);
- the house itself (the command line, run by whoever owns the data directory: an actor with no
  credential) reads every report, audited under the operator's name; anyone else — a patient, a professional of another
  structure, another structure's key, the house's own administrator key — is refused (403, recorded
  as a security event `securite.acces-refuse`).
A read is audited once, by the room that computes it (`observatoire.sunes`, `observatoire.national`…):
this module adds no record of its own for a read.

Computed incrementally: each room's entry point folds the trail's new records first (cheap when
nothing is new: one read of its cursor and of the last seq). Within a process, one lock per room
makes concurrent requests wait for one fold instead of folding the same window twice; across
processes the rooms' cursors decide: national, conformite and SUN-ES lock their cursor row in the
fold's write transaction (SELECT … FOR UPDATE); the prerequisites' fold reads its cursor in its write
transaction without a lock (on PostgreSQL, two processes may fold one window twice there).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from maison.core import audit
from maison.core.actor import Actor
from maison.core.errors import Forbidden, InvalidInput, NotFound
from maison.core.storage import Database
from maison.etablissement.vigilance.cellule import Cellule
from maison.formats.namespace import Namespace
from maison.identite.annuaire import service as annuaire
from maison.observatoire import measure
from maison.observatoire.conformite.maturin import Maturin
from maison.observatoire.conformite.service import Conformite
from maison.observatoire.national.service import National
from maison.observatoire.prerequis.model import READER_ROLES
from maison.observatoire.prerequis.model import Scope as PrerequisScope
from maison.observatoire.prerequis.service import Prerequis
from maison.observatoire.report import Period, Table
from maison.observatoire.signature import Seal, Sealer
from maison.observatoire.sunes.model import INDICATORS, Scope, Unit
from maison.observatoire.sunes.service import SunEs

KINDS = ("sunes", "national", "conformite", "maturin", "prerequis")


@dataclass(frozen=True)
class Served:
    """One report as served: what it is, its data, its tables, and its seal."""

    kind: str
    title: str
    content: dict[str, Any]
    tables: list[Table]
    seal: Seal

    def as_dict(self) -> dict[str, Any]:
        return {"rapport": self.kind, "titre": self.title, "contenu": self.content, "signature": self.seal.as_dict()}


@dataclass(frozen=True)
class Readable:
    """The GHTs (code: members) and the structures a reader may read, by the rule `authorise` enforces."""

    ghts: dict[str, list[str]]
    structures: list[str]


@dataclass
class Observatoire:
    db: Database
    sunes_room: SunEs
    national_room: National
    conformite_room: Conformite
    maturin_room: Maturin
    prerequis_room: Prerequis
    sealer: Sealer
    cellule: Cellule
    _locks: dict[str, threading.Lock] = field(default_factory=lambda: {k: threading.Lock() for k in KINDS})

    # --- who reads --------------------------------------------------------------------------------

    @staticmethod
    def is_agent(actor: Actor) -> bool:
        """An ARS or ANS agent (see the module's docstring) — or the house itself: an actor that came
        through no request (no credential), as `maison indicateurs` acts for whoever owns the data."""
        return actor.role in READER_ROLES or actor.credential is None

    def _refuse(self, actor: Actor, what: str, why: str) -> Forbidden:
        audit.Trail(self.db).security(
            "acces-refuse", actor, outcome="failure", detail={"action": f"observatoire.{what}", "raison": why}
        )
        return Forbidden(why, code="observatoire-interdit")

    def _agents_only(self, actor: Actor, what: str) -> None:
        if not self.is_agent(actor):
            raise self._refuse(actor, what, f"{what} : réservé aux agents de l'ARS et de l'ANS")

    def authorise(self, actor: Actor, scope: Scope, what: str) -> None:
        """The scope exists (404 otherwise), and `actor` may read it (403 otherwise, recorded)."""
        if not self._reads(actor, self._owner(scope)):
            raise self._refuse(
                actor, what, f"{what} de {scope.kind} {scope.code} : réservé à la structure et aux agents ARS/ANS"
            )

    def _reads(self, actor: Actor, owner: str) -> bool:
        """The one rule: an agent reads everything, a structure what it owns (`_owner`)."""
        return self.is_agent(actor) or (not actor.patient and actor.structure == owner)

    def may_read(self, actor: Actor, scope: Scope) -> bool:
        """`authorise`'s answer without its record or its error: an unknown scope is nobody's."""
        try:
            return self._reads(actor, self._owner(scope))
        except (NotFound, InvalidInput):
            return False

    def readable(self, actor: Actor) -> Readable:
        """What `actor` may read of what SUN-ES has figures of (the dashboard's list): an agent every
        GHT and every structure with stays or in a GHT that the Annuaire knows (`_owner`'s test), a
        GHT's support its GHTs, a structure itself — by `_reads`, the rule `authorise` enforces.
        Nothing at all: refused (403, recorded as `authorise` records it)."""
        with self._one_at_a_time("sunes"):
            ghts, structures = self.sunes_room.known()
        if self.is_agent(actor):
            everyone = set(structures).union(*ghts.values())
            with self.db.read() as conn:
                return Readable(ghts, sorted(annuaire.organizations(conn, everyone)))
        own = actor.structure or ""
        mine = {code: members for code, members in ghts.items() if own in members}
        found = Readable(
            {code: members for code, members in mine.items() if self.may_read(actor, Scope.ght(code))},
            [own] if own and self.may_read(actor, Scope.structure(own)) else [],
        )
        if not found.ghts and not found.structures:
            raise self._refuse(actor, "liste", "liste des indicateurs : réservée aux structures et aux agents ARS/ANS")
        return found

    def _owner(self, scope: Scope) -> str:
        """The structure that reads the scope as its own: itself, or its GHT's support."""
        if scope.kind == "ght":
            support, _ = self.cellule.ght(scope.code)
            return support
        PrerequisScope.parse(scope.code)  # a FINESS or a SIRET (400 otherwise)
        with self.db.read() as conn:
            if annuaire.organization(conn, scope.code) is None:
                raise NotFound(f"structure {scope.code} inconnue de l'Annuaire Santé", code="structure-inconnue")
        return scope.code

    # --- folding ---------------------------------------------------------------------------------

    @contextmanager
    def _one_at_a_time(self, kind: str) -> Iterator[None]:
        with self._locks[kind]:
            yield

    def fold(self, progress: Callable[[str, int], None] = lambda kind, seq: None) -> dict[str, int]:
        """Fold every room's new records now (`maison indicateurs replier`); the seq each is folded to."""
        steps: dict[str, Callable[[], int]] = {
            "sunes": self.sunes_room.fold,
            "national": self.national_room.fold,
            "conformite": self._fold_conformite,
            "prerequis": self.prerequis_room.fold,
        }
        done = {}
        for kind, step in steps.items():
            with self._one_at_a_time(kind):
                done[kind] = step()
            progress(kind, done[kind])
        return done

    def _fold_conformite(self) -> int:
        from maison.observatoire.conformite.fold import fold

        fold(self.db)
        with self.db.read() as conn:
            return audit.last_seq(conn)

    def _served(self, kind: str, title: str, content: dict[str, Any], tables: list[Table]) -> Served:
        return Served(kind, title, content, tables, self.sealer.seal(kind, content))

    def series(self, title: str, tables: list[Table]) -> Served:
        """Tables derived from the reports (rates per month, per service) served — and signed — as a
        report of their own, so that nothing on a page goes unsealed."""
        content = {
            "tableaux": [{"titre": t.title, "colonnes": list(t.columns), "lignes": t.as_dicts()} for t in tables]
        }
        return self._served("series", title, content, tables)

    # --- the reports ------------------------------------------------------------------------------

    def sunes(self, actor: Actor, scope: Scope, period: Period) -> Served:
        self.authorise(actor, scope, "sunes")
        with self._one_at_a_time("sunes"):
            report = self.sunes_room.compute(actor, scope, period)
        title = f"Indicateurs SUN-ES — {scope.kind} {scope.code} — {period.label}"
        return self._served("sunes", title, report.as_dict(), report.tables())

    def sunes_by_month(self, actor: Actor, scope: Scope, period: Period) -> Table:
        """Each indicator's rate month by month (the HTML report's line chart); each month's
        computation is audited by SUN-ES like any other."""
        self.authorise(actor, scope, "sunes")
        rows = []
        for month in period.months():
            with self._one_at_a_time("sunes"):
                report = self.sunes_room.compute(actor, scope, month)
            rows.append((month.label, *(report.result(code).rate for code in INDICATORS)))
        return Table(
            f"Taux SUN-ES par mois (%) — {scope.code} — {period.label}", ("mois", *INDICATORS), tuple(rows), "line"
        )

    def sunes_by_service(self, actor: Actor, scope: Scope, period: Period) -> Table:
        """The per-stay indicators' rates by the unit (service) each stay was discharged from (the
        HTML report's bars): each indicator's explanation — its stays counted or not — grouped by the
        stays' unit as the GAM recorded it (PV1-3). The explanations and the read of the stays are
        audited as any other."""
        self.authorise(actor, scope, "sunes")
        codes = [c for c, i in INDICATORS.items() if i.unit is Unit.STAYS]
        counted: dict[str, dict[str, list[int]]] = {}  # code -> stay key -> [in denominator, counted]
        for code in codes:
            with self._one_at_a_time("sunes"):
                why = self.sunes_room.explain(actor, scope, period, code)
            counted[code] = {i.key: [int(i.in_denominator), int(i.counted)] for i in why.items if i.in_denominator}
        keys = sorted({tuple(k.split("/", 1)) for per in counted.values() for k in per})
        stays = self.sunes_room.sejours.stays_by_key(actor, [(k[0], k[1]) for k in keys]) if keys else []
        unit = {f"{s.structure}/{s.number}": s.unit_name or s.unit or "unité non renseignée" for s in stays}
        rows = []
        for service in sorted(set(unit.values())):
            rates = []
            for code in codes:
                mine = [v for k, v in counted[code].items() if unit.get(k) == service]
                den = sum(v[0] for v in mine)
                rates.append(round(100 * sum(v[1] for v in mine) / den, 1) if den else None)
            rows.append((service, *rates))
        title = f"Taux SUN-ES par service de sortie (%) — {scope.code} — {period.label}"
        return Table(title, ("service", *codes), tuple(rows), "bar")

    def sunes_measure_reports(self, actor: Actor, scope: Scope, period: Period, ns: Namespace) -> dict[str, Any]:
        """The SUN-ES indicators as a Bundle of FHIR MeasureReports, each stating the chain position,
        the Bundle signed (`measure.py`)."""
        self.authorise(actor, scope, "sunes")
        with self._one_at_a_time("sunes"):
            report = self.sunes_room.compute(actor, scope, period)
        content = report.as_dict()
        reports, seal = self.sealer.seal_at(
            "sunes-measurereport",
            lambda seq, chain_hash: measure.positioned(
                measure.measure_reports(content, *period.bounds, ns), seq, chain_hash, ns
            ),
        )
        return measure.signed(reports, seal, ns)

    def explain(self, actor: Actor, scope: Scope, period: Period, code: str) -> Served:
        self.authorise(actor, scope, "sunes")
        with self._one_at_a_time("sunes"):
            why = self.sunes_room.explain(actor, scope, period, code)
        title = f"Explication {why.indicator.code} — {scope.kind} {scope.code} — {period.label}"
        return self._served("sunes-explication", title, why.as_dict(), why.tables())

    def explain_page(
        self, actor: Actor, scope: Scope, period: Period, code: str, *, number: int, size: int, filtre: str = "tous"
    ) -> Served:
        """One page of `explain` with the whole explanation's totals (`SunEs.explain_page`), signed."""
        self.authorise(actor, scope, "sunes")
        with self._one_at_a_time("sunes"):
            why = self.sunes_room.explain_page(actor, scope, period, code, number=number, size=size, filtre=filtre)
        page = f"page {why.number}/{why.pages}"
        title = f"Explication {why.indicator.code} — {scope.kind} {scope.code} — {period.label} — {page}"
        return self._served("sunes-explication-page", title, why.as_dict(), why.tables())

    def national(self, actor: Actor, period: Period) -> Served:
        self._agents_only(actor, "national")
        with self._one_at_a_time("national"):
            report = self.national_room.compute(actor, period)
        return self._served("national", f"Statistiques nationales — {period.label}", report.as_dict(), report.tables())

    def conformite(self, actor: Actor, period: Period) -> Served:
        self._agents_only(actor, "conformite")
        with self._one_at_a_time("conformite"):
            report = self.conformite_room.compute(actor, period)
        return self._served("conformite", f"Conformité à la maison — {period.label}", report.as_dict(), report.tables())

    def maturin(self, actor: Actor, structure: str, period: Period, kind: str = "CH-PARTIE-GHT") -> Served:
        self.authorise(actor, Scope.structure(structure), "maturin")
        with self._one_at_a_time("conformite"):
            report = self.maturin_room.evaluate(actor, structure, period, kind)
        title = f"MATURIN-H — {structure} — {period.label}"
        return self._served("maturin", title, report.as_dict(), report.tables())

    def prerequis(self, actor: Actor, scope: Scope, period: Period) -> Served:
        self.authorise(actor, scope, "prerequis")
        target = PrerequisScope(scope.code, ght=scope.kind == "ght")
        with self._one_at_a_time("prerequis"):
            report = self.prerequis_room.evaluate(actor, target, period)
        title = f"Prérequis SUN-ES — {scope.kind} {scope.code} — {period.label}"
        return self._served("prerequis", title, report.as_dict(), report.tables())
