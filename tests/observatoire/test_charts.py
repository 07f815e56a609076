"""The observatory's SVG charts: well-formed XML, accessible (role, title, desc, axis labels), the values drawn."""

from __future__ import annotations

from lxml import etree

from maison.observatoire.charts import PALETTE, series, svg
from maison.observatoire.report import Table

SVG = "{http://www.w3.org/2000/svg}"
RATES = Table(
    "SUN-ES par mois",
    ("mois", "DS1.1", "DS4.2", "libellé"),
    (("2026-01", 50.0, None, "x"), ("2026-02", 75.5, 20, "y")),
    chart="line",
)


def parsed(table: Table) -> etree._Element:
    drawn = svg(table)
    assert drawn is not None
    return etree.fromstring(drawn.encode())


def test_a_line_chart_names_itself_and_every_value():
    root = parsed(RATES)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and title.text == "SUN-ES par mois (graphique en courbes)"
    assert desc is not None and "DS1.1 : 2026-01 50, 2026-02 75.5" in desc.text
    assert "DS4.2 : 2026-01 sans valeur, 2026-02 20" in desc.text
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    points = [c.find(f"{SVG}title").text for c in root.iter(f"{SVG}circle")]
    assert points == ["2026-01 — DS1.1 : 50", "2026-02 — DS1.1 : 75.5", "2026-02 — DS4.2 : 20"]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "mois" in texts and "valeur" in texts  # the axes' labels
    assert "2026-01" in texts and "75.5" in texts
    assert len(list(root.iter(f"{SVG}polyline"))) == 1  # DS4.2 has one point: no line


def test_a_bar_chart_draws_one_bar_per_value_in_its_series_colour():
    table = Table("Par logiciel", ("logiciel", "envois"), (("DPI A", 12), ("DPI <B>", 3)), chart="bar")
    root = parsed(table)
    bars = list(root.iter(f"{SVG}rect"))
    drawn = [b for b in bars if b.find(f"{SVG}title") is not None]
    assert [b.find(f"{SVG}title").text for b in drawn] == ["DPI A — envois : 12", "DPI <B> — envois : 3"]
    assert {b.get("fill") for b in drawn} == {PALETTE[0]}
    assert float(drawn[0].get("height")) == 4 * float(drawn[1].get("height"))


def test_only_numeric_columns_are_series_and_a_table_without_chart_draws_nothing():
    assert [name for name, _ in series(RATES)] == ["DS1.1", "DS4.2"]
    assert svg(Table("t", ("a", "b"), (("x", 1),))) is None
    exercised = Table("t", ("logiciel", "nombre", "seq_premier"), (("DPI", 3, 1234),), chart="bar")
    assert [name for name, _ in series(exercised)] == ["nombre"]  # a record's seq is no quantity
    assert svg(Table("t", ("a", "b"), (), chart="bar")) is None
    assert svg(Table("t", ("a", "b"), (("x", "texte"),), chart="bar")) is None
