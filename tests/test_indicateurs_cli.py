"""`maison indicateurs …` (issue 23 §4): the reports as rich tables, JSON, CSV (a section per table)
and an HTML page with charts; the trail folded first (`replier`); a report that cannot be signed says
so on the error output, and `--strict` fails with code 3."""

from __future__ import annotations

import orjson
import pytest
from lxml import html as lxml_html
from typer.testing import CliRunner

from maison.cli import app
from maison.core import audit
from maison.core.config import load_settings
from maison.house import House
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.index import put

HOPITAL = "1750000019"


@pytest.fixture
def run(tmp_path, reference_path, monkeypatch):
    monkeypatch.setenv("MAISON_REFERENCE_PATH", str(reference_path))
    monkeypatch.delenv("MAISON_DATABASE_URL", raising=False)
    house = House.open(load_settings().with_overrides(data_dir=tmp_path))
    with house.db.write() as conn:
        put(conn, [build.organization(HOPITAL, "CHU DE TEST", "2026-11-01T08:00:00+00:00", secteur="SA01")])
    house.close()
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(app, ["indicateurs", *args, "--data-dir", str(tmp_path)])
        assert result.exit_code == code, result.output
        return result

    invoke.tmp_path = tmp_path  # type: ignore[attr-defined]
    return invoke


def test_sunes_as_a_table_json_and_csv(run):
    shown = run("sunes", "--structure", HOPITAL, "--periode", "2026-S1").output
    assert "DS1.1" in shown and "DS4.2" in shown and "signé (clé" in shown
    served = orjson.loads(run("sunes", "--structure", HOPITAL, "--periode", "2026-S1", "--format", "json").stdout)
    assert served["rapport"] == "sunes" and served["signature"]["signe"] is True
    assert [i["indicateur"] for i in served["contenu"]["indicateurs"]][-1] == "DS4.2"
    sections = run("sunes", "--structure", HOPITAL, "--periode", "2026-S1", "--format", "csv").stdout.split("\n\n")
    assert sections[0].startswith("# SUN-ES 1750000019 — 2026-S1\nindicateur;libellé;numérateur")
    assert sections[1].startswith("# DS4.3")


def test_the_html_report_has_charts_and_their_tables(run):
    page = run.tmp_path / "rapport.html"
    run("sunes", "--structure", HOPITAL, "--periode", "2026-S1", "--html", str(page))
    parsed = lxml_html.fromstring(page.read_bytes())
    assert parsed.get("lang") == "fr" and len(parsed.findall(".//h1")) == 1
    headings = [h.text_content() for h in parsed.iter("h3")]
    assert any(h.startswith("Taux SUN-ES par mois") for h in headings)
    # the indicators' bars (zeros drawn); no month has a rate in an empty house: its table, no chart
    assert len(list(parsed.iter("figure"))) == 1
    captions = [c.text_content() for c in parsed.iter("caption")]
    assert any(c.startswith("Taux SUN-ES par mois") for c in captions)
    assert "Rapport signé" in page.read_text(encoding="utf-8")


def test_every_report_and_the_explanations(run):
    assert orjson.loads(run("national", "--periode", "2026-05", "--format", "json").stdout)["rapport"] == "national"
    assert orjson.loads(run("conformite", "--format", "json").stdout)["rapport"] == "conformite"
    maturin = orjson.loads(run("maturin", "--structure", HOPITAL, "--format", "json").stdout)
    assert maturin["contenu"]["structure"] == HOPITAL
    prerequis = orjson.loads(run("prerequis", "--structure", HOPITAL, "--format", "json").stdout)
    assert prerequis["rapport"] == "prerequis" and "PS1.1" in orjson.dumps(prerequis).decode()
    why = run("explication", "DS1.1", "--structure", HOPITAL, "--periode", "2026-S1", "--format", "csv").stdout
    assert why.startswith("# DS1.1")
    args = ("--periode", "2026-S1", "--page", "1", "--taille", "10", "--format", "json")
    page = orjson.loads(run("explication", "DS1.1", "--structure", HOPITAL, *args).stdout)
    assert page["rapport"] == "sunes-explication-page" and page["contenu"]["taille"] == 10
    folded = run("replier").stdout
    assert "sunes : replié jusqu'à seq" in folded and "national : replié jusqu'à seq" in folded


def test_errors_are_said_not_raised(run):
    assert "refusé" in run("sunes", "--structure", HOPITAL, "--periode", "2026-S9", code=2).output
    assert "refusé" in run("sunes", "--periode", "2026-S1", code=2).output
    assert "refusé" in run("sunes", "--structure", "1999999998", code=2).output


def test_a_tampered_chain_is_said_and_strict_fails(run):
    run("sunes", "--structure", HOPITAL, "--periode", "2026-S1")
    house = House.open(load_settings().with_overrides(data_dir=run.tmp_path), migrate=False)
    with house.db.write() as conn:
        e = audit.audit_event
        conn.execute(e.update().where(e.c.action == "observatoire.sunes").values(detail='{"actor":{}}'))
    house.close()
    lenient = run("sunes", "--structure", HOPITAL, "--periode", "2026-S1")
    assert "NON SIGNÉ" in lenient.stdout and "rapport non signé : chaîne d'audit rompue" in lenient.stderr
    strict = run("national", "--periode", "2026-05", "--format", "json", "--strict", code=3)
    assert orjson.loads(strict.stdout)["signature"]["signe"] is False
