"""The base ordonnance numérique: the rules of creating, reading, searching and executing.

Seed 001 L344-359 gives the circuit: the prescriber's software records the prescription in the
base (and in parallel in the DMP), prints it with its QR code; the dispenser scans the code, reads
the prescription, executes and records execution in the base — possibly at delivery time (001
L473); the prescriber later sees what was executed, if the patient agreed (001 L359, L408).

Every call is audited; the national counters (001 L424-462) count successful calls only, so a
refused call is in the trail with its refusal (the security record) and outside the counters.
Creations and executions commit with their audit record in a shared group commit; reads hand
their record to the audit journal and answer once it is committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import orjson

from maison.core import audit
from maison.core.actor import Actor, Credential, KeyScope
from maison.core.audit_journal import Journal
from maison.core.errors import Conflict, Forbidden, InvalidInput, MaisonError, NotFound, TransitionRefused
from maison.core.group_commit import GroupCommit
from maison.core.identifiers.nir import parse_matricule
from maison.core.storage import Database
from maison.formats.ordonnance import new_number, parse_number
from maison.partage.ordonnance import store
from maison.partage.ordonnance.model import (
    EXECUTANTS,
    PRESCRIBERS,
    ContextObservation,
    Draft,
    Execution,
    Line,
    LineExecution,
    LineKind,
    Outcome,
    PatientIns,
    Prescriber,
    Prescription,
    check_execution,
)

PARIS = ZoneInfo("Europe/Paris")
LPP_PROVIDER = "prestataire-lpp"  # a structure's API key: an LPP provider has no RPPS (issue 6 §1.4)
INS_OIDS = {
    "1.2.250.1.213.1.4.8": "NIR",
    "1.2.250.1.213.1.4.9": "NIA",  # production
    "1.2.250.1.213.1.4.10": "NIR",
    "1.2.250.1.213.1.4.11": "NIA",
}  # test and demonstration
QUALIFIED = "QUAL"
# Outcomes that complete one delivery of a line; a partial one completes it when the prescribed
# quantity is reached; "non délivré" leaves it open.
COMPLETING = {Outcome.DELIVRE, Outcome.SUBSTITUE, Outcome.ADAPTE}
ACTION_CREATE, ACTION_SEARCH, ACTION_EXECUTE = "ordonnance.creer", "ordonnance.rechercher", "ordonnance.executer"
ACTION_READ_PRESCRIBER, ACTION_READ_DISPENSER = "ordonnance.consulter.prescripteur", "ordonnance.consulter.executant"
ACTION_CANCEL = "ordonnance.annuler"


class Base:
    def __init__(self, db: Database, *, journal: Journal | None = None, today=None) -> None:
        self.db = db
        self.journal = journal or Journal(db)
        self.trail = audit.Trail(db, self.journal)
        self.commits = GroupCommit(db, name="ordonnance-group-commit")
        self.today = today or (lambda: datetime.now(PARIS).date())

    # --- prescriber side -------------------------------------------------------------------------

    def create(
        self, caller: Actor, draft: Draft, *, idempotency_key: str | None = None, number: str | None = None
    ) -> Prescription:
        """Record a prescription without the patient's identity (000 L3697); the same request
        sent again (same prescriber, same Idempotency-Key) answers the prescription already made.
        `number` is given only by `maison sandbox`, whose test prescriptions have fixed numbers
        (issue 21 §2); the base otherwise draws one at random."""
        self._prescriber(caller, ACTION_CREATE)
        if draft.prescribed_on > self.today():
            raise self._refused(
                caller,
                ACTION_CREATE,
                InvalidInput(
                    f"date de prescription {draft.prescribed_on.isoformat()} dans le futur", code="date-future"
                ),
            )
        if idempotency_key is not None and not 0 < len(idempotency_key) <= 80:
            raise InvalidInput("Idempotency-Key : 1 à 80 caractères", code="idempotence-cle")
        prescription = Prescription(
            parse_number(number) if number else new_number(),
            Prescriber(caller.person, caller.structure, caller.software, caller.profession),
            datetime.now(UTC),
            draft.prescribed_on,
            draft.consent,
            draft.lines,
            observations=draft.observations,
        )
        row = _row(prescription, idempotency_key)
        entry = self.trail.entry(
            caller,
            ACTION_CREATE,
            detail={"numero": prescription.number, "lignes": [ln.kind.value for ln in draft.lines]},
        )

        def work(conn: store.Connection):
            if idempotency_key is not None:
                earlier = store.prescription_by_idempotency_key(conn, caller.person, idempotency_key)
                if earlier is not None:
                    return _prescription(earlier), [], []
            return prescription, [store.prescription_write(row)], [entry]

        try:
            return self.commits.run(work)  # type: ignore[return-value]  # run() hands back work's result
        except store.IntegrityError:  # the same key raced in another batch: answer what it made
            if idempotency_key is None:
                raise
            return self.commits.run(work)  # type: ignore[return-value]  # run() hands back work's result

    def read_as_prescriber(self, caller: Actor, text: str) -> tuple[Prescription, list[Execution] | None]:
        """The prescriber's own prescription; what was executed only with the patient's OUI (001 L359)."""
        self._prescriber(caller, ACTION_READ_PRESCRIBER)
        prescription, executions = self._own(caller, text, ACTION_READ_PRESCRIBER)
        self.trail.read(caller, ACTION_READ_PRESCRIBER, detail={"numero": prescription.number})
        return prescription, executions if prescription.consent else None

    def executions_for_prescriber(self, caller: Actor, text: str) -> tuple[Prescription, list[Execution]]:
        """Execution data asked for explicitly: refused, and said so, when the patient said NON."""
        self._prescriber(caller, ACTION_READ_PRESCRIBER)
        prescription, executions = self._own(caller, text, ACTION_READ_PRESCRIBER)
        if not prescription.consent:  # seed 001 L408-417: the patient's NON printed on the paper copy
            raise self._refused(
                caller,
                ACTION_READ_PRESCRIBER,
                Forbidden(
                    "le patient n'a pas accepté que le prescripteur consulte ce qui a été délivré ou exécuté (NON)",
                    code="execution-non-consentie",
                ),
                number=prescription.number,
            )
        self.trail.read(
            caller,
            ACTION_READ_PRESCRIBER,
            detail={"numero": prescription.number, "executions": len(executions)},
        )
        return prescription, executions

    def search(
        self,
        caller: Actor,
        *,
        since: date | None = None,
        until: date | None = None,
        status: str | None = None,
        count: int = 50,
    ) -> tuple[list[Prescription], int]:
        """The prescriber's own prescriptions, newest first (recherchées, 001 L446), at most `count`
        (0: none, the total alone — FHIR `_summary=count`), and how many there are in all."""
        self._prescriber(caller, ACTION_SEARCH)
        limit, who = min(count, 500), caller.person
        with self.db.read() as conn:
            rows = (
                store.prescriptions_of(conn, who, since=since, until=until, status=status, limit=limit) if limit else []
            )
            complete = limit and len(rows) < limit  # the page holds them all: no count to run
            total = (
                len(rows) if complete else store.prescriptions_count(conn, who, since=since, until=until, status=status)
            )
        found = [_prescription(r) for r in rows]
        self.trail.read(caller, ACTION_SEARCH, detail={"resultats": len(found), "total": total})
        return found, total

    def cancel(self, caller: Actor, text: str) -> Prescription:
        """The prescriber withdraws a prescription nobody has executed yet."""
        self._prescriber(caller, ACTION_CANCEL)
        number = parse_number(text)
        entry = self.trail.entry(caller, ACTION_CANCEL, detail={"numero": number})

        def work(conn: store.Connection):
            prescription, executions = self._locked(conn, number)
            if prescription.prescriber.idnatps != caller.person:  # answered like a missing one (see `_own`)
                raise _NotTheirs(number)
            if executions:
                raise TransitionRefused(
                    "prescription déjà exécutée : elle ne peut plus être annulée", code="prescription-executee"
                )
            store.set_status(conn, number, "annulee")
            return replace(prescription, status="annulee"), [], [entry]

        return self._run(caller, ACTION_CANCEL, number, work)  # type: ignore[return-value]  # work's result

    # --- dispenser side --------------------------------------------------------------------------

    def read_as_dispenser(self, caller: Actor, text: str) -> tuple[Prescription, list[Execution]]:
        """What the dispenser's software shows after the scan: the lines and what was already done."""
        role = self._dispenser(caller, ACTION_READ_DISPENSER)
        number = self._number(caller, text, ACTION_READ_DISPENSER)
        with self.db.read() as conn:
            prescription, executions = self._load(conn, number)
        if prescription is None:
            raise self._refused(
                caller,
                ACTION_READ_DISPENSER,
                NotFound(f"prescription {number} inconnue", code="prescription-inconnue"),
                number=number,
            )
        if not any(role in EXECUTANTS[ln.kind] for ln in prescription.lines):
            raise self._refused(
                caller,
                ACTION_READ_DISPENSER,
                Forbidden(
                    "aucune ligne de cette prescription ne relève de votre profession", code="executant-non-habilite"
                ),
                number=number,
            )
        self.trail.read(caller, ACTION_READ_DISPENSER, detail={"numero": number})
        return prescription, executions

    def execute(
        self,
        caller: Actor,
        text: str,
        lines: Sequence[LineExecution],
        *,
        ins: PatientIns | None = None,
        at_delivery: bool = False,
    ) -> Execution:
        """Record what was done, line by line (exécutées, 001 L458); the INS only for a qualified
        identity (000 L3692-3694)."""
        return self.execute_request(caller, text, lambda _p: (lines, ins, at_delivery))[1]

    def execute_request(
        self,
        caller: Actor,
        text: str,
        interpret: Callable[[Prescription], tuple[Sequence[LineExecution], PatientIns | None, bool]],
    ) -> tuple[Prescription, Execution]:
        """`execute` for a request that can only be read against the prescription (line numbers,
        what each line allows): `interpret` turns it into lines, INS and the at-delivery flag. It
        runs under the row lock with the judgement, so the prescription is read once."""
        role = self._dispenser(caller, ACTION_EXECUTE)
        number = self._number(caller, text, ACTION_EXECUTE)
        today, actor = self.today(), caller

        def work(conn: store.Connection):
            prescription, executions = self._locked(conn, number)
            lines, ins, at_delivery = interpret(prescription)
            if not lines:
                raise InvalidInput("aucune ligne exécutée", code="execution-vide")
            if ins is not None:
                _check_ins(ins)
            _executable(prescription, executions, lines, role, today, ins)
            execution = Execution(
                str(uuid.uuid4()),
                number,
                caller.person,
                caller.structure,
                caller.software,
                role,
                datetime.now(UTC),
                at_delivery,
                tuple(lines),
                ins.matricule if ins else "",
                ins.oid if ins else "",
            )
            entry = self.trail.entry(
                actor,
                ACTION_EXECUTE,
                patient=execution.ins or None,
                detail={
                    "numero": number,
                    "lignes": {str(d.line): d.outcome.value for d in lines},
                    "a_la_delivrance": at_delivery,
                },
            )
            return (prescription, execution), [store.execution_write(_execution_row(execution))], [entry]

        return self._run(caller, ACTION_EXECUTE, number, work)  # type: ignore[return-value]  # work's result

    # --- counters --------------------------------------------------------------------------------

    def counters(self, *, since: datetime | None = None, until: datetime | None = None) -> dict:
        """The national service's counters (001 L424-462): successful calls only."""
        window = {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None}
        with self.db.read() as conn:
            by_action = {
                action: audit.tally(conn, actions=[action], **window)
                for action in (
                    ACTION_CREATE,
                    ACTION_READ_PRESCRIBER,
                    ACTION_SEARCH,
                    ACTION_READ_DISPENSER,
                    ACTION_EXECUTE,
                )
            }
            prescribers = audit.tally(conn, actions=[ACTION_CREATE], distinct="actor_person", **window)
            dispensers = audit.tally(conn, actions=[ACTION_EXECUTE], distinct="actor_structure", **window)
            prescriber_software = audit.tally(
                conn,
                actions=[ACTION_CREATE, ACTION_READ_PRESCRIBER, ACTION_SEARCH],
                distinct="actor_software",
                **window,
            )
            dispenser_software = audit.tally(
                conn, actions=[ACTION_READ_DISPENSER, ACTION_EXECUTE], distinct="actor_software", **window
            )
        return {
            "prescripteurs": {
                "creees": by_action[ACTION_CREATE],
                "consultees": by_action[ACTION_READ_PRESCRIBER],
                "recherchees": by_action[ACTION_SEARCH],
                "prescripteursActifs": prescribers,
                "logiciels": prescriber_software,
            },
            "executants": {
                "consultees": by_action[ACTION_READ_DISPENSER],
                "executees": by_action[ACTION_EXECUTE],
                "structuresActives": dispensers,
                "logiciels": dispenser_software,
            },
        }

    # --- rules shared by the calls ---------------------------------------------------------------

    def _prescriber(self, caller: Actor, action: str) -> None:
        # issue 6 §1.1: prescribers authenticate with Pro Santé Connect (seed 002 L573: ON among the services
        # socles where PSC is generalised) — neither a key nor a structure's own identity provider
        if caller.kind != "professional" or caller.credential is not Credential.PSC:
            raise self._refused(
                caller,
                action,
                Forbidden("un prescripteur s'authentifie par Pro Santé Connect", code="prescripteur-psc"),
            )
        if caller.profession not in PRESCRIBERS:
            raise self._refused(
                caller,
                action,
                Forbidden(
                    f"profession {caller.profession or '?'} : pas de prescription dans la base",
                    code="prescripteur-non-habilite",
                ),
            )

    def _dispenser(self, caller: Actor, action: str) -> str:
        if caller.kind == "software":  # only a key issued to an LPP provider stands for one
            role = LPP_PROVIDER if caller.scope is KeyScope.FOURNISSEUR_LPP else ""
        elif caller.credential is Credential.PSC:
            role = caller.profession
        else:  # seed 002 L573: a professional executes with Pro Santé Connect
            role = ""
        if not any(role in allowed for allowed in EXECUTANTS.values()):
            raise self._refused(
                caller,
                action,
                Forbidden(f"profession {role or '?'} : pas d'exécution de prescription", code="executant-non-habilite"),
            )
        return role

    def _number(self, caller: Actor, text: str, action: str) -> str:
        try:
            return parse_number(text)
        except InvalidInput as exc:
            raise self._refused(caller, action, exc) from None

    def _own(self, caller: Actor, text: str, action: str) -> tuple[Prescription, list[Execution]]:
        number = self._number(caller, text, action)
        with self.db.read() as conn:
            prescription, executions = self._load(conn, number)
        if prescription is None:
            raise self._refused(
                caller, action, NotFound(f"prescription {number} inconnue", code="prescription-inconnue"), number=number
            )
        if prescription.prescriber.idnatps != caller.person:
            # Another prescriber's prescription answers exactly like a missing one (issue 18 §2.2: no
            # oracle on which numbers exist); the trail keeps the real reason.
            raise self._refused(caller, action, _NotTheirs(number), number=number)
        return prescription, executions

    def _load(
        self, conn: store.Connection, number: str, *, lock: bool = False
    ) -> tuple[Prescription | None, list[Execution]]:
        row = store.prescription(conn, number, lock=lock)
        if row is None:
            return None, []
        done = store.executions(conn, number)
        return _prescription(row), [_execution(r) for r in done]

    def _locked(self, conn: store.Connection, number: str) -> tuple[Prescription, list[Execution]]:
        """The prescription and its executions under a row lock: two dispensers at once are
        judged one after the other."""
        prescription, executions = self._load(conn, number, lock=True)
        if prescription is None:
            raise NotFound(f"prescription {number} inconnue", code="prescription-inconnue")
        return prescription, executions

    def _run(self, caller: Actor, action: str, number: str, work) -> object:
        try:
            return self.commits.run(work)
        except MaisonError as exc:
            raise self._refused(caller, action, exc, number=number) from None

    def _refused(self, caller: Actor, action: str, error: MaisonError, *, number: str = "") -> MaisonError:
        """Trace a refusal (outcome `refused`, outside the counters) and give the error back to raise."""
        detail = {"numero": number} if number else {}
        if isinstance(error, _NotTheirs):
            detail["motif"] = "prescription-autre-prescripteur"
        self.trail.refused(caller, action, code=error.code, outcome="refused", detail=detail)
        return error


class _NotTheirs(NotFound):
    """Another prescriber's prescription, told as a missing one; the trail says which it was."""

    def __init__(self, number: str) -> None:
        super().__init__(f"prescription {number} inconnue", code="prescription-inconnue")


def _check_ins(ins: PatientIns) -> None:
    if ins.status != QUALIFIED:  # seed 000 L3692-3694: only if the identity is qualified
        raise Forbidden(
            f"identité au statut {ins.status or '?'} : l'INS n'est enregistré que pour une identité qualifiée",
            code="ins-identite-non-qualifiee",
        )
    if ins.oid not in INS_OIDS:
        raise InvalidInput(f"OID {ins.oid!r} : pas celui d'un INS", code="ins-oid")
    try:
        parse_matricule(ins.matricule)
    except MaisonError as exc:
        raise InvalidInput(f"matricule INS : {exc.message}", code="ins-matricule") from None


def _executable(
    prescription: Prescription,
    executions: list[Execution],
    lines: Sequence[LineExecution],
    role: str,
    today: date,
    ins: PatientIns | None,
) -> None:
    """Refuse an execution the rules forbid, with the precise reason."""
    if prescription.status == "annulee":
        raise TransitionRefused("prescription annulée par son prescripteur", code="prescription-annulee")
    if not executions and today > prescription.first_execution_until:
        raise TransitionRefused(
            f"prescription du {prescription.prescribed_on.isoformat()} expirée : première "
            f"exécution au plus tard le {prescription.first_execution_until.isoformat()} "
            "(CSP R.5132-22)",
            code="prescription-expiree",
        )
    if today > prescription.treatment_until:
        raise TransitionRefused(
            f"prescription du {prescription.prescribed_on.isoformat()} expirée : 12 mois de "
            "traitement au plus (CSP R.5132-21)",
            code="prescription-expiree",
        )
    recorded = {e.ins for e in executions if e.ins}
    if ins is not None and recorded and ins.matricule not in recorded:
        raise Conflict("un autre INS est déjà enregistré pour cette prescription", code="ins-different")
    by_number = {ln.number: ln for ln in prescription.lines}
    for done in lines:
        line = by_number.get(done.line)
        where = f"ligne[{done.line}]"
        if line is None:
            raise InvalidInput(f"ligne {done.line} inconnue", code="ligne-inconnue", expression=where)
        if role not in EXECUTANTS[line.kind]:
            raise Forbidden(
                f"ligne {done.line} ({line.kind.value}) : hors de la compétence de l'exécutant ({role})",
                code="ligne-hors-competence",
                expression=where,
            )
        check_execution(line, done, where)
        deliveries = _deliveries(line, executions)
        if deliveries >= 1 + line.renewals:
            raise Conflict(
                f"ligne {done.line} déjà exécutée"
                + (f" ({1 + line.renewals} délivrances prescrites)" if line.renewals else " (délivrance unique)"),
                code="ligne-deja-executee",
                expression=where,
            )
        if line.duration_days and deliveries and (today - prescription.prescribed_on).days > line.duration_days:
            raise TransitionRefused(
                f"ligne {done.line} : durée de traitement de {line.duration_days} jours dépassée",
                code="ligne-duree-depassee",
                expression=where,
            )


def _deliveries(line: Line, executions: list[Execution]) -> int:
    """How many deliveries of `line` are complete: each completing outcome is one; partial ones
    add up to one when the prescribed quantity is reached."""
    complete, partial = 0, 0.0
    for execution in executions:
        for done in execution.lines:
            if done.line != line.number:
                continue
            if done.outcome in COMPLETING:
                complete, partial = complete + 1, 0.0
            elif done.outcome is Outcome.PARTIEL:
                partial += done.quantity or 0.0
                if line.quantity and partial >= line.quantity:
                    complete, partial = complete + 1, 0.0
    return complete


# --- rows ------------------------------------------------------------------------------------------


def _line_json(line: Line) -> dict:
    return {
        "n": line.number,
        "k": line.kind.value,
        "l": line.label,
        "c": line.code,
        "s": line.system,
        "i": line.instructions,
        "q": line.quantity,
        "u": line.unit,
        "r": line.renewals,
        "sub": line.substitutable,
        "d": line.duration_days,
    }


def _line(d: dict) -> Line:
    return Line(d["n"], LineKind(d["k"]), d["l"], d["c"], d["s"], d["i"], d["q"], d["u"], d["r"], d["sub"], d["d"])


def _row(p: Prescription, idempotency_key: str | None) -> dict:
    return {
        "number": p.number,
        "prescriber": p.prescriber.idnatps,
        "structure": p.prescriber.structure,
        "software": p.prescriber.software,
        "profession": p.prescriber.profession,
        "created_at": p.created_at.isoformat(timespec="microseconds"),
        "prescribed_on": p.prescribed_on.isoformat(),
        "consent": p.consent,
        "status": p.status,
        "idempotency_key": idempotency_key,
        "lines": orjson.dumps([_line_json(ln) for ln in p.lines]).decode(),
        "observations": orjson.dumps([_observation_json(o) for o in p.observations]).decode(),
    }


def _observation_json(o: ContextObservation) -> dict:
    return {"c": o.code, "v": o.value, "u": o.unit, "s": o.status, "e": o.effective, "l": list(o.lines)}


def _observation(d: dict) -> ContextObservation:
    return ContextObservation(d["c"], d["v"], d["u"], d["s"], d["e"], tuple(d["l"]))


def _prescription(r: store.Row) -> Prescription:
    return Prescription(
        r.number,
        Prescriber(r.prescriber, r.structure, r.software, r.profession),
        datetime.fromisoformat(r.created_at),
        date.fromisoformat(r.prescribed_on),
        bool(r.consent),
        tuple(_line(d) for d in orjson.loads(r.lines)),
        r.status,
        tuple(_observation(d) for d in orjson.loads(r.observations or "[]")),
    )


def _execution_row(e: Execution) -> dict:
    lines = [
        {"n": d.line, "o": d.outcome.value, "q": d.quantity, "c": d.code, "s": d.system, "l": d.label, "m": d.reason}
        for d in e.lines
    ]
    return {
        "id": e.id,
        "number": e.number,
        "dispenser": e.dispenser,
        "structure": e.structure,
        "software": e.software,
        "profession": e.profession,
        "executed_at": e.executed_at.isoformat(timespec="microseconds"),
        "at_delivery": e.at_delivery,
        "ins": e.ins or None,
        "ins_oid": e.ins_oid or None,
        "lines": orjson.dumps(lines).decode(),
    }


def _execution(r: store.Row) -> Execution:
    lines = tuple(
        LineExecution(d["n"], Outcome(d["o"]), d["q"], d["c"], d["s"], d["l"], d["m"]) for d in orjson.loads(r.lines)
    )
    return Execution(
        r.id,
        r.number,
        r.dispenser,
        r.structure,
        r.software,
        r.profession,
        datetime.fromisoformat(r.executed_at),
        bool(r.at_delivery),
        lines,
        r.ins or "",
        r.ins_oid or "",
    )
