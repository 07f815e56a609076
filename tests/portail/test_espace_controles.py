"""`/mon-espace/controles` over real HTTP: each control goes through the DMP function the
`/dmp/espace/*` route calls, so what the patient sets in the page is what the professional then meets
through the API — a blocked professional refused, an emergency mode opposed, a delegation code that
opens the dossier until it is revoked, an opposition or a closing (each confirmed first) that shuts it.
Every form: CSRF refused without its token, wrong input a French 4xx page, PRG (303); professionals
named from the Annuaire; every change and the page's read in the audit trail. What a patient sets stays on
her dossier: Sarah's daughter's is untouched. The tests share one house and world per backend
(module_live): what only reads or is refused runs as Sarah (one session for the module); a test that
sets a control takes a patient of its own (`patient`: her DMP, `her`: her session) and reads only her records."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest

from maison.core import audit
from maison.core.actor import Actor
from maison.core.authz import patient_actor
from maison.core.errors import Forbidden
from maison.etablissement.dmp.producer import Produced
from maison.partage.dmp.model import Access, DossierState, Who
from maison.portail.espace_controles import CODE_COOKIE
from maison.portail.web import CSP
from tests.identite.helpers import SARAH_NIR
from tests.partage.world import CABINET, CHILD, PROS, make_world, n1
from tests.portail import espace_world
from tests.portail.test_patient import _token, log_in

KEYS = ("hospitalier", "generaliste", "infirmier", "urgentiste", "pharmacien")
BDG = {"X-Mode-Acces": "bris_de_glace", "X-Motif-Acces": "patiente inconsciente"}


@pytest.fixture(scope="module")
def shared_world(module_live):
    world = make_world(module_live.house, module_live, keys=KEYS)
    assert world.provide("hospitalier", [Produced(n1(PROS["hospitalier"]))]).status_code == 200
    world.inform("infirmier")
    return world


@pytest.fixture(scope="module")
def client(shared_world):
    """Sarah's session, for the tests that only read or are refused: her controls stay as they are."""
    with httpx.Client(base_url=shared_world.base, timeout=60) as client:
        assert log_in(shared_world, client).status_code == 303
        yield client


world, patient, her = espace_world.renewed_world, espace_world.patient, espace_world.her  # a test's own patient


def _code(response: httpx.Response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


def _post(client: httpx.Client, path: str, **data: str) -> httpx.Response:
    token = _token(client.get("/mon-espace/controles").text)
    return client.post(f"/mon-espace/controles{path}", data={"csrf": token, **data})


def _actions(house, action: str, patient: str = SARAH_NIR) -> list[dict]:
    with house.db.read() as conn:
        return [r for r in audit.events(conn, patient=patient, action_prefix=action) if r["action"] == action]


def _untouched(world) -> None:
    """The world's patients' dossiers as it made them: open, no rule (Sarah's, her daughter's)."""
    for ins in (SARAH_NIR, CHILD):
        settings = world.house.dmp.settings(Who(patient_actor(ins, ins), Access()))
        assert settings.rules == () and settings.state is DossierState.ACTIVE, ins


def test_the_page_reads_the_patients_choices_audited(client, world):
    before = len(_actions(world.house, "dmp.patient.reglages"))
    page = client.get("/mon-espace/controles")
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    text = unescape(page.text)
    for heading in ("État de mon dossier médical", "Accès en urgence", "Mon médecin traitant", "Connexion secrète"):
        assert heading in text
    assert "Votre dossier est <strong>ouvert</strong>" in text and 'href="/mon-espace/export"' in text
    assert text.count('name="csrf"') == text.count('method="post"') == 5  # each form carries the token
    [read] = _actions(world.house, "dmp.patient.reglages")[before:]
    assert read["actor_software"] == "mon-espace-sante" and read["actor_person"] == SARAH_NIR


def test_every_form_refuses_a_missing_or_wrong_csrf_token(client):
    forms = ["/etat", "/urgence", "/medecin-traitant", "/regles", "/codes", "/codes/revocation"]
    for path in forms:
        for data in ({}, {"csrf": "pas-le-bon"}):
            refused = client.post(
                f"/mon-espace/controles{path}",
                data={**data, "etat": "closed", "confirmation": "oui", "professionnel": PROS["infirmier"].idnatps},
            )
            assert refused.status_code == 403 and "CSRF" in refused.text, path
    assert "ouvert" in client.get("/mon-espace/controles").text  # nothing was closed by the refusals


def test_blocking_a_professional_refuses_him_in_the_dmp(her, patient, world):
    client, ins = her, patient.ins
    infirmier = PROS["infirmier"].idnatps
    world.inform("infirmier", ins)
    assert world.search("infirmier", ins).status_code == 200
    for wrong, status, says in (
        ({"professionnel": "abc", "regle": "bloquer"}, 400, "IdNatPS"),
        ({"professionnel": infirmier, "regle": "effacer"}, 400, "bloquer, autoriser ou retirer"),
        ({"professionnel": "81234567890", "regle": "bloquer"}, 404, "aucun professionnel de l'Annuaire"),
    ):
        answer = _post(client, "/regles", **wrong)
        assert answer.status_code == status and says in unescape(answer.text), wrong
    done = _post(client, "/regles", professionnel=infirmier, regle="bloquer")
    assert done.status_code == 303 and done.headers["location"] == "/mon-espace/controles?fait=regle"
    page = unescape(client.get(done.headers["location"]).text)
    assert "Dr Luc PETIT" in page and "<strong>Bloqué</strong>" in page and infirmier in page
    assert _code(world.search("infirmier", ins)) == "bloque-par-patient"
    assert world.search("infirmier").status_code == 200  # Sarah's dossier: not blocked for him
    assert audit.detail_of(_actions(world.house, "dmp.patient.regle", ins)[-1])["regle"] == "bloque"
    assert _post(client, "/regles", professionnel=infirmier, regle="retirer").status_code == 303
    assert world.search("infirmier", ins).status_code == 200
    _untouched(world)  # Sarah's dossier and her daughter's are untouched


def test_the_emergency_oppositions_and_the_medecin_traitant(her, patient, world):
    client, ins = her, patient.ins
    assert world.search("urgentiste", ins, **BDG).status_code == 200
    assert _post(client, "/urgence", bris_de_glace="peut-etre").status_code == 400
    assert _post(client, "/urgence", bris_de_glace="oui", centre_15="oui").status_code == 303
    assert _code(world.search("urgentiste", ins, **BDG)) == "bris-de-glace-oppose"
    assert _code(world.search("urgentiste", ins, **{"X-Mode-Acces": "centre_15"})) == "centre-15-oppose"
    page = client.get("/mon-espace/controles").text
    assert 'id="bris_de_glace" name="bris_de_glace" value="oui" checked' in page
    assert _post(client, "/urgence").status_code == 303  # both unticked: the oppositions lifted
    assert world.search("urgentiste", ins, **BDG).status_code == 200

    generaliste = PROS["generaliste"].idnatps
    assert _post(client, "/medecin-traitant", action="definir", professionnel="12 34").status_code == 400
    assert _post(client, "/medecin-traitant", action="nommer", professionnel=generaliste).status_code == 400
    assert _post(client, "/medecin-traitant", action="definir", professionnel=generaliste).status_code == 303
    assert "Dr Claire MARTIN</strong> (n° " + generaliste in unescape(client.get("/mon-espace/controles").text)
    assert world.search("generaliste", ins).json()["total"] == 1  # the médecin traitant reads without information
    assert _post(client, "/medecin-traitant", action="retirer").status_code == 303
    assert "Vous n'avez pas déclaré de médecin traitant" in unescape(client.get("/mon-espace/controles").text)
    kept = [
        {k: v for k, v in audit.detail_of(r).items() if k != "actor"}
        for r in _actions(world.house, "dmp.patient.preferences", ins)
    ]
    assert {"oppose_bris_de_glace": True, "oppose_centre_15": True} in kept
    assert {"medecin_traitant": generaliste} in kept and {"medecin_traitant": None} in kept


def test_a_delegation_code_shown_once_opens_the_dossier_until_revoked(her, patient, world):
    client, ins = her, patient.ins
    pharmacien = PROS["pharmacien"].idnatps
    assert _post(client, "/codes", professionnel=pharmacien, jours="2").status_code == 400  # no rubrique
    assert _post(client, "/codes", professionnel=pharmacien, **{"rubrique-dmp": "oui"}, jours="dix").status_code == 400
    too_long = _post(client, "/codes", professionnel=pharmacien, **{"rubrique-dmp": "oui"}, jours="400")
    assert too_long.status_code == 400 and "de 1 à 365 jours" in unescape(too_long.text)
    created = _post(client, "/codes", professionnel=pharmacien, **{"rubrique-dmp": "oui"}, jours="2")
    assert created.status_code == 303 and created.headers["location"] == "/mon-espace/controles/codes/nouveau"
    cookie = [c for c in created.headers.get_list("set-cookie") if c.startswith(f"{CODE_COOKIE}=")][0]
    assert "httponly" in cookie.lower() and "path=/mon-espace/controles/codes/nouveau" in cookie.lower()
    assert "samesite=strict" in cookie.lower() and "?" not in created.headers["location"]  # never in a URL
    shown = client.get(created.headers["location"])
    code = re.search(r'class="code-delegation"><strong>([0-9A-F-]+)</strong>', shown.text).group(1)
    assert "Dr Anne LEROY" in shown.text and "2 jours" in shown.text
    assert "déjà été affiché" in client.get(created.headers["location"]).text  # shown once
    assert world.search("pharmacien", ins, **{"X-Code-Acces": code}).json()["total"] == 1
    page = unescape(client.get("/mon-espace/controles").text)
    assert "Documents (DMP)" in page and "Dr Anne LEROY" in page and code not in page
    assert _post(client, "/codes/revocation", professionnel=pharmacien).status_code == 303
    assert _code(world.search("pharmacien", ins, **{"X-Code-Acces": code})) == "code-invalide"
    assert "Codes en cours de validité" not in client.get("/mon-espace/controles").text
    [made] = _actions(world.house, "dmp.patient.code", ins)
    assert audit.detail_of(made)["rubriques"] == ["dmp"] and code not in made["detail"]
    assert _actions(world.house, "dmp.patient.code-revoque", ins)


@pytest.mark.parametrize(("choice", "state"), [("opposition", "opposed"), ("fermeture", "closed")])
def test_opposition_and_closing_are_confirmed_first_then_reopened(her, patient, world, choice, state):
    client, ins = her, patient.ins
    world.inform("generaliste", ins)
    assert world.search("generaliste", ins).json()["total"] == 1
    confirmation = client.get(f"/mon-espace/controles/etat/{choice}")
    assert confirmation.status_code == 200 and "Ce que ce choix entraîne" in confirmation.text
    assert 'name="confirmation" value="oui" required' in confirmation.text
    assert client.get("/mon-espace/controles/etat/suppression").status_code == 404
    unconfirmed = _post(client, "/etat", etat=state)
    assert unconfirmed.status_code == 400 and "confirmation" in unconfirmed.text
    assert _post(client, "/etat", etat="archive", confirmation="oui").status_code == 400
    assert world.search("generaliste", ins).json()["total"] == 1  # nothing changed yet
    done = client.post(
        "/mon-espace/controles/etat", data={"csrf": _token(confirmation.text), "etat": state, "confirmation": "oui"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/mon-espace/controles?fait=etat"
    page = unescape(client.get("/mon-espace/controles").text)
    assert "Votre dossier est <strong>fermé" in page and "Rouvrir mon dossier" in page
    assert world.search("generaliste", ins).status_code == 403
    assert audit.detail_of(_actions(world.house, "dmp.patient.etat", ins)[-1])["etat"] == state
    assert _post(client, "/etat", etat="active").status_code == 303  # reopening needs no confirmation
    assert world.house.dmp.settings(Who(patient_actor(ins, ins), Access())).state is DossierState.ACTIVE
    _untouched(world)  # Sarah's dossier and her daughter's stayed open


def test_without_a_session_the_pages_answer_401(world):
    with httpx.Client(base_url=world.base) as stranger:
        for path in (
            "/mon-espace/controles",
            "/mon-espace/controles/etat/fermeture",
            "/mon-espace/controles/codes/nouveau",
        ):
            answer = stranger.get(path)
            assert answer.status_code == 401 and "reconnectez-vous" in answer.text, path


def test_a_professional_is_refused_the_patients_settings_and_recorded(world):
    def refusals() -> list[dict]:
        with world.house.db.read() as conn:
            return [r for r in audit.events(conn, action_prefix="dmp.patient.reglages") if r["outcome"] != "success"]

    before = len(refusals())
    doctor = Who(Actor(PROS["generaliste"].idnatps, CABINET, "logiciel", kind="professional"), Access())
    with pytest.raises(Forbidden) as refused:
        world.house.dmp.settings(doctor)
    assert refused.value.code == "reserve-patient"
    [row] = refusals()[before:]
    assert row["actor_person"] == PROS["generaliste"].idnatps
