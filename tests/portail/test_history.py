"""The access history told in French: who, which structure, what, when, why; an emergency access
flagged, a refusal marked."""

from __future__ import annotations

import orjson

from maison.portail.history import Paging, in_french

SARAH = "277010115400329"


def _row(seq: int, person: str, action: str, *, mode: str = "normal", motif: str = "", outcome: str = "success"):
    actor = {"kind": "professionnel", "mode": mode, **({"motif": motif} if motif else {})}
    return {
        "seq": seq,
        "recorded_at": "2026-12-07T13:05:00+00:00",
        "actor_person": person,
        "actor_structure": "" if person == SARAH else "1750000019",
        "action": action,
        "purpose": "TREAT",
        "outcome": outcome,
        "detail": orjson.dumps({"actor": actor}).decode(),
    }


def test_each_access_is_a_french_line_newest_first():
    rows = [
        _row(1, "810002909371", "dmp.consulter"),
        _row(2, "810002909371", "dmp.consulter", mode="bris_de_glace", motif="patient inconscient aux urgences"),
        _row(3, SARAH, "dmp.mettre-a-jour"),
        _row(4, "810002909372", "dmp.rechercher", outcome="failure"),
    ]
    refused, mine, emergency, normal = in_french(rows, SARAH)
    assert normal.who == "Professionnel 810002909371" and normal.structure == "1750000019"
    assert normal.what == "a consulté un document" and normal.when == "le 07/12/2026 à 14:05"  # Paris time
    assert normal.why == "soins" and normal.emergency == ""
    assert emergency.emergency == "bris de glace" and emergency.why == "patient inconscient aux urgences"
    assert mine.who == "Vous" and mine.what.startswith("a modifié la visibilité")
    assert refused.refused and not normal.refused


def test_the_page_shows_an_emergency_access_loudly():
    from maison.portail.web import page

    lines = in_french([_row(1, "810002909371", "dmp.consulter", mode="bris_de_glace", motif="urgence vitale")], SARAH)
    paging = Paging(1, False, "/mon-espace/historique")
    context = {"events": lines, "urgences": lines, "pages": paging, "csrf": "x", "nav": [], "current": ""}
    html = page("historique.html", **context).body.decode()
    assert '<tr class="urgence">' in html and "Accès en urgence (bris de glace)" in html and "urgence vitale" in html
    assert 'class="bandeau-urgence"' in html and 'class="pagination"' not in html  # one page: no links


def test_the_page_links_name_the_newer_and_older_pages():
    base = "/mon-espace/historique"
    assert (Paging(1, True, base).newer, Paging(1, True, base).older) == (None, f"{base}?page=2")
    assert (Paging(2, True, base).newer, Paging(2, True, base).older) == (base, f"{base}?page=3")
    assert (Paging(3, False, base).newer, Paging(3, False, base).older) == (f"{base}?page=2", None)
