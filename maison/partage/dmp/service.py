"""The DMP's use cases: feed, find, retrieve, update, withdraw; the patient's and the structures' choices.

Feeding (ITI-65) is one transaction: every document is judged (CDA parse, XSD, CI-SIS header rules,
volet schematron; the patient's INS against the referential; the CDA header against the submitted
metadata; N1/N3 and replacement rules), the blobs are written durably, then the rows and the audit
record commit together. A refusal writes nothing but its audit record; a crash before the commit
leaves only unreferenced blobs that `Blobs.sweep` removes; a replayed submission (same uniqueIds, same
bytes) answers what the first one answered and stores nothing twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from maison.core import audit
from maison.core.actor import Actor, KeyScope
from maison.core.audit_journal import Journal
from maison.core.blobs import Blobs
from maison.core.errors import Conflict, Forbidden, InvalidInput, MaisonError, NotFound, TooLarge
from maison.core.group_commit import GroupCommit
from maison.core.identifiers.oids import oid_of
from maison.core.ins_traits import match_form
from maison.core.storage import Database
from maison.core.terminology import Terminology
from maison.formats.cda.document import MIME_SELF_PRESENTING, CdaReport, inspect_cda
from maison.formats.cda.header import FORMAT_N1_PDF
from maison.formats.namespace import Namespace
from maison.formats.xds_codes import TYPE_CLASS, VOLET_FORMAT
from maison.identite.annuaire import service as annuaire
from maison.identite.annuaire.vocabulary import CS_SECTEUR
from maison.partage.dmp import access, store
from maison.partage.dmp.habilitation import Decision, Matrix
from maison.partage.dmp.mhd import ProvideRequest, RegistryError, SubmittedDocument
from maison.partage.dmp.model import (
    INVISIBLE_PATIENT,
    INVISIBLE_REPRESENTANTS_LEGAUX,
    MASQUE_PS,
    N3_ALONE_FORMATS,
    Access,
    AccessMode,
    DocumentEntry,
    DocumentQuery,
    DocumentStatus,
    DossierState,
    InformationState,
    PatientDocument,
    SubmissionSet,
    Who,
)

CDA_TYPES = ("text/xml", "application/xml", "application/hl7-v3+xml", "application/hl7-cda+xml")
KNOWN_FORMATS = frozenset(VOLET_FORMAT.values()) | {FORMAT_N1_PDF}
RUBRIQUES = ("dmp", "mesures", "agenda", "profil")


class AccessDenied(Forbidden):
    """A refusal by the access rules; `decision` says which rule and its source."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"{decision.message} [{decision.basis}]", code=decision.reason)
        self.decision = decision


class _Hidden(Exception):
    """A document the caller may not see or change: answered like a missing one (see `Dmp._hiding`)."""

    def __init__(self, reason: str, ins: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.ins = ins


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def access_event(row: dict, ns: Namespace) -> dict:
    """One record of the patient's access history as a FHIR AuditEvent, the house's action codes and
    the record's chained hash named under the deployment's namespace (issue 21 §3.3)."""
    return audit.as_fhir_audit_event(
        row, action_system=ns.code_system("audit-action"), chain_extension=ns.structure("audit-chaine")
    )


def actor_of(who: Who) -> Actor:
    extra = {"kind": who.kind, "mode": who.mode.value}
    if who.on_behalf_of:
        extra["pour-le-compte-de"] = who.on_behalf_of
    if who.secret:
        extra["connexion-secrete"] = "oui"
    if who.reason:
        extra["motif"] = who.reason
    return replace(who.caller, extra=extra)  # the caller himself, with how he reached the dossier


@dataclass(frozen=True)
class PatientSettings:
    """The patient's own choices on her dossier (`Dmp.settings`)."""

    state: DossierState
    medecin_traitant: str | None
    oppose_bris_de_glace: bool
    oppose_centre_15: bool
    rules: tuple[tuple[str, str, str], ...]  # (IdNatPS, bloque / autorise, since)
    codes: tuple[tuple[str, tuple[str, ...], str], ...]  # (IdNatPS, rubriques, expires_at)


@dataclass
class Provided:
    """The answer to an ITI-65: the ids given to each Bundle entry, in order, and any warnings."""

    submission_id: str
    locations: list[str]  # "List/<id>", "DocumentReference/<id>", "Binary/<id>" per Bundle entry
    warnings: list[str]
    replay: bool = False


JUDGING_THREADS = 2  # per process; see Dmp._judging


@dataclass
class PreparedLot:
    id: str
    ids: dict[str, str]  # Bundle fullUrl of each DocumentReference → its entry id
    submission: dict
    rows: list[dict]
    encounters: list[str] = field(default_factory=list)  # each row's componentOf/encompassingEncounter/id
    replaced: list[str] = field(default_factory=list)  # each row's relatedDocument RPLC (the CDA id replaced)


HISTORY_PAGE, HISTORY_PAGE_MAX = 50, 200  # records a page of the access history shows: default, most


@dataclass(frozen=True)
class HistoryPage:
    """A page of the access history (`Dmp.history_page`): its records newest first, every emergency
    access of the dossier (newest first), the page's number and whether an older page exists."""

    rows: list[dict]
    emergencies: list[dict]
    page: int
    more: bool


def _actor_extra(row: dict) -> dict:
    actor = audit.detail_of(row).get("actor", {})
    return actor if isinstance(actor, dict) else {}


def _secret(row: dict) -> bool:
    """An access made in connexion secrète, which the minor's representative does not see."""
    return _actor_extra(row).get("connexion-secrete") == "oui"


def _secret_from(who: Who, row: dict) -> bool:
    return who.is_representative and _secret(row)


class Dmp:
    def __init__(
        self,
        db: Database,
        blobs: Blobs,
        referential,
        terminology: Callable[[], Terminology],
        reference_path: Path,
        *,
        matrix: Matrix | None = None,
        max_document_bytes: int = 20_000_000,
        notify: Callable[[str, str, str], object] | None = None,
        journal: Journal | None = None,
        code_secret: bytes | None = None,
        accept_self_presenting: bool = True,
    ) -> None:
        self.db = db
        self.accept_self_presenting = accept_self_presenting  # see `_self_presenting`
        # Delegation codes are kept as HMAC-SHA256 under a server secret held outside the database
        # (`house.py` reads it from the key store): a dump of the table does not let the short codes be
        # brute-forced offline (OWASP Password Storage Cheat Sheet, "peppering"). Without one, a secret
        # of this process alone (codes then last as long as it runs).
        self._code_secret = code_secret or secrets.token_bytes(32)
        # Searches have no transaction of their own: their audit records go through the journal's
        # group commit (one transaction for whatever is pending) instead of one write each.
        self.journal = journal or Journal(db)
        self.trail = audit.Trail(db, self.journal)
        self.group_commit = GroupCommit(db, name="dmp-group-commit")
        # Judging a document is CPU work under the GIL: more threads at it than cores only take turns
        # (and starve the commit thread); the others wait here without holding the GIL.
        self._judging = threading.BoundedSemaphore(JUDGING_THREADS)
        self.blobs = blobs
        self.referential = referential
        self.terminology = terminology
        self.reference_path = reference_path
        self.matrix = matrix or Matrix.load()
        self.max_document_bytes = max_document_bytes
        self.notify = notify or (lambda ins, subject, body: None)  # Mon espace santé's notification to the patient
        schematrons = reference_path / "cisis" / "schematrons"
        self.schematrons = schematrons if schematrons.is_dir() else None

    # --- audit ---------------------------------------------------------------------------------

    def _trace(self, who: Who, action: str, receipts: list | None, **fields) -> None:
        """Audit a read through the journal. Without `receipts`, wait here for the commit; with it, the
        caller (the HTTP adapter) awaits the receipts before answering, without holding a thread."""
        if receipts is None:
            self.trail.read(actor_of(who), action, **fields)
        else:
            receipts.append(self.trail.read_later(actor_of(who), action, **fields))

    def _refused(self, who: Who, action: str, ins: str | None, error: MaisonError, detail: dict | None = None) -> None:
        """A refusal's record goes through the journal: the refused action has no transaction that commits."""
        self.trail.refused(
            actor_of(who), action, code=error.code, patient=ins, detail={"message": error.message, **(detail or {})}
        )

    @contextmanager
    def _audited_change(self, who: Who, action: str, name: str) -> Iterator[dict]:
        """A refused change (PATCH, DELETE) leaves its record, whatever refused it (issue 18 §2.5);
        the block puts the patient in the yielded dict once it knows him."""
        seen: dict = {}
        try:
            yield seen
        except MaisonError as error:
            if not getattr(error, "audited", False):
                self._refused(who, action, seen.get("ins"), error, {"document": name})
            error.audited = True  # type: ignore[attr-defined]  # a mark on the exception: recorded once
            raise

    def refused_change(self, who: Who, entry: DocumentEntry, error: MaisonError) -> MaisonError:
        """Record a change the adapter refused once the caller was authorised (a 405 element, a bad
        JSON Patch), and give the error back to raise."""
        self._refused(who, "dmp.mettre-a-jour", entry.ins, error, {"document": entry.unique_id})
        return error

    @contextmanager
    def _hiding(self, who: Who, action: str, name: str) -> Iterator[None]:
        """A document named by its id is authorised before anything of it is evaluated, and one the
        caller may not see or change answers exactly like one that is not there (404 document-inconnu):
        otherwise the answer is an oracle on masked documents (issue 18 §2.2; R.1111-49). The trail
        keeps the real reason and the patient. Raise `_Hidden` inside; any transaction is left first."""
        try:
            yield
        except _Hidden as hidden:
            error = NotFound(f"document {name} inconnu", code="document-inconnu")
            self._refused(who, action, hidden.ins, error, {"document": name, "motif": hidden.reason})
            error.audited = True  # type: ignore[attr-defined]  # a mark on the exception: recorded once
            raise error from None

    # --- dossiers ------------------------------------------------------------------------------

    def resolve_ins(self, value: str, oid: str) -> str:
        """The patient's active INS, checked against the referential (SNGI-synchronised pivot, 000 L2076)."""
        return self._individu(value, oid).active.value

    def _individu(self, value: str, oid: str):
        try:
            individu = self.referential.by_matricule(value)
        except (NotFound, InvalidInput):
            raise RegistryError(
                f"INS {value} inconnu du référentiel national : patient non identifié par une INS qualifiée",
                code="XDSUnknownPatientId",
            ) from None
        if individu.active.value != value:
            raise RegistryError(
                f"INS {value} historique : l'INS actif est {individu.active.value}", code="XDSUnknownPatientId"
            )
        if individu.active.oid != oid:
            raise RegistryError(
                f"OID d'autorité {oid} ne correspond pas à l'INS {value} ({individu.active.oid})",
                code="XDSUnknownPatientId",
            )
        return individu

    def _ensure_dossier(self, conn: Connection, ins: str, now: datetime) -> None:
        """CRE-1/CRE-2 (000 L3228, L3532): the DMP exists for everyone unless opposed; created on first need."""
        store.ensure_dossier(conn, ins, _iso(now))

    def view(self, conn: Connection, who: Who, ins: str, now: datetime) -> access.DossierView:
        """The dossier and the caller's standing in it (information of his structure, the patient's
        rule for him), read in one statement: every feed runs it under the write lock."""
        people = [p for p in (who.person, who.on_behalf_of) if p]
        row = store.standing(conn, ins, who.structure, people)
        if row is None:  # no dossier yet: neither information nor rules can exist (both create it)
            state, traitant, bg, c15 = DossierState.ACTIVE, None, False, False
        else:
            state, traitant, bg, c15 = (
                DossierState(row.state),
                row.medecin_traitant,
                row.oppose_bris_de_glace,
                row.oppose_centre_15,
            )
        alimentation = consultation = InformationState.NOT_INFORMED
        if (
            row is not None
            and row.alimentation is not None
            and (row.valid_until is None or row.valid_until > _iso(now))
        ):
            alimentation, consultation = InformationState(row.alimentation), InformationState(row.consultation)
        rule = row.rule if row is not None else None
        rubriques: frozenset[str] = frozenset()
        if who.code:
            # codes given before keyed hashing (unsalted SHA-256) still open until they expire (1 year at most)
            hashes = (self.code_hash(who.code), hashlib.sha256(who.code.encode()).hexdigest())
            found = store.delegation_rubriques(conn, ins, who.person, hashes, _iso(now))
            rubriques = frozenset(found.split(",")) if found is not None else frozenset()
        sector = _sector(conn, who.structure) if who.mode in access.EMERGENCY_MODES else ""
        return access.DossierView(
            ins,
            state,
            traitant,
            bg,
            c15,
            alimentation,
            consultation,
            rule,
            rubriques,
            exists=row is not None,
            sector=sector,
        )

    # --- feeding (ITI-65) ----------------------------------------------------------------------

    def provide(self, who: Who, request: ProvideRequest) -> Provided:
        now = _now()
        ins = request.submission.ins
        try:
            return self._provide(who, request, now)
        except MaisonError as error:
            self._refused(
                who, "dmp.alimenter", ins if len(ins) == 15 else None, error, {"lot": request.submission.unique_id}
            )
            raise

    def _provide(self, who: Who, request: ProvideRequest, now: datetime) -> Provided:
        if who.kind == "patient":
            raise Forbidden("le patient dépose ses documents par Mon espace santé", code="alimentation-patient")
        individu = self._individu(request.submission.ins, request.submission.ins_oid)
        ins = individu.active.value
        for doc in request.documents:
            if (doc.ins, doc.ins_oid) != (request.submission.ins, request.submission.ins_oid):
                raise RegistryError(
                    f"la fiche {doc.unique_id} ne concerne pas le patient du lot de soumission",
                    code="XDSPatientIdDoesNotMatch",
                )
        with self._judging:
            replay = self._replay(request, ins)
            if replay is not None:
                return self._replayed(who, request, ins, replay)
            reports = {doc.full_url: self._judge(doc, ins, individu.traits, who) for doc in request.documents}
            self._check_levels(request, reports)
        blobs = {doc.full_url: self.blobs.put(doc.data) for doc in request.documents}  # durable before commit
        lot = self._prepare(who, request, ins, reports, blobs, now)
        try:
            # the group commit hands back what _commit returned
            return cast(Provided, self.group_commit.run(lambda conn: self._commit(conn, who, request, ins, lot, now)))
        except IntegrityError:
            replay = self._replay(request, ins)  # a concurrent identical submission won the race
            if replay is not None:
                return self._replayed(who, request, ins, replay)
            raise Conflict("identifiant unique déjà enregistré", code="XDSDuplicateUniqueIdInRegistry") from None

    def _replayed(self, who: Who, request: ProvideRequest, ins: str, replay: Provided) -> Provided:
        """A replay stores nothing, but the caller did send health data and got an answer: traced."""
        self._trace(
            who,
            "dmp.alimenter.rejeu",
            None,
            patient=ins,
            detail={
                "lot": request.submission.unique_id,
                "documents": [_unique(d.unique_id) for d in request.documents],
            },
        )
        return replay

    def _replay(self, request: ProvideRequest, ins: str) -> Provided | None:
        """Idempotent resubmission: the same lot and documents, byte for byte, answer as the first time."""
        documents = [(doc.unique_id, _unique(doc.unique_id), _sha1(doc.data)) for doc in request.documents]
        replay = self._replay_of(request.submission.unique_id, documents)
        if replay is None:
            return None
        lot, stored = replay
        ids = {doc.full_url: stored[_unique(doc.unique_id)] for doc in request.documents}
        by_binary = {doc.binary_url: ids[doc.full_url] for doc in request.documents}
        return Provided(lot, _locations(request, lot, ids, by_binary), ["soumission déjà enregistrée (rejeu)"], True)

    def _replay_of(self, lot_unique_id: str, documents: list[tuple[str, str, str]]) -> tuple[str, dict] | None:
        """The replay check of every feed, a professional's lot or a patient's document: `documents` as
        (name as submitted, uniqueId, SHA-1). None when nothing of it is stored; the stored lot's id and
        the entry ids by uniqueId when all of it is, byte for byte; a Conflict when only part of it is,
        or with other bytes."""
        with self.db.read() as conn:
            stored, lot = store.stored_for_replay(
                conn, [unique_id for _name, unique_id, _sha in documents], lot_unique_id
            )
        if not stored and lot is None:
            return None
        for name, unique_id, sha1 in documents:
            row = stored.get(unique_id)
            if row is not None and row.sha1 != sha1:
                raise Conflict(f"document {name} déjà enregistré avec un autre contenu", code="XDSNonIdenticalHash")
        if lot is None or len(stored) != len(documents) or any(r.submission != lot for r in stored.values()):
            raise Conflict(
                "identifiant unique déjà utilisé par une autre soumission", code="XDSDuplicateUniqueIdInRegistry"
            )
        return lot, {unique_id: row.id for unique_id, row in stored.items()}

    def _judge(self, doc: SubmittedDocument, ins: str, traits, who: Who) -> CdaReport:
        """One document: a valid CDA R2 whose header says what the metadata says (issue 4 §1.2)."""
        if len(doc.data) > self.max_document_bytes:
            raise TooLarge(f"document {doc.unique_id} de {len(doc.data)} octets : limite {self.max_document_bytes}")
        if doc.size is None or doc.hash is None:
            raise RegistryError(
                "content.attachment.size et .hash sont obligatoires (PDSm 1..1)", code="XDSRepositoryMetadataError"
            )
        if doc.size != len(doc.data):
            raise RegistryError(
                f"taille déclarée {doc.size} ≠ taille reçue {len(doc.data)} ({doc.unique_id})",
                code="XDSRepositoryMetadataError",
                expression="DocumentReference.content.attachment.size",
            )
        if doc.hash != _sha1(doc.data):
            raise RegistryError(
                f"empreinte SHA-1 déclarée ≠ empreinte du document reçu ({doc.unique_id})",
                code="XDSRepositoryMetadataError",
                expression="DocumentReference.content.attachment.hash",
            )
        if doc.format_code not in KNOWN_FORMATS:
            raise RegistryError(
                f"formatCode {doc.format_code!r} inconnu (JDV_J10 / ASS_A11)",
                code="XDSRegistryMetadataError",
                expression="DocumentReference.content.format",
            )
        declared = doc.content_type.split(";")[0].strip()
        if declared == MIME_SELF_PRESENTING:
            self._self_presenting(doc)
        elif declared not in CDA_TYPES:
            raise RegistryError(
                f"le DMP n'accepte que des documents CDA R2 (contentType {doc.content_type!r})",
                code="XDSRegistryMetadataError",
            )
        if MASQUE_PS in doc.visibility and INVISIBLE_PATIENT in doc.visibility:
            # DMP parameter cumul-invisible_patient-masque_ps = false (homologation EX_2.1-1050)
            raise RegistryError(
                "un document ne peut être à la fois masqué aux professionnels et invisible du patient",
                code="XDSRegistryMetadataError",
            )
        if who.secret and INVISIBLE_REPRESENTANTS_LEGAUX not in doc.visibility:
            raise RegistryError(
                "en connexion secrète, seuls des documents invisibles aux représentants légaux peuvent être déposés",
                code="XDSRegistryMetadataError",
            )
        report = inspect_cda(
            doc.data,
            self.terminology(),
            self.reference_path,
            max_bytes=self.max_document_bytes,
            volet_formats=VOLET_FORMAT,
            for_dmp=True,
            schematrons=self.schematrons,
        )
        if report.self_presenting:
            self._self_presenting(doc)
        if report.self_presenting != (declared == MIME_SELF_PRESENTING):
            raise RegistryError(
                f"{doc.unique_id} : contentType {declared!r} ; un document CDA auto-présentable se déclare "
                f"{MIME_SELF_PRESENTING}, un autre document CDA text/xml (xds-cda-metadata mapping.md:397-402)",
                code="XDSRegistryMetadataError",
                expression="DocumentReference.content.attachment.contentType",
            )
        errors = [f for f in report.findings if f.severity == "error"]
        if errors:
            listed = "; ".join(f"{f.code}: {f.message} ({f.location}, {f.source})" for f in errors[:8])
            raise RegistryError(f"document {doc.unique_id} non conforme : {listed}", code="XDSRegistryMetadataError")
        self._consistent(doc, report, ins, traits)
        return report

    def _self_presenting(self, doc: SubmittedDocument) -> None:
        """A self-presenting CDA (an XSLT stylesheet embedding the ClinicalDocument, which the CI-SIS XSD
        allows; XDS mimeType application/xslt+xml, xds-cda-metadata mapping.md:397-402) is taken unless
        the deployment turns them off (`dmp_cda_auto_presentable`). Refused, the code is IHE ITI TF-3
        Table 4.2.4.1-2's `InvalidDocumentContent` — the registry rejects the document's content, not
        its metadata — with the document's uniqueId as its context."""
        if not self.accept_self_presenting:
            raise RegistryError(
                f"document {doc.unique_id} : les documents CDA auto-présentables ne sont pas acceptés par ce DMP "
                "(paramètre dmp_cda_auto_presentable)",
                code="InvalidDocumentContent",
                expression="DocumentReference.content.attachment",
            )

    def _consistent(self, doc: SubmittedDocument, report: CdaReport, ins: str, traits) -> None:
        """The CDA header and the submitted metadata must say the same thing (CI-SIS XDS ↔ CDA mapping)."""
        h = report.header

        def mismatch(what: str, header_value: object, metadata_value: object) -> RegistryError:
            return RegistryError(
                f"{doc.unique_id} : {what} de l'en-tête CDA ({header_value}) ≠ métadonnée ({metadata_value})",
                code="XDSRegistryMetadataError",
            )

        if _unique(doc.unique_id) != h.unique_id:
            raise mismatch("identifiant", h.unique_id, doc.unique_id)
        patient = h.patient.ins
        if patient is None or (patient.extension, patient.root) != (ins, doc.ins_oid):
            raise RegistryError(
                f"{doc.unique_id} : patient de l'en-tête CDA ({patient}) ≠ patient de la fiche ({ins})",
                code="XDSPatientIdDoesNotMatch",
            )
        if (match_form(h.patient.birth_family), h.patient.birth_date[:8], h.patient.gender) != (
            match_form(traits.nom_naissance),
            traits.date_naissance.replace("-", ""),
            traits.sexe,
        ):
            raise RegistryError(
                f"{doc.unique_id} : traits d'identité de l'en-tête CDA ({h.patient.birth_family}, "
                f"{h.patient.birth_date}, {h.patient.gender}) différents de ceux de l'INS",
                code="XDSPatientIdDoesNotMatch",
            )
        if h.type_code is None or h.type_code.code != doc.type_code:
            raise mismatch("type", h.type_code.code if h.type_code else None, doc.type_code)
        expected_class = TYPE_CLASS.get(doc.type_code)
        if expected_class and doc.class_code != expected_class:
            raise mismatch("classe (ASS_X04)", expected_class, doc.class_code)
        if report.format_code != doc.format_code:
            raise mismatch("formatCode", report.format_code, doc.format_code)
        header_authors = {a.idnatps for a in h.authors if a.idnatps}
        if not header_authors & set(doc.authors):
            raise mismatch(
                "auteur (IdNatPS)", ", ".join(sorted(header_authors)) or "absent", ", ".join(doc.authors) or "absent"
            )
        if h.creation is None or doc.creation is None or abs((h.creation - doc.creation).total_seconds()) >= 1:
            raise mismatch("date de création", h.creation, doc.creation)
        if h.confidentiality is None or h.confidentiality.code != doc.confidentiality:
            raise mismatch(
                "confidentialité", h.confidentiality.code if h.confidentiality else None, doc.confidentiality
            )
        if h.practice_setting is not None and h.practice_setting.code != doc.setting:
            raise mismatch("cadre d'exercice", h.practice_setting.code, doc.setting)
        if h.facility_type is not None and h.facility_type.code != doc.facility:
            raise mismatch("secteur d'activité", h.facility_type.code, doc.facility)
        # 000 L3542: the pointer to the images is fed consistently with the imaging report
        if set(h.study_instance_uids) != set(doc.study_uids):
            raise mismatch(
                "Study Instance UID (pointeur PACS)",
                ", ".join(h.study_instance_uids) or "aucun",
                ", ".join(doc.study_uids) or "aucun",
            )
        if h.accession_numbers and set(h.accession_numbers) != set(doc.accession_numbers):
            raise mismatch("numéro d'accession", ", ".join(h.accession_numbers), ", ".join(doc.accession_numbers))

    def _check_levels(self, request: ProvideRequest, reports: dict[str, CdaReport]) -> None:
        """N1 / N3 (seed 002 L403-413, L775-805): N1 always; N3 only with its N1, XFRM-linked, same lot."""
        in_lot = {doc.full_url: doc for doc in request.documents}
        for doc in request.documents:
            level = reports[doc.full_url].header.level
            transforms = [t for code, t in doc.relates if code == "transforms"]
            if level == "N3":
                if not transforms:
                    if doc.format_code in N3_ALONE_FORMATS:  # 002 L413: mesures de l'enfant, note de vaccination
                        continue
                    raise RegistryError(
                        f"{doc.unique_id} : un document N3 n'est accepté qu'avec son N1, lié par XFRM "
                        f"(relatesTo transforms) dans le même lot",
                        code="XDSRegistryMetadataError",
                    )
                target = in_lot.get(transforms[0])
                if target is None:  # 002 L790: same submission set
                    raise RegistryError(
                        f"{doc.unique_id} : le N1 lié par XFRM doit être dans le même lot de soumission",
                        code="XDSRegistryMetadataError",
                    )
                if reports[target.full_url].header.level != "N1":
                    raise RegistryError(
                        f"{doc.unique_id} : la cible XFRM doit être un document N1", code="XDSRegistryMetadataError"
                    )
                if any(code == "replaces" for code, _t in doc.relates):
                    raise RegistryError(
                        f"{doc.unique_id} : le remplacement se fait depuis le N1 (002 L799-803)",
                        code="XDSRegistryMetadataError",
                    )
            elif transforms:
                raise RegistryError(
                    f"{doc.unique_id} : seul un document N3 se lie à son N1 par XFRM", code="XDSRegistryMetadataError"
                )

    def _prepare(
        self,
        who: Who,
        request: ProvideRequest,
        ins: str,
        reports: dict[str, CdaReport],
        blobs: dict[str, str],
        now: datetime,
    ) -> PreparedLot:
        """The lot's rows, built before the write lock is taken (only a replacement's target is left
        to read under it)."""
        lot = str(uuid.uuid4())
        ids = {doc.full_url: str(uuid.uuid4()) for doc in request.documents}
        rows = []
        for doc in request.documents:
            h = reports[doc.full_url].header
            rows.append(
                _document_row(
                    id=ids[doc.full_url],
                    unique_id=_unique(doc.unique_id),
                    ins=ins,
                    submission=lot,
                    now=now,
                    archived=doc.archived,
                    type_code=doc.type_code,
                    class_code=doc.class_code,
                    format_code=doc.format_code,
                    level=h.level,
                    author=next(iter(sorted(a.idnatps for a in h.authors if a.idnatps))),
                    author_structure=who.structure,
                    confidentiality=doc.confidentiality,
                    visibility=doc.visibility,
                    secret=who.secret,
                    size=len(doc.data),
                    sha1=reports[doc.full_url].sha1_base64,
                    blob=blobs[doc.full_url],
                    content_type=doc.content_type,
                    creation=_iso(doc.creation),  # type: ignore[arg-type]  # _judge refused a document without one
                    period_start=doc.period_start,
                    period_end=doc.period_end or None,
                    setting=doc.setting,
                    facility=doc.facility,
                    transforms=next((ids[t] for code, t in doc.relates if code == "transforms"), None),
                    resource=_stored_resource(doc, ids, None),
                )
            )
        submission = _submission_row(
            id=lot,
            unique_id=request.submission.unique_id,
            ins=ins,
            source_id=request.submission.source_id,
            author=who.on_behalf_of or who.person,
            structure=who.structure,
            now=now,
            resource=request.submission.resource,
        )
        headers = [reports[doc.full_url].header for doc in request.documents]
        encounters = [str(h.encounter_id or "") for h in headers]
        return PreparedLot(lot, ids, submission, rows, encounters, [h.replaces or "" for h in headers])

    def _commit(
        self, conn: Connection, who: Who, request: ProvideRequest, ins: str, lot: PreparedLot, now: datetime
    ) -> tuple[Provided, list, list[dict]]:
        """Under the write lock: the dossier's state and the access rules as they are now, the
        replacement targets, the rows; the audit record is chained by the group commit."""
        dossier = self.view(conn, who, ins, now)
        if dossier.state is not DossierState.ACTIVE:
            raise RegistryError(
                f"le patient s'est opposé à la création de son DMP ou l'a fermé ({dossier.state.value})",
                code="XDSUnknownPatientId",
            )
        decision = access.may_feed(who, dossier, self.matrix)
        if not decision.allowed:
            raise AccessDenied(decision)
        if not dossier.exists:  # the first feed creates it (CRE-1)
            self._ensure_dossier(conn, ins, now)
        superseded: list[str] = []
        for doc, row in zip(request.documents, lot.rows, strict=False):
            replaces = self._replacement_target(conn, doc, ins, who)
            if replaces is not None:
                superseded.append(replaces)
                row["replaces"] = replaces
                row["resource"] = orjson.dumps(_stored_resource(doc, lot.ids, replaces)).decode()
        if superseded:  # the replaced N1 and its N3 leave the current set (replacement keeps the chain)
            store.supersede(conn, superseded, _iso(now))
        trail = self.trail.entry(
            actor_of(who),
            "dmp.alimenter",
            patient=ins,
            detail={
                "lot": request.submission.unique_id,
                "documents": [r["unique_id"] for r in lot.rows],
                "types": [r["type_code"] for r in lot.rows],
                "niveaux": [r["level"] for r in lot.rows],  # CDA R2 N1 / N3, counted by the observatory
                # SUN-ES (seed 004 L191-196): the N1 an N3 is the structured form of, and the stay each
                # document's header names (componentOf/encompassingEncounter/id, "root^extension")
                "n1_de": [next((o["unique_id"] for o in lot.rows if o["id"] == r["transforms"]), "") for r in lot.rows],
                "sejours": lot.encounters,
                "remplace_cda": lot.replaced,
                "remplace": superseded,
                "decision": decision.reason,
            },
        )
        by_binary = {doc.binary_url: lot.ids[doc.full_url] for doc in request.documents}
        writes = [(store.INSERT_SUBMISSION, [lot.submission]), (store.INSERT_DOCUMENT, lot.rows)]
        return Provided(lot.id, _locations(request, lot.id, lot.ids, by_binary), request.warnings), writes, [trail]

    def _replacement_target(self, conn: Connection, doc: SubmittedDocument, ins: str, who: Who) -> str | None:
        targets = [t for code, t in doc.relates if code == "replaces"]
        if not targets:
            return None
        target = targets[0]
        if target.startswith("identifier:"):
            row = store.replacement_target(conn, unique_id=_unique(target.removeprefix("identifier:")))
        else:
            row = store.replacement_target(conn, id_=target.rsplit("/", 1)[-1])
        # CRE-23 (000 L2979): the producer replaces its own documents. Another structure's (or patient's)
        # document is answered like a missing one: the replacement is no oracle on masked documents (§2.2).
        if row is None or row.ins != ins or row.author_structure != who.structure:
            raise RegistryError(
                f"{doc.unique_id} : document remplacé {target} inconnu pour ce patient", code="XDSRegistryMetadataError"
            )
        if row.status != DocumentStatus.CURRENT.value:
            raise RegistryError(
                f"{doc.unique_id} : le document remplacé {target} n'est plus courant ({row.status})",
                code="XDSRegistryMetadataError",
            )
        if row.transforms is not None:
            raise RegistryError(
                f"{doc.unique_id} : un N3 se remplace avec son N1 (002 L790, L799-803)", code="XDSRegistryMetadataError"
            )
        return row.id

    # --- consultation (ITI-66/67/68) -----------------------------------------------------------

    def _open(
        self, who: Who, ins: str, action: str, conn: Connection | None = None
    ) -> tuple[access.DossierView, datetime]:
        """The dossier for a reader, or AccessDenied (audited). `conn`: the caller's read transaction."""
        now = _now()
        if conn is None:
            with self.db.read() as conn:
                dossier = self.view(conn, who, ins, now)
        else:
            dossier = self.view(conn, who, ins, now)
        if who.kind == "patient":
            if ins != who.patient:
                error = Forbidden("un patient n'accède qu'à son propre dossier", code="autre-patient")
                self._refused(who, action, ins, error)
                raise error
            decision = access.mode_refusal(who, dossier, self.matrix) or (
                access.allow("titulaire", "", "")
                if dossier.state is DossierState.ACTIVE
                else access.deny("dossier-ferme", f"le DMP est {dossier.state.value}", "000 L253")
            )
        else:
            decision = access.may_open(who, dossier, self.matrix)
        if not decision.allowed:
            self._refused(who, action, ins, AccessDenied(decision), {"decision": decision.reason})
            raise AccessDenied(decision)
        if who.mode in access.EMERGENCY_MODES:  # every emergency use is also a security event (BALP 110113)
            self.trail.security(
                "bris-de-glace",
                actor_of(who),
                patient=ins,
                detail={
                    "mode": who.mode.value,
                    "motif": who.reason,
                    "action": action,
                    "decision": decision.reason,
                    "base": decision.basis,
                },
            )
        return dossier, now

    @staticmethod
    def _document_view(entry: DocumentEntry) -> access.DocumentView:
        return access.DocumentView(
            entry.type_code,
            entry.class_code,
            entry.author,
            entry.author_structure,
            MASQUE_PS in entry.visibility,
            INVISIBLE_PATIENT in entry.visibility,
            INVISIBLE_REPRESENTANTS_LEGAUX in entry.visibility,
            datetime.fromisoformat(entry.submitted_at),
        )

    def visible(self, who: Who, dossier: access.DossierView, entry: DocumentEntry, now: datetime) -> Decision:
        return access.may_read(who, dossier, self._document_view(entry), self.matrix, now)

    def find_documents(
        self,
        who: Who,
        ins: str,
        statuses: list[str],
        filters: DocumentQuery | None = None,
        query: str = "",
        *,
        receipts: list | None = None,
    ) -> list[DocumentEntry]:
        """The entries of the patient's dossier in these statuses that meet `filters` and that the
        caller may read, newest first; `query` is the request as the trail keeps it."""
        with self.db.read() as conn:  # the dossier's rules and its entries read in one snapshot
            dossier, now = self._open(who, ins, "dmp.rechercher", conn)
            found = store.find_documents(conn, ins, statuses, filters or DocumentQuery())
            entries = [entry_of(r) for r in found]
        shown = [e for e in entries if self.visible(who, dossier, e, now).allowed]
        self._trace(
            who,
            "dmp.rechercher",
            receipts,
            patient=ins,
            detail={"requete": query[:500], "resultats": len(shown), "decision": "ouverture"},
        )
        return shown

    def document(self, who: Who, id_: str, *, action: str = "dmp.lire") -> DocumentEntry:
        """One document by its id. Whatever stops the caller — another patient's dossier, a dossier he
        may not open, a masked document or one the matrix refuses him — answers like a missing id."""
        with self._hiding(who, action, id_):
            with self.db.read() as conn:
                row = store.document(conn, id_=id_)
            if row is None or row.status == DocumentStatus.DELETED.value:
                raise _Hidden("document-inconnu", None)
            entry = entry_of(row)
            try:
                dossier, now = self._open(who, entry.ins, action)  # records its own refusal, with its reason
            except Forbidden:
                raise NotFound(f"document {id_} inconnu", code="document-inconnu") from None
            decision = self.visible(who, dossier, entry, now)
            if not decision.allowed:  # R.1111-49: a masked document's very existence is not revealed
                raise _Hidden(decision.reason, entry.ins)
        self._consulted(who, entry, action, decision)
        return entry

    def retrieve(self, who: Who, id_: str) -> tuple[DocumentEntry, bytes]:
        entry = self.document(who, id_, action="dmp.consulter")
        return entry, self.blobs.get(entry.blob)

    def referenced_blobs(self) -> set[str]:
        """Every blob an entry names, whatever its status: what `Blobs.sweep` must keep (`maison dmp-sweep`)."""
        with self.db.read() as conn:
            return store.referenced_blobs(conn)

    def _consulted(self, who: Who, entry: DocumentEntry, action: str, decision: Decision) -> None:
        self.trail.read(
            actor_of(who),
            action,
            patient=entry.ins,
            detail={"document": entry.unique_id, "type": entry.type_code, "decision": decision.reason},
        )
        if who.mode in (AccessMode.BRIS_DE_GLACE, AccessMode.CENTRE_15) and action == "dmp.consulter":
            # R.1111-48: the patient (and his médecin traitant) are told of an emergency access afterwards.
            self.notify(
                entry.ins,
                "Accès en urgence à votre dossier médical",
                f"Le professionnel {who.person} ({who.structure}) a consulté un document de votre DMP en "
                f"mode {who.mode.value} : {who.reason or 'régulation'}.",
            )

    def submission_sets(self, who: Who, ins: str, statuses: list[str]) -> list[SubmissionSet]:
        """The lots that hold at least one document the caller may read (a lot's title must not reveal
        a masked document)."""
        dossier, now = self._open(who, ins, "dmp.rechercher-lots")
        with self.db.read() as conn:
            rows = store.submissions(conn, ins, statuses)
            documents = [entry_of(r) for r in store.undeleted_documents(conn, ins)]
        readable = {e.submission for e in documents if self.visible(who, dossier, e, now).allowed}
        lots = [SubmissionSet(row.id, row.status, orjson.loads(row.resource)) for row in rows if row.id in readable]
        self.trail.read(actor_of(who), "dmp.rechercher-lots", patient=ins, detail={"resultats": len(lots)})
        return lots

    def submission_set(self, who: Who, id_: str) -> SubmissionSet:
        """One lot by its id, read at the fullUrl its search gave (issue 20 §4.2): found only as the
        search finds it (a lot holding a document the caller may read), else answered like a missing
        id — the search's own access decision and audit, on the lot's patient."""
        with self.db.read() as conn:
            row = store.submission(conn, id_)
        found = [] if row is None else [s for s in self.submission_sets(who, row.ins, [row.status]) if s.id == id_]
        if not found:
            raise NotFound(f"lot {id_} inconnu", code="lot-inconnu")
        return found[0]

    # --- metadata update, withdrawal (flux 03, DOC-15/16) ---------------------------------------

    def current_for_patch(self, who: Who, unique_id: str) -> DocumentEntry:
        """The fiche a conditional PATCH names (identifier = its uniqueId), once the caller is known to
        be allowed to change it: nothing of the patch (its `test` operations above all) is evaluated
        against a fiche the caller may not change, and such a fiche answers like a missing one."""
        with self._hiding(who, "dmp.mettre-a-jour", unique_id):
            with self.db.read() as conn:
                row = store.document(conn, unique_id=_unique(unique_id))
            if row is None or row.status == DocumentStatus.DELETED.value:
                raise _Hidden("document-inconnu", None)
            entry = entry_of(row)
            self._changer(who, entry)
        return entry

    def _changer(self, who: Who, entry: DocumentEntry) -> None:
        """May this caller change this fiche at all? The producer structure (CRE-23, 000 L2979) or the
        patient on a document of hers she can see (000 L253; R.1111-49). Otherwise `_Hidden`."""
        if who.kind == "patient":
            if entry.ins != who.patient:
                raise _Hidden("autre-patient", entry.ins)
            if who.is_representative and INVISIBLE_REPRESENTANTS_LEGAUX in entry.visibility:
                raise _Hidden("invisible-representants", entry.ins)
            if access.announced(self._document_view(entry), _now()):  # R.1111-53: not hers to see yet
                raise _Hidden("invisible-patient", entry.ins)
        elif entry.author_structure != who.structure:
            raise _Hidden("non-producteur", entry.ins)

    def update_metadata(
        self,
        who: Who,
        unique_id: str,
        status: str | None,
        archived: bool | None,
        confidentiality: str | None,
        visibility: set[str] | None,
    ) -> DocumentEntry:
        now = _now()
        with (
            self._audited_change(who, "dmp.mettre-a-jour", unique_id) as seen,
            self._hiding(who, "dmp.mettre-a-jour", unique_id),
            self.db.write() as conn,
        ):
            row = store.document(conn, unique_id=_unique(unique_id), for_update=True)
            if row is None or row.status == DocumentStatus.DELETED.value:
                raise _Hidden("document-inconnu", None)
            entry = entry_of(row)
            seen["ins"] = entry.ins
            self._may_update(who, entry, visibility)
            if entry.transforms is not None:  # DOC-15: actions from the N1 only, applied to both
                raise RegistryError(
                    "les actions (masquer, visibilité, archiver, supprimer) se font sur le N1, "
                    "elles s'appliquent au N3 (002 L799-803)",
                    code="action-sur-n3",
                )
            values: dict = {}
            if status is not None:
                if status not in ("current", "superseded"):
                    raise InvalidInput(f"status {status!r} : current ou superseded", code="statut-invalide")
                values["status"] = status
            if archived is not None:
                values["archived"] = archived
            if confidentiality is not None:
                values["confidentiality"] = confidentiality
            if visibility is not None:
                if MASQUE_PS in visibility and INVISIBLE_PATIENT in visibility:
                    raise RegistryError(
                        "un document ne peut être à la fois masqué aux professionnels et invisible "
                        "du patient (EX_2.1-1050)",
                        code="XDSRegistryMetadataError",
                    )
                values.update(
                    masque_ps=MASQUE_PS in visibility,
                    invisible_patient=INVISIBLE_PATIENT in visibility,
                    invisible_representants=INVISIBLE_REPRESENTANTS_LEGAUX in visibility,
                )
            store.change_document(conn, entry.id, _iso(now), **values)
            self.trail.write(
                conn,
                actor_of(who),
                "dmp.mettre-a-jour",
                patient=entry.ins,
                detail={
                    "document": entry.unique_id,
                    "changements": values,
                },
            )
            updated = store.document(conn, id_=entry.id)
            assert updated is not None  # just updated, in this transaction
            return entry_of(updated)

    def _may_update(self, who: Who, entry: DocumentEntry, visibility: set[str] | None) -> None:
        self._changer(who, entry)  # not hers or not its producer's: `_Hidden`, answered as missing
        # the patient masks or unmasks a document from professionals (000 L253; CSP R.1111-49), nothing else
        if who.kind == "patient" and (visibility is None or (visibility ^ entry.visibility) - {MASQUE_PS}):
            raise Forbidden(
                "le patient ne peut que masquer ou démasquer un document aux professionnels", code="action-patient"
            )

    def withdraw(self, who: Who, id_: str) -> None:
        """Retrait (000 L1062): the producer withdraws a document; the N1's N3 goes with it (002 L805)."""
        now = _now()
        with (
            self._audited_change(who, "dmp.supprimer", id_) as seen,
            self._hiding(who, "dmp.supprimer", id_),
            self.db.write() as conn,
        ):
            row = store.document(conn, id_=id_, for_update=True)
            if row is None or row.status == DocumentStatus.DELETED.value:
                raise _Hidden("document-inconnu", None)
            entry = entry_of(row)
            seen["ins"] = entry.ins
            self._may_update(who, entry, None)
            if entry.transforms is not None:
                raise RegistryError("un N3 se supprime avec son N1 (002 L799-805)", code="action-sur-n3")
            store.change_document(conn, id_, _iso(now), status=DocumentStatus.DELETED.value)
            self.trail.write(
                conn,
                actor_of(who),
                "dmp.supprimer",
                patient=entry.ins,
                detail={"document": entry.unique_id, "cascade-n3": True},
            )

    # --- information and opposition (seed 002 L535-565) ----------------------------------------

    def record_information(
        self,
        who: Who,
        ins: str,
        alimentation: InformationState,
        consultation: InformationState,
        motif: str = "",
        episode: str = "",
        valid_until: str | None = None,
        structure: str = "",
    ) -> None:
        """Record the patient's answer to a structure's information; a refused recording (not a
        professional in his structure nor the structure's software, another structure named, an
        opposition without its motif) leaves its record too. `structure`: the structure the answer is
        for, when the request names one (Consent.organization); it must be the caller's."""
        try:
            self._record_information(who, ins, alimentation, consultation, motif, episode, valid_until, structure)
        except MaisonError as error:
            self._refused(who, "dmp.information", ins, error)
            raise

    def _record_information(
        self,
        who: Who,
        ins: str,
        alimentation: InformationState,
        consultation: InformationState,
        motif: str,
        episode: str,
        valid_until: str | None,
        structure: str,
    ) -> None:
        # Seed 002 L555-559, "Le ES/PS peut alimenter": the establishment is a party to the record, as its
        # professionals are — its GAM collects the answer at admission and its software (the key it feeds
        # the DMP with, scope logiciel) carries it (002 L541-543, IHE PAM ZFA); for its own structure only.
        software = who.kind == "software" and who.caller.scope is KeyScope.LOGICIEL
        if not (who.kind == "professional" or software) or not who.structure:
            raise Forbidden(
                "l'information du patient est recueillie par un professionnel dans sa structure "
                "ou par le logiciel de la structure",
                code="information-professionnel",
            )
        if structure and structure != who.structure:
            raise Forbidden(
                f"l'information est enregistrée pour la structure de l'appelant ({who.structure}), "
                f"pas pour {structure}",
                code="information-autre-structure",
            )
        if alimentation is InformationState.OPPOSED and not motif.strip():  # 002 L551; CSP R.1111-47
            raise InvalidInput(
                "l'opposition à l'alimentation doit invoquer un motif légitime", code="motif-legitime-absent"
            )
        if InformationState.NOT_INFORMED in (alimentation, consultation) and alimentation != consultation:
            raise InvalidInput(
                "une fois informé, le patient répond pour l'alimentation et la consultation",
                code="information-incomplete",
            )
        now = _now()
        values = dict(
            alimentation=alimentation.value,
            consultation=consultation.value,
            motif=motif or None,
            episode=episode or None,
            valid_until=valid_until,
            recorded_by=who.person,
            recorded_at=_iso(now),
        )
        with self.db.write() as conn:
            self._ensure_dossier(conn, ins, now)
            store.record_information(conn, ins, who.structure, **values)
            # 002 L539-540: information and opposition are real and traced
            self.trail.write(
                conn,
                actor_of(who),
                "dmp.information",
                patient=ins,
                detail={
                    "alimentation": alimentation.value,
                    "consultation": consultation.value,
                    "episode": episode,
                    "motif": bool(motif),
                },
            )

    def status_for(self, who: Who, ins: str) -> tuple[access.DossierView, Decision, Decision]:
        """CRE-19 (002 L508): without a click, does the patient have an open dossier and may we feed / read it?
        The answer tells a patient's choices, so it is a read of health data: audited (issue 18 §2.5),
        and a patient asks only about her own dossier (or the minor's she represents)."""
        if who.kind == "patient" and ins != who.patient:
            error = Forbidden("un patient n'accède qu'à son propre dossier", code="autre-patient")
            self._refused(who, "dmp.information.lire", ins, error)
            raise error
        now = _now()
        with self.db.read() as conn:
            dossier = self.view(conn, who, ins, now)
        feed, read = access.may_feed(who, dossier, self.matrix), access.may_open(who, dossier, self.matrix)
        self._trace(
            who,
            "dmp.information.lire",
            None,
            patient=ins,
            detail={
                "alimentation": dossier.alimentation.value,
                "consultation": dossier.consultation.value,
                "peut-alimenter": feed.allowed,
                "peut-consulter": read.allowed,
            },
        )
        return dossier, feed, read

    # --- the patient's controls ----------------------------------------------------------------

    def _patient_write(
        self, who: Who, action: str, detail: dict, change: Callable[[Connection, datetime], object]
    ) -> None:
        if who.kind != "patient":
            error = Forbidden("réservé au titulaire du dossier (Mon espace santé)", code="reserve-patient")
            self._refused(who, action, None, error)  # a professional at the patient's controls: recorded
            raise error
        now = _now()
        with self.db.write() as conn:
            self._ensure_dossier(conn, who.patient, now)
            change(conn, now)
            self.trail.write(conn, actor_of(who), action, patient=who.patient, detail=detail)

    def set_dossier_state(self, who: Who, state: DossierState) -> None:
        """CRE-3 (000 L253): the patient may oppose or close at any time, and reopen."""
        self._patient_write(
            who,
            "dmp.patient.etat",
            {"etat": state.value},
            lambda conn, now: store.update_dossier(conn, who.patient, state=state.value, updated_at=_iso(now)),
        )

    def set_preferences(
        self,
        who: Who,
        *,
        medecin_traitant: str | None = None,
        clear_traitant: bool = False,
        oppose_bris_de_glace: bool | None = None,
        oppose_centre_15: bool | None = None,
    ) -> None:
        values: dict = {}
        if medecin_traitant is not None or clear_traitant:
            values["medecin_traitant"] = medecin_traitant
        if oppose_bris_de_glace is not None:
            values["oppose_bris_de_glace"] = oppose_bris_de_glace
        if oppose_centre_15 is not None:
            values["oppose_centre_15"] = oppose_centre_15
        self._patient_write(
            who,
            "dmp.patient.preferences",
            dict(values),
            lambda conn, now: store.update_dossier(conn, who.patient, updated_at=_iso(now), **values),
        )

    def set_rule(self, who: Who, professional: str, rule: str | None) -> None:
        """Block or authorise one professional (CSP L.1111-19); None removes the rule."""
        if rule not in ("bloque", "autorise", None):
            raise InvalidInput("règle : bloque ou autorise", code="regle-invalide")
        self._patient_write(
            who,
            "dmp.patient.regle",
            {"professionnel": professional, "regle": rule},
            lambda conn, now: store.set_patient_rule(conn, who.patient, professional, rule, _iso(now)),
        )

    # --- the patient's own documents (000 L3267-3269) -------------------------------------------

    def deposit(self, who: Who, doc: PatientDocument, *, action: str) -> str:
        """File a document the patient gives from Mon espace santé; returns its entry id. Its row is
        built, checked for a replay and committed as a professional's feed is (`_document_row`,
        `_replay_of`, the group commit), under the action Mon espace santé names in the trail. A new
        one that replaces the current one of its type (the profil médical synthesis) supersedes it,
        as a producer's replacement does (RPLC chain)."""
        replay = self._replay_of(doc.lot_unique_id, [(doc.unique_id, doc.unique_id, doc.sha1)])
        if replay is not None:
            return str(replay[1][doc.unique_id])
        blob = self.blobs.put(doc.data)  # durable before the row that names it
        now = _now()
        submission = _submission_row(
            id=str(uuid.uuid4()),
            unique_id=doc.lot_unique_id,
            ins=doc.ins,
            source_id=f"urn:oid:{oid_of('Maison-MES')}",  # an OID, as every sourceId (ITI TF-3 §4.2.3.3)
            author=who.person,
            structure="",
            now=now,
            resource={"resourceType": "List", "title": doc.title},
        )
        id_ = str(uuid.uuid4())

        def work(conn: Connection) -> tuple[str, list, list[dict]]:
            ensure_writable(conn, doc.ins)
            previous = store.current_of_type(conn, doc.ins, doc.type_code) if doc.replaces_current else None
            resource = dict(doc.resource)
            if previous is not None:
                store.supersede(conn, [previous], _iso(now))
                resource["relatesTo"] = [{"code": "replaces", "target": {"reference": f"DocumentReference/{previous}"}}]
            row = _document_row(
                id=id_,
                unique_id=doc.unique_id,
                ins=doc.ins,
                submission=submission["id"],
                now=now,
                type_code=doc.type_code,
                class_code=doc.class_code,
                format_code=doc.format_code,
                level="",
                author=who.person,
                author_structure="",
                confidentiality="N",
                visibility=set(),
                secret=who.secret,
                size=len(doc.data),
                sha1=doc.sha1,
                blob=blob,
                content_type=doc.content_type,
                creation=doc.creation,
                period_start=doc.creation,
                period_end=None,
                setting="",
                facility="",
                replaces=previous,
                resource=resource,
            )
            trail = self.trail.entry(
                actor_of(who),
                action,
                patient=who.patient,
                detail={"document": doc.unique_id, "type": doc.type_code, "remplace": previous},
            )
            return id_, [(store.INSERT_SUBMISSION, [submission]), (store.INSERT_DOCUMENT, [row])], [trail]

        try:
            return cast(str, self.group_commit.run(work))  # the group commit hands back what work returned
        except IntegrityError:
            replay = self._replay_of(doc.lot_unique_id, [(doc.unique_id, doc.unique_id, doc.sha1)])
            if replay is not None:  # a concurrent identical deposit won the race
                return str(replay[1][doc.unique_id])
            raise Conflict("identifiant unique déjà enregistré", code="XDSDuplicateUniqueIdInRegistry") from None

    def withdraw_deposited(self, who: Who, id_: str, *, action: str) -> None:
        """The patient withdraws a document she deposited; professionals' documents she may only mask.
        One she may not see yet, or not hers, answers like a missing one."""
        ins = who.patient
        with self.db.write() as conn:
            ensure_writable(conn, ins)
            row = store.patient_document(conn, id_, ins)
            if row is None or row.status == DocumentStatus.DELETED.value or _hidden_from(who, row):
                raise NotFound(f"document {id_} inconnu", code="document-inconnu")
            if row.author not in (ins, who.person):
                raise Forbidden(
                    "le patient retire les documents qu'il a déposés ; il peut masquer les autres",
                    code="document-non-depose",
                )
            store.withdraw_deposited(conn, id_, _iso(_now()))
            self.trail.write(conn, actor_of(who), action, patient=who.patient, detail={"document": row.unique_id})

    def code_hash(self, code: str) -> str:
        """HMAC-SHA256 of a delegation code under the server's secret (hex, as the column holds)."""
        return hmac.new(self._code_secret, code.encode(), hashlib.sha256).hexdigest()

    def create_code(
        self, who: Who, professional: str, rubriques: list[str], days: int, *, code: str | None = None
    ) -> str:
        """A code the patient gives to a chosen professional for chosen rubriques, for a limited time
        (000 L3238, L3369-3376). Returns the code, shown once. `code` is given only by `maison sandbox`,
        whose test codes are derived from its published seed (issue 21 §2); otherwise drawn at random."""
        unknown = set(rubriques) - set(RUBRIQUES)
        if not rubriques or unknown:
            raise InvalidInput(f"rubriques : parmi {', '.join(RUBRIQUES)}", code="rubrique-inconnue")
        if not 1 <= days <= 365:
            raise InvalidInput("durée : de 1 à 365 jours", code="duree-invalide")
        code = code or "-".join(secrets.token_hex(2).upper() for _ in range(3))

        def change(conn: Connection, now: datetime) -> None:
            store.add_delegation_code(
                conn,
                id=str(uuid.uuid4()),
                ins=who.patient,
                professional=professional,
                code_hash=self.code_hash(code),
                rubriques=",".join(sorted(set(rubriques))),
                expires_at=_iso(now + timedelta(days=days)),
                created_at=_iso(now),
            )

        self._patient_write(
            who, "dmp.patient.code", {"professionnel": professional, "rubriques": rubriques, "jours": days}, change
        )
        return code

    def revoke_codes(self, who: Who, professional: str) -> None:
        self._patient_write(
            who,
            "dmp.patient.code-revoque",
            {"professionnel": professional},
            lambda conn, now: store.revoke_delegation_codes(conn, who.patient, professional),
        )

    def settings(self, who: Who) -> PatientSettings:
        """What the patient chose (the state of her dossier, her médecin traitant, her oppositions to
        the emergency modes, the professionals she blocked or authorised, her live delegation codes):
        the page of her controls in Mon espace santé. Reserved to the patient (or her representative),
        and audited as a read of her dossier (issue 18 §2.5)."""
        if who.kind != "patient":
            error = Forbidden("réservé au titulaire du dossier", code="reserve-patient")
            self._refused(who, "dmp.patient.reglages", None, error)
            raise error
        now = _iso(_now())
        with self.db.read() as conn:
            row = store.standing(conn, who.patient, "", [])
            rules = [(r.professional, r.rule, r.since) for r in store.patient_rules(conn, who.patient)]
            codes = [
                (c.professional, tuple(c.rubriques.split(",")), c.expires_at)
                for c in store.live_delegation_codes(conn, who.patient, now)
            ]
        found = PatientSettings(
            state=DossierState(row.state) if row is not None else DossierState.ACTIVE,
            medecin_traitant=row.medecin_traitant if row is not None else None,
            oppose_bris_de_glace=bool(row is not None and row.oppose_bris_de_glace),
            oppose_centre_15=bool(row is not None and row.oppose_centre_15),
            rules=tuple(rules),
            codes=tuple(codes),
        )
        self._trace(who, "dmp.patient.reglages", None, patient=who.patient, detail={"regles": len(rules)})
        return found

    def history(self, who: Who) -> list[dict]:
        """L.1111-19 (003 L1420): the patient sees every access, who, which structure, which document, why.
        A representative does not see the accesses made in connexion secrète (secret of the minor)."""
        if who.kind != "patient":
            error = Forbidden("réservé au titulaire du dossier", code="reserve-patient")
            self._refused(who, "dmp.patient.historique", None, error)
            raise error
        with self.db.read() as conn:
            rows = [r for r in audit.events(conn, patient=who.patient, action_prefix="dmp.")]
        if who.is_representative:
            rows = [r for r in rows if audit.detail_of(r).get("actor", {}).get("connexion-secrete") != "oui"]
        # reading the trail is itself a read of health data (issue 18 §2.5)
        self._trace(who, "dmp.patient.historique", None, patient=who.patient, detail={"evenements": len(rows)})
        return rows

    def history_page(self, who: Who, page: int, count: int = HISTORY_PAGE) -> HistoryPage:
        """One page of `history`, newest first — the rules and the audit record of `history` (same
        action), but only the page's records read (LIMIT/OFFSET in SQL: the page costs the same
        whatever the trail's length), plus every emergency access of the dossier (R.1111-48: the
        patient sees them loudly, whichever page she is on; a LIKE prefilter, confirmed on the detail).
        A representative's page leaves out the accesses in connexion secrète, which SQL cannot
        filter: his is cut from the whole filtered history."""
        if who.kind != "patient":
            error = Forbidden("réservé au titulaire du dossier", code="reserve-patient")
            self._refused(who, "dmp.patient.historique", None, error)
            raise error
        if page < 1 or not 1 <= count <= HISTORY_PAGE_MAX:
            raise InvalidInput(f"page {page} de {count} : page >= 1, 1 à {HISTORY_PAGE_MAX} par page", code="page")
        modes = [AccessMode.BRIS_DE_GLACE.value, AccessMode.CENTRE_15.value]
        with self.db.read() as conn:
            if who.is_representative:
                every = [r for r in audit.events(conn, patient=who.patient, action_prefix="dmp.", newest_first=True)]
                rows = [r for r in every if not _secret(r)][(page - 1) * count : page * count + 1]
            else:
                rows = list(
                    audit.events(
                        conn,
                        patient=who.patient,
                        action_prefix="dmp.",
                        newest_first=True,
                        limit=count + 1,  # one more: whether an older page exists
                        offset=(page - 1) * count,
                    )
                )
            flagged = audit.events(conn, patient=who.patient, action_prefix="dmp.", newest_first=True, mentioning=modes)
            emergencies = [r for r in flagged if _actor_extra(r).get("mode") in modes and not _secret_from(who, r)]
        shown = rows[:count]
        self._trace(
            who,
            "dmp.patient.historique",
            None,
            patient=who.patient,
            detail={"evenements": len(shown), "page": page, "urgences": len(emergencies)},
        )
        return HistoryPage(shown, emergencies, page, more=len(rows) > count)

    # --- secretariat (000 L1934) ---------------------------------------------------------------

    def declare_secretary(self, who: Who, secretary: str, *, remove: bool = False) -> None:
        if who.kind != "professional" or who.profession != access.PROFESSION_MEDECIN or who.on_behalf_of:
            raise Forbidden("seul un médecin délègue à un secrétariat, sous son autorité", code="delegation-medecin")
        now = _now()
        delegation = (
            {}
            if remove
            else {"doctor_profession": who.profession, "doctor_structure": who.structure, "since": _iso(now)}
        )
        with self.db.write() as conn:
            store.set_secretary(conn, who.person, secretary, **delegation)
            self.trail.write(
                conn, actor_of(who), "dmp.secretariat", detail={"secretaire": secretary, "retrait": remove}
            )

    def under_doctor(self, who: Who, doctor: str) -> Who:
        """The secretary's identity for the rules: the doctor's column and structure, both names in the trail."""
        with self.db.read() as conn:
            row = store.secretariat(conn, doctor, who.person)
        if row is None:
            raise Forbidden(f"{who.person} n'a pas de délégation du médecin {doctor}", code="sans-delegation")
        if row.doctor_structure != who.structure:
            raise Forbidden("la délégation vaut dans la structure du médecin", code="delegation-structure")
        return Who(
            replace(who.caller, profession=row.doctor_profession, role="secretariat", patient=""),
            Access(mode=who.mode, reason=who.reason, on_behalf_of=doctor),
        )

    # --- R.1111-53: the consultation d'annonce ---------------------------------------------------

    def notify_announcements(self, now: datetime | None = None) -> int:
        """Tell the patient, two weeks after the deposit, that a document awaits its consultation d'annonce."""
        now = now or _now()
        cutoff = _iso(now - access.ANNONCE_NOTICE)
        with self.db.write() as conn:
            rows = store.announcements_due(conn, cutoff, _iso(now - access.ANNONCE_AUTO_VISIBLE))
            for row in rows:
                store.mark_announced(conn, row.id)
                self.trail.write(conn, audit.SYSTEM, "dmp.annonce", patient=row.ins, detail={"document": row.id})
        for row in rows:  # once committed: the notice is sent by Mon espace santé in its own transaction
            self.notify(
                row.ins,
                "Votre dossier médical a été mis à jour",
                "Un document a été ajouté à votre dossier médical. Prenez rendez-vous avec un "
                "professionnel de santé pour en prendre connaissance.",
            )
        return len(rows)

    def awaiting_announcement(self, who: Who) -> list[str]:
        """What the patient has been told of R.1111-53 (the notice two weeks after the deposit, above):
        when each document of her dossier that still awaits its consultation d'annonce was deposited —
        never its title, type or author, which she learns from the professional. Mon espace santé's
        documents page says so; reserved to the patient (or her representative), audited as a read."""
        if who.kind != "patient":
            error = Forbidden("réservé au titulaire du dossier", code="reserve-patient")
            self._refused(who, "dmp.annonce.attente", None, error)
            raise error
        since = _iso(_now() - access.ANNONCE_AUTO_VISIBLE)  # after a month it is visible on its own
        with self.db.read() as conn:
            deposits = store.announced_awaiting(conn, who.patient, since)
        self._trace(who, "dmp.annonce.attente", None, patient=who.patient, detail={"documents": len(deposits)})
        return deposits


def _document_row(
    *,
    now: datetime,
    visibility: set[str],
    resource: dict,
    archived: bool = False,
    transforms: str | None = None,
    replaces: str | None = None,
    **fields: object,
) -> dict:
    """The one builder of a new entry's row (a professional's ITI-65 or a patient's own document):
    current, version 1, its flags from the visibility codes, the stored DocumentReference."""
    return dict(
        fields,
        status=DocumentStatus.CURRENT.value,
        archived=archived,
        masque_ps=MASQUE_PS in visibility,
        invisible_patient=INVISIBLE_PATIENT in visibility,
        invisible_representants=INVISIBLE_REPRESENTANTS_LEGAUX in visibility,
        submitted_at=_iso(now),
        version=1,
        last_updated=_iso(now),
        transforms=transforms,
        replaces=replaces,
        resource=orjson.dumps(resource).decode(),
    )


def _submission_row(*, now: datetime, resource: dict, **fields: object) -> dict:
    """A new submission set's row: current, with the List as submitted."""
    return dict(fields, submitted_at=_iso(now), status="current", resource=orjson.dumps(resource).decode())


def dossier_state(conn: Connection, ins: str) -> DossierState | None:
    """The state of the patient's dossier — Mon espace santé's too (000 L3228) — in the caller's
    transaction; None while it does not exist (it exists for everyone unless opposed)."""
    state = store.dossier_state(conn, ins)
    return None if state is None else DossierState(state)


def ensure_writable(conn: Connection, ins: str) -> None:
    """Refuse a change while the patient has opposed or closed Mon espace santé (000 L3228)."""
    state = dossier_state(conn, ins)
    if state is not None and state is not DossierState.ACTIVE:
        raise Conflict(
            f"Mon espace santé est {state.value} (000 L3228) : consultation et export seulement", code="espace-ferme"
        )


def document_owner(conn: Connection, id_: str) -> str | None:
    """The patient whose dossier holds the entry of this id, None if there is none: how a refused
    change names its patient in the trail."""
    return store.document_owner(conn, id_)


def _hidden_from(who: Who, row: sa.Row) -> bool:
    """A document the patient (or her representative) may not see yet is not hers to name either
    (R.1111-53 consultation d'annonce; L.1111-5 secret of the minor)."""
    awaiting = row.invisible_patient and _now() < datetime.fromisoformat(row.submitted_at) + access.ANNONCE_AUTO_VISIBLE
    return bool(awaiting or who.is_representative and row.invisible_representants)


def _sector(conn: Connection, structure: str) -> str:
    """The secteur d'activité (TRE_R02) of the structure acted in, from the Annuaire; "" when unknown."""
    organization = annuaire.organization(conn, structure) if structure else None
    for concept in (organization or {}).get("type", []):
        for coding in concept.get("coding", []) if isinstance(concept, dict) else []:
            if isinstance(coding, dict) and coding.get("system") == CS_SECTEUR:
                return str(coding.get("code", ""))
    return ""


def _unique(value: str) -> str:
    return value.removeprefix("urn:oid:")


def _sha1(data: bytes) -> str:
    return base64.b64encode(hashlib.sha1(data).digest()).decode()


def _locations(request: ProvideRequest, lot: str, ids: dict[str, str], by_binary: dict[str, str]) -> list[str]:
    out = []
    for kind, key in request.order:
        if kind == "List":
            out.append(f"List/{lot}")
        elif kind == "DocumentReference":
            out.append(f"DocumentReference/{ids[key]}")
        elif kind == "Binary":
            out.append(f"Binary/{by_binary[key]}")
        else:
            out.append("")
    return out


def _stored_resource(doc: SubmittedDocument, ids: dict[str, str], replaces: str | None) -> dict:
    """The fiche as kept: Bundle-internal references resolved to our ids."""
    resource = {k: v for k, v in doc.resource.items() if k not in ("id", "meta")}
    related = []
    for code, target in doc.relates:
        if code == "transforms":
            related.append({"code": "transforms", "target": {"reference": f"DocumentReference/{ids[target]}"}})
        elif replaces is not None:
            related.append({"code": "replaces", "target": {"reference": f"DocumentReference/{replaces}"}})
    if related:
        resource["relatesTo"] = related
    return resource


def entry_of(row: sa.Row) -> DocumentEntry:
    # the columns read once into a dict: a Row's attribute access by name costs ~10x a dict's (a
    # list of the dossier builds ~100 entries of 28 columns)
    r = dict(zip(row._fields, row, strict=True))
    visibility = {
        code
        for code, flag in (
            (MASQUE_PS, r["masque_ps"]),
            (INVISIBLE_PATIENT, r["invisible_patient"]),
            (INVISIBLE_REPRESENTANTS_LEGAUX, r["invisible_representants"]),
        )
        if flag
    }
    return DocumentEntry(
        id=r["id"],
        unique_id=r["unique_id"],
        ins=r["ins"],
        submission=r["submission"],
        status=DocumentStatus(r["status"]),
        archived=r["archived"],
        type_code=r["type_code"],
        class_code=r["class_code"],
        format_code=r["format_code"],
        level=r["level"],
        author=r["author"],
        author_structure=r["author_structure"],
        confidentiality=r["confidentiality"],
        visibility=visibility,
        size=r["size"],
        sha1=r["sha1"],
        blob=r["blob"],
        content_type=r["content_type"],
        submitted_at=r["submitted_at"],
        creation=r["creation"],
        period_start=r["period_start"],
        period_end=r["period_end"] or "",
        version=r["version"],
        last_updated=r["last_updated"],
        transforms=r["transforms"],
        replaces=r["replaces"],
        stored=r["resource"],  # parsed when read (DocumentEntry.resource)
    )
