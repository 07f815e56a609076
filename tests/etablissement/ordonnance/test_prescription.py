"""The prescriber's software reads the prescription from the base's FHIR answer
(maison/etablissement/ordonnance/prescription.py): every line the base writes comes back as it holds it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from maison.etablissement.ordonnance.prescription import LineKind, UnreadableAnswer, prescription_from_fhir
from maison.formats.namespace import Namespace
from maison.formats.ordonnance import SYS_CIP, SYS_LOINC, SYS_LPP, new_number
from maison.partage.ordonnance import fhir
from maison.partage.ordonnance import model as base

NS = Namespace("https://maison.test/ns")  # the base's namespace, which the wing is not told
CREATED = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
LINES = (
    base.Line(
        1,
        base.LineKind.MEDICAMENT,
        "PARACETAMOL 1 g, comprimé",
        "3400935955838",
        SYS_CIP,
        "1 comprimé 3 fois par jour\nsi douleur",
        2,
        "boîte",
        renewals=2,
        substitutable=False,
        duration_days=10,
    ),
    base.Line(2, base.LineKind.DISPOSITIF, "Bande de contention", "1110290", SYS_LPP, "1 par jour", 3),
    base.Line(3, base.LineKind.BIOLOGIE, "Glycémie à jeun", "2345-7", SYS_LOINC, "à jeun", 1, "mmol/L"),
    base.Line(4, base.LineKind.ACTE, "", instructions="10 séances de rééducation du genou"),
)


def _answer(*, status: str = "active", consent: bool = True) -> tuple[base.Prescription, dict]:
    held = base.Prescription(
        new_number(),
        base.Prescriber("810000000002", "1750000000", "LAP", "10"),
        CREATED,
        date(2026, 11, 3),
        consent,
        LINES,
        status,
    )
    return held, fhir.prescription_bundle(held, None, base_url="https://maison.test/ordonnance", ns=NS)


def test_every_line_comes_back_as_the_base_holds_it():
    held, bundle = _answer()
    read = prescription_from_fhir(bundle, created_at=CREATED)
    assert (read.number, read.prescriber, read.prescribed_on, read.consent, read.status) == (
        held.number,
        "810000000002",
        held.prescribed_on,
        True,
        "active",
    )
    assert [line.kind.value for line in read.lines] == [line.kind.value for line in LINES]
    for mine, theirs in zip(read.lines, LINES, strict=True):
        assert (mine.number, mine.label, mine.code, mine.system, mine.instructions) == (
            theirs.number,
            theirs.label,
            theirs.code,
            theirs.system,
            theirs.instructions,
        )
        assert (mine.quantity, mine.unit, mine.renewals, mine.substitutable, mine.duration_days) == (
            theirs.quantity,
            theirs.unit,
            theirs.renewals,
            theirs.substitutable,
            theirs.duration_days,
        )
    # the validity the copies write is the one the base enforces
    assert read.first_execution_until == held.first_execution_until == date(2027, 2, 3)
    assert read.treatment_until == held.treatment_until == date(2027, 11, 3)


def test_an_annulled_prescription_and_the_patient_s_non_are_read():
    _, bundle = _answer(status="annulee", consent=False)
    read = prescription_from_fhir(bundle, created_at=CREATED)
    assert read.status == "revoked" and read.consent is False
    assert read.lines[0].kind is LineKind.MEDICAMENT


@pytest.mark.parametrize(
    "spoil",
    [
        lambda b: b.update(resourceType="OperationOutcome"),
        lambda b: b["entry"].pop(0),  # no RequestGroup
        lambda b: b["entry"].pop(1),  # an action whose request is missing
        lambda b: b["entry"][0]["resource"].update(extension=[]),  # no OUI/NON
        lambda b: b["entry"][0]["resource"].update(id="PAS-UN-NUMERO"),
        lambda b: b["entry"][1]["resource"].update(resourceType="Observation"),
        lambda b: b["entry"][1]["resource"]["dispenseRequest"].update(quantity="deux"),
    ],
)
def test_an_answer_that_is_not_the_base_s_bundle_is_refused_whole(spoil):
    _, bundle = _answer()
    spoil(bundle)
    with pytest.raises(UnreadableAnswer):
        prescription_from_fhir(bundle, created_at=CREATED)
