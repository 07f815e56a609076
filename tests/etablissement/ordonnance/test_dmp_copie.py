"""The ordonnance's copy in the DMP: the N1 the prescriber's software writes passes the DMP's own
judgement (XSD, CI-SIS header rules, the schematrons the official N1 example names), its type is the
JDV_J07 code of what it prescribes, and it is deposited through the live PDSm API and found back."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from maison.core.errors import InvalidInput
from maison.core.terminology import Terminology
from maison.etablissement.ordonnance.dmp_copie import (
    OID_EPRESCRIPTION_NUMBER,
    DepositRefused,
    deposit,
    document_type,
    n1_ordonnance,
    valid_until,
)
from maison.etablissement.ordonnance.prescription import Line, LineKind, Prescription
from maison.formats import xmlsafe
from maison.formats.cda import schematron
from maison.formats.cda.document import inspect_cda
from maison.formats.cda.header import FORMAT_N1_PDF, NS, embedded_pdf
from maison.formats.cda.rules import VS_TYPE
from maison.formats.ordonnance import SYS_CIP, SYS_LOINC, SYS_LPP, new_number
from maison.formats.pdf import document_pdf
from maison.formats.svs import read_value_set
from maison.formats.xds_codes import TYPE_CLASS, VOLET_FORMAT
from tests.partage.world import PROS, SARAH_ID, make_world

MAX = 50_000_000
ROOT = "1.2.250.1.999.7.1"  # the test prescriber software's OID arc for its documents
GP = PROS["generaliste"]
PRESCRIBER = GP.idnatps
PARACETAMOL = Line(
    1,
    LineKind.MEDICAMENT,
    "PARACETAMOL 1 g, comprimé",
    "3400935955838",
    SYS_CIP,
    "1 comprimé 3 fois par jour si douleur",
    2,
    substitutable=True,
    duration_days=10,
)
AMOXICILLINE = Line(
    2,
    LineKind.MEDICAMENT,
    "AMOXICILLINE 1 g, comprimé dispersible",
    "3400936403130",
    SYS_CIP,
    "1 comprimé matin et soir pendant 6 jours",
    1,
    duration_days=6,
)
BANDE = Line(3, LineKind.DISPOSITIF, "Bande de contention", "1110290", SYS_LPP, "1 par jour", 1)
GLYCEMIE = Line(1, LineKind.BIOLOGIE, "Glycémie à jeun", "2345-7", SYS_LOINC)
KINE = Line(1, LineKind.ACTE, "", instructions="10 séances de rééducation du genou")
PROFILES = [
    "profils/IHE.sch",
    "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
    "profils/CI-SIS_ModelesDeContenusCDA.sch",
    "profils/terminologies/schematron/terminologie.sch",
    "profils/CI-SIS_Modeles_ANS.sch",
]


def prescription(*lines: Line, renewals: int = 0) -> Prescription:
    lines = lines or (PARACETAMOL, AMOXICILLINE, BANDE)
    if renewals:
        lines = tuple(replace(line, renewals=renewals) for line in lines)
    return Prescription(
        new_number(), PRESCRIBER, datetime.now(UTC).replace(microsecond=0), date.today(), True, tuple(lines)
    )


@functools.cache  # the PDF carries its creation time: one rendering per ordonnance
def pdf_of(p: Prescription, note: str = "") -> bytes:
    # the paper ordonnance's renderer (papier.py) is written elsewhere: any PDF of the same content will do
    rows = [f"{line.number}. {line.label} — {line.instructions}" for line in p.lines]
    return document_pdf(f"Ordonnance numérique N°{p.number}", [("Prescriptions", rows + ([note] if note else []))])


def n1(p: Prescription, reference_path: Path, **options) -> bytes:
    return n1_ordonnance(
        p, SARAH_ID, GP.author(), pdf_of(p), reference_path=reference_path, document_root=ROOT, **options
    )


@pytest.fixture(scope="module")
def terminology(reference_path: Path) -> Terminology:
    return Terminology.from_directory(reference_path / "cisis" / "jeuxDeValeurs", read_value_set)


@pytest.fixture(scope="module")
def ordonnance() -> Prescription:
    return prescription()


@pytest.fixture(scope="module")
def document(ordonnance, reference_path) -> bytes:
    return n1(ordonnance, reference_path)


# --- the document ---------------------------------------------------------------------------------


def test_n1_of_a_three_line_ordonnance_passes_the_dmp_validation(document, ordonnance, terminology, reference_path):
    # seed 000 L3621: the patient's copy is first an N1 (CDA R2 "peu structuré")
    # the DMP's own judgement of a submitted document (dmp/service.py): XSD, header rules, volet schematron
    report = inspect_cda(
        document,
        terminology,
        reference_path,
        max_bytes=MAX,
        volet_formats=VOLET_FORMAT,
        for_dmp=True,
        schematrons=reference_path / "cisis" / "schematrons",
    )
    assert report.findings == [] and report.valid
    h = report.header
    assert (h.level, report.format_code) == ("N1", FORMAT_N1_PDF)
    # seed 000 L3698: the copy is tied to the patient's INS, its author is the prescriber (001 L349)
    assert (h.patient.ins.root, h.patient.ins.extension) == (SARAH_ID.ins_oid, SARAH_ID.ins)
    assert h.authors[0].idnatps == GP.idnatps == ordonnance.prescriber
    assert h.title == f"Ordonnance numérique N°{ordonnance.number}"
    # the number where the eP-MED-DM example carries it: the documented act's id
    root = xmlsafe.parse(document)
    [number] = root.xpath("h:documentationOf/h:serviceEvent/h:id", namespaces=NS)
    assert (number.get("root"), number.get("extension")) == (OID_EPRESCRIPTION_NUMBER, ordonnance.number)
    assert h.id.root == f"{ROOT}.{int(ordonnance.number, 36)}.1" and h.set_id == f"{ROOT}.{int(ordonnance.number, 36)}"
    # seed 000 L279: the patient finds back the ordonnance handed to him: the body is that PDF
    assert embedded_pdf(root) == pdf_of(ordonnance)


@pytest.mark.parametrize("profile", PROFILES)
def test_n1_passes_the_schematrons_the_official_n1_example_names(document, reference_path, profile):
    # ExemplesCDA/DOC_NON_STRUCTURE_CDA-R2-N1.xml:4-8 (<?oxygen SCHSchema?>)
    findings = schematron.load(reference_path / "cisis" / "schematrons" / profile).validate(document.decode())
    assert [f for f in findings if f.severity == "error"] == []


def test_validity_period_is_the_prescription_s(ordonnance, reference_path):
    # Entete_EP-MED-DM_2024.01.sch: serviceEvent low/high = début et fin de validité de la prescription
    root = xmlsafe.parse(n1(ordonnance, reference_path))
    [high] = root.xpath("h:documentationOf/h:serviceEvent/h:effectiveTime/h:high/@value", namespaces=NS)
    assert high.startswith(valid_until(ordonnance).strftime("%Y%m%d"))
    assert valid_until(ordonnance) == ordonnance.first_execution_until  # no renewal: three months (R.5132-22)
    renewed = prescription(PARACETAMOL, renewals=2)  # 3 × 10 days, inside the first three months
    assert valid_until(renewed) == renewed.first_execution_until
    long = prescription(replace(PARACETAMOL, duration_days=90), renewals=5)  # 6 × 90 days, capped at 12 months
    assert valid_until(long) == long.treatment_until


@pytest.mark.parametrize(
    "lines, executant, expected",
    [
        ((PARACETAMOL, AMOXICILLINE, BANDE), None, "57833-6"),  # eP-MED-DM: médicaments et/ou DM
        ((PARACETAMOL,), None, "57833-6"),
        ((BANDE,), None, "57833-6"),
        ((GLYCEMIE,), None, "PRESC-BIO"),  # EP-BIO (seed 000 L3684)
        ((KINE,), "70", "PRESC-KINE"),
        ((replace(KINE, instructions="Soins infirmiers à domicile"),), "60", "PRESC-INF"),
        ((KINE,), None, "57832-8"),  # other acts, performer not named: Prescription de soins
        ((PARACETAMOL, replace(GLYCEMIE, number=2)), None, "57828-6"),  # mixed envelope: Prescription (autre)
    ],
)
def test_type_code_follows_what_the_envelope_prescribes(lines, executant, expected, reference_path, terminology):
    # seed 000 L3672: the patient finds "l'ensemble de ses e-prescriptions selon leur type";
    # seed 000 L3663-3665: medicines, devices and every other act in one envelope
    kind = document_type(prescription(*lines), reference_path, executant=executant)
    assert kind.code == expected
    assert terminology.contains(VS_TYPE, kind.code, kind.system)  # JDV_J07_XdsTypeCode_CISIS
    assert kind.display == terminology.display(kind.system, kind.code)
    assert TYPE_CLASS[kind.code] == "42"  # ASS_X04: class "Prescription"


def test_a_type_the_value_set_does_not_list_is_refused(tmp_path):
    jdv = tmp_path / "cisis" / "jeuxDeValeurs"
    jdv.mkdir(parents=True)
    (jdv / "JDV_J07_XdsTypeCode_CISIS.xml").write_text(  # a pack whose J07 lists only "Prescription (autre)"
        '<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008"><ValueSet id="1.2.250.1.213.1.1.5.471" '
        'displayName="JDV_J07_XdsTypeCode_CISIS.tabs"><ConceptList><Concept code="57828-6" '
        'codeSystem="2.16.840.1.113883.6.1" displayName="Prescription (autre)"/></ConceptList></ValueSet>'
        "</RetrieveValueSetResponse>",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as refused:
        document_type(prescription(), tmp_path)
    assert refused.value.code == "ordonnance-type" and "57833-6" in refused.value.message


def test_only_the_prescriber_s_copy_of_an_active_ordonnance_is_written(ordonnance, reference_path):
    with pytest.raises(InvalidInput, match="prescripteur"):
        n1_ordonnance(
            ordonnance,
            SARAH_ID,
            PROS["hospitalier"].author(),
            pdf_of(ordonnance),
            reference_path=reference_path,
            document_root=ROOT,
        )
    with pytest.raises(InvalidInput, match="annulée"):
        n1(replace(ordonnance, status="revoked"), reference_path)
    with pytest.raises(InvalidInput, match="PDF"):
        n1_ordonnance(ordonnance, SARAH_ID, GP.author(), b"<html/>", reference_path=reference_path, document_root=ROOT)
    with pytest.raises(InvalidInput, match="INS"):
        n1_ordonnance(
            ordonnance,
            replace(SARAH_ID, ins_oid="1.2.250.1.999.1.1"),
            GP.author(),
            pdf_of(ordonnance),
            reference_path=reference_path,
            document_root=ROOT,
        )


# --- through the live DMP -------------------------------------------------------------------------


@pytest.fixture
def world(house, live):
    return make_world(house, live, ("generaliste",))


def test_deposited_by_the_generaliste_and_found_back_by_its_type(world, reference_path):
    # seed 001 L349: "en parallèle, enregistre l'ordonnance numérique dans le DMP du patient"
    p = prescription()
    cda = n1(p, reference_path)
    client = world.client("generaliste")
    docref = deposit(client, cda)
    assert world.inform("generaliste").status_code == 201
    found = world.search("generaliste", type="http://loinc.org|57833-6")
    assert found.status_code == 200, found.text
    [entry] = found.json()["entry"]
    resource = entry["resource"]
    assert resource["id"] == docref and resource["type"]["coding"][0]["code"] == "57833-6"
    assert resource["content"][0]["attachment"]["title"] == f"Ordonnance numérique N°{p.number}"
    assert client.get(resource["content"][0]["attachment"]["url"]).content == cda
    assert world.search("generaliste", type="PRESC-BIO").json()["total"] == 0
    # a biology ordonnance goes under its TRE_A05 type, and is found under it
    bio = prescription(GLYCEMIE)
    bio_ref = deposit(client, n1(bio, reference_path))
    [bio_entry] = world.search("generaliste", type="PRESC-BIO").json()["entry"]
    assert bio_entry["resource"]["id"] == bio_ref


def test_retry_replacement_and_refusal(world, reference_path):
    p = prescription()
    first = n1(p, reference_path)
    client = world.client("generaliste")
    docref = deposit(client, first)
    # the same ordonnance's copy has the same ids: a retry is the DMP's replay, not a second copy
    assert deposit(client, first) == docref
    # other bytes under the same id are refused, with the DMP's code
    with pytest.raises(DepositRefused) as refused:
        deposit(
            client,
            n1_ordonnance(
                p, SARAH_ID, GP.author(), pdf_of(p, "ajout"), reference_path=reference_path, document_root=ROOT
            ),
        )
    assert (refused.value.status, refused.value.code) == (409, "XDSNonIdenticalHash")
    assert "autre contenu" in refused.value.message
    # version 2 replaces version 1 (CDA RPLC + relatesTo replaces), under the same setId
    second = deposit(client, n1(p, reference_path, version=2), replaces=f"DocumentReference/{docref}")
    assert second != docref
    world.inform("generaliste")
    current = world.search("generaliste", type="57833-6").json()["entry"]
    assert [e["resource"]["id"] for e in current] == [second]
