"""`maison cda inspect`: the header metadata shown, and the exit code saying whether the DMP would take it."""

import re
from pathlib import Path

from typer.testing import CliRunner

from maison.cli import app


def test_inspect_a_conform_document(reference_path, monkeypatch):
    monkeypatch.setenv("MAISON_REFERENCE_PATH", str(reference_path))
    result = CliRunner().invoke(
        app, ["cda", "inspect", str(reference_path / "cisis/ExemplesCDA/LDL-SES_2022.01.xml")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "11490-0" in result.output and "1.2.250.1.213.1.4.10^279035121518989" in result.output
    assert "conforme" in result.output


def test_inspect_a_broken_and_a_hostile_document(reference_path, tmp_path, monkeypatch):
    monkeypatch.setenv("MAISON_REFERENCE_PATH", str(reference_path))
    source = (reference_path / "cisis/ExemplesCDA/DOC_NON_STRUCTURE_CDA-R2-N1.xml").read_text(encoding="utf-8")
    broken = tmp_path / "sans-responsable.xml"
    start, end = source.index("<legalAuthenticator>"), source.index("</legalAuthenticator>")
    broken.write_text(source[:start] + source[end + len("</legalAuthenticator>") :], encoding="utf-8")
    result = CliRunner().invoke(app, ["cda", "inspect", str(broken)], env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "cda-responsable" in result.output
    hostile = tmp_path / "bombe.xml"
    hostile.write_text('<!DOCTYPE d [<!ENTITY a "x">]><ClinicalDocument xmlns="urn:hl7-org:v3">&a;</ClinicalDocument>')
    result = CliRunner().invoke(app, ["cda", "inspect", str(hostile)])
    assert result.exit_code == 2 and "xml-dtd-interdit" in result.output


def _volet_named_by_the_pack(data: bytes) -> str | None:
    """The volet schematron an official example names for itself (`<?oxygen SCHSchema?>`, the list the
    pack's engine runs), beside the profiles every example names."""
    named = [n.decode() for n in re.findall(rb'<\?oxygen SCHSchema="([^"]+)"', data[:16_384])]
    return next((Path(n).name for n in named if "/profils/" not in n.lower()), None)


def test_every_official_example_is_judged_as_the_pack_judges_it(reference_path, monkeypatch):
    """Issue 20 §2, done when: `maison cda inspect` picks each example's volet by the rules of §2 and
    gives the pack's verdict — every example valid; the catalogue of templates checked with the
    structuration minimale only."""
    monkeypatch.setenv("MAISON_REFERENCE_PATH", str(reference_path))
    examples = sorted((reference_path / "cisis/ExemplesCDA").glob("*.xml"))
    assert len(examples) >= 16
    for example in examples:
        result = CliRunner().invoke(app, ["cda", "inspect", str(example)], env={"COLUMNS": "400"})
        assert result.exit_code == 0, (example.name, result.output)
        volet = _volet_named_by_the_pack(example.read_bytes())
        if volet:
            assert f"schématron du volet : {volet} " in result.output, (example.name, result.output)
            assert f"conforme : XSD CDA_extended, règles d'en-tête CI-SIS, schématron {volet}" in result.output
        else:
            assert "schématron du volet" not in result.output, (example.name, result.output)
            assert "pas de schématron de volet" in result.output or "aucun schématron de volet trouvé" in result.output
            assert "schématron ASIP-STRUCT-MIN-StrucMin.sch" in result.output, (example.name, result.output)
        if example.name == "01_Modèles_contenus_CDA.xml":
            assert "aucun schématron de volet trouvé pour les templates 1.2.250.1.213.1.1.1.13" in result.output
            assert (
                "vérifié avec le schématron de structuration minimale : ASIP-STRUCT-MIN-StrucMin.sch" in result.output
            )
