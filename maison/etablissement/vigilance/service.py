"""The local patient index of a care structure and its identitovigilance rules.

Every legal status transition and none other (see `model.status_of` for the table):

- retrieval by INSi (answer 00, traits consistent) → PROV→RECUP, VALI→QUAL;
- check against a high-trust identity document (PA, CN, AN, LE) → PROV→VALI, RECUP→QUAL;
- appli carte Vitale → QUAL for the holder; for a beneficiary QUAL or RECUP at the professional's
  decision (seed 001 L329-330);
- Datamatrix INS read from a document, verified by INSi → RECUP (collection method CB), QUAL once a
  document is checked;
- an INS found invalid → RECUP→PROV, QUAL→VALI; an identity flagged doubtful or fictitious → PROV.

Refused: an INSi answer other than 00, a low-trust document, qualifying a doubtful identity,
editing the traits of an identity whose traits came from INSi, attaching an INS already attached
to another record (a doublon: it goes to the review queue instead).

Only a qualified identity's matricule is shared (seed 000 L2007-2009); every read and write is
audited and checked against the actor's structure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from maison.core import audit
from maison.core.actor import Actor
from maison.core.errors import Conflict, Forbidden, InvalidInput, NotFound, TransitionRefused
from maison.core.ins_traits import Traits, match_form
from maison.core.storage import Database
from maison.etablissement.insi.client import insi_advice
from maison.etablissement.vigilance import store
from maison.etablissement.vigilance.model import (
    ATTRIBUTES,
    DOCUMENT_TYPES,
    HIGH_TRUST_DOCUMENTS,
    CollectionMethod,
    LocalIdentity,
    Status,
    status_of,
)
from maison.etablissement.vigilance.store import Connection
from maison.formats.insi import CodeCR, InsiResult

if TYPE_CHECKING:  # pylibdmtx needs the system libdmtx: only the adapter that scans imports it
    from maison.formats.datamatrix import InsDatamatrix


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _OtherStructure(NotFound):
    """A record of another structure: answered exactly as a missing one (no oracle on ids), and audited."""

    def __init__(self, patient_id: int, ipp: str, structure: str) -> None:
        super().__init__(f"patient {patient_id} inconnu", code="patient-inconnu")
        self.patient_id, self.ipp, self.structure = patient_id, ipp, structure


Method = TypeVar("Method", bound=Callable[..., Any])


def _hides_other_structures(method: Method) -> Method:
    """A call naming another structure's patient answers 404 like an unknown id (issue 18 §2.2, §2.5: the
    same answer for "not there" and "not yours"), and its refusal is recorded once the call's own
    transaction has rolled back."""

    @functools.wraps(method)
    def guarded(self: PatientIndex, actor: Actor, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, actor, *args, **kwargs)
        except _OtherStructure as refused:
            self.trail.refused(
                actor,
                f"identitovigilance.{method.__name__}",
                code="hors-structure",
                patient=refused.ipp,
                detail={"patient_id": refused.patient_id, "structure": refused.structure},
            )
            raise NotFound(refused.message, code=refused.code) from None

    return guarded  # type: ignore[return-value]  # wraps keep the decorated method's signature


class PatientIndex:
    def __init__(self, db: Database, trail: audit.Trail | None = None) -> None:
        self.db = db
        self.trail = trail or audit.Trail(db)

    # --- plumbing ------------------------------------------------------------------------------

    def _authorise(self, actor: Actor, structure: str, action: str) -> None:
        """Only the structure's own people act on its index; a refusal leaves its record."""
        if actor.structure != structure:
            self.trail.refused(actor, action, code="hors-structure", detail={"structure": structure})
            raise Forbidden(f"{actor.person} n'appartient pas à la structure {structure}", code="hors-structure")

    def _load(self, conn: Connection, actor: Actor, patient_id: int, *, for_update: bool = True) -> LocalIdentity:
        row = store.get(conn, patient_id, for_update=for_update)
        if row is None:
            raise NotFound(f"patient {patient_id} inconnu", code="patient-inconnu")
        if row.structure != actor.structure:
            raise _OtherStructure(patient_id, row.ipp, row.structure)
        identity = store.row_to_identity(row)
        if identity.merged_into is not None and for_update:
            raise TransitionRefused(f"patient {patient_id} fusionné dans {identity.merged_into}", code="fusionne")
        return identity

    def _history(
        self,
        conn: Connection,
        actor: Actor,
        patient_id: int,
        event: str,
        before: Status | None,
        after: Status | None,
        snapshot: dict,
    ) -> None:
        store.add_history(
            conn,
            patient_id,
            at=_now(),
            actor=actor.person,
            event=event,
            from_status=before.value if before else None,
            to_status=after.value if after else None,
            snapshot=orjson.dumps(snapshot, default=str).decode(),
        )

    def _save(self, conn: Connection, actor: Actor, current: LocalIdentity, event: str, **changes) -> LocalIdentity:
        insi = changes.get("insi_retrieved", current.insi_retrieved)
        doc = changes.get("document_checked", current.document_checked)
        attrs = changes.pop("attributes", current.attributes)
        new_status = status_of(insi, doc, frozenset(attrs))
        changes |= {
            "status": new_status.value,
            "attributes": ",".join(sorted(attrs)),
            "updated_at": _now(),
            "version": current.version + 1,
        }
        if not store.update_patient(conn, current.id, current.version, changes):
            raise Conflict("le dossier a été modifié entre-temps", code="version")
        self._history(conn, actor, current.id, event, current.status, new_status, changes)
        self.trail.write(
            conn,
            actor,
            f"identitovigilance.{event}",
            patient=current.ipp,
            detail={"structure": current.structure, "from": current.status.value, "to": new_status.value},
        )
        return store.row_to_identity(store.get(conn, current.id))

    # --- admission and reading -------------------------------------------------------------------

    def admit(
        self,
        actor: Actor,
        structure: str,
        ipp: str,
        traits: Traits,
        *,
        collection_method: CollectionMethod = CollectionMethod.SM,
        document_type: str | None = None,
        nom_utilise: str | None = None,
        prenom_utilise: str | None = None,
    ) -> LocalIdentity:
        """Create a record: PROV, or VALI when a high-trust document was checked at the desk."""
        self._authorise(actor, structure, "identitovigilance.admit")
        if document_type is not None and document_type not in DOCUMENT_TYPES:
            raise InvalidInput(f"type de pièce d'identité '{document_type}' inconnu", code="piece-inconnue")
        checked = document_type in HIGH_TRUST_DOCUMENTS
        status = status_of(False, checked)
        now = _now()
        with self.db.write() as conn:
            if store.by_ipp(conn, structure, ipp) is not None:
                raise Conflict(f"IPP {ipp} déjà utilisé dans {structure}", code="ipp-existant")
            values = dict(
                structure=structure,
                ipp=ipp,
                status=status.value,
                insi_retrieved=False,
                document_checked=checked,
                nom_naissance=traits.nom_naissance,
                prenoms=traits.liste_prenoms,
                sexe=traits.sexe,
                date_naissance=traits.date_naissance,
                lieu_naissance=traits.lieu_naissance,
                nom_utilise=nom_utilise,
                prenom_utilise=prenom_utilise,
                collection_method=collection_method.value,
                document_type=document_type if checked else None,
                attributes="",
                version=1,
                created_at=now,
                updated_at=now,
            )
            patient_id = store.insert_patient(conn, values)
            self._history(conn, actor, patient_id, "admit", None, status, values)
            self.trail.write(
                conn,
                actor,
                "identitovigilance.admit",
                patient=ipp,
                detail={"structure": structure, "status": status.value},
            )
            return store.row_to_identity(store.get(conn, patient_id))

    @_hides_other_structures
    def get(self, actor: Actor, patient_id: int) -> LocalIdentity:
        with self.db.read() as conn:
            identity = self._load(conn, actor, patient_id, for_update=False)
        self.trail.read(actor, "identitovigilance.read", patient=identity.ipp, detail={"structure": identity.structure})
        return identity

    def by_ins_numbers(self, actor: Actor, structure: str, numbers: set[str]) -> dict[str, list[LocalIdentity]]:
        """The structure's (unmerged) identities carrying each INS matricule, for the PFI's matching of
        a batch in one query. Not audited here: the caller's outcome (integration or worklist entry)
        is recorded with the INS, in the same transaction as what it writes."""
        self._authorise(actor, structure, "identitovigilance.by_ins_numbers")
        with self.db.read() as conn:
            return {
                number: [store.row_to_identity(r) for r in rows]
                for number, rows in store.by_ins_numbers(conn, structure, numbers).items()
            }

    def search(
        self,
        actor: Actor,
        *,
        family: str | None = None,
        given: str | None = None,
        birthdate: str | None = None,
        gender: str | None = None,
        ipp: str | None = None,
        ins_number: str | None = None,
        limit: int = 50,
    ) -> list[LocalIdentity]:
        """The FHIR Patient search of the caller's structure (names already in match form). A search
        answers with identities, so it is recorded — through the journal, since it writes nothing."""
        return self.search_page(
            actor,
            family=family,
            given=given,
            birthdate=birthdate,
            gender=gender,
            ipp=ipp,
            ins_number=ins_number,
            limit=limit,
        )[0]

    def search_page(self, actor: Actor, *, limit: int = 50, **wanted: str | None) -> tuple[list[LocalIdentity], int]:
        """`search`, and how many records match in all: at most `limit` of them (0: none, the total
        alone, FHIR `_summary=count`); the count runs only when the page does not hold them all."""
        with self.db.read() as conn:
            rows = store.search(conn, actor.structure, limit=limit, **wanted) if limit else []
            total = len(rows) if limit and len(rows) < limit else store.search_count(conn, actor.structure, **wanted)
        self.trail.read(
            actor,
            "identitovigilance.search",
            purpose="TREAT",
            detail={"structure": actor.structure, "results": len(rows), "total": total},
        )
        return [store.row_to_identity(r) for r in rows], total

    def candidates(
        self, actor: Actor, structure: str, *, family: str, birthdate: str, limit: int = 10
    ) -> list[LocalIdentity]:
        """Identities a document may be about, by the start of the birth name and the birth date, to
        propose to a human (the worklist entry that lists them is audited)."""
        self._authorise(actor, structure, "identitovigilance.candidates")
        with self.db.read() as conn:
            return [
                store.row_to_identity(r)
                for r in store.search(conn, structure, family=family, birthdate=birthdate, limit=limit)
            ]

    # --- the transitions -----------------------------------------------------------------------

    @_hides_other_structures
    def record_insi_result(
        self,
        actor: Actor,
        patient_id: int,
        result: InsiResult,
        *,
        method: CollectionMethod = CollectionMethod.INSI,
    ) -> LocalIdentity:
        """Associate the INS returned by INSi (seed 002 L344: easy association on 00)."""
        if result.code is not CodeCR.TROUVE or result.individu is None:
            raise TransitionRefused(insi_advice(result), code=f"insi-{result.code.value}")
        individu = result.individu
        with self.db.write() as conn:
            current = self._load(conn, actor, patient_id)
            if current.attributes & {"douteuse", "fictive"}:
                raise TransitionRefused("identité douteuse ou fictive : pas de récupération d'INS", code="douteuse")
            mismatch = traits_mismatch(current.traits, individu.traits)
            if mismatch:
                raise TransitionRefused(
                    "traits INSi incohérents avec le dossier : " + ", ".join(mismatch), code="traits-incoherents"
                )
            collision = bool(current.ins_number) and current.ins_number not in (
                individu.active.number,
                *(h.number for h in individu.history),
            )
            others = [r for r in store.by_ins(conn, current.structure, individu.active.number) if r.id != current.id]
            if not others and not collision:
                t = individu.traits
                return self._save(
                    conn,
                    actor,
                    current,
                    "insi-retrieval",
                    insi_retrieved=True,
                    ins_number=individu.active.number,
                    ins_cle=individu.active.cle,
                    ins_oid=individu.active.oid,
                    nom_naissance=t.nom_naissance,
                    prenoms=t.liste_prenoms,
                    sexe=t.sexe,
                    date_naissance=t.date_naissance,
                    lieu_naissance=t.lieu_naissance,
                    collection_method=method.value,
                )
        # Refused, but what was found goes to the identitovigilance cell, in a transaction of its own:
        # another INS already on this record (a collision), or this INS already on another (a doublon).
        with self.db.write() as conn:
            if collision:
                self._open_review(
                    conn,
                    current.structure,
                    "collision",
                    current.id,
                    None,
                    1.0,
                    "INSi renvoie un autre INS que celui du dossier",
                )
                self.trail.write(
                    conn,
                    actor,
                    "identitovigilance.collision-detected",
                    patient=current.ipp,
                    outcome="failure",
                    detail={"structure": current.structure},
                )
            else:
                self._open_review(
                    conn, current.structure, "doublon", others[0].id, current.id, 1.0, "même INS sur deux dossiers"
                )
                self.trail.write(
                    conn,
                    actor,
                    "identitovigilance.doublon-detected",
                    patient=current.ipp,
                    outcome="failure",
                    detail={"structure": current.structure, "other_ipp": others[0].ipp},
                )
        if collision:
            raise TransitionRefused(
                "un autre INS est déjà associé à ce dossier : collision à traiter", code="collision"
            )
        raise Conflict(f"INS déjà associé au dossier {others[0].ipp} : doublon à traiter", code="ins-deja-attribue")

    @_hides_other_structures
    def record_datamatrix(
        self, actor: Actor, patient_id: int, scanned: InsDatamatrix, result: InsiResult
    ) -> LocalIdentity:
        """A Datamatrix INS read on a document, then verified by INSi with the traits it carries.

        The Datamatrix gives the INS and the traits of a qualified identity elsewhere, but only INSi
        gives an INS (seed 000 L2042): the INS becomes the record's only if INSi answers 00 with
        that INS (active or historic — an old INS leads to the active one). The record is then
        récupérée (collection method CB); it becomes qualifiée once an identity document is checked.
        """
        if result.code is CodeCR.TROUVE and result.individu is not None:
            known = {result.individu.active.number, *(h.number for h in result.individu.history)}
            if scanned.matricule[:13] not in known:
                raise TransitionRefused(
                    "l'INS du Datamatrix n'est pas celui que renvoie INSi : ne pas l'utiliser",
                    code="datamatrix-ins-different",
                )
        return self.record_insi_result(actor, patient_id, result, method=CollectionMethod.CB)

    @_hides_other_structures
    def check_document(self, actor: Actor, patient_id: int, document_type: str) -> LocalIdentity:
        if document_type not in DOCUMENT_TYPES:
            raise InvalidInput(f"type de pièce d'identité '{document_type}' inconnu", code="piece-inconnue")
        if document_type not in HIGH_TRUST_DOCUMENTS:
            raise TransitionRefused(
                f"{DOCUMENT_TYPES[document_type]} : pièce à faible niveau de confiance, "
                "ne permet pas de valider l'identité",
                code="piece-faible-confiance",
            )
        with self.db.write() as conn:
            current = self._load(conn, actor, patient_id)
            if current.attributes & {"douteuse", "fictive"}:
                raise TransitionRefused("identité douteuse ou fictive : validation impossible", code="douteuse")
            return self._save(
                conn, actor, current, "document-check", document_checked=True, document_type=document_type
            )

    @_hides_other_structures
    def read_carte_vitale_app(
        self,
        actor: Actor,
        patient_id: int,
        result: InsiResult,
        *,
        holder: bool,
        qualify_beneficiary: bool = False,
    ) -> LocalIdentity:
        """Appli carte Vitale: the holder's INS is qualified; a beneficiary's qualified or
        retrieved, at the professional's decision (seed 001 L329-330)."""
        self.record_insi_result(actor, patient_id, result, method=CollectionMethod.AV)
        if holder or qualify_beneficiary:
            with self.db.write() as conn:
                current = self._load(conn, actor, patient_id)
                return self._save(conn, actor, current, "apcv-qualification", document_checked=True)
        return self.get(actor, patient_id)

    @_hides_other_structures
    def invalidate_ins(self, actor: Actor, patient_id: int, reason: str) -> LocalIdentity:
        """The INS no longer verifies (INSi verification failed): RECUP→PROV, QUAL→VALI."""
        with self.db.write() as conn:
            current = self._load(conn, actor, patient_id)
            if not current.insi_retrieved:
                raise TransitionRefused("aucun INS à invalider", code="sans-ins")
            return self._save(
                conn,
                actor,
                current,
                "ins-invalidation",
                insi_retrieved=False,
                ins_number=None,
                ins_cle=None,
                ins_oid=None,
            )

    @_hides_other_structures
    def set_attribute(self, actor: Actor, patient_id: int, attribute: str, on: bool = True) -> LocalIdentity:
        """Flag an identity doubtful, fictitious or homonym; doubtful and fictitious force PROV."""
        if attribute not in ATTRIBUTES:
            raise InvalidInput(f"attribut '{attribute}' inconnu", code="attribut")
        with self.db.write() as conn:
            current = self._load(conn, actor, patient_id)
            attrs = set(current.attributes)
            (attrs.add if on else attrs.discard)(attribute)
            return self._save(
                conn, actor, current, f"attribute-{attribute}-{'on' if on else 'off'}", attributes=frozenset(attrs)
            )

    @_hides_other_structures
    def update_traits(self, actor: Actor, patient_id: int, traits: Traits) -> LocalIdentity:
        """Correct the traits of a record whose traits did not come from INSi.

        A VALI record goes back to PROV: the document that validated the old traits no longer does.
        """
        with self.db.write() as conn:
            return self._change_traits(conn, actor, self._load(conn, actor, patient_id), traits)

    @_hides_other_structures
    def update_from_source(self, actor: Actor, patient_id: int, ipp: str, traits: Traits) -> LocalIdentity:
        """The record as an identity source sends it whole (FHIR update, as PAM / PDQm feeds do): the
        same IPP — an IPP is never changed by an update — and its traits. Traits sent unchanged change
        nothing (a source re-sends its records: no new version, no history line, a read in the trail);
        changed traits follow `update_traits`' rules (INSi's traits are not modified, VALI → PROV)."""
        with self.db.write() as conn:
            current = self._load(conn, actor, patient_id)
            if ipp != current.ipp:
                raise InvalidInput(
                    f"IPP {ipp} : le dossier {patient_id} porte l'IPP {current.ipp}, une mise à jour ne le change pas",
                    code="ipp-different",
                    expression="Patient.identifier",
                )
            if traits != current.traits:
                return self._change_traits(conn, actor, current, traits)
        structure = {"structure": current.structure}
        self.trail.read(actor, "identitovigilance.update-unchanged", patient=current.ipp, detail=structure)
        return current

    def _change_traits(self, conn: Connection, actor: Actor, current: LocalIdentity, traits: Traits) -> LocalIdentity:
        if current.insi_retrieved:
            raise TransitionRefused("traits issus de l'INSi : modification interdite", code="traits-insi")
        return self._save(
            conn,
            actor,
            current,
            "traits-update",
            document_checked=False,
            document_type=None,
            nom_naissance=traits.nom_naissance,
            prenoms=traits.liste_prenoms,
            sexe=traits.sexe,
            date_naissance=traits.date_naissance,
            lieu_naissance=traits.lieu_naissance,
        )

    # --- doublons, collisions, merge and split ---------------------------------------------------

    def _open_review(
        self, conn: Connection, structure: str, kind: str, a: int, b: int | None, score: float, reason: str
    ) -> None:
        lo, hi = (a, b) if b is None or a < b else (b, a)
        store.open_review(conn, structure, kind, lo, hi, score, reason, _now())

    @_hides_other_structures
    def merge(self, actor: Actor, survivor_id: int, absorbed_id: int, review_id: int | None = None) -> LocalIdentity:
        """Fusion: the absorbed record points to the survivor and is never used again; history is kept."""
        if survivor_id == absorbed_id:
            raise TransitionRefused("un dossier ne peut être fusionné avec lui-même", code="fusion-refusee")
        with self.db.write() as conn:
            keep = self._load(conn, actor, survivor_id)
            drop = self._load(conn, actor, absorbed_id)
            self.absorb(conn, actor, keep, drop)
            self._close_reviews(conn, actor, keep.id, drop.id, "fusionne", review_id)
            return store.row_to_identity(store.get(conn, keep.id))

    def absorb(self, conn: Connection, actor: Actor, keep: LocalIdentity, drop: LocalIdentity, **detail: str) -> None:
        """The fusion itself, in the caller's transaction (a cell's decision, or a GAM's A40): refused
        between structures, between two INS, or keeping the record of the lower status."""
        if keep.structure != drop.structure:
            raise TransitionRefused("fusion entre deux structures impossible", code="fusion-refusee")
        if keep.ins_number and drop.ins_number and keep.ins_number != drop.ins_number:
            raise TransitionRefused("deux INS différents : ce ne sont pas la même personne", code="fusion-refusee")
        order = [Status.PROV, Status.VALI, Status.RECUP, Status.QUAL]
        if order.index(drop.status) > order.index(keep.status):
            raise TransitionRefused("conserver le dossier au statut le plus élevé", code="fusion-refusee")
        store.mark_merged(conn, drop.id, keep.id, drop.version + 1, _now())
        self._history(conn, actor, drop.id, "merged-into", drop.status, drop.status, {"survivor": keep.id})
        self._history(conn, actor, keep.id, "merge", keep.status, keep.status, {"absorbed": drop.id})
        self.trail.write(
            conn,
            actor,
            "identitovigilance.merge",
            patient=keep.ipp,
            detail={"structure": keep.structure, "absorbed_ipp": drop.ipp, **detail},
        )

    @_hides_other_structures
    def split(
        self, actor: Actor, patient_id: int, new_ipp: str, traits: Traits, review_id: int | None = None
    ) -> LocalIdentity:
        """Dédoublement of a collision: the other person gets a new provisional record.

        The original record keeps its INS only if its traits are still those INSi returned; the
        professional then re-qualifies each record on its own.
        """
        with self.db.write() as conn:
            current = self._load(conn, actor, patient_id)
            if store.by_ipp(conn, current.structure, new_ipp) is not None:
                raise Conflict(f"IPP {new_ipp} déjà utilisé", code="ipp-existant")
            now = _now()
            values = dict(
                structure=current.structure,
                ipp=new_ipp,
                status=Status.PROV.value,
                insi_retrieved=False,
                document_checked=False,
                nom_naissance=traits.nom_naissance,
                prenoms=traits.liste_prenoms,
                sexe=traits.sexe,
                date_naissance=traits.date_naissance,
                lieu_naissance=traits.lieu_naissance,
                collection_method=CollectionMethod.SM.value,
                attributes="",
                version=1,
                created_at=now,
                updated_at=now,
            )
            new_id = store.insert_patient(conn, values)
            self._history(conn, actor, new_id, "split-from", None, Status.PROV, {"origin": current.id})
            self._history(conn, actor, current.id, "split", current.status, current.status, {"new": new_id})
            self.trail.write(
                conn,
                actor,
                "identitovigilance.split",
                patient=current.ipp,
                detail={"structure": current.structure, "new_ipp": new_ipp},
            )
            self._close_reviews(conn, actor, current.id, None, "dedouble", review_id)
            return store.row_to_identity(store.get(conn, new_id))

    def _close_reviews(
        self, conn: Connection, actor: Actor, a: int, b: int | None, state: str, review_id: int | None
    ) -> None:
        store.close_reviews(conn, state, _now(), actor.person, review_id=review_id, a=a, b=b)

    def detect_duplicates(self, actor: Actor, structure: str) -> int:
        """Scan the whole index of a structure; queue every likely doublon and collision for review.

        Doublons: pairs of live records whose traits differ by at most a keying slip. Collisions:
        records whose traits were changed into another person's. Returns how many alerts were queued.
        """
        from maison.etablissement.vigilance.doublons import Candidate, collisions, find

        self._authorise(actor, structure, "identitovigilance.detect-duplicates")
        with self.db.read() as conn:
            candidates = [Candidate.of(*row) for row in store.live_traits(conn, structure)]
            mixed = collisions(self._trait_histories(conn, structure))
        pairs = find(candidates)
        with self.db.write() as conn:
            for a, b, s in pairs:
                self._open_review(conn, structure, "doublon", a, b, s, "traits proches")
            for record, s, reason in mixed:
                self._open_review(conn, structure, "collision", record, None, s, reason)
            self.trail.write(
                conn,
                actor,
                "identitovigilance.detect-duplicates",
                detail={
                    "structure": structure,
                    "records": len(candidates),
                    "pairs": len(pairs),
                    "collisions": len(mixed),
                },
            )
        return len(pairs) + len(mixed)

    @staticmethod
    def _trait_histories(conn: Connection, structure: str) -> dict[int, list[dict]]:
        """The successive traits of every live record whose traits were ever changed after admission."""
        histories: dict[int, list[dict]] = {}
        for row in store.trait_snapshots(conn, structure):
            states = histories.setdefault(row.patient_id, [])
            state = {**(states[-1] if states else {}), **orjson.loads(row.snapshot)}
            states.append(
                {k: state.get(k) for k in ("nom_naissance", "prenoms", "sexe", "date_naissance", "lieu_naissance")}
            )
        return histories

    def dismiss_review(self, actor: Actor, review_id: int) -> None:
        with self.db.read() as conn:  # judged before the write: a refusal's record goes through the journal
            review = store.review(conn, review_id)
        if review is None:
            raise NotFound(f"alerte {review_id} inconnue")
        self._authorise(actor, review.structure, "identitovigilance.dismiss")
        with self.db.write() as conn:
            store.resolve_review(conn, review_id, "ecarte", _now(), actor.person)
            self.trail.write(conn, actor, "identitovigilance.dismiss", detail={"review": review_id})

    def reviews(self, actor: Actor, structure: str, state: str = "ouvert") -> list[dict]:
        self._authorise(actor, structure, "identitovigilance.reviews")
        with self.db.read() as conn:
            rows = [dict(r._mapping) for r in store.reviews(conn, structure, state)]
        # the alerts pair patients' records: reading them is recorded (no one patient: a list)
        self.trail.read(
            actor, "identitovigilance.reviews", detail={"structure": structure, "state": state, "results": len(rows)}
        )
        return rows

    @_hides_other_structures
    def history(self, actor: Actor, patient_id: int) -> list[dict]:
        with self.db.read() as conn:
            identity = self._load(conn, actor, patient_id, for_update=False)
            rows = [dict(r._mapping) for r in store.history(conn, patient_id)]
        self.trail.read(
            actor, "identitovigilance.history", patient=identity.ipp, detail={"structure": identity.structure}
        )
        return rows


def traits_mismatch(local: Traits, official: Traits) -> list[str]:
    """Which strict traits disagree between the record and INSi's answer (compared in match form)."""
    problems = []
    if match_form(local.nom_naissance) != match_form(official.nom_naissance):
        problems.append("nom de naissance")
    local_given = {match_form(p) for p in local.prenoms}
    if not local_given & {match_form(p) for p in official.prenoms}:
        problems.append("prénoms")
    if local.sexe != official.sexe:
        problems.append("sexe")
    if local.date_naissance != official.date_naissance:
        problems.append("date de naissance")
    if local.lieu_naissance and official.lieu_naissance and local.lieu_naissance != official.lieu_naissance:
        problems.append("lieu de naissance")
    return problems
