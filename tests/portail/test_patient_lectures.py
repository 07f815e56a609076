"""`/mon-espace` over real HTTP, what only reads or is refused: the session cookie's flags, the headers
of every answer, CSRF on every POST, the dossier read through the DMP's own functions (same audit
records), the viewer, the portal's static files, a malformed document id. Nothing is written but the
patient's own sessions and the reads' audit records, so the tests of one backend share one house and
its world (module_live), each with a login of its own. Masking, logout and the refused and locked
logins (they write) are in test_patient.py, each test with a patient of its own."""

from __future__ import annotations

import httpx
import pytest

from maison.core import audit
from maison.portail.web import CSP
from tests.e2e.test_route_callers import routes
from tests.partage.world import SARAH_NIR
from tests.portail import test_patient
from tests.portail.test_patient import _document_id


@pytest.fixture(scope="module")
def world(module_live):
    return test_patient.make(module_live.house, module_live)


patient = test_patient.patient  # Sarah logged in, a session per test, on the module's world


def test_the_session_cookie_is_httponly_strict_and_scoped(patient):
    _, done = patient
    cookie = [c for c in done.headers.get_list("set-cookie") if c.startswith("maison_mon_espace=")][0]
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "samesite"} <= flags and "samesite=strict" in cookie.lower()
    assert "path=/mon-espace" in cookie.lower()
    assert "secure" not in flags  # plain HTTP on loopback only; elsewhere it is Secure (test_web)


def test_every_portal_answer_carries_the_security_headers(patient, world):
    client, _ = patient
    id_ = _document_id(client)
    for path in (
        "/mon-espace/connexion",
        "/mon-espace/dossier",
        f"/mon-espace/documents/{id_}",
        "/mon-espace/historique",
        "/mon-espace/documents/inconnu",
    ):
        answer = client.get(path)
        assert answer.headers["content-security-policy"] == CSP, path
        assert "'unsafe-inline'" not in CSP and "default-src 'self'" in CSP
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
    assert client.get("/mon-espace/documents/inconnu").status_code == 404  # a French page, not a 500


def test_every_post_without_or_with_a_wrong_csrf_token_is_refused(patient, world):
    client, _ = patient
    id_ = _document_id(client)
    posts = [p for m, p, _ in routes(world.house.app()) if p.startswith("/mon-espace") and m == "POST"]
    assert len(posts) >= 4
    for path in posts:
        path = path.replace("{id_}", id_).replace("{rubrique}", "allergies")
        for data in ({}, {"csrf": "pas-le-bon"}):
            refused = client.post(path, data={**data, "masque": "oui", "identifiant": "sarah.garcia"})
            assert refused.status_code == 403, (path, data, refused.text)
            assert "CSRF" in refused.text and refused.headers["content-security-policy"] == CSP
        wrong_header = client.post(path, headers={"X-CSRF-Token": "faux"}, data={"masque": "oui"})
        assert wrong_header.status_code == 403
    assert "Masqué" not in client.get("/mon-espace/dossier").text  # nothing was masked by the refusals


def test_the_dossier_is_read_through_the_dmp_and_audited_as_the_api(patient, world):
    client, _ = patient
    page = client.get("/mon-espace/dossier")
    assert page.status_code == 200 and "Lettre de liaison de sortie" in page.text, page.text[page.text.find("<main") :]
    assert '<html lang="fr">' in page.text and 'href="#contenu"' in page.text
    with world.house.db.read() as conn:
        searched = list(audit.events(conn, patient=SARAH_NIR, action_prefix="dmp.rechercher"))
    assert searched and searched[-1]["actor_software"] == "mon-espace-sante"
    assert searched[-1]["actor_person"] == SARAH_NIR


def test_the_viewer_serves_the_n1_pdf_inline_in_its_own_frame_policy(patient, world):
    client, _ = patient
    id_ = _document_id(client)
    shown = client.get(f"/mon-espace/documents/{id_}/affichage")
    assert shown.status_code == 200 and shown.content.startswith(b"%PDF")
    assert shown.headers["content-type"] == "application/pdf"
    assert shown.headers["content-disposition"].startswith("inline;")
    assert "frame-ancestors 'self'" in shown.headers["content-security-policy"]
    assert shown.headers["x-frame-options"] == "SAMEORIGIN"
    with world.house.db.read() as conn:
        assert list(audit.events(conn, patient=SARAH_NIR, action_prefix="dmp.consulter"))


def test_the_portal_serves_its_own_stylesheet_and_htmx(world):
    css = httpx.get(f"{world.base}/portail/style.css")
    js = httpx.get(f"{world.base}/portail/htmx.min.js")
    assert css.status_code == 200 and ":focus-visible" in css.text and "text/css" in css.headers["content-type"]
    assert js.status_code == 200 and "htmx" in js.text[:200]


def test_a_malformed_document_id_is_a_french_400_page(patient):
    client, _ = patient
    answer = client.get("/mon-espace/documents/a%20b'%3Cscript%3E")
    assert answer.status_code == 400 and "adresse de page invalide" in answer.text
    assert answer.headers["content-security-policy"] == CSP
