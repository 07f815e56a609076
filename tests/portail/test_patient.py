"""`/mon-espace` over real HTTP: the login of the API, the session cookie's flags, the headers of
every answer, CSRF on every POST, the dossier read through the DMP's own functions (same audit
records), the viewer, masking (the professional no longer finds the document), the access history."""

from __future__ import annotations

import re

import httpx
import pytest

from maison.core import audit
from maison.core.ins_traits import Traits
from maison.etablissement.dmp.producer import Produced
from maison.portail.web import CSP
from tests.e2e.test_route_callers import routes
from tests.partage.world import PASSWORD, PROS, SARAH_NIR, make_world, n1


@pytest.fixture
def world(house, live):
    world = make_world(house, live, keys=("hospitalier", "generaliste"))
    fed = world.provide("hospitalier", [Produced(n1(PROS["hospitalier"], title="Lettre de liaison de sortie"))])
    assert fed.status_code == 200, fed.text
    return world


def _token(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def log_in(world, client: httpx.Client, user: str = "sarah.garcia", mail: str = "sarah@example.fr") -> httpx.Response:
    form = client.get("/mon-espace/connexion")
    started = client.post(
        "/mon-espace/connexion", data={"csrf": _token(form.text), "identifiant": user, "motDePasse": PASSWORD}
    )
    assert started.status_code == 200 and "code de connexion" in started.text, started.text
    code = re.search(r"\b(\d{6})\b", world.house.patient_login.outbox(mail)[-1]["body"]).group(1)
    transaction = re.search(r'name="transaction" value="([^"]+)"', started.text).group(1)
    return client.post(
        "/mon-espace/connexion/code", data={"csrf": _token(started.text), "transaction": transaction, "code": code}
    )


@pytest.fixture
def patient(world):
    with httpx.Client(base_url=world.base, timeout=60) as client:
        done = log_in(world, client)
        assert done.status_code == 303 and done.headers["location"] == "/mon-espace/dossier"
        yield client, done


def _document_id(client: httpx.Client) -> str:
    return re.search(r'href="/mon-espace/documents/([^"/]+)"', client.get("/mon-espace/dossier").text).group(1)


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


def test_masking_hides_the_document_from_the_professional_and_shows_in_history(patient, world):
    client, _ = patient
    world.inform("generaliste")
    assert world.search("generaliste").json()["total"] == 1
    id_ = _document_id(client)
    page = client.get(f"/mon-espace/documents/{id_}")
    masked = client.post(f"/mon-espace/documents/{id_}/masquage", data={"csrf": _token(page.text), "masque": "oui"})
    assert masked.status_code == 303
    assert "Masqué aux professionnels" in client.get("/mon-espace/dossier").text
    assert world.search("generaliste").json()["total"] == 0  # masked to professionals (R.1111-49)
    history = client.get("/mon-espace/historique")
    assert "a modifié la visibilité" in history.text and "Vous" in history.text
    assert "a ajouté un document" in history.text and "a consulté la liste de vos documents" in history.text
    assert PROS["generaliste"].idnatps in history.text  # who searched, in her history


def test_the_htmx_request_gets_the_fragment(patient, world):
    client, _ = patient
    id_ = _document_id(client)
    page = client.get(f"/mon-espace/documents/{id_}")
    fragment = client.post(
        f"/mon-espace/documents/{id_}/masquage",
        data={"masque": "oui"},
        headers={"HX-Request": "true", "X-CSRF-Token": _token(page.text)},
    )
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<section id="masquage"')
    assert "Rendre visible aux professionnels" in fragment.text


def test_logout_ends_the_session(patient):
    client, _ = patient
    token = _token(client.get("/mon-espace/dossier").text)
    out = client.post("/mon-espace/deconnexion", data={"csrf": token})
    assert out.status_code == 303
    again = client.get("/mon-espace/dossier")
    assert again.status_code == 401 and "reconnectez-vous" in again.text


def test_a_wrong_password_stays_on_the_form_in_french(world):
    with httpx.Client(base_url=world.base, timeout=60) as client:
        form = client.get("/mon-espace/connexion")
        wrong = client.post(
            "/mon-espace/connexion",
            data={"csrf": _token(form.text), "identifiant": "sarah.garcia", "motDePasse": "pas le bon"},
        )
        assert wrong.status_code == 401 and "identifiant ou mot de passe incorrect" in wrong.text


def test_the_portal_serves_its_own_stylesheet_and_htmx(world):
    css = httpx.get(f"{world.base}/portail/style.css")
    js = httpx.get(f"{world.base}/portail/htmx.min.js")
    assert css.status_code == 200 and ":focus-visible" in css.text and "text/css" in css.headers["content-type"]
    assert js.status_code == 200 and "htmx" in js.text[:200]


def test_a_structured_cda_is_shown_by_the_cisis_stylesheet_without_script(world, reference_path):
    """A note de vaccination (an N3 fed alone, 002 L413) of PAT-TROIS, from the CI-SIS examples."""
    house = world.house
    ins = "279035121518989"
    house.insi.referential.register(Traits.of("PAT-TROIS", "DOMINIQUE MARIE-LOUISE", "F", "1979-03-28", "51215"), ins)
    house.patient_login.open_account("pat.trois", ins, "1979-03-28", PASSWORD, email="pat.trois@example.fr")
    note = (reference_path / "cisis" / "ExemplesCDA" / "VAC-NOTE_2023.01.xml").read_bytes()
    assert world.provide("hospitalier", [Produced(note)]).status_code == 200
    with httpx.Client(base_url=world.base, timeout=120) as client:
        assert log_in(world, client, "pat.trois", "pat.trois@example.fr").status_code == 303
        shown = client.get(f"/mon-espace/documents/{_document_id(client)}/affichage")
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/html")
    assert "<html" in shown.text and "fo:root" not in shown.text and "PAT-TROIS" in shown.text
    policy = shown.headers["content-security-policy"]
    assert "script-src" not in policy and "default-src 'none'" in policy and "sandbox" in policy


def test_a_malformed_document_id_is_a_french_400_page(patient):
    client, _ = patient
    answer = client.get("/mon-espace/documents/a%20b'%3Cscript%3E")
    assert answer.status_code == 400 and "adresse de page invalide" in answer.text
    assert answer.headers["content-security-policy"] == CSP


def test_repeated_wrong_passwords_lock_the_form_with_retry_after(world):
    with httpx.Client(base_url=world.base, timeout=60) as client:
        token = _token(client.get("/mon-espace/connexion").text)
        for _ in range(5):
            client.post("/mon-espace/connexion", data={"csrf": token, "identifiant": "sarah.garcia", "motDePasse": "x"})
        locked = client.post(
            "/mon-espace/connexion", data={"csrf": token, "identifiant": "sarah.garcia", "motDePasse": PASSWORD}
        )
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert locked.headers["content-security-policy"] == CSP and '<html lang="fr">' in locked.text
