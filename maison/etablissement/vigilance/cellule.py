"""The identitovigilance cell (CIV) of a structure or a GHT: meetings, incidents, procedures, report.

Seed 004 L341-345: an operational cell meets at least once a semester and delivers a periodic
activity report with (a) the list of its meetings, at least one per semester, (b) the identity
incidents found, (c) the number of corrections it contributed to — fusions and dédoublements,
as the INS referential calls them. The eligibility threshold (004 L353) is that regular
functioning plus written procedures; the justifying documents (004 L379) must include at least the
procedures of identification and rapprochement and of création and fusion of identities. At GHT
level (004 L349) the support establishment checks this for every establishment.

Meetings, incidents and procedures are declared by the cell; the corrections and alerts are not
declared but counted from what the patient index recorded, and the INSi activity from the audit
trail, so that the report says what happened rather than what was remembered.

Who may read a report (issue 18 §1.3): a report lists incidents with patients' names, so a structure
reads its own; a report that covers other structures is the GHT's (004 L349, L379-380) and is given
only to the cell of a structure of that same GHT — the caller's role must be the cell's or the
identitovigilance referent's, and GHT membership is data recorded by the house's administrator
(`record_ght`, `maison ght`), never what the caller names. A refusal is a 403 and a security event.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime

from maison.core import audit
from maison.core.actor import Actor
from maison.core.errors import Forbidden, InvalidInput, MaisonError, NotFound
from maison.core.storage import Database
from maison.etablissement.vigilance import store
from maison.etablissement.vigilance.store import Connection

# The incident types an identitovigilance cell records (typology of the RNIV risk analysis).
INCIDENT_KINDS = {
    "doublon": "un même patient enregistré sous plusieurs identités",
    "collision": "plusieurs patients enregistrés sous une même identité",
    "usurpation": "usurpation d'identité suspectée ou avérée",
    "erreur-identification": "erreur d'identification du patient lors d'un soin ou d'un acte",
    "erreur-saisie": "erreur de saisie des traits d'identité",
    "document-mal-rattache": "document rattaché au dossier d'un autre patient",
    "autre": "autre événement indésirable lié à l'identification",
}

# 004 L379: the procedures the cell must be able to show, at least.
REQUIRED_PROCEDURES = {
    "identification": "procédure d'identification des patients",
    "rapprochement": "procédure de rapprochement d'identités",
    "creation": "procédure de création d'identité",
    "fusion": "procédure de fusion d'identités",
}

# The roles that act as an identitovigilance cell: its members and the identitovigilance referent.
# No national nomenclature (TRE_R21 fonctions, TRE_R85 rôles) names them, so these are the roles a
# structure gives to its cell's keys (`issue_key(..., role)`) and that the GHT report asks for.
CELL_ROLES = frozenset({"cellule", "referent-identitovigilance"})

_SEMESTER = re.compile(r"^(\d{4})-S([12])$")


@dataclass(frozen=True)
class Semester:
    """`2026-S1` is 1 January – 30 June, `2026-S2` is 1 July – 31 December."""

    year: int
    half: int

    @classmethod
    def parse(cls, text: str) -> Semester:
        m = _SEMESTER.match(text.strip())
        if not m:
            raise InvalidInput(f"semestre '{text}' : forme AAAA-S1 ou AAAA-S2 attendue", code="semestre")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, day: date) -> Semester:
        return cls(day.year, 1 if day.month <= 6 else 2)

    @property
    def start(self) -> date:
        return date(self.year, 1 if self.half == 1 else 7, 1)

    @property
    def end(self) -> date:
        """The first day after the semester."""
        return date(self.year, 7, 1) if self.half == 1 else date(self.year + 1, 1, 1)

    def __str__(self) -> str:
        return f"{self.year}-S{self.half}"


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidInput(f"{what} '{text}' : date AAAA-MM-JJ attendue", code="date-format") from None


class Cellule:
    """The cell's work on one database; the actor must belong to the structure it acts for."""

    def __init__(self, db: Database, trail: audit.Trail | None = None) -> None:
        self.db = db
        self.trail = trail or audit.Trail(db)

    def _refuse(self, actor: Actor, error: MaisonError, detail: dict) -> MaisonError:
        """Record a refusal as a security event (through the journal: nothing of the refused action
        commits) and give the error back to raise."""
        self.trail.security(
            "acces-refuse", actor, outcome="failure", detail={"code": error.code, "message": error.message, **detail}
        )
        return error

    def _own_patient(self, actor: Actor, patient_id: int) -> str:
        """The IPP of one of the caller's structure's patients. A record of another structure answers
        exactly like a missing one (its existence is not revealed), and the attempt is recorded."""
        row = None
        if 0 < patient_id < 2**63:
            with self.db.read() as conn:
                row = store.get(conn, patient_id)
        if row is None or row.structure != actor.structure:
            raise self._refuse(
                actor,
                NotFound(f"patient {patient_id} inconnu", code="patient-inconnu"),
                {
                    "action": "identitovigilance.incident",
                    "patient_id": patient_id,
                    **({"structure_du_patient": row.structure} if row is not None else {}),
                },
            )
        return str(row.ipp)

    def _authorise_report(self, actor: Actor, structures: list[str]) -> None:
        """A structure reads its own report; another structure's only as the GHT report, by the cell
        of a structure of the same GHT (004 L349, L379-380)."""
        others = [s for s in structures if s != actor.structure]
        if not others:
            return
        detail = {"action": "identitovigilance.report", "structures": structures}
        if actor.role not in CELL_ROLES:
            raise self._refuse(
                actor,
                Forbidden(
                    "le rapport d'un GHT est réservé à la cellule d'identitovigilance (rôle cellule ou référent "
                    "en identitovigilance)",
                    code="role-cellule-requis",
                ),
                detail,
            )
        with self.db.read() as conn:
            peers = store.ght_peers(conn, actor.structure)
        outside = [s for s in others if s not in peers]
        if outside:
            raise self._refuse(
                actor,
                Forbidden(f"{', '.join(outside)} : structure(s) hors du GHT de {actor.structure}", code="hors-ght"),
                detail,
            )

    # --- the GHT, recorded by the administrator ------------------------------------------------------

    def record_ght(self, actor: Actor, code: str, name: str, support: str, members: list[str]) -> list[str]:
        """Record a GHT, its support establishment and the establishments party to it (004 L349).
        Only the house's administrator calls this (the `maison ght` command): membership decides who
        reads whose report, so it is never taken from a caller. Returns the members, support first."""
        code, name, support = code.strip(), name.strip(), support.strip()
        if not code or not support:
            raise InvalidInput("un GHT a un code et un établissement support", code="ght-incomplet")
        everyone = list(dict.fromkeys([support, *(m.strip() for m in members if m.strip())]))
        with self.db.write() as conn:
            store.put_ght(
                conn,
                code,
                name or code,
                support,
                everyone,
                datetime.now(UTC).isoformat(timespec="seconds"),
                actor.person,
            )
            self.trail.write(
                conn,
                actor,
                "identitovigilance.ght",
                purpose="HOPERAT",
                detail={"ght": code, "support": support, "membres": everyone},
            )
        return everyone

    def ght(self, code: str) -> tuple[str, list[str]]:
        """A GHT recorded by the administrator: its support establishment and its members, support
        first (004 L349: the support checks each member). NotFound if the house does not know it."""
        with self.db.read() as conn:
            found = store.ght(conn, code.strip())
        if found is None:
            raise NotFound(f"GHT {code} inconnu", code="ght-inconnu")
        support, members = found
        return support, [support, *(m for m in members if m != support)]

    def functioning(self, structure: str, since: date, until: date) -> tuple[list[str], dict[str, str]]:
        """What shows a cell functions (004 L341-353), without the patients of its incidents: the days
        of its meetings held in [since, until) and the procedures adopted before `until` ({kind: day}).
        The caller (the observatory's prerequisite PS1.1) authorises and audits its own reading."""
        with self.db.read() as conn:
            meetings = [r.held_on for r in store.meetings(conn, structure, since.isoformat(), until.isoformat())]
            adopted = {r.kind: r.adopted_on for r in store.procedures(conn, structure, until.isoformat())}
        return meetings, adopted

    # --- what the cell declares --------------------------------------------------------------------

    def record_meeting(self, actor: Actor, held_on: str, minutes: str, participants: list[str]) -> int:
        day = _day(held_on, "date de réunion")
        if day > date.today():
            raise InvalidInput("une réunion ne peut être enregistrée avant d'avoir eu lieu", code="date-future")
        if not minutes.strip():
            raise InvalidInput("compte-rendu de réunion vide", code="compte-rendu-absent")
        with self.db.write() as conn:
            meeting_id = store.add_meeting(conn, actor.structure, day.isoformat(), minutes, "\n".join(participants))
            self.trail.write(
                conn,
                actor,
                "identitovigilance.meeting",
                purpose="HOPERAT",
                detail={"structure": actor.structure, "held_on": day.isoformat()},
            )
            return meeting_id

    def report_incident(
        self, actor: Actor, kind: str, description: str, patient_id: int | None = None, at: str | None = None
    ) -> int:
        if kind not in INCIDENT_KINDS:
            raise InvalidInput(f"type d'incident '{kind}' inconnu ({', '.join(INCIDENT_KINDS)})", code="incident-type")
        if not description.strip():
            raise InvalidInput("description de l'incident vide", code="description-absente")
        when = at or datetime.now(UTC).isoformat(timespec="seconds")
        _day(when[:10], "date de l'incident")
        patient = self._own_patient(actor, patient_id) if patient_id is not None else None
        with self.db.write() as conn:
            incident_id = store.add_incident(conn, actor.structure, when, kind, description, patient_id, actor.person)
            self.trail.write(
                conn,
                actor,
                "identitovigilance.incident",
                patient=patient,
                purpose="HOPERAT",
                detail={"structure": actor.structure, "kind": kind},
            )
            return incident_id

    def adopt_procedure(self, actor: Actor, kind: str, title: str, adopted_on: str, reference: str = "") -> int:
        if kind not in REQUIRED_PROCEDURES:
            raise InvalidInput(
                f"type de procédure '{kind}' inconnu ({', '.join(REQUIRED_PROCEDURES)})", code="procedure-type"
            )
        day = _day(adopted_on, "date d'adoption")
        with self.db.write() as conn:
            procedure_id = store.add_procedure(
                conn, actor.structure, kind, title.strip() or REQUIRED_PROCEDURES[kind], day.isoformat(), reference
            )
            self.trail.write(
                conn,
                actor,
                "identitovigilance.procedure",
                purpose="HOPERAT",
                detail={"structure": actor.structure, "kind": kind},
            )
            return procedure_id

    # --- the semester activity report ----------------------------------------------------------------

    def report(self, actor: Actor, semester: str, structures: list[str] | None = None) -> dict:
        """The activity report of one structure, or of a GHT when several structures are given.

        A GHT report is for the cell of a structure of that GHT (see the module's docstring).
        """
        period = Semester.parse(semester)
        structures = list(dict.fromkeys(structures or [actor.structure]))
        self._authorise_report(actor, structures)
        with self.db.read() as conn:
            parts = [self._structure_report(conn, s, period) for s in structures]
        self.trail.read(
            actor,
            "identitovigilance.report",
            purpose="HOPERAT",
            detail={"structures": structures, "semester": str(period)},
        )
        totals: Counter = Counter()
        for p in parts:
            totals.update(p["corrections"])
        return {
            "semestre": str(period),
            "debut": period.start.isoformat(),
            "fin": period.end.isoformat(),
            "structures": parts,
            "corrections": dict(totals),
            "eligible": all(p["eligible"] for p in parts),
        }

    def _structure_report(self, conn: Connection, structure: str, period: Semester) -> dict:
        since, until = period.start.isoformat(), period.end.isoformat()
        meetings = [
            {"date": r.held_on, "participants": [x for x in r.participants.split("\n") if x], "compte_rendu": r.minutes}
            for r in store.meetings(conn, structure, since, until)
        ]
        incidents = [
            {"date": r.at, "type": r.kind, "description": r.description, "patient_id": r.patient_id}
            for r in store.incidents(conn, structure, since, until)
        ]
        procedures = {
            r.kind: {"titre": r.title, "adoptee_le": r.adopted_on, "reference": r.reference}
            for r in store.procedures(conn, structure, until)
        }
        missing = [k for k in REQUIRED_PROCEDURES if k not in procedures]
        problems = ([] if meetings else ["aucune réunion de la cellule au cours du semestre"]) + [
            f"{REQUIRED_PROCEDURES[k]} absente" for k in missing
        ]
        return {
            "structure": structure,
            "reunions": meetings,  # (a)
            "incidents": incidents,  # (b)
            "incidents_par_type": dict(Counter(x["type"] for x in incidents)),
            "corrections": self._corrections(conn, structure, since, until),  # (c)
            "alertes": self._alerts(conn, structure, since, until),
            "statuts": self._statuses(conn, structure),
            "insi": self._insi(conn, structure, since, until),
            "procedures": procedures,
            "eligible": not problems,
            "manques": problems,
        }

    @staticmethod
    def _corrections(conn: Connection, structure: str, since: str, until: str) -> dict:
        """Fusions and dédoublements (004 L345), with the other corrections and the qualifications gained."""
        counts = store.history_event_counts(
            conn, structure, since, until, ("merge", "split", "traits-update", "ins-invalidation")
        )
        qualified = store.qualifications(conn, structure, since, until)
        return {
            "fusions": counts.get("merge", 0),
            "dedoublements": counts.get("split", 0),
            "corrections_de_traits": counts.get("traits-update", 0),
            "ins_invalides": counts.get("ins-invalidation", 0),
            "identites_qualifiees": qualified,
        }

    @staticmethod
    def _alerts(conn: Connection, structure: str, since: str, until: str) -> dict:
        opened = store.reviews_opened(conn, structure, since, until)
        resolved = store.reviews_resolved(conn, structure, since, until)
        still_open = store.reviews_waiting(conn, structure)
        return {"detectees": opened, "traitees": resolved, "en_attente": still_open}

    @staticmethod
    def _statuses(conn: Connection, structure: str) -> dict:
        counts = store.status_counts(conn, structure)
        total = sum(counts.values())
        return {
            "par_statut": counts,
            "total": total,
            "part_qualifiee": round(counts.get("QUAL", 0) / total, 4) if total else 0.0,
        }

    @staticmethod
    def _insi(conn: Connection, structure: str, since: str, until: str) -> dict:
        """INSi calls of the structure in the semester, by answer, from the audit trail."""
        answers: Counter = Counter()
        for event in audit.events(conn, action_prefix="insi.", since=since, until=until, structure=structure):
            answers[audit.detail_of(event).get("cr") or "erreur"] += 1
        return {"appels": sum(answers.values()), "par_reponse": dict(answers)}
