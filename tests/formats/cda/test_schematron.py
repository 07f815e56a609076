"""The schematron evaluator as the pack's engine runs it (issue 20 §2.5): messages with their
`<value-of>` and `<name>` evaluated, findings placed in the included file and line of the assert,
only the default phase's patterns run."""

from pathlib import Path

import pytest
from lxml import etree

from maison.formats.cda import schematron

DOCUMENT = """<ClinicalDocument xmlns="urn:hl7-org:v3">
  <code code="11490-0" codeSystem="2.16.840.1.113883.6.1"/>
  <title>Lettre</title>
</ClinicalDocument>"""

TOP = """<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2" defaultPhase="volet">
  <ns prefix="cda" uri="urn:hl7-org:v3"/>
  <include href="include/entete.sch"/>
  <phase id="volet"><active pattern="entete"/></phase>
  <pattern id="inactif">
    <rule context="cda:ClinicalDocument"><assert test="false()">hors de la phase</assert></rule>
  </pattern>
</schema>"""

INCLUDED = """<pattern xmlns="http://purl.oclc.org/dsdl/schematron" id="entete">
  <rule context="cda:ClinicalDocument/cda:code">
    <let name="attendu" value="'SYNTH'"/>

    <assert test="@code = $attendu">
      [Entete] L'élément <name/> vaut "<value-of select="@code"/>" (système <value-of select="@codeSystem"/>),
      attendu <value-of select="$attendu"/> ; <emph>titre</emph> : <value-of select="../cda:title"/>.
    </assert>
    <report test="@code = '11490-0'" role="warning">rapport sur <name path=".."/></report>
  </rule>
</pattern>"""


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "entete.sch").write_text(INCLUDED, encoding="utf-8")
    (tmp_path / "CI-SIS_ESSAI_2024.01.sch").write_text(TOP, encoding="utf-8")
    return tmp_path / "CI-SIS_ESSAI_2024.01.sch"


def test_messages_are_evaluated_and_placed_where_the_assert_is_written(pack):
    findings = schematron.Schematron.load(pack).validate(DOCUMENT)
    [failure] = [f for f in findings if f.severity == "error"]
    assert failure.message == (
        '[Entete] L\'élément code vaut "11490-0" (système 2.16.840.1.113883.6.1), attendu SYNTH ; titre : Lettre.'
    )
    assert failure.source == "include/entete.sch:5"  # the included file and the assert's line
    assert failure.location.endswith("code[1]")
    [report] = [f for f in findings if f.severity == "warning"]
    assert report.message == "rapport sur ClinicalDocument" and report.source == "include/entete.sch:9"


def test_only_the_default_phase_runs(pack):
    assert "hors de la phase" not in {f.message for f in schematron.Schematron.load(pack).validate(DOCUMENT)}
    without_phase = pack.read_text(encoding="utf-8").replace(' defaultPhase="volet"', "")
    pack.write_text(without_phase, encoding="utf-8")
    assert "hors de la phase" in {f.message for f in schematron.Schematron.load(pack).validate(DOCUMENT)}


def test_a_failure_in_a_pack_volet_names_its_included_file(reference_path):
    # Entete_VAC-NOTE_2023.01.sch:27 requires the volet template in version 2023.01
    example = etree.fromstring((reference_path / "cisis/ExemplesCDA/VAC-NOTE_2023.01.xml").read_bytes())
    template = example.find("{urn:hl7-org:v3}templateId[@root='1.2.250.1.213.1.1.1.46']")
    template.set("extension", "2021.01")
    volet = schematron.load(reference_path / "cisis/schematrons/CI-SIS_VAC-NOTE_2023.01.sch")
    errors = [f for f in volet.validate(etree.tostring(example, encoding="unicode")) if f.severity == "error"]
    assert errors and all(f.code == "schematron" for f in errors)
    assert "include/specificationsVolets/VAC-NOTE_2023.01/Entete/Entete_VAC-NOTE_2023.01.sch:27" in {
        f.source for f in errors
    }


def test_a_structuration_minimale_message_shows_the_value_found(reference_path):
    # ART-DECOR's rules quote the offending value: Found "{<value-of …>}:<value-of …>"
    example = etree.fromstring((reference_path / "cisis/ExemplesCDA/DOC_NON_STRUCTURE_CDA-R2-N1.xml").read_bytes())
    telecom = example.find("{urn:hl7-org:v3}recordTarget/{urn:hl7-org:v3}patientRole/{urn:hl7-org:v3}telecom")
    telecom.set("{http://www.w3.org/2001/XMLSchema-instance}type", "PQ")
    strucmin = schematron.load(
        reference_path / "cisis/schematrons/profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch"
    )
    errors = [f for f in strucmin.validate(etree.tostring(example, encoding="unicode")) if f.code == "schematron"]
    [failure] = [f for f in errors if "CI-SISTelecom" in f.message]
    assert failure.message.endswith('Found "{urn:hl7-org:v3}:PQ"'), failure.message
    assert failure.source == "include/1.2.250.1.213.1.1.1.1-2017-12-13T103531.sch:444"
