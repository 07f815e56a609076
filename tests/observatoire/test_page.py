"""The HTML report (issue 23 §4): one self-contained French page, its headings, each chart followed
by its table, the seal stated in words — an unsigned report says so, with its reason."""

from __future__ import annotations

from lxml import html

from maison.observatoire.page import render
from maison.observatoire.report import Table
from maison.observatoire.service import Served
from maison.observatoire.signature import Seal

RATES = Table("Taux <par> mois", ("mois", "DS1.1"), (("2026-01", 50.0), ("2026-02", None)), "line", ("note 1",))
LIST = Table("Séjours", ("séjour", "compté"), (("S1", True), ("S2", False)))


def served(seal: Seal) -> Served:
    return Served("sunes", "Indicateurs SUN-ES — structure X — 2026-S1", {}, [RATES, LIST], seal)


def test_a_signed_report_as_an_accessible_page():
    text = render("Observatoire", [served(Seal(12, "f" * 64, "eyJ..sig", "kid-1"))])
    page = html.fromstring(text)
    assert page.get("lang") == "fr" and page.find(".//meta").get("charset") == "utf-8"
    assert [h.text_content() for h in page.iter("h1", "h2", "h3")] == [
        "Observatoire",
        "Indicateurs SUN-ES — structure X — 2026-S1",
        "Taux <par> mois",
        "Séjours",
    ]
    [figure] = page.iter("figure")
    table = figure.getnext()
    assert table.tag == "table" and table.find("caption").text_content() == "Taux <par> mois"
    assert [th.get("scope") for th in table.iter("th")] == ["col", "col"]
    assert [td.text_content() for td in table.iter("td")] == ["2026-01", "50.0", "2026-02", "—"]
    assert "note 1" in text and "oui" in text and "Rapport signé" in text and "seq 12" in text
    assert not page.findall(".//script") and not page.findall(".//link")  # self-contained


def test_an_unsigned_report_says_why_as_an_alert():
    seal = Seal(12, "f" * 64, None, "kid-1", "chaîne d'audit rompue à seq 7 : rapport non signé")
    page = html.fromstring(render("Observatoire", [served(seal)]))
    [alert] = [p for p in page.iter("p") if p.get("role") == "alert"]
    assert "Rapport non signé" in alert.text_content() and "rompue à seq 7" in alert.text_content()
