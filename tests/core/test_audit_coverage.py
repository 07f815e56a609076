"""Every public service method that reads or writes patient data leaves an audit record (issue 19 §2.2).

DESIGN.md §Rules: every read or write of health data leaves a record through core's one audit API
(who, which patient, what, outcome), refusals included. Two halves:

- the enumeration: every public method of the services that hold patient data is introspected and
  must appear in exactly one table below — `COVERED` (a scenario here calls it once allowed and once
  refused and checks the records), `NO_PATIENT_DATA` (with the reason it touches none), or `PENDING`
  (it touches patient data and is audited by its service, but its scenario is still to be written
  here). A public method added without being put in a table fails `test_every_public_method_is_classified`.
- the scenarios: each `COVERED` method, called by its structure's desk, leaves a success record naming
  the actor, the patient and the action; called by another structure's desk, it is refused and leaves
  a failure record naming the actor and the action (and the patient when the refusal knows him).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from maison.core import audit
from maison.core.errors import MaisonError
from maison.core.ins_traits import Traits
from maison.identite.ins.model import CallContext, TraitsQuery
from maison.identite.ins.service import InsiService
from maison.identite.vigilance.cellule import Cellule
from maison.identite.vigilance.service import PatientIndex
from maison.partage.dmp.model import Who
from maison.partage.dmp.service import Dmp
from maison.partage.espace.mesures import LOINC, UCUM
from maison.partage.espace.service import Espace
from maison.partage.mss.messagerie import Messagerie
from maison.partage.ordonnance.service import Base
from tests.identite.helpers import IDAM, SARAH_NIR, STRUCTURE, seed_referential

SERVICES: tuple[type, ...] = (PatientIndex, Cellule, InsiService, Dmp, Espace, Base, Messagerie)

HOSP = "1750000019"
DESK = audit.Actor(person="899900038441", structure=HOSP, software="dpi")
OUTSIDER = audit.Actor(person="899900099999", structure="1999999999", software="dpi")
SARAH = Traits.of("Garcia-Hammadi", "Sarah-Lou", "F", "1977-01-21")


@dataclass(frozen=True)
class World:
    patients: PatientIndex
    cellule: Cellule
    insi: InsiService
    espace: Espace
    dmp: Dmp
    messagerie: Messagerie
    patient_id: int
    ipp: str


@dataclass(frozen=True)
class Scenario:
    """`call(world, actor)` once by `DESK` (allowed) and once by `OUTSIDER` (refused, raises)."""

    call: Callable[[World, audit.Actor], object]
    action: str  # the action of the allowed call's record (a prefix ending in "." matches a family)
    refused_action: str  # empty when the method cannot be refused (said where it is declared)
    refused_names_patient: bool = True
    patient: Callable[[World], str | None] | None = None  # the allowed record's patient; the world's IPP by default
    allowed_person: str = DESK.person  # who the allowed record names (the patient herself in her espace)


SARAH_QUERY = TraitsQuery("GARCIA-HAMMADI", ("SARAH-LOU",), "F", "1977-01-21")


def _sarah_00(world: World):
    return world.insi.referential.search_by_traits(SARAH_QUERY)


def _who(actor: audit.Actor) -> Who:
    """In Mon espace santé the desk stands for Sarah herself; the outsider is a professional, refused."""
    if actor is DESK:
        return Who("patient", SARAH_NIR, patient=SARAH_NIR)
    return Who("professional", actor.person, structure=actor.structure, software=actor.software)


def _espace(call: Callable[[Espace, Who], object], action: str) -> Scenario:
    return Scenario(
        lambda w, a: call(w.espace, _who(a)),
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


def _insi_context(actor: audit.Actor) -> CallContext:
    """The desk calls INSi for its habilitated structure; the outsider's structure is not habilitated."""
    return CallContext(STRUCTURE if actor is DESK else actor.structure, IDAM, professional=actor.person)


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
    "Dmp.status_for": Scenario(
        lambda w, a: w.dmp.status_for(_who(a) if a is DESK else Who("patient", a.person, patient=a.person), SARAH_NIR),
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
}

NO_PATIENT_DATA: dict[str, str] = {
    "Cellule.record_ght": "records a GHT's member structures (administration, no patient)",
    "Cellule.record_meeting": "records a cell meeting's minutes (no patient)",
    "Cellule.adopt_procedure": "records a procedure's adoption (no patient)",
    "Cellule.report": "structure-wide counts from the trail (audited as identitovigilance.report, no patient)",
    "InsiService.register_software": "habilitation of a software (no patient)",
    "InsiService.register_structure": "habilitation of a structure (no patient)",
    "InsiService.authorise": "checks the caller's habilitation before an operation (no data read)",
    "InsiService.issue_certificate": "issues a structure certificate (audited as securite.cle-emise)",
    "InsiService.require_credential": "checks a certificate is presented (refusal audited as securite)",
    "InsiService.check_certificate": "checks the certificate against the ContexteLPS (refusal audited)",
    "Dmp.code_hash": "hashes a delegation code (no data read)",
    "Dmp.visible": "pure decision on an entry the caller already loaded (its read is audited)",
    "Dmp.view": "the dossier's view inside a caller's transaction; the public operations audit",
    "Dmp.resolve_ins": "maps an identifier to an INS inside an audited operation",
    "Dmp.under_doctor": "decision helper inside an audited operation",
    "Dmp.refused_change": "the refusal recorder itself (writes a failure record)",
    "Espace.owner": "checks the caller is a patient (no data read)",
    "Espace.categories": "the list of document categories (reference data)",
    "Espace.record": "the record writer of the espace's changes itself",
    "Base.counters": "national counters from the trail (no patient)",
    "Messagerie.address": "the patient's MSSanté address, derived from the INS (no data read)",
}

# Patient data whose scenario is still to be written here (issue 19 §2.2); most are audited by their
# service and their own tests check the records. Known gaps are said with their reason.
PENDING: dict[str, str] = {
    "PatientIndex.by_ins_numbers": "gap: not audited itself; the PFI records its outcome with the INS",
    "PatientIndex.candidates": "gap: not audited itself; the PFI's worklist entry that lists them is",
} | {
    name: "scenario to write (issue 19 §2.2)"
    for name in (
        "PatientIndex.record_datamatrix",
        "PatientIndex.read_carte_vitale_app",
        "PatientIndex.detect_duplicates",
        "PatientIndex.dismiss_review",
        "InsiService.search_by_carte_vitale",
        "Dmp.create_code",
        "Dmp.current_for_patch",
        "Dmp.declare_secretary",
        "Dmp.document",
        "Dmp.find_documents",
        "Dmp.notify_announcements",
        "Dmp.open",
        "Dmp.provide",
        "Dmp.record_information",
        "Dmp.retrieve",
        "Dmp.revoke_codes",
        "Dmp.set_dossier_state",
        "Dmp.set_preferences",
        "Dmp.set_rule",
        "Dmp.submission_sets",
        "Dmp.update_metadata",
        "Dmp.withdraw",
        "Espace.delete_event",
        "Espace.delete_item",
        "Espace.delete_measure",
        "Espace.deposit",
        "Espace.identity",
        "Espace.put_event",
        "Espace.remove_document",
        "Espace.share_profile",
        "Base.cancel",
        "Base.create",
        "Base.execute",
        "Base.execute_request",
        "Base.executions_for_prescriber",
        "Base.read_as_dispenser",
        "Base.read_as_prescriber",
        "Base.search",
        "Messagerie.answer",
        "Messagerie.forward",
        "Messagerie.read",
    )
}


def public_methods(cls: type) -> set[str]:
    """The methods a service offers: public, defined on the class itself (not inherited from object)."""
    return {
        f"{cls.__name__}.{name}"
        for name, member in vars(cls).items()
        if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, staticmethod | classmethod))
    }


def test_every_public_method_is_classified():
    found = set().union(*(public_methods(cls) for cls in SERVICES))
    tables = (set(COVERED), set(NO_PATIENT_DATA), set(PENDING))
    classified = set().union(*tables)
    assert found - classified == set(), "public service methods to classify (COVERED, NO_PATIENT_DATA or PENDING)"
    assert classified - found == set(), "classified methods that no longer exist"
    assert sum(len(t) for t in tables) == len(classified), "a method is in two tables"


def test_a_new_public_method_is_caught(monkeypatch):
    monkeypatch.setattr(PatientIndex, "export_everyone", lambda self, actor: [], raising=False)
    classified = set(COVERED) | set(NO_PATIENT_DATA) | set(PENDING)
    assert public_methods(PatientIndex) - classified == {"PatientIndex.export_everyone"}


@pytest.fixture
def world(house) -> World:
    seed_referential(house.insi)
    p = house.patients.admit(DESK, HOSP, "IPP1", SARAH)
    return World(house.patients, house.cellule, house.insi, house.espace, house.dmp, Messagerie(house.mss), p.id, p.ipp)


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


@pytest.mark.parametrize("name", sorted(COVERED))
def test_a_covered_method_leaves_its_record_allowed_and_refused(name, world, house):
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
            if r["actor_person"] == OUTSIDER.person
            and r["outcome"] == "failure"
            and r["action"] == scenario.refused_action
        ]
        assert refused, f"{name}: the refusal left no record {scenario.refused_action}"
        if scenario.refused_names_patient:
            assert refused[0]["patient"] == expected_patient
    with house.db.read() as conn:
        assert audit.verify_chain(conn) == (True, None)
