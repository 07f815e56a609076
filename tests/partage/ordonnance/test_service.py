"""The rules of the base ordonnance numérique (maison/partage/ordonnance/service.py), on both backends."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from maison.core.actor import Actor, Credential, KeyScope
from maison.core.audit import audit_event
from maison.core.errors import Conflict, Forbidden, InvalidInput, NotFound, TransitionRefused
from maison.formats.ordonnance import ALPHABET, SYS_CIP, SYS_LOINC, SYS_LPP, parse_number
from maison.partage.ordonnance import store
from maison.partage.ordonnance.model import (
    ContextObservation,
    Draft,
    Line,
    LineExecution,
    LineKind,
    Outcome,
    PatientIns,
)
from maison.partage.ordonnance.service import Base

TODAY = date(2026, 11, 21)
GP = Actor(
    "810000000002",
    "399999999900019",
    "LAP de test",
    kind="professional",
    profession="10",
    structures=("399999999900019",),
)
OTHER_GP = Actor("810000000009", "399999999900019", "LAP de test", kind="professional", profession="10")
PHARMACIST = Actor("810000000004", "399999999800011", "LGO de test", kind="professional", profession="21")
NURSE = Actor("810000000003", "399999999700013", "Logiciel IDE", kind="professional", profession="60")
LPP = Actor("prestataire", "399999999500017", "Logiciel LPP", kind="software", scope=KeyScope.FOURNISSEUR_LPP)
DESK_KEY = Actor("accueil", "399999999500017", "Logiciel LPP", kind="software", scope=KeyScope.LOGICIEL)
SARAH_INS = PatientIns("277017515401259", "1.2.250.1.213.1.4.10", "QUAL")

PARACETAMOL = Line(
    1,
    LineKind.MEDICAMENT,
    "Paracétamol 1 000 mg comprimé",
    "3400930000014",
    SYS_CIP,
    "1 comprimé en cas de fièvre, 3 par jour au plus",
    1,
    "{boîte}",
)
BANDAGE = Line(2, LineKind.DISPOSITIF, "Bande de contention", "1101017", SYS_LPP, "", 2)
GLUCOSE = Line(3, LineKind.BIOLOGIE, "Glucose [Masse/Volume] Sérum", "2345-7", SYS_LOINC)
SOINS = Line(4, LineKind.ACTE, "Soins infirmiers", instructions="Pansement tous les 2 jours pendant 10 jours")


@pytest.fixture
def base(db):
    base = Base(db, today=lambda: TODAY)
    yield base
    base.journal.close()


def _create(base: Base, *lines: Line, consent: bool = True, on: date = TODAY, caller: Actor = GP):
    return base.create(caller, Draft(on, consent, lines or (PARACETAMOL,)))


def test_a_prescription_is_stored_without_the_patients_identity(base, db):
    p = _create(base, PARACETAMOL, BANDAGE, GLUCOSE, SOINS)
    # seed 000 L3697: the base is fed without the patient's identity
    assert not {"ins", "patient", "nom", "prenom", "birth_date"} & set(store.ordo_prescription.c.keys())
    with db.read() as conn:
        row = conn.execute(sa.select(store.ordo_prescription)).one()
        trail = conn.execute(sa.select(audit_event).where(audit_event.c.action == "ordonnance.creer")).one()
    assert row.number == p.number and trail.patient is None
    assert len(p.number) == 18 and parse_number(p.number) == p.number  # seed 001 L406


def test_a_mistyped_number_is_detected_before_any_lookup(base):
    p = _create(base)
    typo = p.number[:5] + ALPHABET[(ALPHABET.index(p.number[5]) + 1) % 36] + p.number[6:]
    with pytest.raises(InvalidInput) as err:
        base.read_as_dispenser(PHARMACIST, typo)
    assert err.value.code == "numero-cle"
    swapped = p.number[1] + p.number[0] + p.number[2:]
    if swapped != p.number:
        with pytest.raises(InvalidInput):
            base.read_as_dispenser(PHARMACIST, swapped)
    with pytest.raises(InvalidInput) as err:
        base.read_as_dispenser(PHARMACIST, p.number[:17])
    assert err.value.code == "numero-longueur"
    assert base.read_as_dispenser(PHARMACIST, " " + p.number.lower() + " ")[0].number == p.number


def test_an_unknown_number_is_not_found(base):
    from maison.formats.ordonnance import new_number

    with pytest.raises(NotFound) as err:
        base.read_as_dispenser(PHARMACIST, new_number())
    assert err.value.code == "prescription-inconnue"


def test_a_prescriber_reads_and_searches_only_his_own(base):
    from maison.formats.ordonnance import new_number

    p = _create(base)
    # another prescriber's prescription answers exactly like a number that does not exist (issue 18 §2.2)
    answers = []
    for number in (p.number, new_number()):
        for call in (base.read_as_prescriber, base.executions_for_prescriber, base.cancel):
            with pytest.raises(NotFound) as err:
                call(OTHER_GP, number)
            answers.append(
                (err.value.http_status, err.value.fhir_issue, err.value.code, err.value.message.replace(number, "N"))
            )
    assert len(set(answers)) == 1 and answers[0][2] == "prescription-inconnue"
    with base.db.read() as conn:
        refused = (
            conn.execute(
                sa.select(audit_event.c.detail).where(
                    audit_event.c.outcome == "refused", audit_event.c.actor_person == OTHER_GP.person
                )
            )
            .scalars()
            .all()
        )
    assert sum('"motif":"prescription-autre-prescripteur"' in d for d in refused) == 3 and len(refused) == 6
    assert [x.number for x in base.search(GP)[0]] == [p.number] and base.search(GP)[1] == 1
    assert base.search(OTHER_GP) == ([], 0)
    assert base.search(GP, since=TODAY + timedelta(days=1)) == ([], 0)
    assert base.search(GP, count=0) == ([], 1)  # FHIR _summary=count: the total alone (issue 20 §4.3)


def test_only_prescribing_professions_with_psc_create(base):
    with pytest.raises(Forbidden) as err:
        _create(base, caller=PHARMACIST)
    assert err.value.code == "prescripteur-non-habilite"
    with pytest.raises(Forbidden) as err:
        _create(base, caller=LPP)  # issue 6 §1.1: prescribers authenticate with Pro Santé Connect
    assert err.value.code == "prescripteur-psc"
    with pytest.raises(InvalidInput) as err:
        _create(base, on=TODAY + timedelta(days=1))
    assert err.value.code == "date-future"


def test_the_same_request_sent_twice_makes_one_prescription(base, db):
    draft = Draft(TODAY, True, (PARACETAMOL,))
    first = base.create(GP, draft, idempotency_key="lap-42")
    again = base.create(GP, draft, idempotency_key="lap-42")
    assert again.number == first.number
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.ordo_prescription)).scalar_one() == 1


def test_execution_line_by_line_and_double_dispensation_refused(base):
    p = _create(base, PARACETAMOL, SOINS)
    done = base.execute(
        PHARMACIST,
        p.number,
        [LineExecution(1, Outcome.SUBSTITUE, 1, "3400930000021", SYS_CIP, "Paracétamol générique")],
    )
    assert done.lines[0].outcome is Outcome.SUBSTITUE
    with pytest.raises(Conflict) as err:  # a single-delivery line, delivered
        base.execute(PHARMACIST, p.number, [LineExecution(1, Outcome.DELIVRE)])
    assert err.value.code == "ligne-deja-executee" and "délivrance unique" in err.value.message
    with pytest.raises(Forbidden) as err:  # the act is the nurse's, the medicine the pharmacist's
        base.execute(NURSE, p.number, [LineExecution(1, Outcome.DELIVRE)])
    assert err.value.code == "ligne-hors-competence"
    base.execute(NURSE, p.number, [LineExecution(4, Outcome.DELIVRE)], at_delivery=True)
    _, executions = base.read_as_dispenser(PHARMACIST, p.number)
    assert [e.lines[0].line for e in executions] == [1, 4] and executions[1].at_delivery


def test_renewals_and_partial_deliveries(base):
    renewable = Line(1, LineKind.MEDICAMENT, "Lévothyroxine 50 µg", "3400930000014", SYS_CIP, quantity=2, renewals=1)
    p = _create(base, renewable)
    base.execute(PHARMACIST, p.number, [LineExecution(1, Outcome.PARTIEL, 1)])
    base.execute(PHARMACIST, p.number, [LineExecution(1, Outcome.PARTIEL, 1)])  # the first delivery is complete
    base.execute(PHARMACIST, p.number, [LineExecution(1, Outcome.DELIVRE, 2)])  # the renewal
    with pytest.raises(Conflict) as err:
        base.execute(PHARMACIST, p.number, [LineExecution(1, Outcome.DELIVRE, 2)])
    assert "2 délivrances" in err.value.message
    not_delivered = _create(base)
    base.execute(PHARMACIST, not_delivered.number, [LineExecution(1, Outcome.NON_DELIVRE, reason="rupture")])
    base.execute(PHARMACIST, not_delivered.number, [LineExecution(1, Outcome.DELIVRE)])  # still open


def test_what_a_dispenser_reports_must_be_complete(base):
    ns = Line(1, LineKind.MEDICAMENT, "Lévothyrox 50 µg", "3400930000014", SYS_CIP, substitutable=False)
    p = _create(base, ns, BANDAGE)
    cases = [
        ([LineExecution(1, Outcome.SUBSTITUE, code="3400930000021")], "non-substituable"),
        ([LineExecution(1, Outcome.ADAPTE)], "execution-motif"),
        ([LineExecution(1, Outcome.NON_DELIVRE)], "execution-motif"),
        ([LineExecution(1, Outcome.PARTIEL)], "execution-quantite"),
        ([LineExecution(9, Outcome.DELIVRE)], "ligne-inconnue"),
    ]
    for lines, code in cases:
        with pytest.raises(InvalidInput) as err:
            base.execute(PHARMACIST, p.number, lines)
        assert err.value.code == code
    base.execute(LPP, p.number, [LineExecution(2, Outcome.DELIVRE, code="1101017", system=SYS_LPP)])


def test_only_a_key_issued_to_an_lpp_provider_stands_for_one(base):
    # issue 18 §3: any structure key used to count as an LPP provider for $dispensation
    p = _create(base, BANDAGE)
    for caller in (DESK_KEY, replace(PHARMACIST, credential=Credential.LOCAL_IDP)):
        with pytest.raises(Forbidden) as err:
            base.read_as_dispenser(caller, p.number)
        assert err.value.code == "executant-non-habilite"
    base.read_as_dispenser(LPP, p.number)


def test_an_expired_prescription_is_not_executed(base, db):
    old = _create(base, on=TODAY - timedelta(days=95))
    with pytest.raises(TransitionRefused) as err:  # CSP R.5132-22: first execution within 3 months
        base.execute(PHARMACIST, old.number, [LineExecution(1, Outcome.DELIVRE)])
    assert err.value.code == "prescription-expiree" and "R.5132-22" in err.value.message
    within = _create(base, on=TODAY - timedelta(days=80))
    base.execute(PHARMACIST, within.number, [LineExecution(1, Outcome.DELIVRE)])


def test_execution_is_shown_to_the_prescriber_only_with_the_patients_oui(base):
    oui, non = _create(base, consent=True), _create(base, consent=False)
    for p in (oui, non):
        base.execute(PHARMACIST, p.number, [LineExecution(1, Outcome.DELIVRE)])
    # seed 001 L359, L408-417: the prescriber sees execution data only if the patient agreed
    assert len(base.read_as_prescriber(GP, oui.number)[1]) == 1
    assert base.read_as_prescriber(GP, non.number)[1] is None
    assert len(base.executions_for_prescriber(GP, oui.number)[1]) == 1
    with pytest.raises(Forbidden) as err:
        base.executions_for_prescriber(GP, non.number)
    assert err.value.code == "execution-non-consentie"


def test_the_ins_is_recorded_only_for_a_qualified_identity(base, db):
    p = _create(base)
    for status in ("VALI", "PROV", "RECUP", ""):  # seed 000 L3692-3694
        with pytest.raises(Forbidden) as err:
            base.execute(
                PHARMACIST,
                p.number,
                [LineExecution(1, Outcome.DELIVRE)],
                ins=PatientIns(SARAH_INS.matricule, SARAH_INS.oid, status),
            )
        assert err.value.code == "ins-identite-non-qualifiee"
    with pytest.raises(InvalidInput) as err:
        base.execute(
            PHARMACIST,
            p.number,
            [LineExecution(1, Outcome.DELIVRE)],
            ins=PatientIns("277017515401258", SARAH_INS.oid, "QUAL"),
        )
    assert err.value.code == "ins-matricule"
    done = base.execute(PHARMACIST, p.number, [LineExecution(1, Outcome.DELIVRE)], ins=SARAH_INS)
    assert done.ins == SARAH_INS.matricule
    with db.read() as conn:
        trail = conn.execute(
            sa.select(audit_event).where(
                audit_event.c.action == "ordonnance.executer", audit_event.c.outcome == "success"
            )
        ).one()
    assert trail.patient == SARAH_INS.matricule


def test_cancelled_and_executed_prescriptions(base):
    p = _create(base)
    with pytest.raises(NotFound):  # another prescriber's: as if it did not exist (issue 18 §2.2)
        base.cancel(OTHER_GP, p.number)
    assert base.cancel(GP, p.number).status == "annulee"
    with pytest.raises(TransitionRefused) as err:
        base.execute(PHARMACIST, p.number, [LineExecution(1, Outcome.DELIVRE)])
    assert err.value.code == "prescription-annulee"
    q = _create(base)
    base.execute(PHARMACIST, q.number, [LineExecution(1, Outcome.DELIVRE)])
    with pytest.raises(TransitionRefused) as err:
        base.cancel(GP, q.number)
    assert err.value.code == "prescription-executee"


def test_counters_count_successful_calls_only(base):
    p = _create(base)
    base.read_as_prescriber(GP, p.number)
    base.search(GP)
    base.read_as_dispenser(PHARMACIST, p.number)
    base.execute(PHARMACIST, p.number, [LineExecution(1, Outcome.DELIVRE)])
    for refused in (
        lambda: base.read_as_prescriber(OTHER_GP, p.number),
        lambda: base.execute(PHARMACIST, p.number, [LineExecution(1, Outcome.DELIVRE)]),
        lambda: _create(base, caller=PHARMACIST),
    ):
        with pytest.raises((Forbidden, Conflict, NotFound)):
            refused()
    base.journal.close()
    # seed 001 L424-462: "appels avec succès"
    assert base.counters() == {
        "prescripteurs": {"creees": 1, "consultees": 1, "recherchees": 1, "prescripteursActifs": 1, "logiciels": 1},
        "executants": {"consultees": 1, "executees": 1, "structuresActives": 1, "logiciels": 1},
    }


def test_a_device_prescribed_as_free_text_is_executed_with_its_lpp_code(base):
    # seed 000 L3650: prescribed as free text; L3652: after execution, at least the LPP code
    p = _create(base, Line(1, LineKind.DISPOSITIF, "Lecteur de glycémie, marque au choix"))
    with pytest.raises(InvalidInput) as err:
        base.execute(PHARMACIST, p.number, [LineExecution(1, Outcome.DELIVRE)])
    assert err.value.code == "execution-lpp"
    with pytest.raises(InvalidInput):
        base.execute(PHARMACIST, p.number, [LineExecution(1, Outcome.DELIVRE, code="118898", system=SYS_LPP)])
    done = base.execute(
        PHARMACIST,
        p.number,
        [LineExecution(1, Outcome.DELIVRE, code="1188984", system=SYS_LPP, label="Lecteur FreeStyle")],
    )
    assert done.lines[0].code == "1188984"


def test_renewals_stop_with_the_treatment(base):
    """CSP R.5132-21: twelve months of treatment at most; a line's own duration bounds its renewals."""
    yearly = Line(1, LineKind.MEDICAMENT, "Lévothyroxine 50 µg", "3400930000014", SYS_CIP, renewals=11)
    short = Line(2, LineKind.MEDICAMENT, "Amoxicilline 1 g", "3400930000021", SYS_CIP, renewals=2, duration_days=30)
    p = _create(base, yearly, short, on=TODAY - timedelta(days=60))
    base.execute(PHARMACIST, p.number, [LineExecution(1, Outcome.DELIVRE), LineExecution(2, Outcome.DELIVRE)])
    with pytest.raises(TransitionRefused) as err:  # day 60 of a 30-day treatment
        base.execute(PHARMACIST, p.number, [LineExecution(2, Outcome.DELIVRE)])
    assert err.value.code == "ligne-duree-depassee"
    base.execute(PHARMACIST, p.number, [LineExecution(1, Outcome.DELIVRE)])
    base.today = lambda: TODAY + timedelta(days=320)  # 380 days after the prescription
    with pytest.raises(TransitionRefused) as err:
        base.execute(PHARMACIST, p.number, [LineExecution(1, Outcome.DELIVRE)])
    assert err.value.code == "prescription-expiree" and "R.5132-21" in err.value.message


def test_the_measures_a_prescription_was_made_on_are_kept_with_it(base):
    """Issue 20 §4.4: the guide's Observations (weight, height) are stored with the prescription
    and read back as they were sent, with the lines that reference them."""
    weight = ContextObservation("29463-7", 14.5, "kg", "final", "2026-03-01T09:00:00+01:00", (1,))
    height = ContextObservation("8302-2", 98.0, "cm", "final", "", (1, 2))
    p = base.create(GP, Draft(TODAY, True, (PARACETAMOL, BANDAGE), (weight, height)))
    again, _ = base.read_as_prescriber(GP, p.number)
    assert again.observations == (weight, height)
    assert _create(base).observations == ()
