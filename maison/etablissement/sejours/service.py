"""Stays and movements from the structure's GAM (IHE PAM France 2.11, ITI-30 / ITI-31; issue 22 §1).

One message, one transaction: the identity (into the local patient index, `vigilance.gam`), the stay,
its movement, the DMP information state (ZFA), the audit records and the message's MSH-10 commit
together or not at all, and the listener writes the ACK only after the commit. So:
- a message is taken once: the same MSH-10 from the same sender again is answered AA without doing
  anything twice; the same MSH-10 with another content is refused (AE 205);
- a refused message leaves nothing (its refusal is audited apart, after the rollback), so the GAM
  may send it again once the cause is fixed (an A03 refused before its A01 is taken after it);
- out of order or unknown keys are refused as IHE PAM says a receiver does: a movement on a stay not
  known (an A03 before its A01) AE 204 naming PV1-19; a cancellation or update of a movement not known
  AE 204 naming ZBE-1; a merge of an unknown patient AE 204 naming PID-3 or MRG-1; a cancellation of
  a movement that is not the stay's last one AE 207 (IHE PAM France: only the last movement is
  cancelled, the others by cancelling the ones after them first).

The ZFA state (seed 002 L535-565) is recorded for the structure and the stay; propagating it to the
patient's DMP (seed 002 L541-543) is the hospital wing's DMP client's work and is not done here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from maison.core import audit
from maison.core.actor import Actor
from maison.core.errors import Conflict, InvalidInput, MaisonError, NotFound
from maison.core.group_commit import GroupCommit
from maison.core.ins_traits import Traits
from maison.core.storage import Database
from maison.etablissement.sejours import store
from maison.etablissement.sejours.model import CANCELS, CLASS_OF_EVENT, UNIT_CHANGES, Movement, Stay, StayStatus
from maison.etablissement.sejours.store import Connection
from maison.etablissement.vigilance import gam
from maison.etablissement.vigilance.service import PatientIndex
from maison.formats.hl7v2.pam import PamMessage
from maison.formats.hl7v2.refusal import ErrorCode, Hl7Refusal

_SEEN = object()  # `receive`'s work: the message was taken before
_TRAIT_FIELDS = {"nom-absent": 5, "prenom-absent": 5, "sexe": 8, "date-format": 7, "date-invalid": 7, "cog-format": 11}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def gam_actor(msg: PamMessage) -> Actor:
    """The GAM acting for its structure (MSH-3 the application, the identifiers' authority the structure)."""
    application = msg.sender.split("^")[0]
    return Actor(person=f"system:gam:{msg.sender}", structure=msg.patient.structure, software=application)


def stay_of(row: sa.Row, movements: list[sa.Row] | None = None) -> Stay:
    return Stay(
        id=row.id,
        structure=row.structure,
        number=row.number,
        patient_id=row.patient_id,
        ipp=row.ipp,
        patient_class=row.patient_class,
        status=StayStatus(row.status),
        admitted_at=row.admitted_at,
        discharged_at=row.discharged_at,
        unit=row.unit,
        unit_name=row.unit_name,
        dmp_feeding=row.dmp_feeding,
        dmp_consultation=row.dmp_consultation,
        movements=tuple(
            Movement(m.movement_id, m.event, m.at, m.unit, m.unit_name, m.care_unit, m.nature, bool(m.cancelled))
            for m in movements or []
        ),
    )


class Sejours:
    """The stays and movements of the structures whose GAM talks to this house."""

    def __init__(self, db: Database, patients: PatientIndex, trail: audit.Trail | None = None) -> None:
        self.db = db
        self.patients = patients
        self.trail = trail or patients.trail
        # the messages of concurrent connections commit together, each ACKed after the batch's commit
        # (bench/flux.py: one transaction and one fsync per message held 8 connections to 1's rate)
        self.commits = GroupCommit(db, name="sejours-group-commit")

    # --- the message ---------------------------------------------------------------------------

    def receive(self, msg: PamMessage) -> int | None:
        """Apply one PAM message, or raise `Hl7Refusal` having changed nothing. The patient's record id
        when the message recorded a new DMP information state (ZFA) to propagate, else None."""
        actor = gam_actor(msg)

        def work(conn: Connection) -> tuple[object, list, list]:
            seen = store.seen_message(conn, msg.sender, msg.control_id)
            if seen is not None:
                if seen.digest != msg.digest:
                    raise Hl7Refusal(
                        f"MSH-10 {msg.control_id} déjà reçu pour un autre message",
                        ErrorCode.DUPLICATE_KEY,
                        "MSH",
                        1,
                        10,
                    )
                return _SEEN, [], []
            patient_id = self._apply(conn, actor, msg)
            store.record_message(
                conn,
                dict(
                    sender=msg.sender,
                    control_id=msg.control_id,
                    digest=msg.digest,
                    event=msg.event,
                    structure=msg.patient.structure,
                    received_at=_now(),
                ),
            )
            return patient_id, [], []

        try:
            outcome = self.commits.run(work)
        except Hl7Refusal as refusal:
            self._refused(actor, msg, refusal)
            raise
        except sa.exc.IntegrityError:  # the same message taken meanwhile on another connection
            raise Hl7Refusal("message en cours de traitement par ailleurs", ErrorCode.RECORD_LOCKED) from None
        if outcome is _SEEN:  # audited once its read-only transaction is over
            self._resent(actor, msg)
            return None
        return outcome if msg.dmp is not None else None  # type: ignore[return-value]

    def _resent(self, actor: Actor, msg: PamMessage) -> None:
        detail = {"structure": msg.patient.structure, "control_id": msg.control_id, "event": msg.event}
        self.trail.read(actor, "sejours.message-deja-recu", patient=msg.patient.ipp, detail=detail)

    def _refused(self, actor: Actor, msg: PamMessage, refusal: Hl7Refusal) -> None:
        where = f"{refusal.segment}-{refusal.field}" if refusal.field else refusal.segment
        self.trail.refused(
            actor,
            f"sejours.{msg.event}",
            code=refusal.code.value,
            patient=msg.patient.ipp,
            detail={"structure": msg.patient.structure, "control_id": msg.control_id, "where": where},
        )

    def _apply(self, conn: Connection, actor: Actor, msg: PamMessage) -> int | None:
        """The message's changes; the patient's record id (None for a merge or a change of IPP)."""
        if msg.event == "A40":
            return self._merge(conn, actor, msg)
        if msg.event == "A47":
            return self._change_ipp(conn, actor, msg)
        patient_id = self._identity(conn, actor, msg)
        if msg.dmp is not None:
            self._dmp_state(conn, actor, msg, patient_id)
        if msg.event in ("A28", "A31"):
            return patient_id
        if msg.stay_structure != msg.patient.structure:
            raise Hl7Refusal("séjour d'une autre structure que l'IPP", ErrorCode.DATA_TYPE, "PV1", 1, 19)
        self._STAY_EVENTS[msg.event](self, conn, actor, msg, patient_id)
        return patient_id

    # --- identity ------------------------------------------------------------------------------

    def _identity(self, conn: Connection, actor: Actor, msg: PamMessage) -> int:
        p = msg.patient
        try:
            traits = Traits.of(p.nom_naissance, p.prenoms, p.sexe, p.date_naissance, p.lieu_naissance)
        except InvalidInput as exc:
            raise Hl7Refusal(exc.message, ErrorCode.DATA_TYPE, "PID", 1, _TRAIT_FIELDS.get(exc.code, 5)) from None
        announced = gam.Announced(
            structure=p.structure,
            ipp=p.ipp,
            traits=traits,
            claimed_status=p.status,
            attributes=p.attributes,
            ins_number=p.ins_number,
            ins_oid=p.ins_oid,
            nom_utilise=p.nom_utilise,
            prenom_utilise=p.prenom_utilise,
        )
        try:
            return gam.announce(self.patients, conn, actor, announced).id
        except MaisonError as exc:
            raise Hl7Refusal(exc.message, ErrorCode.INTERNAL_ERROR, "PID", 1, 3) from None

    def _merge(self, conn: Connection, actor: Actor, msg: PamMessage) -> int | None:
        structure, survivor, absorbed = msg.patient.structure, msg.patient.ipp, msg.prior_ipp
        try:
            drop = gam.lookup(conn, structure, absorbed)
            keep = gam.merge(self.patients, conn, actor, structure, survivor, absorbed)
        except NotFound as exc:
            segment, fld = ("MRG", 1) if absorbed in exc.message else ("PID", 3)
            raise Hl7Refusal(exc.message, ErrorCode.UNKNOWN_KEY, segment, 1, fld) from None
        except MaisonError as exc:
            raise Hl7Refusal(exc.message, ErrorCode.INTERNAL_ERROR, "MRG", 1, 1) from None
        store.move_patient_stays(conn, structure, drop.id, keep.id, keep.ipp)
        return None

    def _change_ipp(self, conn: Connection, actor: Actor, msg: PamMessage) -> int | None:
        structure = msg.patient.structure
        try:
            renamed = gam.change_ipp(self.patients, conn, actor, structure, msg.prior_ipp, msg.patient.ipp)
        except NotFound as exc:
            raise Hl7Refusal(exc.message, ErrorCode.UNKNOWN_KEY, "MRG", 1, 1) from None
        except Conflict as exc:
            raise Hl7Refusal(exc.message, ErrorCode.DUPLICATE_KEY, "PID", 1, 3) from None
        store.rename_ipp(conn, structure, renamed.id, msg.patient.ipp)
        return None

    def _dmp_state(self, conn: Connection, actor: Actor, msg: PamMessage, patient_id: int) -> None:
        zfa = msg.dmp
        assert zfa is not None
        values = dict(
            dmp_status=zfa.dmp_status,
            status_at=zfa.status_at,
            access_authorised=zfa.access_authorised[:1],
            opposition_bris_de_glace=zfa.opposition_bris_de_glace[:1],
            opposition_regulation=zfa.opposition_regulation[:1],
            feeding=zfa.feeding,
            feeding_at=zfa.feeding_at,
            consultation=zfa.consultation,
            consultation_at=zfa.consultation_at,
            updated_at=_now(),
        )
        store.put_dmp_state(conn, msg.patient.structure, patient_id, values)
        self.trail.write(
            conn,
            actor,
            "sejours.etat-dmp",
            patient=msg.patient.ipp,
            detail={"structure": msg.patient.structure, "alimentation": zfa.feeding, "consultation": zfa.consultation},
        )

    # --- stays and movements -------------------------------------------------------------------

    def _stay(self, conn: Connection, msg: PamMessage, *allowed: StayStatus) -> sa.Row:
        row = store.stay(conn, msg.stay_structure, msg.stay_number)
        if row is None:
            raise Hl7Refusal(
                f"séjour {msg.stay_number} inconnu ({msg.event} avant son admission ?)",
                ErrorCode.UNKNOWN_KEY,
                "PV1",
                1,
                19,
            )
        if allowed and row.status not in allowed:
            raise Hl7Refusal(
                f"{msg.event} impossible sur un séjour à l'état {row.status}", ErrorCode.INTERNAL_ERROR, "PV1", 1, 19
            )
        return row

    def _audit(self, conn: Connection, actor: Actor, msg: PamMessage, **detail: object) -> None:
        movement = msg.movement.id if msg.movement else None
        self.trail.write(
            conn,
            actor,
            f"sejours.{msg.event}",
            patient=msg.patient.ipp,
            detail={
                "structure": msg.stay_structure,
                "sejour": msg.stay_number,
                "mouvement": movement,
                "control_id": msg.control_id,
                **detail,
            },
        )

    def _insert_movement(self, conn: Connection, msg: PamMessage, stay_id: int, patient_class: str) -> None:
        m = msg.movement
        if m is None:
            raise Hl7Refusal("segment ZBE (mouvement) absent", ErrorCode.SEGMENT_SEQUENCE, "ZBE", acknowledgment="AR")
        if m.action != "INSERT":
            raise Hl7Refusal(f"{msg.event} porte l'action INSERT, pas {m.action}", ErrorCode.TABLE_VALUE, "ZBE", 1, 4)
        if store.movement(conn, stay_id, m.id) is not None:
            raise Hl7Refusal(f"mouvement {m.id} déjà reçu", ErrorCode.DUPLICATE_KEY, "ZBE", 1, 1)
        store.insert_movement(
            conn,
            dict(
                stay_id=stay_id,
                movement_id=m.id,
                event=msg.event,
                at=m.at or msg.at,
                unit=m.unit,
                unit_name=m.unit_name,
                care_unit=m.care_unit,
                nature=m.nature,
                patient_class=patient_class,
                cancelled=False,
                control_id=msg.control_id,
            ),
        )

    def _admit(self, conn: Connection, actor: Actor, msg: PamMessage, patient_id: int) -> None:
        """A01, A04 (admission, external registration), A05 (pre-admission: planned)."""
        status = StayStatus.PLANNED if msg.event == "A05" else StayStatus.IN_PROGRESS
        patient_class = msg.patient_class or CLASS_OF_EVENT[msg.event]
        row = store.stay(conn, msg.stay_structure, msg.stay_number)
        at = msg.admitted_at or (msg.movement.at if msg.movement else None) or msg.at
        unit = msg.movement.unit if msg.movement else ""
        unit_name = msg.movement.unit_name if msg.movement else ""
        if row is None:
            stay_id = store.insert_stay(
                conn,
                dict(
                    structure=msg.stay_structure,
                    number=msg.stay_number,
                    patient_id=patient_id,
                    ipp=msg.patient.ipp,
                    patient_class=patient_class,
                    status=status.value,
                    admitted_at=at,
                    unit=unit,
                    unit_name=unit_name,
                    dmp_feeding=msg.dmp.feeding if msg.dmp else "",
                    dmp_consultation=msg.dmp.consultation if msg.dmp else "",
                    version=1,
                    updated_at=_now(),
                ),
            )
        elif row.status == StayStatus.PLANNED and status is StayStatus.IN_PROGRESS and row.patient_id == patient_id:
            stay_id = row.id
            changes = dict(
                status=status.value, admitted_at=at, patient_class=patient_class, unit=unit, updated_at=_now()
            )
            store.update_stay(conn, stay_id, changes | dict(unit_name=unit_name))
        else:
            raise Hl7Refusal(f"séjour {msg.stay_number} déjà ouvert", ErrorCode.DUPLICATE_KEY, "PV1", 1, 19)
        self._insert_movement(conn, msg, stay_id, patient_class)
        self._audit(conn, actor, msg, statut=status.value)

    def _move(self, conn: Connection, actor: Actor, msg: PamMessage, _patient_id: int) -> None:
        """A02 transfer, A06 / A07 change of class, A21 leave, A22 return, A03 discharge; IHE PAM
        France's Z80 change of the medically responsible unit and Z84 change of the care unit."""
        wanted = {
            "A22": (StayStatus.ONLEAVE,),
            "A03": (StayStatus.IN_PROGRESS, StayStatus.ONLEAVE),
        }.get(msg.event, (StayStatus.IN_PROGRESS,))
        row = self._stay(conn, msg, *wanted)
        patient_class = CLASS_OF_EVENT.get(msg.event) if msg.event in ("A06", "A07") else None
        patient_class = patient_class or msg.patient_class or row.patient_class
        self._insert_movement(conn, msg, row.id, patient_class)
        m = msg.movement
        assert m is not None
        changes: dict[str, object] = dict(patient_class=patient_class, updated_at=_now())
        if msg.event == "A03":
            changes |= dict(status=StayStatus.FINISHED.value, discharged_at=msg.discharged_at or m.at or msg.at)
        elif msg.event == "A21":
            changes["status"] = StayStatus.ONLEAVE.value
        elif msg.event == "A22":
            changes["status"] = StayStatus.IN_PROGRESS.value
        if m.unit and msg.event in UNIT_CHANGES:
            changes |= dict(unit=m.unit, unit_name=m.unit_name)
        store.update_stay(conn, row.id, changes)
        self._audit(conn, actor, msg, statut=changes.get("status", row.status))

    def _cancel(self, conn: Connection, actor: Actor, msg: PamMessage, _patient_id: int) -> None:
        """A11, A12, A13, A38, A52, A53, Z81, Z85 (`model.CANCELS`): the movement ZBE-1 names, which
        must be the stay's last active one."""
        row = self._stay(conn, msg)
        cancelled = self._cancel_movement(conn, msg, row, CANCELS[msg.event])
        self._after_cancel(conn, row, cancelled.event)
        self._audit(conn, actor, msg, annule=cancelled.event)

    def _cancel_movement(self, conn: Connection, msg: PamMessage, row: sa.Row, events: tuple[str, ...]) -> sa.Row:
        m = msg.movement
        assert m is not None
        target = store.movement(conn, row.id, m.id)
        if target is None or target.cancelled:
            raise Hl7Refusal(f"mouvement {m.id} inconnu sur le séjour {row.number}", ErrorCode.UNKNOWN_KEY, "ZBE", 1, 1)
        if target.event not in events:
            raise Hl7Refusal(
                f"le mouvement {m.id} est un {target.event}, {msg.event} ne l'annule pas",
                ErrorCode.TABLE_VALUE,
                "ZBE",
                1,
                1,
            )
        active = [x for x in store.movements(conn, row.id) if not x.cancelled]
        if active and active[-1].id != target.id:
            raise Hl7Refusal(
                f"le mouvement {m.id} n'est pas le dernier du séjour : annuler d'abord les suivants",
                ErrorCode.INTERNAL_ERROR,
                "ZBE",
                1,
                1,
            )
        store.update_movement(conn, target.id, dict(cancelled=True))
        return target

    def _after_cancel(self, conn: Connection, row: sa.Row, event: str) -> None:
        """The stay as it was before the cancelled movement."""
        changes: dict[str, object] = dict(updated_at=_now())
        previous = [x for x in store.movements(conn, row.id) if not x.cancelled]
        if event in ("A01", "A04", "A05"):
            changes["status"] = StayStatus.CANCELLED.value
        elif event == "A03":
            changes |= dict(status=StayStatus.IN_PROGRESS.value, discharged_at=None)
        elif event == "A21":
            changes["status"] = StayStatus.IN_PROGRESS.value
        elif event == "A22":
            changes["status"] = StayStatus.ONLEAVE.value
        if previous and event in UNIT_CHANGES:
            last = previous[-1]
            changes |= dict(unit=last.unit, unit_name=last.unit_name, patient_class=last.patient_class)
        store.update_stay(conn, row.id, changes)

    def _update(self, conn: Connection, actor: Actor, msg: PamMessage, _patient_id: int) -> None:
        """A08 (the identity already updated; the stay's class) and Z99 (ZBE-4 UPDATE: the movement
        ZBE-1 rewritten; CANCEL: cancelled, as the cancellation of its event would)."""
        row = self._stay(conn, msg)
        m = msg.movement
        if m is None:  # an A08 without ZBE: the stay's class only
            store.update_stay(
                conn, row.id, dict(patient_class=msg.patient_class or row.patient_class, updated_at=_now())
            )
            return self._audit(conn, actor, msg)
        if m.action == "CANCEL":
            cancelled = self._cancel_movement(
                conn, msg, row, tuple({e for events in CANCELS.values() for e in events} | {"A21", "A22", "A06", "A07"})
            )
            self._after_cancel(conn, row, cancelled.event)
            return self._audit(conn, actor, msg, annule=cancelled.event)
        target = store.movement(conn, row.id, m.id)
        if target is None or target.cancelled:
            raise Hl7Refusal(f"mouvement {m.id} inconnu sur le séjour {row.number}", ErrorCode.UNKNOWN_KEY, "ZBE", 1, 1)
        if m.action != "UPDATE":
            raise Hl7Refusal(f"{msg.event} porte l'action UPDATE ou CANCEL", ErrorCode.TABLE_VALUE, "ZBE", 1, 4)
        store.update_movement(
            conn,
            target.id,
            dict(at=m.at or target.at, unit=m.unit, unit_name=m.unit_name, care_unit=m.care_unit, nature=m.nature),
        )
        active = [x for x in store.movements(conn, row.id) if not x.cancelled]
        changes: dict[str, object] = dict(updated_at=_now())
        if active and active[-1].id == target.id and m.unit:
            changes |= dict(unit=m.unit, unit_name=m.unit_name)
        if target.event in ("A01", "A04", "A05") and m.at:
            changes["admitted_at"] = m.at
        if target.event == "A03" and m.at:
            changes["discharged_at"] = m.at
        store.update_stay(conn, row.id, changes)
        return self._audit(conn, actor, msg, modifie=target.event)

    _STAY_EVENTS: dict[str, Callable[[Sejours, Connection, Actor, PamMessage, int], None]] = {
        "A01": _admit,
        "A04": _admit,
        "A05": _admit,
        "A02": _move,
        "A03": _move,
        "A06": _move,
        "A07": _move,
        "A21": _move,
        "A22": _move,
        "Z80": _move,
        "Z84": _move,
        **dict.fromkeys(CANCELS, _cancel),
        "A08": _update,
        "Z99": _update,
    }

    # --- reading -------------------------------------------------------------------------------

    def get(self, actor: Actor, stay_id: int) -> Stay:
        """A stay of the actor's structure (another's reads as unknown), its movements, audited."""
        with self.db.read() as conn:
            row = store.stay_by_id(conn, stay_id)
            if row is None or row.structure != actor.structure:  # "not there" and "not yours" alike, audited
                detail = {"sejour_id": stay_id, "structure": actor.structure}
                self.trail.refused(actor, "sejours.read", code="sejour-inconnu", detail=detail)
                raise NotFound(f"séjour {stay_id} inconnu", code="sejour-inconnu")
            stay = stay_of(row, store.movements(conn, row.id))
        self.trail.read(
            actor, "sejours.read", patient=stay.ipp, detail={"structure": stay.structure, "sejour": stay.number}
        )
        return stay

    def search(self, actor: Actor, **criteria: object) -> list[Stay]:
        """The actor's structure's stays matching `criteria` (see `store.search`), audited."""
        with self.db.read() as conn:
            rows = store.search(conn, actor.structure, **criteria)  # type: ignore[arg-type]
            stays = [stay_of(r, store.movements(conn, r.id)) for r in rows]
        self.trail.read(actor, "sejours.search", detail={"structure": actor.structure, "count": len(stays)})
        return stays

    # --- the information state's way to the DMP (seed 002 L541-543; `dmp_information`) ----------

    def to_propagate(self, actor: Actor, patient_id: int) -> tuple[dict, str | None, str | None] | None:
        """The state to send for a patient of the actor's structure, with the INS to send it under —
        the matricule and its OID, only for a qualified identity (seed 000 L2007-2009) — or None when
        there is no state."""
        state = self.dmp_state(actor, patient_id)
        if state is None:
            return None
        identity = self.patients.get(actor, patient_id)
        return state, identity.shareable_ins, identity.ins_oid

    def record_propagation(self, actor: Actor, patient_id: int, outcome: str) -> None:
        """What became of the propagation, with its audit record."""
        with self.db.write() as conn:
            store.set_propagation(conn, actor.structure, patient_id, outcome, _now())
            self.trail.write(
                conn,
                actor,
                "sejours.etat-dmp-propagation",
                outcome="success" if outcome == "transmis" else "failure",
                detail={"structure": actor.structure, "patient_id": patient_id, "issue": outcome},
            )

    def waiting_propagations(self, structure: str) -> list[int]:
        with self.db.read() as conn:
            return store.waiting_propagations(conn, structure)

    def dmp_state(self, actor: Actor, patient_id: int) -> dict | None:
        """The DMP information state the GAM last announced for this patient in the actor's structure."""
        with self.db.read() as conn:
            row = store.dmp_state(conn, actor.structure, patient_id)
        return dict(row._mapping) if row is not None else None

    def stays_by_key(self, actor: Actor, keys: list[tuple[str, str]]) -> list[Stay]:
        """The stays named by (structure, PV1-19) as they are now, without their movements: what the
        observatory folds the PAM records it reads into (SUN-ES is counted per stay, seed 004
        L185-207). A read of the structures' stays, audited as one."""
        with self.db.read() as conn:
            stays = [stay_of(row) for row in store.stays_by_key(conn, keys)]
        structures = sorted({key[0] for key in keys})
        self.trail.read(actor, "sejours.lecture-indicateurs", detail={"structures": structures, "count": len(stays)})
        return stays
