"""MATURIN-H (seed 000 L4461-4501): the seed's illustration (three of four → 75 → B), the level
boundaries, and the criteria computed from the house or declared."""

from __future__ import annotations

from datetime import date

import pytest

from maison.core import audit
from maison.core.actor import Actor
from maison.core.errors import InvalidInput
from maison.etablissement.sejours.service import Sejours
from maison.etablissement.vigilance.cellule import Cellule
from maison.etablissement.vigilance.service import PatientIndex
from maison.formats.hl7v2 import pam
from maison.formats.hl7v2.listener import parse
from maison.identite.ins.model import CallContext, TraitsQuery
from maison.observatoire.conformite.maturin import BY_REFERENCE, CRITERIA, Maturin, level, score
from maison.observatoire.report import Period
from tests.etablissement.sejours.messages import FINESS, adt
from tests.identite.helpers import STRUCTURE, seed_referential

ADMIN = Actor("administrateur", "maison", "maison-admin")
REFERENT = Actor("referent-iv", STRUCTURE, "DPI Alpha", kind="professional", role="referent-identitovigilance")
SARAH_Q = TraitsQuery("GARCIA-HAMMADI", ("SARAH-LOU",), "F", "1977-01-21")


def test_the_seed_example_three_of_four_is_75_and_b():
    # seed 000 L4494-4499: #1 95 % (≥ 90 %), #2 non, #3 95 %, #4 oui → 75 → B
    answers = [(BY_REFERENCE["#1"], "95%"), (BY_REFERENCE["#2"], "non"), (BY_REFERENCE["#3"], "95%"),
               (BY_REFERENCE["#4"], "oui")]  # fmt: skip
    assert score(answers) == (75.0, "B")
    assert score([*answers[:3], (BY_REFERENCE["#4"], "na")]) == (66.7, "C")  # na leaves the denominator
    assert [c.seed_line for c in CRITERIA] == [4494, 4495, 4496, 4497]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(100, "A"), (95, "A"), (94.9, "B"), (75, "B"), (74.9, "C"), (40, "C"), (39.9, "D"), (0, "D")],
)
def test_level_boundaries(value, expected):
    assert level(value) == expected  # seed 000 L4499


def test_computed_from_the_house_and_declared(house):
    seed_referential(house.insi)
    house.insi.register_software("DPI-ALPHA-01", "DPI Alpha", "Éditeur A", "5", "DPI")
    house.insi.register_software("RIS-01", "RIS Beta", "Éditeur B", "1", "RIS")
    house.insi.register_structure(STRUCTURE, "Hôpital de test")
    house.insi.search_by_traits(CallContext(STRUCTURE, "DPI-ALPHA-01"), SARAH_Q)  # the identity referential
    maturin = Maturin(house.db, house.insi)
    period = Period.semester_of(date.today())

    report = maturin.evaluate(ADMIN, STRUCTURE, period, "CHU")
    answers = {a.criterion.reference: a for a in report.answers}
    assert (answers["#1"].value, answers["#1"].met, answers["#1"].source) == ("100.0", True, "calcule")
    assert (answers["#3"].value, answers["#3"].met) == ("0.0", False)  # no software fed the stays referential
    assert answers["#2"].source == "absent" and answers["#4"].source == "absent"
    assert (report.score, report.level) == (25.0, "D")

    Cellule(house.db).record_meeting(REFERENT, date.today().isoformat(), "revue des doublons", ["referent-iv"])
    maturin.declare(ADMIN, STRUCTURE, "#4", "oui", "procédure de mise à jour du fichier structure v3")
    report = maturin.evaluate(ADMIN, STRUCTURE, period, "CHU")
    answers = {a.criterion.reference: a for a in report.answers}
    assert (answers["#2"].value, answers["#2"].source) == ("oui", "calcule")  # a meeting this semester
    assert answers["#4"].declared_by == "administrateur" and answers["#4"].evidence.startswith("procédure")
    assert (report.met_count, report.applicable, report.score, report.level) == (3, 4, 75.0, "B")
    assert report.as_dict()["niveau"] == "B" and report.tables()[0].rows[0][0] == "#1"

    house.insi.search_by_traits(CallContext(STRUCTURE, "RIS-01"), SARAH_Q)  # one more application, on INSi too
    assert maturin.evaluate(ADMIN, STRUCTURE, period, "CHU").answers[0].value == "100.0"
    with house.db.read() as conn:
        assert sum(1 for _ in audit.events(conn, action_prefix="observatoire.maturin")) == 4  # 3 reads, 1 act

    with pytest.raises(InvalidInput):
        maturin.declare(ADMIN, STRUCTURE, "#2", "peut-être", "x")
    with pytest.raises(InvalidInput):
        maturin.declare(ADMIN, STRUCTURE, "#1", "120", "x")
    with pytest.raises(InvalidInput):
        maturin.declare(ADMIN, STRUCTURE, "#4", "oui", " ")  # no evidence
    with pytest.raises(InvalidInput):
        maturin.evaluate(ADMIN, STRUCTURE, period, "HOPITAL-DE-JOUR")


def test_shares_of_applications_on_the_identity_and_stays_referentials(house):
    # seed 000 L4494, L4496: the GAM feeds the stays (PAM A01) and the patient index; a RIS only calls INSi
    seed_referential(house.insi)
    house.insi.register_software("GAM-01", "GAM", "Éditeur G", "7", "")
    house.insi.register_software("RIS-01", "RIS Beta", "Éditeur B", "1", "RIS")
    house.insi.register_structure(FINESS, "CHU X")
    Sejours(house.db, PatientIndex(house.db)).receive(pam.read(parse(adt("A01", "1"))))
    maturin = Maturin(house.db, house.insi)
    period = Period.parse("2020-01-01..2099-12-31")
    report = maturin.evaluate(ADMIN, FINESS, period, "CHU")
    assert [(a.value, a.source) for a in report.answers[::2]] == [("100.0", "calcule"), ("100.0", "calcule")]

    house.insi.search_by_traits(CallContext(FINESS, "RIS-01"), SARAH_Q)
    report = maturin.evaluate(ADMIN, FINESS, period, "CHU")
    one, three = report.answers[0], report.answers[2]
    assert (one.value, one.met) == ("100.0", True)  # both on the identity referential
    assert (three.value, three.met) == ("50.0", False)  # one of two on the stays referential: < 90 %
