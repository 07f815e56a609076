"""Identities as the structure's GAM announces them in IHE PAM France (issue 22 §1.2): created or
updated in the local patient index within the caller's transaction (the stay and movement the same
message carries commit with them, or nothing does), under the index's rules, unchanged:

- the status the GAM claims (PID-32) is not taken on its word. A document checked at the GAM's desk
  (VALI, QUAL) counts as `document_checked`; the INS counts as retrieved by INSi only when the GAM
  says RECUP or QUAL, the matricule's key verifies, its OID is an INS OID, the identity is neither
  doubtful nor fictitious, and no other record of the structure carries it (then it is a doublon for
  the identitovigilance cell, as in `PatientIndex.record_insi_result`). Otherwise the INS is not
  kept: only a qualified identity's matricule may be used (seed 000 L2007-2009, seed 002 L340-347);
- traits that came from INSi are never changed by a message; other traits changed bring a VALI
  identity back to PROV unless the message itself says a document was checked;
- a merge (A40) keeps the survivor; a change of identifier (A47) renames the IPP, refused when the
  new one is taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from maison.core.actor import Actor
from maison.core.errors import Conflict, InvalidInput, NotFound, TransitionRefused
from maison.core.identifiers.nir import parse_matricule
from maison.core.ins_traits import Traits
from maison.etablissement.vigilance import store
from maison.etablissement.vigilance.model import CollectionMethod, LocalIdentity, Status, status_of
from maison.etablissement.vigilance.service import PatientIndex, _now
from maison.etablissement.vigilance.store import Connection

INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")


@dataclass(frozen=True)
class Announced:
    """An identity as PID carries it."""

    structure: str
    ipp: str
    traits: Traits
    claimed_status: str  # PID-32
    attributes: frozenset[str] = frozenset()
    ins_number: str | None = None  # 15 characters (13 + key)
    ins_oid: str | None = None
    nom_utilise: str | None = None
    prenom_utilise: str | None = None


def _trusted_ins(conn: Connection, announced: Announced, own_id: int | None) -> tuple[str, str, str] | None:
    """The INS as (number, key, OID) when the rules let the index take it as retrieved by INSi."""
    if announced.claimed_status not in (Status.RECUP, Status.QUAL) or not announced.ins_number:
        return None
    if announced.ins_oid not in INS_OIDS or announced.attributes & {"douteuse", "fictive"}:
        return None
    try:
        matricule = parse_matricule(announced.ins_number)
    except InvalidInput:
        return None
    if any(r.id != own_id for r in store.by_ins(conn, announced.structure, matricule.number)):
        return None  # a doublon: see `announce`
    return matricule.number, matricule.key, str(announced.ins_oid)


def _values(announced: Announced, ins: tuple[str, str, str] | None, checked: bool) -> dict:
    t = announced.traits
    values = dict(
        nom_naissance=t.nom_naissance,
        prenoms=t.liste_prenoms,
        sexe=t.sexe,
        date_naissance=t.date_naissance,
        lieu_naissance=t.lieu_naissance,
        nom_utilise=announced.nom_utilise,
        prenom_utilise=announced.prenom_utilise,
        document_checked=checked,
        attributes=announced.attributes,
    )
    if ins:
        values |= dict(insi_retrieved=True, ins_number=ins[0], ins_cle=ins[1], ins_oid=ins[2])
        values["collection_method"] = CollectionMethod.INSI.value
    return values


def announce(index: PatientIndex, conn: Connection, actor: Actor, announced: Announced) -> LocalIdentity:
    """Create or update the record of `announced.ipp` in the caller's transaction (see module doc)."""
    row = store.by_ipp(conn, announced.structure, announced.ipp)
    current = store.row_to_identity(row) if row is not None else None
    if current is not None and current.merged_into is not None:
        raise TransitionRefused(f"IPP {announced.ipp} fusionné dans un autre dossier", code="fusionne")
    ins = _trusted_ins(conn, announced, current.id if current else None)
    checked = announced.claimed_status in (Status.VALI, Status.QUAL)
    if current is None:
        return _create(index, conn, actor, announced, ins, checked)
    if current.insi_retrieved and announced.traits != current.traits:
        raise TransitionRefused("traits issus de l'INSi : modification interdite", code="traits-insi")
    changes = _values(announced, ins if not current.insi_retrieved else None, checked or current.document_checked)
    if announced.traits != current.traits and not checked:
        changes["document_checked"] = False  # the document that validated the old traits no longer does
    _flag_doublon(index, conn, actor, announced, current.id)
    if _unchanged(current, changes):
        return current
    changes["attributes"] = frozenset(changes["attributes"])
    return index._save(conn, actor, current, "gam-update", **changes)


def _unchanged(current: LocalIdentity, changes: dict) -> bool:
    t = current.traits
    now = dict(
        nom_naissance=t.nom_naissance,
        prenoms=t.liste_prenoms,
        sexe=t.sexe,
        date_naissance=t.date_naissance,
        lieu_naissance=t.lieu_naissance,
        nom_utilise=current.nom_utilise,
        prenom_utilise=current.prenom_utilise,
        document_checked=current.document_checked,
        attributes=current.attributes,
    )
    return all(now.get(k) == v for k, v in changes.items() if k in now) and "insi_retrieved" not in changes


def _create(
    index: PatientIndex,
    conn: Connection,
    actor: Actor,
    announced: Announced,
    ins: tuple[str, str, str] | None,
    checked: bool,
) -> LocalIdentity:
    status = status_of(ins is not None, checked, announced.attributes)
    now = _now()
    values = _values(announced, ins, checked) | dict(
        structure=announced.structure,
        ipp=announced.ipp,
        status=status.value,
        attributes=",".join(sorted(announced.attributes)),
        collection_method=CollectionMethod.INSI.value if ins else CollectionMethod.SM.value,
        version=1,
        created_at=now,
        updated_at=now,
    )
    values.setdefault("insi_retrieved", False)
    patient_id = store.insert_patient(conn, values)
    index._history(conn, actor, patient_id, "gam-create", None, status, values)
    index.trail.write(
        conn,
        actor,
        "identitovigilance.gam-create",
        patient=announced.ipp,
        detail={"structure": announced.structure, "status": status.value, "claimed": announced.claimed_status},
    )
    _flag_doublon(index, conn, actor, announced, patient_id)
    return store.row_to_identity(store.get(conn, patient_id))


def _flag_doublon(index: PatientIndex, conn: Connection, actor: Actor, announced: Announced, own_id: int) -> None:
    """An INS announced as qualified that another record carries goes to the cell as a doublon."""
    if announced.claimed_status not in (Status.RECUP, Status.QUAL) or not announced.ins_number:
        return
    others = [r for r in store.by_ins(conn, announced.structure, announced.ins_number[:13]) if r.id != own_id]
    if others:
        index._open_review(
            conn, announced.structure, "doublon", others[0].id, own_id, 1.0, "même INS annoncé par la GAM"
        )
        index.trail.write(
            conn,
            actor,
            "identitovigilance.doublon-detected",
            patient=announced.ipp,
            outcome="failure",
            detail={"structure": announced.structure, "other_ipp": others[0].ipp},
        )


def lookup(conn: Connection, structure: str, ipp: str) -> LocalIdentity:
    row = store.by_ipp(conn, structure, ipp)
    if row is None:
        raise NotFound(f"IPP {ipp} inconnu", code="patient-inconnu")
    identity = store.row_to_identity(row)
    if identity.merged_into is not None:
        raise TransitionRefused(f"IPP {ipp} déjà fusionné", code="fusionne")
    return identity


def merge(
    index: PatientIndex, conn: Connection, actor: Actor, structure: str, survivor: str, absorbed: str
) -> LocalIdentity:
    """A40: `absorbed` (MRG-1) merged into `survivor` (PID-3), as `PatientIndex.merge` rules it."""
    keep, drop = lookup(conn, structure, survivor), lookup(conn, structure, absorbed)
    if keep.id == drop.id:
        raise TransitionRefused("un dossier ne peut être fusionné avec lui-même", code="fusion-refusee")
    index.absorb(conn, actor, keep, drop, source="gam")
    return keep


def change_ipp(
    index: PatientIndex, conn: Connection, actor: Actor, structure: str, old: str, new: str
) -> LocalIdentity:
    """A47: the record of `old` (MRG-1) now carries `new` (PID-3)."""
    current = lookup(conn, structure, old)
    if store.by_ipp(conn, structure, new) is not None:
        raise Conflict(f"IPP {new} déjà utilisé dans {structure}", code="ipp-existant")
    return index._save(conn, actor, current, "ipp-change", ipp=new)
