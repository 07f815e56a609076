"""The hospital's integration platform (PFI): what arrives in its applicative mailbox goes to the
right patient's record, or to a human (002 L430-431, L436; SPEC §4).

The PFI is the hospital's software, not the operator's: it reads its mailbox over IMAP at whatever
operator hosts it (mailbox.py: STARTTLS, LOGIN or PLAIN, the `$Integre` keyword, IDLE or polling),
answers over SMTP submission, and finds patients through the local patient index's service.

For each message of the mailbox not yet handled (without `$Integre`): open `IHE_XDM.ZIP` (xdm.py, hostile-input rules),
and for each CDA document match the patient by the INS in METADATA.XML and the CDA header against
the structure's local patient index:
- a QUAL identity with that matricule whose traits are the document's → automatic integration;
- otherwise the document waits in the worklist with candidate patients found by traits, and the
  reason is the guide's code (mss-courriel error-codes.md): 902 patient unknown, 903 no INS in the
  document, 904 the INS or traits differ from the stored identity, 905 the INS's traits are
  incomplete, 906 anything else (a broken archive, METADATA and CDA disagreeing).
The PDF that travels beside its CDA is not integrated (002 L418). When the sender asked for it, an
MDN says what happened (`processed`, or `processed/Error: <code>^<libellé>^applicationErrorCode`).
Every integration and every worklist entry is audited with the patient's INS, and so is every
reading of the worklist. A message is flagged `$Integre` only once its outcome is committed (and its
MDN sent): a crash in between leaves it to be handled again, which writes nothing twice (the rows
are keyed by document and by message) — so nothing is ever integrated twice, at any operator.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from maison.core import audit
from maison.core.actor import Actor
from maison.core.blobs import Blobs
from maison.core.errors import MaisonError, NotFound
from maison.core.ins_traits import match_form, normalise_name
from maison.core.storage import Database
from maison.etablissement.pfi import store
from maison.etablissement.pfi.mailbox import ImapMailbox
from maison.etablissement.vigilance.model import LocalIdentity, Status
from maison.etablissement.vigilance.service import PatientIndex
from maison.formats import mdn as reports
from maison.formats import mime, xdm, xmlsafe
from maison.formats.cda.header import INS_ROOTS, CdaHeader, read_header
from maison.formats.mss_codes import error_codes

D, W = store.pfi_document, store.pfi_worklist
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentOutcome:
    unique_id: str
    code: str | None  # None: integrated; else 902-906
    reason: str
    patient_id: int | None = None


@dataclass(frozen=True)
class Planned:
    """A document's outcome and what records it: its CDA stored as a blob, then a row of `table`
    (`fields` plus the blob's digest) and an audit entry. An archive refused as a whole has no
    table: nothing to record but the MDN and the handled flag."""

    outcome: DocumentOutcome
    table: sa.Table | None = None  # pfi_document (integrated) or pfi_worklist (waiting)
    data: bytes = b""
    fields: dict | None = None
    audit: dict | None = None


@dataclass(frozen=True)
class Judged:
    """A message read and its documents judged, nothing written yet."""

    uid: int
    message_id: str
    received: mime.Received | None
    planned: list[Planned]
    asked: bool  # its sender asked for an MDN: flagged handled only once it has left


@dataclass(frozen=True)
class MessageOutcome:
    uid: int
    message_id: str
    documents: tuple[DocumentOutcome, ...]
    mdn: bytes | None  # the MDN sent back, when one was asked for


Method = TypeVar("Method", bound=Callable[..., Any])


def _refusal_recorded(action: str) -> Callable[[Method], Method]:
    """A refused use of the worklist (an entry not in the structure's list, a patient not in its index)
    leaves its record like the allowed one (DESIGN.md §Rules), through the journal: the refused action's
    own transaction, if any, has rolled back."""

    def decorate(method: Method) -> Method:
        @functools.wraps(method)
        def recorded(self: Worklist, actor: Actor, entry_id: str, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, actor, entry_id, *args, **kwargs)
            except MaisonError as error:
                detail = {"entree": entry_id, "structure": self.structure}
                self.patients.trail.refused(actor, action, code=error.code, detail=detail)
                raise

        return recorded  # type: ignore[return-value]  # wraps keep the decorated method's signature

    return decorate


class Worklist:
    """The structure's documents waiting for a human: read them, attach one to a patient of the
    index, or reject it (pfi_api.py serves it over HTTP)."""

    def __init__(
        self,
        db: Database,
        blobs: Blobs,
        structure: str,
        *,
        patients: PatientIndex | None = None,
        max_message_bytes: int = 20_000_000,
    ) -> None:
        self.db, self.blobs, self.structure, self.max_message_bytes = db, blobs, structure, max_message_bytes
        self.patients = patients or PatientIndex(db)

    @_refusal_recorded("mss.pfi.rattacher")
    def attach(self, actor: Actor, entry_id: str, patient_id: int) -> str:
        """A human attaches a waiting document to a patient of the index (after checking the identity):
        integrated as `manuel`, the worklist entry closed; both audited. The patient is read through
        the index's service (audited there; another structure's patient is unknown here)."""
        try:
            patient = self.patients.get(actor, patient_id)
        except MaisonError:
            patient = None
        if patient is None or patient.structure != self.structure or patient.merged_into is not None:
            raise NotFound(f"patient {patient_id} inconnu de l'index de la structure", code="patient-inconnu")
        with self.db.write() as conn:
            waiting = store.entry(conn, self.structure, entry_id, for_update=True)
            if waiting is None or waiting.state != "a-traiter":
                raise NotFound(f"entrée {entry_id} absente de la liste de travail", code="liste-travail-inconnue")
            header = read_header(xmlsafe.parse(self.blobs.get(waiting.sha256), max_bytes=self.max_message_bytes))
            document_id = str(uuid.uuid4())
            store.insert(
                conn,
                D,
                [
                    dict(
                        id=document_id,
                        structure=self.structure,
                        patient_id=patient_id,
                        unique_id=waiting.unique_id,
                        type_code=header.type_code.code if header.type_code else "",
                        title=header.title,
                        sha256=waiting.sha256,
                        message_id=waiting.message_id,
                        sender=waiting.mailbox,
                        integrated_at=datetime.now(UTC).isoformat(),
                        how="manuel",
                    )
                ],
            )
            store.set_state(conn, self.structure, entry_id, "rattache")
            audit.Trail.write(
                conn,
                actor,
                "mss.pfi.rattacher",
                patient=waiting.ins,
                detail={"document": waiting.unique_id, "patient_local": patient_id, "code": waiting.code},
            )
        return document_id

    @_refusal_recorded("mss.pfi.rejeter")
    def reject(self, actor: Actor, entry_id: str, reason: str) -> None:
        """A human rejects a waiting document (not this structure's patient); the record names the
        patient the document is about."""
        with self.db.write() as conn:
            waiting = store.entry(conn, self.structure, entry_id, for_update=True)
            if waiting is None or not store.set_state(conn, self.structure, entry_id, "rejete", only_from="a-traiter"):
                raise NotFound(f"entrée {entry_id} absente de la liste de travail", code="liste-travail-inconnue")
            audit.Trail.write(
                conn, actor, "mss.pfi.rejeter", patient=waiting.ins, detail={"entree": entry_id, "motif": reason}
            )

    def worklist(self, actor: Actor, state: str = "a-traiter") -> list[sa.Row]:
        """The entries in `state`, each with its patient's INS and candidates: a read of health data,
        so one audit record per entry (`mss.pfi.liste`, its INS), group-committed by the journal
        (a read opens no write transaction), and one without patient when the list is empty."""
        with self.db.read() as conn:
            rows = store.entries(conn, self.structure, state)
        trail = self.patients.trail
        records = [
            trail.read_later(
                actor, "mss.pfi.liste", patient=w.ins, detail={"entree": w.id, "document": w.unique_id, "etat": state}
            )
            for w in rows
        ]
        for done in records or [trail.read_later(actor, "mss.pfi.liste", detail={"etat": state, "entrees": 0})]:
            done.result()
        return rows

    @_refusal_recorded("mss.pfi.consulter")
    def document(self, actor: Actor, entry_id: str) -> tuple[sa.Row, bytes]:
        """A waiting entry and its CDA, for the human who checks the identity (reading: audited through
        the journal, no write transaction opened only to audit)."""
        with self.db.read() as conn:
            waiting = store.entry(conn, self.structure, entry_id)
        if waiting is None:
            raise NotFound(f"entrée {entry_id} absente de la liste de travail", code="liste-travail-inconnue")
        self.patients.trail.read(
            actor,
            "mss.pfi.consulter",
            patient=waiting.ins,
            detail={"entree": entry_id, "document": waiting.unique_id, "code": waiting.code},
        )
        return waiting, self.blobs.get(waiting.sha256)


# What one batch may hold in memory: the messages read and the documents their archives inflated to
# (issue 18 §3: several zip-bomb-like XDM messages — each within xdm's own limits — held the PFI's
# memory by the gigabyte, 16 to a batch). A batch stops taking messages once it holds this much; the
# rest wait for the next batch. At most two batches live at once (one recorded while the next is judged).
BATCH_BYTES = 256_000_000


class Pfi(Worklist):
    def __init__(
        self,
        db: Database,
        blobs: Blobs,
        reference_path: Path,
        structure: str,
        mailbox: ImapMailbox,
        send: Callable[[bytes, str, list[str]], object],
        *,
        address: str,
        domain: str,
        patients: PatientIndex | None = None,
        max_message_bytes: int = 20_000_000,
        batch_bytes: int = BATCH_BYTES,
        reports: Callable[[bytes], int] | None = None,
    ) -> None:
        super().__init__(db, blobs, structure, patients=patients, max_message_bytes=max_message_bytes)
        self.batch_bytes = batch_bytes
        # what a DSN or an MDN about a document the PFI sent for its DPI becomes (hl7_documents.report:
        # the leg's state and the ZAM^Z02 / Z03 back to the DPI, issue 22 §2.2)
        self.reports = reports
        self.imap = mailbox  # the applicative mailbox, over IMAP at its operator
        self.mailbox = address
        self.codes = error_codes(reference_path)
        self.send = send  # submits a message through the operator (SMTP), as the PFI's software does
        self.domain = domain
        self.actor = Actor(person=address, structure=structure, software="maison-pfi")

    # --- the mailbox ---------------------------------------------------------------------------------

    def pending(self, after: int = 0) -> list[int]:
        """UIDs above `after` without the `$Integre` keyword, in order (the server searches)."""
        return self.imap.unhandled(after)

    def run_once(self) -> list[MessageOutcome]:
        return self.handle_all(self.pending())

    def watch(
        self,
        stopping: threading.Event,
        *,
        interval: float = 0.2,
        idle: float = 1.0,
        batch: int = 16,
        on_outcome: Callable[[MessageOutcome], None] | None = None,
    ) -> None:
        """Handle the mailbox's messages as they arrive, until `stopping` is set (`maison pfi`),
        up to `batch` at a time, in a pipeline: while one batch is recorded (blobs fsynced, one
        commit, MDNs sent, flagged over IMAP) by a thread of its own, the next one is fetched and
        judged, so the disk's and the network's waits no longer idle the processor. A batch that
        fails (database, disk, IMAP) is retried at the next turn: its messages are flagged only once
        their outcomes are stored, and a batch judged behind a failed one is judged again. UIDs only
        grow within a UIDVALIDITY (RFC 3501 §2.3.1.1), so a turn asks only for those above the last
        one handled. With nothing new, it waits on IDLE (RFC 2177) up to `idle` s when offered (the
        server tells of new mail), else sleeps `interval` s and asks again."""
        cursor = 0
        with ThreadPoolExecutor(1, thread_name_prefix="pfi-enregistrement") as recorder:
            while not stopping.is_set():
                try:
                    uids = self.pending(cursor)
                except Exception:  # noqa: BLE001 — the operator is away: logged, tried again
                    log.exception("PFI %s : boîte illisible, nouvel essai", self.mailbox)
                    stopping.wait(max(interval, 1.0))
                    continue
                recording: tuple[Future[list[MessageOutcome]], list[int]] | None = None
                at = 0
                while at < len(uids):
                    part = uids[at : at + batch]
                    try:
                        judged = self._judge_all(part) if not stopping.is_set() else None
                    except Exception:  # noqa: BLE001 — logged, the messages stay pending for the next turn
                        log.exception("PFI %s : messages %s non lus, nouvel essai au prochain tour", self.mailbox, part)
                        judged = None
                    if recording is not None:
                        if not self._settled(*recording, on_outcome):
                            recording = None
                            break
                        cursor = recording[1][-1]
                    recording = None
                    if judged is None:
                        break
                    part = part[: len(judged)]  # a batch may stop short of `batch` (BATCH_BYTES)
                    recording = recorder.submit(self._record_all, judged), part
                    at += len(part)
                if recording is not None and self._settled(*recording, on_outcome):
                    cursor = recording[1][-1]
                if not stopping.is_set() and (not uids or cursor < uids[-1]):
                    self.imap.wait(interval, idle=idle)

    def _settled(
        self, future: Future[list[MessageOutcome]], uids: list[int], on_outcome: Callable[[MessageOutcome], None] | None
    ) -> bool:
        try:
            outcomes = future.result()
        except Exception:  # noqa: BLE001 — logged, the messages stay pending for the next turn
            log.exception("PFI %s : messages %s non traités, nouvel essai au prochain tour", self.mailbox, uids)
            return False
        if on_outcome is not None:
            for outcome in outcomes:
                on_outcome(outcome)
        return True

    def handle(self, uid: int) -> MessageOutcome:
        return self.handle_all([uid])[0]

    def handle_all(self, uids: list[int]) -> list[MessageOutcome]:
        """Messages in UID order: judged, then recorded (see `_record_all`), batch after batch."""
        outcomes: list[MessageOutcome] = []
        while uids:
            judged = self._judge_all(uids)
            outcomes += self._record_all(judged)
            uids = uids[len(judged) :]
        return outcomes

    # --- judging: reads only, so a judgment can be thrown away and made again ------------------------

    def _judge_all(self, uids: list[int]) -> list[Judged]:
        """The first messages of `uids` fetched and their documents judged — as many as `batch_bytes`
        allows (by their RFC822.SIZE, twice: raw and parsed; then by what they inflate to), one at
        least; the patients of the batch are looked up in the index with one call."""
        sizes = self.imap.sizes(uids)
        take: list[int] = []
        held = 0
        for uid in uids:
            if take and held + 2 * sizes.get(uid, 0) > self.batch_bytes:
                break
            take.append(uid)
            held += 2 * sizes.get(uid, 0)
        fetched = self.imap.fetch(take)  # one FETCH for the batch (its raw bytes within half the budget)
        read: list[tuple[int, mime.Received | None, list[Planned | tuple[xdm.DocumentEntry, CdaHeader]]]] = []
        held = 0
        for uid in take:
            if read and held >= self.batch_bytes:
                break
            raw = fetched.pop(uid, None)
            if raw is None:  # expunged meanwhile by someone else: nothing to integrate
                read.append((uid, None, []))
                continue
            read.append(self._read(uid, raw))
            held += _held(read[-1], len(raw))
        numbers = {_matricule(item[1]) for *_, items in read for item in items if isinstance(item, tuple)}
        index = self.patients.by_ins_numbers(self.actor, self.structure, numbers) if numbers else {}
        judged = []
        for uid, received, items in read:
            planned: list[Planned] = []
            for item in items:
                if isinstance(item, Planned):
                    planned.append(item)
                    continue
                assert received is not None  # documents come only from a message parsed
                planned.append(self._match(uid, received, *item, index.get(_matricule(item[1]), [])))
            judged.append(
                Judged(
                    uid,
                    received.message_id if received else "",
                    received,
                    planned,
                    received is not None and received.is_xdm and received.wants_mdn(),
                )
            )
        return judged

    def _read(
        self, uid: int, raw: bytes
    ) -> tuple[int, mime.Received | None, list[Planned | tuple[xdm.DocumentEntry, CdaHeader]]]:
        """(the UID, the message read, for each document in order: its outcome when reading alone
        decides it, else the document and its header, whose patient is to be matched in the index)."""
        try:
            received = mime.parse(raw, max_bytes=self.max_message_bytes)
        except MaisonError as exc:
            return uid, None, [Planned(DocumentOutcome("", "906", exc.message))]
        if not received.is_xdm:  # an ordinary mail: for the humans reading the mailbox
            return uid, received, []
        try:
            content = xdm.read(received.xdm or b"")
        except xdm.XdmError as exc:
            return uid, received, [Planned(DocumentOutcome("", exc.mdn_code, exc.message))]
        items: list[Planned | tuple[xdm.DocumentEntry, CdaHeader]] = []
        for entry in content.documents:
            try:
                header = read_header(xmlsafe.parse(entry.data, max_bytes=len(entry.data) + 1))
            except MaisonError as exc:
                items.append(self._park(uid, received, entry, None, "906", f"CDA illisible : {exc.message}"))
                continue
            items.append(self._check(uid, received, entry, header) or (entry, header))
        return uid, received, items

    def _check(self, uid: int, received: mime.Received, entry: xdm.DocumentEntry, header: CdaHeader) -> Planned | None:
        """What the document alone says against it (903, 905, 906), or None."""
        ins = header.patient.ins
        if ins is None or ins.root not in INS_ROOTS:
            return self._park(uid, received, entry, header, "903", "le document ne porte pas l'INS du patient")
        matricule, oid = entry.ins
        if (matricule, oid) != (ins.extension, ins.root):
            return self._park(
                uid, received, entry, header, "906", "l'INS de METADATA.XML diffère de celui de l'en-tête CDA"
            )
        p = header.patient
        if not (p.birth_family and (p.birth_given_first or p.birth_givens) and p.gender and p.birth_date):
            return self._park(uid, received, entry, header, "905", "traits de l'INS incomplets dans le document")
        return None

    def _match(
        self, uid: int, received: mime.Received, entry: xdm.DocumentEntry, header: CdaHeader, known: list[LocalIdentity]
    ) -> Planned:
        """Against the index's identities with the document's INS matricule: one QUAL identity with
        that INS and the document's traits, or the worklist (902, 904)."""
        ins = header.patient.ins
        assert ins is not None  # _check
        if not known:
            return self._park(uid, received, entry, header, "902", "patient inconnu de l'index local")
        qualified = [
            k
            for k in known
            if k.status is Status.QUAL
            and (k.ins_number or "") + (k.ins_cle or "") == ins.extension
            and self._same_traits(k.traits, header)
        ]
        if len(qualified) != 1:
            return self._park(
                uid,
                received,
                entry,
                header,
                "904",
                "l'INS ou les traits ne correspondent pas exactement à l'identité qualifiée de l'index",
            )
        patient_id = qualified[0].id
        return Planned(
            DocumentOutcome(entry.unique_id, None, "intégré automatiquement (INS qualifiée)", patient_id),
            D,
            entry.data,
            dict(
                id=str(uuid.uuid4()),
                structure=self.structure,
                patient_id=patient_id,
                unique_id=entry.unique_id,
                type_code=entry.type_code,
                title=header.title,
                message_id=received.message_id,
                sender=received.sender,
                integrated_at=datetime.now(UTC).isoformat(),
                how="automatique",
            ),
            audit.Trail.entry(
                self.actor,
                "mss.pfi.integrer",
                patient=ins.extension,
                detail={
                    "document": entry.unique_id,
                    "type": entry.type_code,
                    "message_id": received.message_id,
                    "expediteur": received.sender,
                    "patient_local": patient_id,
                },
            ),
        )

    @staticmethod
    def _same_traits(traits, header: CdaHeader) -> bool:
        p = header.patient
        first = (p.birth_given_first or p.birth_givens.split(" ")[0]) if (p.birth_given_first or p.birth_givens) else ""
        birth = f"{p.birth_date[:4]}-{p.birth_date[4:6]}-{p.birth_date[6:8]}"
        return (
            match_form(traits.nom_naissance) == match_form(p.birth_family)
            and match_form(traits.prenoms[0]) == match_form(first)
            and traits.sexe == p.gender
            and traits.date_naissance == birth
        )

    def _park(
        self,
        uid: int,
        received: mime.Received,
        entry: xdm.DocumentEntry,
        header: CdaHeader | None,
        code: str,
        reason: str,
    ) -> Planned:
        candidates = self._candidates(header) if header is not None else []
        ins = header.patient.ins.extension if header is not None and header.patient.ins else None
        return Planned(
            DocumentOutcome(entry.unique_id, code, reason),
            W,
            entry.data,
            dict(
                id=str(uuid.uuid4()),
                structure=self.structure,
                mailbox=self.mailbox,
                uid=uid,
                message_id=received.message_id,
                unique_id=entry.unique_id,
                ins=ins,
                code=code,
                reason=reason,
                candidates=json.dumps(candidates),
                state="a-traiter",
                created_at=datetime.now(UTC).isoformat(),
            ),
            audit.Trail.entry(
                self.actor,
                "mss.pfi.a-rapprocher",
                patient=ins,
                detail={
                    "document": entry.unique_id,
                    "code": code,
                    "motif": reason,
                    "message_id": received.message_id,
                    "candidats": [c["id"] for c in candidates],
                },
            ),
        )

    def _candidates(self, header: CdaHeader) -> list[dict]:
        """Local patients the document may be about, by birth name and birth date (to a human)."""
        p = header.patient
        if not p.birth_family or len(p.birth_date) < 8:
            return []
        birth = f"{p.birth_date[:4]}-{p.birth_date[4:6]}-{p.birth_date[6:8]}"
        found = self.patients.candidates(
            self.actor, self.structure, family=normalise_name(p.birth_family)[:3], birthdate=birth, limit=10
        )
        return [
            {
                "id": r.id,
                "ipp": r.ipp,
                "nom": r.traits.nom_naissance,
                "prenoms": " ".join(r.traits.prenoms),
                "naissance": r.traits.date_naissance,
                "statut": r.status.value,
            }
            for r in found
        ]

    # --- recording: durable, idempotent, one transaction for the batch ------------------------------

    def _record_all(self, judged: list[Judged]) -> list[MessageOutcome]:
        """The documents' blobs fsynced (outside the write lock), then every outcome of the batch
        committed in one transaction: one commit, one fsync. If it fails, each message is recorded
        on its own, so that a failing message fails alone (the others are flagged, it is not). The
        MDNs asked for are sent, then the messages flagged `$Integre` over IMAP in one STORE: a
        failure before the flag leaves the messages pending, and handling them again writes nothing
        twice."""
        digests = {id(p): self.blobs.put(p.data) for one in judged for p in one.planned if p.table is not None}
        failed: list[Exception] = []
        stored = judged
        try:
            with self.db.write() as conn:
                self._write(conn, judged, digests)
        except Exception:
            if len(judged) == 1:
                raise
            stored = []
            for one in judged:
                try:
                    with self.db.write() as conn:
                        self._write(conn, [one], digests)
                    stored.append(one)
                except Exception as exc:  # noqa: BLE001 — raised below, once the others are flagged
                    failed.append(exc)
        for one in stored:  # a report about what the PFI sent (DSN, MDN): recorded before the flag
            if self.reports is not None and one.received is not None and not one.received.is_xdm:
                try:
                    self.reports(one.received.raw)
                except Exception:  # noqa: BLE001 — logged; the mail stays for the humans of the mailbox
                    log.exception("PFI %s : accusé %s non traité", self.mailbox, one.message_id)
        out = []
        for one in stored:
            outcomes = [p.outcome for p in one.planned]
            answer = self._mdn(one.received, outcomes) if one.asked and one.received else None
            out.append(MessageOutcome(one.uid, one.message_id, tuple(outcomes), answer))
        self._flag([one.uid for one in stored])
        if failed:
            raise failed[0]
        return out

    def _write(self, conn: sa.Connection, judged: list[Judged], digests: dict[int, str]) -> None:
        """The rows not written already (a message handled again after a failed MDN, or the same
        document twice in a batch), and their audit entries."""
        plans = [p for one in judged for p in one.planned if p.table is not None]
        have: set[tuple[sa.Table | None, object]] = set()
        if any(p.table is D for p in plans):
            have |= {
                (D, u)
                for u in store.integrated(
                    conn, self.structure, {p.fields["unique_id"] for p in plans if p.table is D and p.fields}
                )
            }
        if any(p.table is W for p in plans):
            have |= {(W, key) for key in store.waiting(conn, self.structure, self.mailbox, {one.uid for one in judged})}
        fresh: list[Planned] = []
        for p in plans:
            assert p.fields is not None
            key = (p.table, p.fields["unique_id"] if p.table is D else (p.fields["uid"], p.fields["unique_id"]))
            if key not in have:
                have.add(key)
                fresh.append(p)
        for table in (D, W):
            store.insert(
                conn, table, [{**p.fields, "sha256": digests[id(p)]} for p in fresh if p.table is table and p.fields]
            )
        if fresh:
            audit.Trail.write_entries(conn, [dict(p.audit) for p in fresh if p.audit])

    def _flag(self, uids: list[int]) -> None:
        """`$Integre` and `\\Seen` on the messages whose outcomes are committed (mailbox.py)."""
        self.imap.flag_handled(uids)

    # --- the answer ----------------------------------------------------------------------------------

    def _mdn(self, received: mime.Received, outcomes: list[DocumentOutcome]) -> bytes | None:
        if not received.wants_mdn():
            return None
        failed = next((o for o in outcomes if o.code), None)
        error = self.codes[failed.code] if failed and failed.code else None
        report = reports.mdn(
            received, reporter=self.mailbox, domain=self.domain, error=error, detail=failed.reason if failed else ""
        )
        wire = mime.as_bytes(report)
        self.send(wire, self.mailbox, [str(report["To"])])
        return wire


def _matricule(header: CdaHeader) -> str:
    """The INS matricule (13 digits) of a document that passed `_check` (it has an INS)."""
    assert header.patient.ins is not None
    return header.patient.ins.extension[:13]


def _held(read: tuple, size: int) -> int:
    """What a message read holds in memory: its bytes (raw and parsed) and its documents inflated."""
    _uid, _received, items = read
    return 2 * size + sum(len(item[0].data) if isinstance(item, tuple) else len(item.data) for item in items)
