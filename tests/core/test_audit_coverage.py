"""Every public service method that reads or writes patient data leaves an audit record (issue 19 §2.2).

DESIGN.md §Rules: every read or write of health data leaves a record through core's one audit API
(who, which patient, what, outcome), refusals included. Two halves:

- the enumeration: every public method of the services that hold patient data is introspected and
  must appear in exactly one table below — `COVERED` (a scenario here calls it once allowed and once
  refused and checks the records), `EXCLUDED` (with the precise reason: it touches no patient data, or
  it is a step of an operation whose record covers it), or `PENDING` (its scenario still to be written
  here; empty now, kept so that a gap is said rather than hidden). A public method added without being
  put in a table fails `test_every_public_method_is_classified`.
- the scenarios: each `COVERED` method, called by its structure's desk (or the patient herself where
  the service is hers), leaves a success record naming the actor, the patient and the action; called by
  someone it refuses, it raises and leaves a failure record naming that caller and the action (and the
  patient when the refusal knows him).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from maison.core import audit
from maison.core.actor import Actor
from maison.core.errors import MaisonError
from maison.core.identifiers.nir import OID_INS_NIR_TEST
from maison.core.ins_traits import Traits
from maison.etablissement.dmp.producer import Produced, provide_bundle
from maison.etablissement.pfi.service import Pfi, Worklist
from maison.etablissement.vigilance.cellule import Cellule
from maison.etablissement.vigilance.service import PatientIndex
from maison.formats import mime
from maison.formats.datamatrix import InsDatamatrix
from maison.formats.mime import CITIZEN_DOMAIN
from maison.formats.ordonnance import SYS_CIP
from maison.identite.annuaire import resources as annuaire_resources
from maison.identite.annuaire.index import put as annuaire_put
from maison.identite.ins.model import CallContext, CarteVitaleQuery, TraitsQuery
from maison.identite.ins.service import InsiService
from maison.partage.dmp import mhd
from maison.partage.dmp.model import DossierState, InformationState, Who
from maison.partage.dmp.service import Dmp
from maison.partage.espace.mesures import LOINC, UCUM
from maison.partage.espace.service import Espace
from maison.partage.mss.mailboxes import CITIZEN
from maison.partage.mss.messagerie import Messagerie
from maison.partage.mss.smtp import Endpoints
from maison.partage.ordonnance.model import Draft, Line, LineExecution, LineKind, Outcome, PatientIns
from maison.partage.ordonnance.service import Base
from tests.e2e.test_mss_smtp import _letter as mss_letter
from tests.etablissement.pfi.test_service import MemoryMailbox
from tests.identite.helpers import IDAM, SARAH_NIR, STRUCTURE, seed_referential
from tests.partage.world import PROS, n1

SERVICES: tuple[type, ...] = (PatientIndex, Cellule, InsiService, Dmp, Espace, Base, Messagerie, Worklist, Pfi)

HOSP = "1750000019"
DESK = Actor(person="899900038441", structure=HOSP, software="dpi")
OUTSIDER = Actor(person="899900099999", structure="1999999999", software="dpi")
SARAH = Traits.of("Garcia-Hammadi", "Sarah-Lou", "F", "1977-01-21")
SYSTEM = audit.SYSTEM.person
DESK_OF = {DESK.structure: DESK, OUTSIDER.structure: OUTSIDER}  # who acts on a structure's worklist


@dataclass(frozen=True)
class World:
    house: object
    patients: PatientIndex
    cellule: Cellule
    insi: InsiService
    espace: Espace
    dmp: Dmp
    messagerie: Messagerie
    ordonnance: Base
    patient_id: int
    ipp: str
    made: dict = field(default_factory=dict)  # what a scenario's preparation made once (a fed document, …)


@dataclass(frozen=True)
class Scenario:
    """`call(world, actor)` once by `DESK` (allowed) and once by `OUTSIDER` (refused, raises)."""

    call: Callable[[World, Actor], object]
    action: str  # the action of the allowed call's record (a prefix ending in "." matches a family)
    refused_action: str  # empty when the method cannot be refused (said where it is declared)
    refused_names_patient: bool = True
    patient: Callable[[World], str | None] | None = None  # the allowed record's patient; the world's IPP by default
    allowed_person: str = DESK.person  # who the allowed record names (the patient herself in her espace)
    refused_person: str = OUTSIDER.person  # who the refusal names (the caller `OUTSIDER` stands for)
    refused_outcome: str = "failure"  # the ordonnance says "refused" (outside its national counters)


SARAH_QUERY = TraitsQuery("GARCIA-HAMMADI", ("SARAH-LOU",), "F", "1977-01-21")


def _sarah_00(world: World):
    return world.insi.referential.search_by_traits(SARAH_QUERY)


def _who(actor: Actor) -> Who:
    """In Mon espace santé the desk stands for Sarah herself; the outsider is a professional, refused."""
    if actor is DESK:
        return Who(Actor(SARAH_NIR, "", "", kind="patient", patient=SARAH_NIR))
    return Who(Actor(actor.person, actor.structure, actor.software, kind="professional"))


SARAH_WHO = _who(DESK)


def _espace(call: Callable[[Espace, Who], object], action: str) -> Scenario:
    return Scenario(
        lambda w, a: call(w.espace, _who(a)),
        action,
        action,
        refused_names_patient=False,
        patient=lambda w: SARAH_NIR,
        allowed_person=SARAH_NIR,
    )


def _espace_on(make: Callable[[World], str], call: Callable[[Espace, Who, str], object], action: str) -> Scenario:
    """A change of one of Sarah's entries, made first by Sarah herself: Sarah allowed, a professional refused."""
    return Scenario(
        lambda w, a: call(w.espace, _who(a), make(w)),
        action,
        action,
        refused_names_patient=False,
        patient=lambda w: SARAH_NIR,
        allowed_person=SARAH_NIR,
    )


def _dmp_patient(call: Callable[[Dmp, Who], object], action: str) -> Scenario:
    """A DMP use reserved to the patient: Sarah allowed, a professional refused."""
    return Scenario(
        lambda w, a: call(w.dmp, _who(a)),
        action,
        action,
        refused_names_patient=False,
        patient=lambda w: SARAH_NIR,
        allowed_person=SARAH_NIR,
    )


_IPPS = iter(range(2, 10_000))


def _another(world: World) -> int:
    """A second record of the desk's structure (for a merge), admitted by the desk itself."""
    return world.patients.admit(DESK, HOSP, f"IPP{next(_IPPS)}", SARAH).id


def _with_ins(world: World) -> int:
    """The world's record with its INS retrieved by the desk (what an invalidation needs)."""
    if not world.patients.get(DESK, world.patient_id).insi_retrieved:
        world.patients.record_insi_result(DESK, world.patient_id, _sarah_00(world))
    return world.patient_id


def _review(world: World) -> int:
    """An open doublon alert of the desk's structure: a second record of Sarah, queued by a scan."""
    if "review" not in world.made:
        _another(world)
        world.patients.detect_duplicates(DESK, HOSP)
        world.made["review"] = world.patients.reviews(DESK, HOSP)[0]["id"]
    return world.made["review"]


def _insi_context(actor: Actor) -> CallContext:
    """The desk calls INSi for its habilitated structure; the outsider's structure is not habilitated."""
    return CallContext(STRUCTURE if actor is DESK else actor.structure, IDAM, professional=actor.person)


def _sarah_ins(world: World) -> str:
    return _sarah_00(world).individu.active.value


# --- the DMP: the desk's doctor feeds and reads; the outsider's structure never informed Sarah ----------


def _doctor(actor: Actor) -> Who:
    return Who(Actor(actor.person, actor.structure, actor.software, kind="professional", profession="10"))


def _informed(world: World) -> None:
    """Sarah informed by the desk's structure, not opposed: its doctors may feed and read her DMP."""
    if "informed" not in world.made:
        world.dmp.record_information(
            _doctor(DESK), SARAH_NIR, InformationState.NOT_OPPOSED, InformationState.NOT_OPPOSED
        )
        world.made["informed"] = True


def _lot(**visibility: tuple[str, ...]):
    """An ITI-65 request of one real CDA letter about Sarah, as the DMP's adapter parses it."""
    return mhd.parse_provide(provide_bundle([Produced(n1(PROS["hospitalier"]), **visibility)]))


def _new_document(world: World) -> str:
    """A new document in Sarah's DMP, fed by the desk's doctor; its entry id."""
    _informed(world)
    provided = world.dmp.provide(_doctor(DESK), _lot())
    return next(loc.split("/")[1] for loc in provided.locations if loc.startswith("DocumentReference/"))


def _fed(world: World) -> str:
    """A document in Sarah's DMP, fed once by the desk's doctor; its entry id."""
    if "document" not in world.made:
        world.made["document"] = _new_document(world)
    return world.made["document"]


def _fed_unique_id(world: World) -> str:
    if "unique_id" not in world.made:
        world.made["unique_id"] = world.dmp.document(_doctor(DESK), _fed(world)).unique_id
    return world.made["unique_id"]


def _fed_lot(world: World) -> str:
    """The id of the lot `_fed`'s document came in (its entry's submission)."""
    if "lot" not in world.made:
        world.made["lot"] = world.dmp.document(_doctor(DESK), _fed(world)).submission
    return world.made["lot"]


def _provide(world: World, actor: Actor):
    """The outsider's structure informed Sarah, who opposed its feeding her DMP: its lot is refused."""
    if actor is OUTSIDER:
        world.dmp.record_information(
            _doctor(OUTSIDER),
            SARAH_NIR,
            InformationState.OPPOSED,
            InformationState.NOT_OPPOSED,
            motif="refus de la patiente",
        )
    return world.dmp.provide(_doctor(actor), _lot())


def _dmp_reader(call: Callable[[World, Who], object], action: str) -> Scenario:
    """A professional's read or change of Sarah's DMP: the desk's doctor allowed, the outsider refused."""
    return Scenario(lambda w, a: call(w, _doctor(a)), action, action, patient=lambda w: SARAH_NIR)


def _announced(world: World) -> int:
    """A document kept from Sarah until its consultation d'annonce, announced after two weeks."""
    _informed(world)
    world.dmp.provide(_doctor(DESK), _lot(visibility=("INVISIBLE_PATIENT",)))
    return world.dmp.notify_announcements(datetime.now(UTC) + timedelta(days=15))


# --- Mon espace santé: entries Sarah made first ------------------------------------------------------


def _event(world: World) -> str:
    return world.espace.put_event(SARAH_WHO, APPOINTMENT)["id"]


def _item(world: World) -> str:
    return world.espace.put_item(SARAH_WHO, "maladies", {"resourceType": "Condition", "code": {"text": "Asthme"}})["id"]


APPOINTMENT = {"resourceType": "Appointment", "start": "2026-12-01T09:00:00Z", "description": "Consultation"}
WEIGHT = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": LOINC, "code": "29463-7"}]},
    "valueQuantity": {"value": 60, "unit": "kg", "system": UCUM, "code": "kg"},
    "effectiveDateTime": "2026-10-01T08:00:00Z",
}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _measure(world: World) -> str:
    return world.espace.add_measure(SARAH_WHO, WEIGHT)["id"]


def _deposited(world: World) -> str:
    return world.espace.deposit(SARAH_WHO, "DOCPAT01", "Mon compte rendu", "application/pdf", PDF)


# --- the ordonnance: the desk's doctor prescribes, a pharmacist of the desk's structure dispenses -----

TODAY = date.today()
PARACETAMOL = Line(1, LineKind.MEDICAMENT, "Paracétamol 1 000 mg comprimé", "3400930000014", SYS_CIP, "", 1, "{boîte}")


def _prescriber(actor: Actor) -> Actor:
    """The desk's doctor by Pro Santé Connect; the outsider a doctor of another structure."""
    return Actor(actor.person, actor.structure, actor.software, kind="professional", profession="10")


def _pharmacist(actor: Actor) -> Actor:
    """The desk's pharmacist; the outsider a professional whose profession executes nothing."""
    return Actor(
        actor.person, actor.structure, actor.software, kind="professional", profession="21" if actor is DESK else "99"
    )


def _prescription(world: World, use: str = "lue") -> str:
    """The desk doctor's prescription for `use`: the reads share one, each change (cancelled, executed)
    has its own, so that none finds another's cancelled or executed (a shared world holds them all)."""
    if f"prescription-{use}" not in world.made:
        world.made[f"prescription-{use}"] = world.ordonnance.create(
            _prescriber(DESK), Draft(TODAY, True, (PARACETAMOL,))
        ).number
    return world.made[f"prescription-{use}"]


SARAH_QUALIFIED = PatientIns(SARAH_NIR, OID_INS_NIR_TEST, "QUAL")
DELIVERED = (LineExecution(1, Outcome.DELIVRE),)


def _ordonnance(call: Callable[[World, Actor], object], action: str, **fields) -> Scenario:
    """The base holds no patient identity (000 L3697): its records name none, unless an INS is given."""
    return Scenario(
        call,
        action,
        action,
        refused_names_patient=False,
        refused_outcome="refused",
        **{"patient": lambda w: None, **fields},
    )


# --- Mon espace santé's messagerie: a letter from the hospital in Sarah's mailbox ----------------------

HOSPITAL_DOMAIN = "chu-test.mssante.fr"
LETTER_FROM = f"secretariat@{HOSPITAL_DOMAIN}"
PHARMACY_BOX = f"pharmacie@{HOSPITAL_DOMAIN}"
STRANGER = "180057511500112"  # another patient: Sarah's messages are not in his mailbox


def _letter(world: World) -> int:
    """The operators of Mon espace santé and of the hospital, Sarah's mailbox, a letter in it; its UID."""
    if "letter" not in world.made:
        mss = world.messagerie.mss
        mss.local_operator("mes", "MON ESPACE SANTE", [CITIZEN_DOMAIN], Endpoints("127.0.0.1", 0, 0))
        mss.local_operator("chu-test", "CHU DE TEST", [HOSPITAL_DOMAIN], Endpoints("127.0.0.1", 0, 0))
        box = Messagerie.address(SARAH_NIR)
        mss.mailboxes.create(audit.SYSTEM, box, "mes", CITIZEN, SARAH_NIR, "Sarah")
        message = mime.compose(mime.Outgoing(LETTER_FROM, [box], "Compte rendu", "Bonjour Madame"), domain="chu")
        raw = mime.as_bytes(message)
        world.made["letter"] = mss.delivery.deliver(audit.SYSTEM, box, raw, LETTER_FROM, str(message["Message-ID"])).uid
    return world.made["letter"]


def _pharmacy_listed(world: World) -> None:
    """The pharmacy's organisational mailbox in the Annuaire Santé (where the patient may forward)."""
    org = annuaire_resources.organization(
        "399999999800011",
        "PHARMACIE DU MARCHE",
        "2026-11-01T08:00:00+00:00",
        mailboxes=[annuaire_resources.mailbox(PHARMACY_BOX, "ORG")],
    )
    with world.messagerie.mss.db.write() as conn:
        annuaire_put(conn, [org])


# --- the hospital's PFI: a letter about Sarah in its applicative mailbox ------------------------------

PFI_BOX = f"pfi@{HOSPITAL_DOMAIN}"


def _pfi(world: World) -> Pfi:
    """The desk's PFI over a mailbox holding one letter about Sarah (her INS not yet in the index: the
    document waits on the worklist for a human to attach it)."""
    if "pfi" not in world.made:
        world.made["pfi"] = Pfi(
            world.house.db,
            world.house.mss.blobs,
            world.house.settings.reference_path,
            HOSP,
            MemoryMailbox({1: mss_letter(to=PFI_BOX)}),
            lambda *_: None,
            address=PFI_BOX,
            domain=HOSPITAL_DOMAIN,
            patients=world.patients,
        )
    return world.made["pfi"]


def _waiting(world: World) -> str:
    """The worklist entry of the letter, once the PFI handled it."""
    if "entry" not in world.made:
        _pfi(world).handle_all([1])
        world.made["entry"] = Worklist(world.house.db, world.house.mss.blobs, HOSP).worklist(DESK)[0].id
    return world.made["entry"]


def _worklist(actor: Actor, world: World) -> Worklist:
    """The worklist of the caller's own structure (the PFI's adapter builds it so): the outsider's does
    not hold the desk's entries."""
    return Worklist(world.house.db, world.house.mss.blobs, actor.structure, patients=world.patients)


def _worklist_use(call: Callable[[Worklist, str, World], object], action: str) -> Scenario:
    return Scenario(
        lambda w, a: call(_worklist(a, w), _waiting(w), w),
        action,
        action,
        refused_names_patient=False,
        patient=lambda w: SARAH_NIR,
    )


def _pfi_batch(call: Callable[[Pfi], object]) -> Scenario:
    """The PFI's own batch (no caller to refuse): its record names the letter's patient."""
    return Scenario(lambda w, a: call(_pfi(w)), "mss.pfi.", "", patient=lambda w: SARAH_NIR, allowed_person=PFI_BOX)


def _patient_of(actor: Actor) -> str:
    """The messagerie acts for the patient its token names: Sarah, or a stranger naming her message."""
    return SARAH_NIR if actor is DESK else STRANGER


def _messagerie(call: Callable[[World, str], object], action: str) -> Scenario:
    return Scenario(
        lambda w, a: call(w, _patient_of(a)),
        action,
        action,
        refused_names_patient=False,
        patient=lambda w: SARAH_NIR,
        allowed_person=SARAH_NIR,
        refused_person=STRANGER,
    )


COVERED: dict[str, Scenario] = {
    "PatientIndex.admit": Scenario(
        lambda w, a: w.patients.admit(a, HOSP, "IPP-NEW", SARAH),
        "identitovigilance.admit",
        "identitovigilance.admit",
        refused_names_patient=False,
    ),
    "PatientIndex.get": Scenario(
        lambda w, a: w.patients.get(a, w.patient_id), "identitovigilance.read", "identitovigilance.get"
    ),
    # a search names no one patient (its record counts the results) and is scoped to the caller's
    # structure: another structure's desk finds nothing, there is no refusal to record
    "PatientIndex.search": Scenario(
        lambda w, a: w.patients.search(a, family="GARCIA"), "identitovigilance.search", "", patient=lambda w: None
    ),
    "PatientIndex.search_page": Scenario(
        lambda w, a: w.patients.search_page(a, family="GARCIA", limit=0),
        "identitovigilance.search",
        "",
        patient=lambda w: None,
    ),
    # a FHIR update from an identity source: the same rules (and records) as update_traits
    "PatientIndex.update_from_source": Scenario(
        lambda w, a: w.patients.update_from_source(
            a, w.patient_id, w.ipp, Traits.of("Garcia", "Sarah-Lou Anna", "F", "1977-01-21")
        ),
        "identitovigilance.",
        "identitovigilance.update_from_source",
    ),
    "PatientIndex.history": Scenario(
        lambda w, a: w.patients.history(a, w.patient_id), "identitovigilance.history", "identitovigilance.history"
    ),
    "PatientIndex.record_insi_result": Scenario(
        lambda w, a: w.patients.record_insi_result(a, w.patient_id, _sarah_00(w)),
        "identitovigilance.",
        "identitovigilance.record_insi_result",
    ),
    "PatientIndex.check_document": Scenario(
        lambda w, a: w.patients.check_document(a, w.patient_id, "CN"),
        "identitovigilance.document-check",
        "identitovigilance.check_document",
    ),
    "PatientIndex.set_attribute": Scenario(
        lambda w, a: w.patients.set_attribute(a, w.patient_id, "douteuse"),
        "identitovigilance.",
        "identitovigilance.set_attribute",
    ),
    "PatientIndex.update_traits": Scenario(
        lambda w, a: w.patients.update_traits(a, w.patient_id, Traits.of("Garcia", "Sarah-Lou", "F", "1977-01-21")),
        "identitovigilance.",
        "identitovigilance.update_traits",
    ),
    "InsiService.search_by_traits": Scenario(
        lambda w, a: w.insi.search_by_traits(_insi_context(a), SARAH_QUERY),
        "insi.rechercherInsAvecTraitsIdentite",
        "insi.rechercherInsAvecTraitsIdentite",
        refused_names_patient=False,
        patient=lambda w: _sarah_00(w).individu.active.value,
    ),
    "Espace.profile": _espace(lambda e, who: e.profile(who), "espace.profil.lire"),
    "Espace.volontes": _espace(lambda e, who: e.volontes(who), "espace.volontes.lire"),
    "Espace.items": _espace(lambda e, who: e.items(who, "maladies"), "espace.profil.lire"),
    "Espace.measures": _espace(lambda e, who: e.measures(who), "espace.mesure.lire"),
    "Espace.events": _espace(lambda e, who: e.events(who), "espace.agenda.lire"),
    "Espace.set_profile_part": _espace(
        lambda e, who: e.set_profile_part(who, "volontes", {"donOrganes": "favorable"}), "espace.volontes.modifier"
    ),
    "Dmp.history": _dmp_patient(lambda d, who: d.history(who), "dmp.patient.historique"),
    "Dmp.history_page": _dmp_patient(lambda d, who: d.history_page(who, 1), "dmp.patient.historique"),
    "Dmp.settings": _dmp_patient(lambda d, who: d.settings(who), "dmp.patient.reglages"),
    "Dmp.awaiting_announcement": _dmp_patient(lambda d, who: d.awaiting_announcement(who), "dmp.annonce.attente"),
    "Dmp.status_for": Scenario(
        lambda w, a: w.dmp.status_for(
            _who(a) if a is DESK else Who(Actor(a.person, "", "", kind="patient", patient=a.person)), SARAH_NIR
        ),
        "dmp.information.lire",
        "dmp.information.lire",
        patient=lambda w: SARAH_NIR,
        allowed_person=SARAH_NIR,
    ),
    "PatientIndex.reviews": Scenario(
        lambda w, a: w.patients.reviews(a, HOSP),
        "identitovigilance.reviews",
        "identitovigilance.reviews",
        patient=lambda w: None,
        refused_names_patient=False,
    ),
    "PatientIndex.invalidate_ins": Scenario(
        lambda w, a: w.patients.invalidate_ins(a, _with_ins(w), "vérification INSi en échec"),
        "identitovigilance.ins-invalidation",
        "identitovigilance.invalidate_ins",
    ),
    "PatientIndex.merge": Scenario(
        lambda w, a: w.patients.merge(a, w.patient_id, _another(w)),
        "identitovigilance.merge",
        "identitovigilance.merge",
    ),
    "PatientIndex.split": Scenario(
        lambda w, a: w.patients.split(
            a, w.patient_id, f"IPP{next(_IPPS)}", Traits.of("Lambert", "Marie", "F", "1980-01-01")
        ),
        "identitovigilance.split",
        "identitovigilance.split",
    ),
    # the messagerie acts for the patient its token names (the INS is the caller): nothing to refuse here
    "Messagerie.inbox": Scenario(
        lambda w, a: w.messagerie.inbox(SARAH_NIR),
        "espace.messagerie.lister",
        "",
        patient=lambda w: SARAH_NIR,
        allowed_person=SARAH_NIR,
    ),
    "Espace.put_item": _espace(
        lambda e, who: e.put_item(who, "maladies", {"resourceType": "Condition", "code": {"text": "Asthme"}}),
        "espace.profil.modifier",
    ),
    "Espace.add_measure": _espace(
        lambda e, who: e.add_measure(
            who,
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "29463-7"}]},
                "valueQuantity": {"value": 60, "unit": "kg", "system": UCUM, "code": "kg"},
                "effectiveDateTime": "2026-10-01T08:00:00Z",
            },
        ),
        "espace.mesure.ajouter",
    ),
    "Cellule.report_incident": Scenario(
        lambda w, a: w.cellule.report_incident(a, "erreur-saisie", "nom mal saisi", patient_id=w.patient_id),
        "identitovigilance.incident",
        "securite.acces-refuse",
        refused_names_patient=False,
    ),
    "PatientIndex.record_datamatrix": Scenario(
        lambda w, a: w.patients.record_datamatrix(
            a, w.patient_id, InsDatamatrix(SARAH_NIR, OID_INS_NIR_TEST, SARAH), _sarah_00(w)
        ),
        "identitovigilance.",
        "identitovigilance.record_insi_result",  # the Datamatrix's INS is recorded through INSi's
    ),
    "PatientIndex.read_carte_vitale_app": Scenario(
        lambda w, a: w.patients.read_carte_vitale_app(a, w.patient_id, _sarah_00(w), holder=True),
        "identitovigilance.",
        "identitovigilance.record_insi_result",  # the card's INS is recorded through INSi's
    ),
    # a scan of the structure's whole index names no one patient: its record counts records and pairs
    "PatientIndex.detect_duplicates": Scenario(
        lambda w, a: w.patients.detect_duplicates(a, HOSP),
        "identitovigilance.detect-duplicates",
        "identitovigilance.detect-duplicates",
        patient=lambda w: None,
        refused_names_patient=False,
    ),
    # an alert pairs two records: its dismissal names the alert, and the refusal the structure
    "PatientIndex.dismiss_review": Scenario(
        lambda w, a: w.patients.dismiss_review(a, _review(w)),
        "identitovigilance.dismiss",
        "identitovigilance.dismiss",
        patient=lambda w: None,
        refused_names_patient=False,
    ),
    "InsiService.search_by_carte_vitale": Scenario(
        lambda w, a: w.insi.search_by_carte_vitale(_insi_context(a), CarteVitaleQuery(SARAH_NIR, None, "1977-01-21")),
        "insi.rechercherInsAvecCarteVitale",
        "insi.rechercherInsAvecCarteVitale",
        refused_names_patient=False,
        patient=_sarah_ins,
    ),
    "Dmp.provide": Scenario(_provide, "dmp.alimenter", "dmp.alimenter", patient=lambda w: SARAH_NIR),
    "Dmp.record_information": Scenario(
        # a professional in his structure, or its software by its logiciel key, records it: a scopeless key is refused
        lambda w, a: w.dmp.record_information(
            _doctor(a) if a is DESK else Who(Actor(a.person, a.structure, a.software, kind="software")),
            SARAH_NIR,
            InformationState.NOT_OPPOSED,
            InformationState.NOT_OPPOSED,
        ),
        "dmp.information",
        "dmp.information",
        patient=lambda w: SARAH_NIR,
    ),
    "Dmp.find_documents": _dmp_reader(
        lambda w, who: (_fed(w), w.dmp.find_documents(who, SARAH_NIR, ["current"])), "dmp.rechercher"
    ),
    "Dmp.submission_sets": _dmp_reader(
        lambda w, who: (_fed(w), w.dmp.submission_sets(who, SARAH_NIR, ["current"])), "dmp.rechercher-lots"
    ),
    # a lot read at its fullUrl (issue 20 §4.2): the search's own decision and record
    "Dmp.submission_set": _dmp_reader(lambda w, who: w.dmp.submission_set(who, _fed_lot(w)), "dmp.rechercher-lots"),
    "Dmp.document": _dmp_reader(lambda w, who: w.dmp.document(who, _fed(w)), "dmp.lire"),
    "Dmp.retrieve": _dmp_reader(lambda w, who: w.dmp.retrieve(who, _fed(w)), "dmp.consulter"),
    "Dmp.update_metadata": _dmp_reader(
        lambda w, who: w.dmp.update_metadata(who, _fed_unique_id(w), None, True, None, None), "dmp.mettre-a-jour"
    ),
    "Dmp.withdraw": _dmp_reader(lambda w, who: w.dmp.withdraw(who, _new_document(w)), "dmp.supprimer"),
    # a batch of the service itself (no caller to refuse): each announced document's record names its patient
    "Dmp.notify_announcements": Scenario(
        lambda w, a: _announced(w), "dmp.annonce", "", patient=lambda w: SARAH_NIR, allowed_person=SYSTEM
    ),
    "Dmp.set_dossier_state": _dmp_patient(
        lambda d, who: d.set_dossier_state(who, DossierState.ACTIVE), "dmp.patient.etat"
    ),
    "Dmp.set_preferences": _dmp_patient(
        lambda d, who: d.set_preferences(who, oppose_bris_de_glace=True), "dmp.patient.preferences"
    ),
    "Dmp.set_rule": _dmp_patient(lambda d, who: d.set_rule(who, OUTSIDER.person, "bloque"), "dmp.patient.regle"),
    "Dmp.create_code": _dmp_patient(lambda d, who: d.create_code(who, OUTSIDER.person, ["dmp"], 7), "dmp.patient.code"),
    "Dmp.revoke_codes": _dmp_patient(lambda d, who: d.revoke_codes(who, OUTSIDER.person), "dmp.patient.code-revoque"),
    "Espace.put_event": _espace(
        lambda e, who: e.put_event(who, APPOINTMENT),
        "espace.agenda.modifier",
    ),
    "Espace.delete_event": _espace_on(_event, lambda e, who, id_: e.delete_event(who, id_), "espace.agenda.supprimer"),
    "Espace.delete_item": _espace_on(
        _item, lambda e, who, id_: e.delete_item(who, "maladies", id_), "espace.profil.supprimer"
    ),
    "Espace.delete_measure": _espace_on(
        _measure, lambda e, who, id_: e.delete_measure(who, id_), "espace.mesure.supprimer"
    ),
    "Espace.deposit": _espace(
        lambda e, who: e.deposit(who, "DOCPAT01", "Mon compte rendu", "application/pdf", PDF), "espace.document.deposer"
    ),
    "Espace.remove_document": _espace_on(
        _deposited, lambda e, who, id_: e.remove_document(who, id_), "espace.document.retirer"
    ),
    # the synthesis is made from the profile: a professional is refused at its reading, and recorded there
    "Espace.share_profile": Scenario(
        lambda w, a: w.espace.share_profile(_who(a)),
        "espace.document.deposer",
        "espace.profil.lire",
        refused_names_patient=False,
        patient=lambda w: SARAH_NIR,
        allowed_person=SARAH_NIR,
    ),
    "Base.create": _ordonnance(
        lambda w, a: w.ordonnance.create(
            _prescriber(a)
            if a is DESK
            else Actor(a.person, a.structure, a.software, kind="professional", profession="21"),
            Draft(TODAY, True, (PARACETAMOL,)),
        ),
        "ordonnance.creer",
    ),
    "Base.read_as_prescriber": _ordonnance(
        lambda w, a: w.ordonnance.read_as_prescriber(_prescriber(a), _prescription(w)),
        "ordonnance.consulter.prescripteur",
    ),
    "Base.executions_for_prescriber": _ordonnance(
        lambda w, a: w.ordonnance.executions_for_prescriber(_prescriber(a), _prescription(w)),
        "ordonnance.consulter.prescripteur",
    ),
    "Base.search": _ordonnance(
        lambda w, a: w.ordonnance.search(
            _prescriber(a)
            if a is DESK
            else Actor(a.person, a.structure, a.software, kind="professional", profession="21")
        ),
        "ordonnance.rechercher",
    ),
    "Base.cancel": _ordonnance(
        lambda w, a: w.ordonnance.cancel(_prescriber(a), _prescription(w, "annulee")), "ordonnance.annuler"
    ),
    "Base.read_as_dispenser": _ordonnance(
        lambda w, a: w.ordonnance.read_as_dispenser(_pharmacist(a), _prescription(w)),
        "ordonnance.consulter.executant",
    ),
    # the dispenser records the patient's qualified INS with the execution: the record names her
    "Base.execute": _ordonnance(
        lambda w, a: w.ordonnance.execute(_pharmacist(a), _prescription(w, "executee"), DELIVERED, ins=SARAH_QUALIFIED),
        "ordonnance.executer",
        patient=lambda w: SARAH_NIR,
    ),
    "Base.execute_request": _ordonnance(
        lambda w, a: w.ordonnance.execute_request(
            _pharmacist(a), _prescription(w, "demandee"), lambda prescription: (DELIVERED, None, True)
        ),
        "ordonnance.executer",
    ),
    "Messagerie.read": _messagerie(lambda w, ins: w.messagerie.read(ins, _letter(w)), "espace.messagerie.lire"),
    "Messagerie.answer": _messagerie(
        lambda w, ins: w.messagerie.answer(ins, _letter(w), "Merci docteur"), "espace.messagerie.repondre"
    ),
    "Messagerie.forward": _messagerie(
        lambda w, ins: (_pharmacy_listed(w), w.messagerie.forward(ins, _letter(w), PHARMACY_BOX)),
        "espace.messagerie.transferer",
    ),
    # a worklist is the caller's structure's own (the adapter builds it from the caller): another
    # structure's desk reads its own list, there is no refusal to record
    "Worklist.worklist": Scenario(
        lambda w, a: (_waiting(w), _worklist(a, w).worklist(a)),
        "mss.pfi.liste",
        "",
        patient=lambda w: SARAH_NIR,
    ),
    "Worklist.document": _worklist_use(
        lambda wl, entry, w: wl.document(DESK_OF[wl.structure], entry), "mss.pfi.consulter"
    ),
    "Worklist.attach": _worklist_use(
        lambda wl, entry, w: wl.attach(DESK_OF[wl.structure], entry, w.patient_id), "mss.pfi.rattacher"
    ),
    "Worklist.reject": _worklist_use(
        lambda wl, entry, w: wl.reject(DESK_OF[wl.structure], entry, "pas notre patiente"), "mss.pfi.rejeter"
    ),
    "Pfi.handle": _pfi_batch(lambda pfi: pfi.handle(1)),
    "Pfi.handle_all": _pfi_batch(lambda pfi: pfi.handle_all([1])),
    "Pfi.run_once": _pfi_batch(lambda pfi: pfi.run_once()),
}

EXCLUDED: dict[str, str] = {
    "Cellule.record_ght": "records a GHT's member structures (administration, no patient)",
    "Cellule.record_meeting": "records a cell meeting's minutes (no patient)",
    "Cellule.adopt_procedure": "records a procedure's adoption (no patient)",
    "Cellule.report": "structure-wide counts from the trail (audited as identitovigilance.report, no patient)",
    "Cellule.ght": "a GHT's support and members (administration data, no patient)",
    "Cellule.functioning": "a cell's meeting days and procedures, for the observatory's PS1.1 (no patient)",
    "InsiService.register_software": "habilitation of a software (no patient)",
    "InsiService.register_structure": "habilitation of a structure (no patient)",
    "InsiService.registered_software": "the software registry, for the observatory's conformity (no patient)",
    "InsiService.authorise": "checks the caller's habilitation before an operation (no data read)",
    "InsiService.issue_certificate": "issues a structure certificate (audited as securite.cle-emise)",
    "InsiService.require_credential": "checks a certificate is presented (refusal audited as securite)",
    "InsiService.check_certificate": "checks the certificate against the ContexteLPS (refusal audited)",
    "PatientIndex.by_ins_numbers": (
        "a step of the PFI's integration of a batch: the PFI records each message's outcome with its INS and "
        "IPP in the transaction that files it (mss.pfi.*); a caller of another structure is refused and recorded"
    ),
    "PatientIndex.absorb": (
        "the fusion step inside its caller's transaction (the cell's decision, the GAM's A40): it writes "
        "identitovigilance.merge itself, which tests/etablissement/sejours and the cell's fusion tests read"
    ),
    "PatientIndex.candidates": (
        "a step of the PFI's worklist entry: the entry that proposes them is recorded with the candidates "
        "(mss.pfi.*); a caller of another structure is refused and recorded"
    ),
    "Dmp.code_hash": "hashes a delegation code (no data read)",
    "Dmp.visible": "pure decision on an entry the caller already loaded (its read is audited)",
    "Dmp.view": "the dossier's view inside a caller's transaction; the public operations audit",
    "Dmp.resolve_ins": "maps an identifier to an INS inside an audited operation",
    "Dmp.under_doctor": "decision helper inside an audited operation",
    "Dmp.refused_change": "the refusal recorder itself (writes a failure record)",
    "Dmp.current_for_patch": (
        "the PATCH's authorisation step: its refusal is recorded (dmp.mettre-a-jour); the fiche it returns "
        "is never answered, the PATCH that follows records its outcome (update_metadata or refused_change)"
    ),
    "Dmp.deposit": (
        "the DMP's half of Espace.deposit (covered): the espace checks the caller is the patient and records "
        "a refusal; this commits the entry with its record under the espace's action"
    ),
    "Dmp.withdraw_deposited": (
        "the DMP's half of Espace.remove_document (covered): the espace checks the caller and records a "
        "refusal; this withdraws the entry with its record under the espace's action"
    ),
    "Dmp.referenced_blobs": "the blob digests entries name, for the store's sweep (no patient data)",
    "Dmp.declare_secretary": "a doctor's delegation to a secretary (no patient; recorded as dmp.secretariat)",
    "Espace.owner": "checks the caller is a patient (no data read)",
    "Espace.categories": "the list of document categories (reference data)",
    "Espace.record": "the record writer of the espace's changes itself",
    "Base.counters": "national counters from the trail (no patient)",
    "Messagerie.address": "the patient's MSSanté address, derived from the INS (no data read)",
    "Pfi.pending": "the UIDs of the mailbox's unhandled messages (no patient data)",
    "Pfi.watch": (
        "the loop of `maison pfi` until stopped: each batch is judged and recorded as handle_all does "
        "(covered), its records in the batch's commit"
    ),
}

# Patient data whose scenario is still to be written here (issue 19 §2.2), with the reason: none left.
PENDING: dict[str, str] = {}

# The scenarios that read, or add or change what no other scenario reads (an entry, an incident, a
# prescription of their own), and change nothing the others rely on: they share one world per backend,
# in test_audit_coverage_shared.py (each reads the trail from its own mark). The others change Sarah's
# identity, her INS, her DMP's rules and codes, the PFI's letter or the structure's index (merge,
# split, a second record): each keeps a world of its own here.
SHARED: frozenset[str] = frozenset(
    {
        *("PatientIndex.get", "PatientIndex.search", "PatientIndex.search_page", "PatientIndex.history"),
        *("PatientIndex.reviews", "PatientIndex.detect_duplicates", "Cellule.report_incident"),
        *("InsiService.search_by_traits", "InsiService.search_by_carte_vitale"),
        *("Espace.profile", "Espace.volontes", "Espace.items", "Espace.measures", "Espace.events"),
        *("Espace.set_profile_part", "Espace.put_item", "Espace.add_measure", "Espace.put_event", "Espace.deposit"),
        *("Espace.delete_event", "Espace.delete_item", "Espace.delete_measure", "Espace.remove_document"),
        "Espace.share_profile",
        *("Dmp.history", "Dmp.history_page", "Dmp.settings", "Dmp.awaiting_announcement", "Dmp.status_for"),
        *("Dmp.record_information", "Dmp.find_documents", "Dmp.submission_sets", "Dmp.submission_set"),
        *("Dmp.document", "Dmp.retrieve", "Dmp.withdraw", "Dmp.notify_announcements", "Dmp.set_dossier_state"),
        "Dmp.set_preferences",
        *("Base.create", "Base.read_as_prescriber", "Base.executions_for_prescriber", "Base.search"),
        *("Base.read_as_dispenser", "Base.cancel", "Base.execute", "Base.execute_request"),
        *("Messagerie.inbox", "Messagerie.read", "Messagerie.answer", "Messagerie.forward"),
        *("Worklist.worklist", "Worklist.document"),
    }
)


def public_methods(cls: type) -> set[str]:
    """The methods a service offers: public, defined on the class itself (not inherited from object)."""
    return {
        f"{cls.__name__}.{name}"
        for name, member in vars(cls).items()
        if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, staticmethod | classmethod))
    }


def test_every_public_method_is_classified():
    found = set().union(*(public_methods(cls) for cls in SERVICES))
    tables = (set(COVERED), set(EXCLUDED), set(PENDING))
    classified = set().union(*tables)
    assert found - classified == set(), "public service methods to classify (COVERED, EXCLUDED or PENDING)"
    assert classified - found == set(), "classified methods that no longer exist"
    assert sum(len(t) for t in tables) == len(classified), "a method is in two tables"
    assert SHARED <= set(COVERED), "a shared scenario that is not a covered method's"


def test_a_new_public_method_is_caught(monkeypatch):
    monkeypatch.setattr(PatientIndex, "export_everyone", lambda self, actor: [], raising=False)
    classified = set(COVERED) | set(EXCLUDED) | set(PENDING)
    assert public_methods(PatientIndex) - classified == {"PatientIndex.export_everyone"}


def open_world(house) -> World:
    """Sarah in the INS referential and admitted by the desk (IPP1), the house's services around her."""
    seed_referential(house.insi)
    p = house.patients.admit(DESK, HOSP, "IPP1", SARAH)
    return World(
        house,
        house.patients,
        house.cellule,
        house.insi,
        house.espace,
        house.dmp,
        Messagerie(house.mss),
        house.ordonnance,
        p.id,
        p.ipp,
    )


@pytest.fixture
def world(house) -> World:
    return open_world(house)


def _records_after(db, seq: int) -> list[dict]:
    with db.read() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(audit.audit_event).where(audit.audit_event.c.seq > seq).order_by(audit.audit_event.c.seq)
            )
        ]


def _last_seq(db) -> int:
    with db.read() as conn:
        return conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit.audit_event.c.seq), 0))).scalar_one()


def _matches(action: str, expected: str) -> bool:
    return action.startswith(expected) if expected.endswith(".") else action == expected


@pytest.mark.parametrize("name", sorted(set(COVERED) - SHARED))
def test_a_covered_method_leaves_its_record_allowed_and_refused(name, world, house):
    check(name, world, house)


def check(name: str, world: World, house) -> None:
    """`name`'s scenario called by the desk (its success record names the actor, the action and the
    patient), then by the outsider (refused, its failure record), the trail's chain intact after."""
    scenario = COVERED[name]
    before = _last_seq(house.db)
    scenario.call(world, DESK)
    allowed = [
        r
        for r in _records_after(house.db, before)
        if r["actor_person"] == scenario.allowed_person
        and r["outcome"] == "success"
        and _matches(r["action"], scenario.action)
    ]
    assert allowed, f"{name}: no success record of {scenario.action}"
    expected_patient = (
        scenario.patient(world) if scenario.patient else ("IPP-NEW" if name == "PatientIndex.admit" else world.ipp)
    )
    assert any(r["patient"] == expected_patient for r in allowed), f"{name}: the record does not name the patient"

    if scenario.refused_action:
        before = _last_seq(house.db)
        with pytest.raises(MaisonError):
            scenario.call(world, OUTSIDER)
        refused = [
            r
            for r in _records_after(house.db, before)
            if r["actor_person"] == scenario.refused_person
            and r["outcome"] == scenario.refused_outcome
            and r["action"] == scenario.refused_action
        ]
        assert refused, f"{name}: the refusal left no record {scenario.refused_action}"
        if scenario.refused_names_patient:
            assert refused[0]["patient"] == expected_patient
    with house.db.read() as conn:
        assert audit.verify_chain(conn) == (True, None)
