"""`maison cda inspect`: the header metadata shown, and the exit code saying whether the DMP would take it."""

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
