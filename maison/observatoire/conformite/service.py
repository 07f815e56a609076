"""Each registered software against its category's row of the maison table (issue 23 §3.1; seed
001 L196-216): what it actually exercised, counted from the audit trail, and the verdict.

How to call it::

    report = Conformite(db, house.insi).compute(actor, Period.parse("2026-S1"))
    report.as_dict(); report.tables()

A software is a row of the registry (INSi's, by its CNDA number, with its category — the
administrator's act `register_software`). The trail names it as `logiciel:<IDAM>` (INSi's
ContexteLPS), `logiciel:<name>` (a structure's API key is issued for the software's name),
`logiciel:<client_id>` for each Pro Santé Connect client registered under its name, and
and whatever the administrator declared its own (`declare_identity`): an MSSanté mailbox
(`bal:<address>`, the messages it sends and receives), a PSC client of another name, an API key's
other name.
What the house cannot observe (the règles socles, the SAS, ViaTrajectoire) is reported so, with the
declarations made of it (`declare_service`). Computing the report is audited (`observatoire.conformite`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from maison.core.actor import Actor
from maison.core.audit import Trail
from maison.core.errors import InvalidInput
from maison.core.storage import Database
from maison.observatoire.conformite import store
from maison.observatoire.conformite.fold import CURSOR, fold, mailbox_identity, software_identity
from maison.observatoire.conformite.model import (
    KINDS,
    MAISON,
    OBSERVABLE,
    PROOF,
    Exercise,
    IdentityKind,
    Service,
    SoftwareRow,
    judge,
)
from maison.observatoire.report import Period, Table

PURPOSE = "HOPERAT"


class Registry(Protocol):
    def registered_software(self) -> list[dict[str, str]]: ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _sum(rows: list[store.Row], kind: str) -> Exercise | None:
    """One exercise from daily counters (of one or several identities)."""
    rows = [r for r in rows if r.kind == kind]
    if not rows:
        return None
    first = min(rows, key=lambda r: r.first_seq)
    last = max(rows, key=lambda r: r.last_seq)
    return Exercise(kind, sum(r.total for r in rows), first.first_at, last.last_at, first.first_seq, last.last_seq)


@dataclass(frozen=True)
class TrailNames:
    """How the trail names a registered software: every identity, and those of its PSC clients."""

    own: frozenset[str]
    psc: frozenset[str]


def trail_names(conn: store.Connection, software: list[dict[str, str]]) -> dict[str, TrailNames]:
    """Each registered software's names in the trail, by IDAM: its IDAM (INSi's ContexteLPS), its
    name (an API key is issued for it), the PSC clients registered under its name, and what the
    administrator declared (`IdentityKind`)."""
    declared = store.identities(conn)
    clients = store.psc_clients_named(conn, [s["name"] for s in software])
    names = {}
    for s in software:
        mine = [n for n in declared if n.idam == s["idam"]]
        psc = {software_identity(c.client_id) for c in clients if c.name == s["name"]}
        psc |= {software_identity(n.value) for n in mine if n.kind == IdentityKind.CLIENT_PSC}
        own = {software_identity(s["idam"]), software_identity(s["name"]), *psc}
        own |= {software_identity(n.value) for n in mine if n.kind == IdentityKind.LOGICIEL}
        own |= {mailbox_identity(n.value) for n in mine if n.kind == IdentityKind.BAL}
        names[s["idam"]] = TrailNames(frozenset(own), frozenset(psc))
    return names


@dataclass(frozen=True)
class ConformiteReport:
    period: Period
    rows: tuple[SoftwareRow, ...]
    folded_to: int

    def row(self, idam: str) -> SoftwareRow:
        return next(r for r in self.rows if r.idam == idam)

    def as_dict(self) -> dict[str, object]:
        return {
            "periode": self.period.label,
            "seq_replie": self.folded_to,
            "logiciels": [r.as_dict() for r in self.rows],
        }

    def tables(self) -> list[Table]:
        verdicts = tuple(
            (
                r.name,
                r.category or "—",
                v.reading,
                "oui" if v.conforme else "non",
                ", ".join(s.value for s in v.exercised),
                ", ".join(s.value for s in v.missing),
                ", ".join(s.value for s in v.not_observable),
            )
            for r in self.rows
            for v in r.verdicts
        )
        counts = tuple(
            (r.name, kind, e.count, e.first_at[:10], e.last_at[:10], e.first_seq, e.last_seq)
            for r in self.rows
            for kind, e in r.exercises.items()
        )
        notes = tuple(f"{r.name} ({r.category}) : {r.ambiguity}" for r in self.rows if r.ambiguity)
        return [
            Table(
                f"Conformité à la maison — {self.period.label}",
                ("logiciel", "categorie", "lecture", "conforme", "exerces", "manquants", "non_observables"),
                verdicts,
                None,
                notes,
            ),
            Table(
                f"Services exercés par logiciel — {self.period.label}",
                ("logiciel", "exercice", "nombre", "premier", "dernier", "seq_premier", "seq_dernier"),
                counts,
                "bar",
            ),
        ]


@dataclass
class Observed:
    """A report on the registered software, computed from the house's database and audited."""

    db: Database
    registry: Registry
    trail: Trail = field(init=False)

    def __post_init__(self) -> None:
        self.trail = Trail(self.db)


@dataclass
class Conformite(Observed):
    def declare_identity(self, actor: Actor, idam: str, kind: IdentityKind, value: str) -> None:
        """The administrator says how else the trail names this software: its MSSanté mailbox, a Pro
        Santé Connect client registered under another name, an API key's other name."""
        self._known(idam)
        value = value.strip().lower() if kind is IdentityKind.BAL else value.strip()
        if not value or len(value) > 256:
            raise InvalidInput("identifiant de 1 à 256 caractères attendu", code="identifiant-invalide")
        with self.db.write() as conn:
            store.declare_identity(conn, idam, kind.value, value, actor.person, _now())
            detail = {"idam": idam, "type": kind.value, "valeur": value}
            Trail.write(conn, actor, "observatoire.conformite.identite", purpose=PURPOSE, detail=detail)

    def declare_service(self, actor: Actor, idam: str, service: Service, evidence: str) -> None:
        """A declaration, with its evidence, of what the house cannot observe (HDS, SSI, ethics, SAS,
        ViaTrajectoire…)."""
        self._known(idam)
        if service in OBSERVABLE:
            raise InvalidInput(f"{service.value} : observé par la maison, non déclaratif", code="service-observable")
        if not evidence.strip():
            raise InvalidInput("déclaration sans justificatif", code="justificatif-absent")
        with self.db.write() as conn:
            store.declare_service(conn, idam, service.value, evidence.strip(), actor.person, _now())
            detail = {"idam": idam, "service": service.value}
            Trail.write(conn, actor, "observatoire.conformite.declaration", purpose=PURPOSE, detail=detail)

    def _known(self, idam: str) -> dict[str, str]:
        found = next((s for s in self.registry.registered_software() if s["idam"] == idam), None)
        if found is None:
            raise InvalidInput(f"logiciel {idam} non enregistré", code="logiciel-inconnu")
        return found

    def compute(self, actor: Actor, period: Period) -> ConformiteReport:
        """Fold the trail's new records, then each registered software's row over `period`."""
        fold(self.db)
        software = self.registry.registered_software()
        with self.db.read() as conn:
            names = trail_names(conn, software)
            declared = store.service_declarations(conn)
            folded_to = store.position(conn, CURSOR)
            rows = [self._row(conn, s, names[s["idam"]], declared, period) for s in software]
        self.trail.read(
            actor,
            "observatoire.conformite",
            purpose=PURPOSE,
            detail={"periode": period.label, "logiciels": len(rows)},
        )
        return ConformiteReport(period, tuple(rows), folded_to)

    def _row(self, conn, software: dict[str, str], names: TrailNames, declared, period: Period) -> SoftwareRow:
        own, psc = names.own, names.psc
        rows = store.exercises(conn, sorted(own), *period.bounds)
        exercises = {k: e for k in KINDS if k != "psc.jeton" and (e := _sum(rows, k))}
        if token := _sum([r for r in rows if r.identity in psc], "activite"):
            exercises["psc.jeton"] = Exercise("psc.jeton", token.count, token.first_at, token.last_at,
                                              token.first_seq, token.last_seq)  # fmt: skip
        exercises = {k: exercises[k] for k in KINDS if k in exercises}
        seen = {service for service, kinds in PROOF.items() if any(k in exercises for k in kinds)}
        said = frozenset(Service(d.service) for d in declared if d.idam == software["idam"])
        requirement = MAISON.get(software["category"])
        verdicts = judge(requirement, seen, said) if requirement else ()
        return SoftwareRow(
            software["idam"],
            software["name"],
            software["vendor"],
            software["version"],
            software["category"],
            tuple(sorted(own)),
            exercises,
            verdicts,
            requirement.ambiguity if requirement else "",
        )
