"""The CR-BIO 2024.01 N3 we produce: valid against the CI-SIS XSD, header rules and schematrons (the
volet's, and the profiles the official examples name), read back with the right metadata, its
narrative saying what its entries say; and every input the volet refuses refused before writing."""

import base64
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from maison.core.identifiers.nir import OID_INS_NIR_TEST
from maison.core.terminology import Terminology
from maison.formats import xmlsafe
from maison.formats.cda import schematron, volets
from maison.formats.cda.build import (
    LOINC,
    SYS_FACILITY,
    SYS_PRACTICE,
    SYS_SPECIALTY,
    Address,
    DocumentHeader,
    PatientIdentity,
    Professional,
    n1_from_pdf,
)
from maison.formats.cda.crbio import (
    SYS_SPECIMEN_TYPE,
    TYPE,
    Battery,
    Chapter,
    Quantity,
    ReferenceRange,
    Result,
    Specimen,
    crbio_n3,
    crbio_pdf,
)
from maison.formats.cda.document import inspect_cda
from maison.formats.cda.header import Code, read_header
from maison.formats.svs import read_value_set

NS = {"h": "urn:hl7-org:v3", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
MAX = 50_000_000
LAB = Address("Rue Frédéric Bastia", "92100", "BOULOGNE-BILLANCOURT", "8")
BIOLOGIST = Professional(
    "801234534765",
    "CAMPARINI",
    "Marcel",
    Code("G15_10/SM03", SYS_SPECIALTY, "Médecin - Biologie médicale (SM)"),
    "1120459876",
    "Laboratoire des charmes",
    LAB,
    "tel:0174589607",
    LAB,
    "tel:0174589600",
)
PRESCRIBER = Professional(
    "810002422979",
    "CHARLES",
    "Pascal",
    Code("G15_10/SM41", SYS_SPECIALTY, "Médecin - Pneumologie (SM)"),
    "1120452948",
    "Cabinet",
)
PATIENT = PatientIdentity(
    "279035121518989", OID_INS_NIR_TEST, "PAT-TROIS", "DOMINIQUE MARIE-LOUISE", "F", "1979-03-28", "51215"
)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 1, 4, hour, minute, tzinfo=UTC)


BIOCHIMIE, HORMONO = Code("18719-5", LOINC, "Biochimie"), Code("18718-7", LOINC, "Protéines, marqueurs, vitamines")
HEADER = DocumentHeader(
    "1.2.250.1.213.1.1.9.77.1",
    "1.2.250.1.213.1.1.9.77",
    1,
    TYPE,
    TYPE.display,
    at(15),
    PATIENT,
    BIOLOGIST,
    BIOCHIMIE,
    at(7, 35),
    at(15),
    Code("AMBULATOIRE", SYS_PRACTICE, "Ambulatoire"),
    Code("SA25", SYS_FACILITY, "Laboratoire de biologie médicale"),
)
BLOOD = Specimen(("1.2.250.1.213.1.1.9.78", "S-42"), Code("BLD", SYS_SPECIMEN_TYPE, "Sang total"), at(7, 35), at(8, 10))
GLUCOSE = Result(
    Code("40193-5", LOINC, "Glucose à jeun [Moles/Volume] Sérum/Plasma ; Numérique"),
    Quantity("4.89", "mmol/L"),
    at(7, 35),
    ReferenceRange("3.89", "6.00"),
    "N",
    method="Glucose oxydase",
    label="Glycémie à jeun",
)
TSH = Result(
    Code("3016-3", LOINC, "Thyréostimuline [Arbitraire/Volume] Sérum/Plasma ; Numérique"),
    Quantity("1.950", "m[IU]/L"),
    at(7, 35),
    ReferenceRange("0.270", "4.200"),
    "N",
    method="ECL Modular",
)
LIPIDS = Battery(
    Code("24331-1", LOINC, "Bilan lipidique"),
    (
        Result(
            Code("2093-3", LOINC, "Cholestérol [Masse/Volume] Sérum/Plasma ; Numérique"),
            Quantity("2.41", "g/L"),
            at(7, 35),
            ReferenceRange(high="2.00"),
            "H",
        ),
        Result(
            Code("2085-9", LOINC, "Cholestérol HDL [Masse/Volume] Sérum/Plasma ; Numérique"),
            Quantity("0.52", "g/L"),
            at(7, 35),
            ReferenceRange(low="0.40"),
            "N",
        ),
    ),
)
SEROLOGY = Result(
    Code("5196-1", LOINC, "Hépatite B virus Ag HBs [Présence] Sérum ; Qualitatif"),
    Code("260385009", "2.16.840.1.113883.6.96", "Négatif"),
    at(7, 35),
    interpretation="NEG",
)
RATIO = Result(
    Code("6301-6", LOINC, "INR Plasma ; Numérique"), Quantity("1.1", "1"), at(7, 35), ReferenceRange("0.8", "1.2")
)
CHAPTERS = (
    Chapter(BIOCHIMIE, "BIOCHIMIE", (GLUCOSE, LIPIDS, SEROLOGY), BLOOD),
    Chapter(HORMONO, "HORMONOLOGIE", (TSH, RATIO)),
)


@pytest.fixture(scope="module")
def terminology(reference_path: Path) -> Terminology:
    return Terminology.from_directory(reference_path / "cisis" / "jeuxDeValeurs", read_value_set)


@pytest.fixture(scope="module")
def document(reference_path: Path) -> bytes:
    return crbio_n3(
        HEADER,
        CHAPTERS,
        reference_path=reference_path,
        prescriber=PRESCRIBER,
        prescribed=at(6),
        order=("1.2.250.1.213.1.1.9", "2014123456789"),
    )


@pytest.fixture(scope="module")
def report(document, terminology, reference_path):
    """XSD + CI-SIS header rules (rules.py) + the volet schematron, as the DMP runs them."""
    from maison.formats.xds_codes import VOLET_FORMAT

    return inspect_cda(
        document,
        terminology,
        reference_path,
        max_bytes=MAX,
        volet_formats=VOLET_FORMAT,
        schematrons=reference_path / "cisis" / "schematrons",
    )


@pytest.fixture(scope="module")
def root(document) -> etree._Element:
    return xmlsafe.parse(document)


def test_valid_against_xsd_header_rules_and_the_cr_bio_2024_schematron(report, root, reference_path):
    directory = reference_path / "cisis" / "schematrons"
    assert volets.choose(report.header, root, directory).schematron.name == "CI-SIS_BIO-CR-BIO_2024.01.sch"
    assert report.findings == [] and report.valid
    assert report.format_code == "urn:ihe:lab:xd-lab:2008"  # ASS_A11, from the volet templateId


# The schematrons the official CR-BIO examples name in their <?oxygen SCHSchema?> instructions
# (ExemplesCDA/BIO-CR-BIO_2024.01_Glycémie_mole.xml:3-8), beyond the volet's own.
PROFILES = [
    "profils/IHE.sch",
    "profils/CI-SIS_ModelesDeContenusCDA.sch",
    "profils/CI-SIS_Modeles_ANS.sch",
    "profils/terminologies/schematron/terminologie.sch",
    "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
]


@pytest.mark.parametrize("profile", PROFILES)
def test_passes_the_profiles_the_official_examples_name(document, reference_path, profile):
    findings = schematron.load(reference_path / "cisis" / "schematrons" / profile).validate(document.decode())
    assert [f for f in findings if f.severity == "error"] == []


def test_header_reads_back_as_the_registry_indexes_it(report):
    h = report.header
    assert (h.level, h.type_code.code, h.type_code.display, h.title) == (
        "N3",
        "11502-2",
        "CR d'examens biologiques",
        "Compte rendu d'examens biologiques",
    )
    assert h.volet_templates == ("1.3.6.1.4.1.19376.1.3.3", "1.2.250.1.213.1.1.1.55")
    assert (h.patient.ins.root, h.patient.ins.extension) == (OID_INS_NIR_TEST, "279035121518989")
    assert (h.patient.birth_family, h.patient.birth_given_first, h.patient.birthplace_cog) == (
        "PAT-TROIS",
        "DOMINIQUE",
        "51215",
    )
    assert h.authors[0].idnatps == "801234534765" and h.authors[0].code.code == "G15_10/SM03"
    assert (h.custodian.extension, h.custodian_name) == ("1120459876", "Laboratoire des charmes")
    assert h.legal_authenticator.idnatps == "801234534765"
    assert h.performer.idnatps == "801234534765" and h.performer.family == "CAMPARINI"
    assert (h.practice_setting.code, h.facility_type.code) == ("AMBULATOIRE", "SA25")
    assert [c.code for c in h.event_codes] == ["18719-5", "18718-7"]  # one act per chapter → XDS eventCodeList
    assert h.order_ids == ("1.2.250.1.213.1.1.9^2014123456789",)
    assert h.creation == at(15) and h.service_start == "20240104083500+0100"


def _narrative_row(root: etree._Element, reference: str) -> list[str]:
    content = root.xpath("//h:text//h:content[@ID=$id]", namespaces=NS, id=reference.removeprefix("#"))
    assert len(content) == 1, reference
    row = content[0].getparent().getparent()
    return ["".join(cell.itertext()).strip() for cell in row.xpath("h:td", namespaces=NS)]


def test_every_entry_says_what_its_narrative_row_says(root):
    observations = root.xpath("//h:observation[h:templateId/@root='1.2.250.1.213.1.1.3.80']", namespaces=NS)
    assert len(observations) == 6
    for obs in observations:
        cells = _narrative_row(root, obs.xpath("string(h:code/h:originalText/h:reference/@value)", namespaces=NS))
        value = obs.xpath("h:value", namespaces=NS)[0]
        kind = value.get(f"{{{NS['xsi']}}}type")
        if kind == "PQ":
            assert cells[1:3] == [value.get("value"), value.get("unit") or ""]
            low, high = (obs.xpath(f"string(h:referenceRange//h:{b}/@value)", namespaces=NS) for b in ("low", "high"))
            assert cells[3] == (f"{low} - {high}" if low and high else f"min {low}" if low else f"max {high}")
        else:
            assert cells[1] == value.get("displayName")
        assert cells[4] == obs.xpath("string(h:interpretationCode/@displayName)", namespaces=NS)
        method = obs.xpath("string(h:methodCode/h:originalText/h:reference/@value)", namespaces=NS)
        if method:
            assert root.xpath("string(//h:content[@ID=$id])", namespaces=NS, id=method[1:]).strip("()") in cells[0]
    glucose = _narrative_row(root, "#res-1-1")
    assert glucose == ["Glycémie à jeun(Glucose oxydase)", "4.89", "mmol/L", "3.89 - 6.00", "Normal"]
    assert _narrative_row(root, "#res-2-2")[1:3] == ["1.1", ""]  # a pure number: HL7's default unit 1, no @unit


def test_batteries_and_specimen_are_structured_entries(root):
    [battery] = root.xpath("//h:organizer[@classCode='BATTERY']", namespaces=NS)
    assert battery.xpath("h:code/@code", namespaces=NS) == ["24331-1"]
    assert battery.xpath("h:component/h:observation/h:code/@code", namespaces=NS) == ["2093-3", "2085-9"]
    [procedure] = root.xpath("//h:procedure[h:templateId/@root='1.2.250.1.213.1.1.3.77']", namespaces=NS)
    assert procedure.xpath("string(.//h:playingEntity/h:code/@code)", namespaces=NS) == "BLD"
    assert (
        procedure.xpath("string(.//h:act[h:code/@code='SPRECEIVE']/h:effectiveTime/@value)", namespaces=NS)
        == "20240104091000+0100"
    )


def test_the_pdf_copy_is_embedded_as_given_and_pairs_with_an_n1(reference_path):
    pdf = crbio_pdf(HEADER, CHAPTERS, reference_path=reference_path)
    data = crbio_n3(HEADER, CHAPTERS, reference_path=reference_path, pdf=pdf)
    media = xmlsafe.parse(data).xpath("//h:observationMedia/h:value", namespaces=NS)[0]
    assert base64.b64decode(media.text) == pdf and media.get("mediaType") == "application/pdf"
    n1 = read_header(xmlsafe.parse(n1_from_pdf(replace(HEADER, unique_id=HEADER.unique_id + ".1"), pdf)))
    assert (n1.level, n1.type_code.code) == ("N1", "11502-2")
    with pytest.raises(ValueError, match="FR-Document-PDF-copie"):
        crbio_n3(HEADER, CHAPTERS, reference_path=reference_path, pdf=b"<html/>")


def _with(result: Result, **changes) -> tuple[Chapter]:
    return (Chapter(BIOCHIMIE, "BIOCHIMIE", (replace(result, **changes),)),)


REFUSED = [
    # (chapters, message), each naming the rule and the result it is about
    (_with(GLUCOSE, value=Quantity("4.89", "mmol//L")), r"40193-5 .*unité UCUM « mmol//L » invalide"),
    (_with(GLUCOSE, value=Quantity("4.89", "µmol/L")), "le micro s'écrit « u »"),
    (_with(GLUCOSE, value=Quantity("4.89", "mmol/l")), r"« mmol/l » absente de la table UCUM .*is-code-ucum-exist"),
    (_with(GLUCOSE, reference_range=ReferenceRange("3.89", "6.00", "IU/L")), "« IU/L » absente de la table UCUM"),
    (_with(GLUCOSE, value=Quantity("4,89", "mmol/L")), "« 4,89 » n'est pas un nombre"),
    (_with(GLUCOSE, code=Code("GLU", "1.2.250.1.999", "Glucose")), "code GLU@1.2.250.1.999 non LOINC"),
    (_with(GLUCOSE, code=Code("40193-4", LOINC, "Glucose")), r"clé de contrôle fausse \(40193-5 attendu\)"),
    (_with(GLUCOSE, code=Code("glucose", LOINC, "Glucose")), "n'est pas un code LOINC"),
    (_with(GLUCOSE, code=Code("40193-5", LOINC)), "sans displayName"),
    (_with(GLUCOSE, interpretation="BAD"), "hors JDV_HL7_ObservationInterpretation_CISIS"),
    (_with(GLUCOSE, status="final"), "statut « final »"),
    (_with(GLUCOSE, value=None), "valeur absente"),
    (_with(GLUCOSE, reference_range=ReferenceRange("6.00", "3.89")), "intervalle de référence inversé"),
    (_with(SEROLOGY, reference_range=ReferenceRange("1", "2")), "ne s'applique qu'à une valeur mesurée"),
    ((Chapter(Code("18719-5", "1.2.3", "Biochimie"), "BIOCHIMIE", (GLUCOSE,)),), "chapitre 1 .*non LOINC"),
    (
        (Chapter(BIOCHIMIE, "BIOCHIMIE", (replace(LIPIDS, code=Code("24331-2", LOINC, "Lipides")),)),),
        "batterie : code LOINC 24331-2",
    ),
    (
        (Chapter(BIOCHIMIE, "BIOCHIMIE", (GLUCOSE,), replace(BLOOD, type=Code("SANG", SYS_SPECIMEN_TYPE))),),
        "hors JDV_HL7_SpecimenType_CISIS",
    ),
    ((Chapter(BIOCHIMIE, "BIOCHIMIE", ()),), "aucun résultat"),
    ((), "au moins un chapitre"),
]


@pytest.mark.parametrize("chapters,message", REFUSED, ids=[m for _, m in REFUSED])
def test_what_the_volet_refuses_is_refused_before_writing(reference_path, chapters, message):
    with pytest.raises(ValueError, match=message):
        crbio_n3(HEADER, chapters, reference_path=reference_path)


def test_an_aborted_test_needs_no_value(reference_path, terminology):
    data = crbio_n3(
        HEADER,
        _with(GLUCOSE, value=None, status="aborted", reference_range=None, interpretation=None),
        reference_path=reference_path,
    )
    report = inspect_cda(
        data, terminology, reference_path, max_bytes=MAX, schematrons=reference_path / "cisis" / "schematrons"
    )
    assert report.valid, report.findings
    assert _narrative_row(report.root, "#res-1-1")[1] == "non réalisé"


def test_the_header_must_be_a_biology_report_from_a_reachable_laboratory(reference_path):
    with pytest.raises(ValueError, match="type LOINC 11502-2"):
        crbio_n3(replace(HEADER, type=Code("34133-9", LOINC, "Synthèse")), CHAPTERS, reference_path=reference_path)
    bare = replace(BIOLOGIST, address=None, structure_telecom="")
    with pytest.raises(ValueError, match=r"adresse du biologiste, télécom du laboratoire .*Entete_CR-BIO.sch"):
        crbio_n3(replace(HEADER, author=bare), CHAPTERS, reference_path=reference_path)
    # another laboratory may perform the tests; then it must be reachable, not the author's
    crbio_n3(replace(HEADER, author=bare), CHAPTERS, reference_path=reference_path, performer=BIOLOGIST)
