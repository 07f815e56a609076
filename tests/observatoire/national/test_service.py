"""National statistics, monthly (issue 23 §2), counted from activity made through the real services.

The world: a CHU (SA01) feeding the DMP through "DPI Alpha" of Éditeur A and a practice (SA07) through
"LGC Beta" of Éditeur B, one reimbursement-history document, MSSanté messages between two operators
and to a patient, mailboxes of each type, ordonnances created and dispensed, INSi calls. Every figure
is checked against a count made by hand from the calls below.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from maison.core.actor import Actor
from maison.core.audit import audit_event
from maison.core.errors import Forbidden
from maison.etablissement.dmp.producer import Produced, provide_bundle
from maison.formats.cda.header import Code
from maison.identite.ins.model import CallContext, TraitsQuery
from maison.observatoire.national.model import Targets
from maison.observatoire.national.service import National
from maison.observatoire.report import Period
from maison.partage.dmp.mhd import parse_provide
from maison.partage.dmp.model import Who
from maison.partage.mss.citizen import citizen_mailbox
from maison.partage.ordonnance.model import Draft, Line, LineExecution, LineKind, Outcome
from tests.identite.helpers import IDAM, SARAH, STRUCTURE, seed_referential
from tests.partage.world import CABINET, HOPITAL, PROS, SARAH_NIR, make_world, n1

REMB = Code("REMB", "1.2.250.1.213.1.1.4.12", "Données de remboursement")
MONTH = date.today().strftime("%Y-%m")
ANALYST = Actor("analyste-ans", "ANS", "maison", kind="professional")
CHU_OP, GP_OP, MES_OP = "op-chu", "op-liberal", "op-mes"
PATIENT_BOX = f"{SARAH_NIR.lower()}@patient.mssante.fr"
NOBODY = TraitsQuery("INCONNU", ("PAUL",), "M", "1990-01-01")
PARACETAMOL = Line(1, LineKind.MEDICAMENT, "Paracétamol 1 000 mg comprimé", "3400930000014", "CIP", "", 1, "{boîte}")


def _pro(key: str, structure: str, software: str) -> Actor:
    pro = PROS[key]
    return Actor(pro.idnatps, structure, software, kind="professional", profession=pro.profession, role="")


def feed(house, who: Actor, *cdas: bytes):
    return house.dmp.provide(Who(who), parse_provide(provide_bundle([Produced(c) for c in cdas])))


def _operator(name: str) -> Actor:
    """The actor an operator's SMTP runtime delivers and relays as (mss/smtp.py `Runtime.actor`)."""
    return Actor(person=f"operateur:{name}", structure=name, software="maison-mss")


@pytest.fixture
def world(house):
    make_world(house, SimpleNamespace(url="http://non-utilise"), ())
    house.insi.register_software("IDAM-A", "DPI Alpha", "Éditeur A")
    house.insi.register_software("IDAM-B", "LGC Beta", "Éditeur B")
    return house


def dmp_activity(house) -> None:
    """CHU via IDAM-A: 3 lots (2 + 1 + 1 documents, one lot mixing a letter with an HR document);
    practice via IDAM-B: 1 lot of 1; an HR-only lot (the Assurance Maladie's). Hand count, HR excluded:
    transactions 4, documents 5 (CHU 3 transactions / 4 documents, practice 1 / 1); HR documents 2."""
    chu, gp = _pro("hospitalier", HOPITAL, "IDAM-A"), _pro("generaliste", CABINET, "IDAM-B")
    author, doctor = PROS["hospitalier"], PROS["generaliste"]
    feed(house, chu, n1(author), n1(author, title="CR"))
    feed(house, chu, n1(author))
    feed(house, chu, n1(author), n1(author, type_=REMB, title="Données de remboursement"))
    feed(house, gp, n1(doctor))
    feed(house, gp, n1(doctor, type_=REMB, title="Données de remboursement"))


def test_dmp_feeds_by_month_structure_type_software_and_vendor(world):
    dmp_activity(world)
    report = National(world.db, software=world.insi.registered_software).compute(ANALYST, Period.parse(MONTH))
    (line,) = report.dmp
    assert (line.month, line.feeds, line.documents) == (MONTH, 4, 5)  # 003 L1749-1750, hors HR
    assert report.hr_excluded == {MONTH: 2}
    by_type = {x.key: (x.feeds, x.documents) for x in report.dmp_by_structure_type}
    assert by_type == {"SA01": (3, 4), "SA07": (1, 1)}  # the Annuaire's secteur d'activité
    by_software = {x.key: (x.label, x.feeds, x.documents) for x in report.dmp_by_software}
    assert by_software == {"IDAM-A": ("DPI Alpha", 3, 4), "IDAM-B": ("LGC Beta", 1, 1)}
    assert {x.key: x.documents for x in report.dmp_by_vendor} == {"Éditeur A": 4, "Éditeur B": 1}


def mss_activity(house) -> None:
    """Mailboxes of each type and five messages, each delivered and relayed as the operators' SMTP
    does it (mss/smtp.py `_store`: local recipients delivered, the others queued for their operator,
    which delivers on receipt). Hand count per operator:
    - op-chu: sent m1, m2 (2); received m1 (urgences), m4 (2); to patients m2 (1); active PER durand,
      ORG urgences, APP pfi; created PER, ORG, APP;
    - op-liberal: sent m3, m4, m5 (3); received m1, m3 (2); to patients m5 (1); active PER martin,
      CAB cabinet; created PER, CAB;
    - op-mes: received m2, m5 (2); one citizen mailbox opened."""
    boxes, delivery = house.mss.mailboxes, house.mss.delivery
    chu, gp, mes = _operator(CHU_OP), _operator(GP_OP), _operator(MES_OP)
    durand, urgences, pfi = "dr.durand@chu.mssante.fr", "urgences@chu.mssante.fr", "pfi@chu.mssante.fr"
    martin, cabinet = "dr.martin@liberal.mssante.fr", "cabinet@liberal.mssante.fr"
    boxes.create(chu, durand, CHU_OP, "PER", PROS["hospitalier"].idnatps, "Dr Durand")
    boxes.create(chu, urgences, CHU_OP, "ORG", HOPITAL, "Urgences")
    boxes.create(chu, pfi, CHU_OP, "APP", HOPITAL, "PFI", password="mot-de-passe-pfi-1")
    boxes.create(gp, martin, GP_OP, "PER", PROS["generaliste"].idnatps, "Dr Martin")
    boxes.create(gp, cabinet, GP_OP, "CAB", CABINET, "Cabinet")
    assert citizen_mailbox(boxes, MES_OP, PATIENT_BOX, house.mss.has_espace) is not None
    raw = b"Subject: test\r\n\r\ncorps\r\n"
    delivery.deliver(chu, urgences, raw, durand, "<m1@chu>")
    delivery.enqueue(chu, CHU_OP, GP_OP, durand, [martin], raw, "<m1@chu>")
    delivery.deliver(gp, martin, raw, durand, "<m1@chu>")
    delivery.enqueue(chu, CHU_OP, MES_OP, pfi, [PATIENT_BOX], raw, "<m2@chu>")
    delivery.deliver(mes, PATIENT_BOX, raw, pfi, "<m2@chu>")
    delivery.deliver(gp, cabinet, raw, martin, "<m3@liberal>")
    delivery.enqueue(gp, GP_OP, CHU_OP, martin, [durand], raw, "<m4@liberal>")
    delivery.deliver(chu, durand, raw, martin, "<m4@liberal>")
    delivery.enqueue(gp, GP_OP, MES_OP, martin, [PATIENT_BOX], raw, "<m5@liberal>")
    delivery.deliver(mes, PATIENT_BOX, raw, martin, "<m5@liberal>")


def test_mssante_per_operator_and_month(world):
    mss_activity(world)
    report = National(world.db).compute(ANALYST, Period.parse(MONTH))
    lines = {x.operator: x for x in report.mss}
    assert set(lines) == {CHU_OP, GP_OP, MES_OP} and {x.month for x in report.mss} == {MONTH}
    chu, gp, mes = lines[CHU_OP], lines[GP_OP], lines[MES_OP]
    assert (chu.sent, chu.received, chu.to_patients, chu.citizen_opened) == (2, 2, 1, 0)
    assert chu.active == {"PER": 1, "ORG": 1, "APP": 1, "CAB": 0} and chu.created == chu.active
    assert (gp.sent, gp.received, gp.to_patients) == (3, 2, 1)
    assert gp.active == {"PER": 1, "ORG": 0, "APP": 0, "CAB": 1} and gp.created == gp.active
    assert (mes.sent, mes.received, mes.citizen_opened) == (0, 2, 1)
    assert mes.active == {"PER": 0, "ORG": 0, "APP": 0, "CAB": 0}  # the citizen mailbox is PAT, not a pro type


def test_ins_share_against_its_target(world):
    dmp_activity(world)
    mss_activity(world)
    period = Period.parse(MONTH)
    (share,) = National(world.db).compute(ANALYST, period).ins_share
    # DMP: 5 documents hors HR, each indexed under an INS the referential knows; MSSanté: 5 messages
    # sent, 2 of them to the patient's citizen mailbox (its address is the matricule INS)
    assert (share.dmp_documents, share.dmp_with_ins, share.mss_messages, share.mss_with_ins) == (5, 5, 5, 2)
    assert share.share == 0.7 and share.target == 0.9 and share.met is False  # 000 L2017: 90 %
    (lower,) = National(world.db, targets=Targets(ins_share=0.7)).compute(ANALYST, period).ins_share
    assert lower.met is True  # the target is a setting


def ordonnance_activity(house) -> None:
    """Hand count: created 3 (a cancelled one stays created: a successful call, 001 L430), one refused
    creation not counted; read by the prescriber 1, searched 1; 2 doctors, 2 prescriber software; read
    by a dispenser 1, executed 2 by 2 structures through 1 software."""
    base = house.ordonnance
    gp1 = Actor("810000000002", CABINET, "LAP-1", kind="professional", profession="10")
    gp2 = Actor("810000000009", CABINET, "LAP-2", kind="professional", profession="10")
    pharma1 = Actor("810000000004", "399999999800011", "LGO-1", kind="professional", profession="21")
    pharma2 = Actor("810000000011", "399999999500017", "LGO-1", kind="professional", profession="21")
    today = base.today()
    p1, p2 = (base.create(gp1, Draft(today, True, (PARACETAMOL,))) for _ in range(2))
    p3 = base.create(gp2, Draft(today, True, (PARACETAMOL,)))
    base.cancel(gp2, p3.number)
    with pytest.raises(Forbidden):
        base.create(pharma1, Draft(today, True, (PARACETAMOL,)))
    base.read_as_prescriber(gp1, p1.number)
    base.search(gp1)
    base.read_as_dispenser(pharma1, p1.number)
    base.execute(pharma1, p1.number, [LineExecution(1, Outcome.DELIVRE)])
    base.execute(pharma2, p2.number, [LineExecution(1, Outcome.DELIVRE)])


def test_ordonnance_counters_as_a_monthly_series(world):
    ordonnance_activity(world)
    report = National(world.db).compute(ANALYST, Period.parse(MONTH))
    (month,) = report.ordonnance
    assert (month.created, month.read_by_prescriber, month.searched) == (3, 1, 1)
    assert (month.prescribers, month.new_prescribers, month.prescriber_software) == (2, 2, 2)
    assert (month.read_by_dispenser, month.executed) == (1, 2)
    assert (month.dispensers, month.new_dispensers, month.dispenser_software) == (2, 2, 1)
    # the same figures as the base's own counters over the same window (ordonnance/service.py)
    counters = world.ordonnance.counters()
    assert counters["prescripteurs"] == {
        "creees": 3,
        "consultees": 1,
        "recherchees": 1,
        "prescripteursActifs": 2,
        "logiciels": 2,
    }
    assert report.ordonnance_since_start["creees"] == 3 and report.ordonnance_since_start["executants"] == 2
    table = next(t for t in report.tables() if t.title.startswith("Ordonnance"))
    assert table.chart == "line" and table.rows[0][:3] == (MONTH, 3, 1)


def test_insi_in_the_same_shape(house):
    insi = house.insi
    seed_referential(insi)
    ctx = CallContext(STRUCTURE, IDAM)
    insi.search_by_traits(ctx, SARAH)
    insi.search_by_traits(ctx, NOBODY)
    report = National(house.db).compute(ANALYST, Period.parse(MONTH))
    (month,) = report.insi
    assert (month.calls, month.answers["00"], month.answers["01"], month.structures) == (2, 1, 1, 1)
    assert month.by_vendor == {"Maison": 2}
    table = next(t for t in report.tables() if t.title.startswith("INSi"))
    assert table.chart == "line" and table.rows == ((MONTH, 2, 1, 1, 0, 0, 1),)


def test_segur_threshold_of_ten_sendings_met_and_not_met(world):
    """002 L145: 10 DMP sendings per software product. IDAM-A sends 10 lots, IDAM-B 9 and one
    reimbursement-history lot, which is not a sending of the software (003: hors HR)."""
    chu, gp = _pro("hospitalier", HOPITAL, "IDAM-A"), _pro("generaliste", CABINET, "IDAM-B")
    for _ in range(10):
        feed(world, chu, n1(PROS["hospitalier"]))
    for _ in range(9):
        feed(world, gp, n1(PROS["generaliste"]))
    feed(world, gp, n1(PROS["generaliste"], type_=REMB, title="Données de remboursement"))
    report = National(world.db, software=world.insi.registered_software).compute(ANALYST, Period.parse(MONTH))
    lines = {x.software: x for x in report.segur}
    assert (lines["IDAM-A"].sendings, lines["IDAM-A"].threshold, lines["IDAM-A"].reached) == (10, 10, True)
    assert (lines["IDAM-B"].sendings, lines["IDAM-B"].reached, lines["IDAM-B"].vendor) == (9, False, "Éditeur B")


def test_a_withdrawn_document_stays_fed_in_its_month(world):
    """A feed is a flow of its month (003 L1749): a later withdrawal is another record, not an un-feeding."""
    chu = _pro("hospitalier", HOPITAL, "IDAM-A")
    fed = feed(world, chu, n1(PROS["hospitalier"]))
    national = National(world.db)
    before = national.compute(ANALYST, Period.parse(MONTH)).dmp
    world.dmp.withdraw(Who(chu), fed.locations[1].split("/")[1])
    after = national.compute(ANALYST, Period.parse(MONTH)).dmp
    assert [(x.feeds, x.documents) for x in before] == [(x.feeds, x.documents) for x in after] == [(1, 1)]


def _figures(report) -> dict:
    data = report.as_dict()
    data.pop("sequenceAudit")
    return data


def test_a_fold_in_two_steps_equals_a_fold_from_zero(world):
    national = National(world.db, software=world.insi.registered_software)
    period = Period.parse(MONTH)
    dmp_activity(world)
    national.fold()
    mss_activity(world)
    ordonnance_activity(world)
    in_two_steps = _figures(national.compute(ANALYST, period))
    national.rebuild()
    assert _figures(national.compute(ANALYST, period)) == in_two_steps
    national.rebuild()
    national.fold(window=3)  # windows that cut through a message's records: each still counted once
    assert _figures(national.compute(ANALYST, period)) == in_two_steps
    assert in_two_steps["dmp"][0]["feeds"] == 4 and len(in_two_steps["mssante"]) == 3
    report = national.compute(ANALYST, period)
    assert json.loads(json.dumps(report.as_dict()))["partINS"][0]["part"] == 0.7  # JSON as it is
    tables = {t.title: t for t in report.tables()}
    assert all(len(row) == len(t.columns) for t in tables.values() for row in t.rows)
    series = next(t for title, t in tables.items() if title.startswith("DMP : alimentations"))
    assert series.chart == "line" and series.as_dicts() == [
        {"mois": MONTH, "transactions": 4, "documents": 5, "documents HR exclus": 2}
    ]


def test_the_computation_is_audited_and_an_empty_month_is_empty(world):
    report = National(world.db).compute(ANALYST, Period.parse("2020-01"))
    assert (report.dmp, report.mss, report.ordonnance, report.segur) == ([], [], [], [])
    assert [x.share for x in report.ins_share] == [None]
    with world.db.read() as conn:
        rows = (
            conn.execute(audit_event.select().where(audit_event.c.action == "observatoire.national")).mappings().all()
        )
    assert [(r["actor_person"], '"periode":"2020-01"' in r["detail"]) for r in rows] == [("analyste-ans", True)]
    assert {t.title.split(" :")[0] for t in report.tables()} >= {"DMP", "MSSanté", "Ségur vague 1", "INSi"}


class _Clock:
    """The trail's clock set to a given day (`recorded_at` is what the months are read from)."""

    day = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)

    @classmethod
    def now(cls, tz=None):
        return cls.day


def test_months_are_a_series_and_new_prescribers_are_counted_once(world, monkeypatch):
    """Two months: January, one doctor creates and the CHU feeds once; February, the same doctor and
    a new one create, the CHU feeds twice. Hand count: created 1 then 2, doctors 1 then 2, new doctors
    1 then 1 (001 L431 "+ N"), since the beginning 2 doctors and 3 prescriptions; DMP 1 then 2 feeds."""
    monkeypatch.setattr("maison.core.audit.datetime", _Clock)
    monkeypatch.setattr(_Clock, "day", datetime(2026, 1, 15, 9, 0, tzinfo=UTC))
    base, chu = world.ordonnance, _pro("hospitalier", HOPITAL, "IDAM-A")
    gp1 = Actor("810000000002", CABINET, "LAP-1", kind="professional", profession="10")
    gp2 = Actor("810000000009", CABINET, "LAP-2", kind="professional", profession="10")
    base.create(gp1, Draft(base.today(), True, (PARACETAMOL,)))
    feed(world, chu, n1(PROS["hospitalier"]))
    monkeypatch.setattr(_Clock, "day", datetime(2026, 2, 10, 9, 0, tzinfo=UTC))
    for doctor in (gp1, gp2):
        base.create(doctor, Draft(base.today(), True, (PARACETAMOL,)))
    feed(world, chu, n1(PROS["hospitalier"]))
    feed(world, chu, n1(PROS["hospitalier"]))
    report = National(world.db).compute(ANALYST, Period.parse("2026-01-01..2026-02-28"))
    assert [(m.month, m.created, m.prescribers, m.new_prescribers) for m in report.ordonnance] == [
        ("2026-01", 1, 1, 1),
        ("2026-02", 2, 2, 1),
    ]
    assert report.ordonnance_since_start["prescripteurs"] == 2 and report.ordonnance_since_start["creees"] == 3
    assert [(x.month, x.feeds) for x in report.dmp] == [("2026-01", 1), ("2026-02", 2)]
    (january,) = National(world.db).compute(ANALYST, Period.parse("2026-01")).ordonnance
    assert (january.created, january.prescribers) == (1, 1)  # February is not in January's figures
