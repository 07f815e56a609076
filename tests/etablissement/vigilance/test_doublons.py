from maison.core.actor import Actor
from maison.core.ins_traits import Traits
from maison.etablissement.vigilance.doublons import THRESHOLD, Candidate, find, score

HOSP = "1750000019"
DESK = Actor(person="899900038441", structure=HOSP, software="dpi")


def c(id, nom, prenoms, sexe="F", date="1980-03-04", lieu="75056", ins=None):
    return Candidate.of(id, nom, prenoms, sexe, date, lieu, ins)


def test_planted_variants_are_found():
    base = c(1, "LEFÈVRE", "MARIE-THÉRÈSE ANNE")
    variants = [
        c(2, "LEFEVRE", "MARIE-THERESE ANNE"),  # missing accents
        c(3, "LEFEVRE", "MARIE THERESE ANNE"),  # hyphen variation
        c(4, "LEFEBVRE", "MARIE-THERESE ANNE"),  # typo
        c(5, "LEFEVRE", "ANNE MARIE-THERESE"),  # swapped first names
        c(6, "LEFEVRE", "MARIE-THERESE ANNE", date="1980-04-03"),  # day/month swapped
    ]
    pairs = {(a, b) for a, b, _ in find([base, *variants])}
    assert {(1, i) for i in range(2, 7)} <= pairs


def test_different_people_are_not_proposed():
    a = c(1, "MARTIN", "JEAN", sexe="M")
    assert score(a, c(2, "MARTIN", "PAUL", sexe="M", date="1981-07-09")) < THRESHOLD
    # homonyms with different INS are two persons
    assert score(c(3, "MARTIN", "JEAN", ins="1"), c(4, "MARTIN", "JEAN", ins="2")) == 0.0
    assert find([c(5, "DURAND", "LUC", sexe="M"), c(6, "PETIT", "EMMA")]) == []


def test_twins_and_homonyms_are_not_doublons():
    # twins: same name, date, place and sex, another first name — no keying slip explains it
    assert find([c(1, "BERNARD", "LEA"), c(2, "BERNARD", "EMMA")]) == []
    assert find([c(3, "ROUX", "CHLOE MARIE"), c(4, "ROUX", "CLARA MARIE")]) == []
    # homonyms: every trait equal but the birth place, both known
    assert (
        score(c(5, "MARTIN", "JEAN", sexe="M", lieu="75056"), c(6, "MARTIN", "JEAN", sexe="M", lieu="69123"))
        < THRESHOLD
    )
    # ... whereas a record without birth place stays a candidate doublon
    assert score(c(7, "MARTIN", "JEAN", sexe="M"), c(8, "MARTIN", "JEAN", sexe="M", lieu=None)) >= THRESHOLD


def test_index_scan_queues_reviews(house):
    index = house.patients
    index.admit(DESK, HOSP, "A1", Traits.of("Lefèvre", "Marie-Thérèse", "F", "1980-03-04"))
    index.admit(DESK, HOSP, "A2", Traits.of("LEFEVRE", "MARIE THERESE", "F", "1980-03-04"))
    index.admit(DESK, HOSP, "A3", Traits.of("DURAND", "LUC", "M", "1970-01-01"))
    assert index.detect_duplicates(DESK, HOSP) == 1
    assert index.detect_duplicates(DESK, HOSP) == 1  # idempotent: the review is not queued twice
    assert len(index.reviews(DESK, HOSP)) == 1
