"""`/mon-espace` over real HTTP: the login of the API, the session cookie's flags, the headers of
every answer, CSRF on every POST, the dossier read through the DMP's own functions (same audit
records), masking (the professional no longer finds the document), the access history, logins refused and locked.
What only reads or is refused (cookie flags, headers, CSRF, the dossier, the viewer, the static files,
a malformed id) shares one house per backend in test_patient_lectures.py.
The tests here write (a masking, a logout, a login's failures), so each has a patient of its own
(own_patient: her document, her session, her failure count) on the module's one house per backend
(module_live)."""

from __future__ import annotations

import re

import httpx
import pytest

from maison.core.ins_traits import Traits
from maison.etablissement.dmp.producer import Produced
from maison.portail.web import CSP
from tests.partage.world import PASSWORD, PROS, World, make_world, n1
from tests.portail.own_patient import Patient, own_patient


@pytest.fixture(scope="module")
def shared_world(module_live) -> World:
    return make(module_live.house, module_live)


@pytest.fixture
def world(shared_world: World) -> World:
    """The module's world, its professionals' tokens young enough for this test (they last 120 s)."""
    return shared_world.renew()


def make(house, live):
    """The DMP's world with one N1 of Sarah's, fed by the hospital (test_patient_lectures.py's too)."""
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
    """Sarah logged in, a session per test (test_patient_lectures.py's, on its world)."""
    with httpx.Client(base_url=world.base, timeout=60) as client:
        done = log_in(world, client)
        assert done.status_code == 303 and done.headers["location"] == "/mon-espace/dossier"
        yield client, done


@pytest.fixture
def own(world) -> Patient:
    """This test's patient, one N1 of hers fed by the hospital."""
    patient = own_patient(world.house)
    letter = n1(PROS["hospitalier"], patient=patient.identity, title="Lettre de liaison de sortie")
    fed = world.provide("hospitalier", [Produced(letter)])
    assert fed.status_code == 200, fed.text
    return patient


@pytest.fixture
def her(world, own):
    """This test's patient logged in (`patient` is Sarah's session, for test_patient_lectures.py)."""
    with httpx.Client(base_url=world.base, timeout=60) as client:
        done = log_in(world, client, own.login, own.email)
        assert done.status_code == 303 and done.headers["location"] == "/mon-espace/dossier"
        yield client


def _document_id(client: httpx.Client) -> str:
    return re.search(r'href="/mon-espace/documents/([^"/]+)"', client.get("/mon-espace/dossier").text).group(1)


def test_masking_hides_the_document_from_the_professional_and_shows_in_history(her, own, world):
    client = her
    world.inform("generaliste", own.ins)
    assert world.search("generaliste", own.ins).json()["total"] == 1
    id_ = _document_id(client)
    page = client.get(f"/mon-espace/documents/{id_}")
    masked = client.post(f"/mon-espace/documents/{id_}/masquage", data={"csrf": _token(page.text), "masque": "oui"})
    assert masked.status_code == 303
    assert "Masqué aux professionnels" in client.get("/mon-espace/dossier").text
    assert world.search("generaliste", own.ins).json()["total"] == 0  # masked to professionals (R.1111-49)
    history = client.get("/mon-espace/historique")
    assert "a modifié la visibilité" in history.text and "Vous" in history.text
    assert "a ajouté un document" in history.text and "a consulté la liste de vos documents" in history.text
    assert PROS["generaliste"].idnatps in history.text  # who searched, in her history


def test_the_htmx_request_gets_the_fragment(her):
    client = her
    id_ = _document_id(client)
    page = client.get(f"/mon-espace/documents/{id_}")
    fragment = client.post(
        f"/mon-espace/documents/{id_}/masquage",
        data={"masque": "oui"},
        headers={"HX-Request": "true", "X-CSRF-Token": _token(page.text)},
    )
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<section id="masquage"')
    assert "Rendre visible aux professionnels" in fragment.text


def test_logout_ends_the_session(her):
    client = her
    token = _token(client.get("/mon-espace/dossier").text)
    out = client.post("/mon-espace/deconnexion", data={"csrf": token})
    assert out.status_code == 303
    again = client.get("/mon-espace/dossier")
    assert again.status_code == 401 and "reconnectez-vous" in again.text


def test_a_wrong_password_stays_on_the_form_in_french(world):
    user = own_patient(world.house).login  # a failure counted against her login, nobody else's
    with httpx.Client(base_url=world.base, timeout=60) as client:
        form = client.get("/mon-espace/connexion")
        wrong = client.post(
            "/mon-espace/connexion",
            data={"csrf": _token(form.text), "identifiant": user, "motDePasse": "pas le bon"},
        )
        assert wrong.status_code == 401 and "identifiant ou mot de passe incorrect" in wrong.text


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


def test_repeated_wrong_passwords_lock_the_form_with_retry_after(world):
    user = own_patient(world.house).login  # her login locked, not Sarah's nor another test's
    with httpx.Client(base_url=world.base, timeout=60) as client:
        token = _token(client.get("/mon-espace/connexion").text)
        for _ in range(5):
            client.post("/mon-espace/connexion", data={"csrf": token, "identifiant": user, "motDePasse": "x"})
        locked = client.post("/mon-espace/connexion", data={"csrf": token, "identifiant": user, "motDePasse": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert locked.headers["content-security-policy"] == CSP and '<html lang="fr">' in locked.text
