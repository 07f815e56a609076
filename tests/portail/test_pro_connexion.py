"""`/pro`'s login through Pro Santé Connect over real HTTP: the portal is a registered client of the
house's provider, runs the code flow (PKCE, state, nonce) through PSC's own login page, exchanges the
code, and opens a session holding the Actor the API's Authorizer builds from a PSC token; a choice of
structure with several situations d'exercice (test_pro_connexion_annuaire.py); refusals in French;
logout; CSRF on every POST."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from maison.core.actor import Credential
from maison.core.authz import psc_actor
from maison.portail.pro import PRO
from maison.portail.sessions import Sessions
from maison.portail.web import CSP
from tests.e2e.test_route_callers import routes
from tests.partage.world import HOPITAL, HOPITAL_NAME, PROS, make_world
from tests.portail.pro_login import field, log_in, to_callback


# The tests of one backend share one house (module_live): each logs in on its own and ends at most its
# own session; the two that change the Annuaire (a situation added, a professional deactivated) keep a
# house each in test_pro_connexion_annuaire.py.
@pytest.fixture(scope="module")
def shared_world(module_live):
    return make_world(module_live.house, module_live, keys=("hospitalier", "generaliste"))


@pytest.fixture
def world(shared_world):
    return shared_world.renew()  # the code flow's test compares with an Actor of a fresh PSC token


@pytest.fixture
def pro(world):
    with httpx.Client(base_url=world.base, timeout=60) as client:
        done = log_in(client, "/pro", PROS["hospitalier"].idnatps)
        assert done.status_code == 303 and done.headers["location"] == "/pro/patients", done.text
        yield client, done


def test_the_portal_is_a_client_of_the_house_provider_with_its_secret_out_of_the_database(world):
    client = world.house.psc.client(PRO.client_id)
    assert client is not None and client.redirect_uris == (f"{world.base}/pro/connexion/retour",)
    secret = world.house.settings.keystore().read("portail-pro-psc-client.secret") or b""
    assert len(secret) == 32  # drawn once into the key store; the provider keeps its hash only
    world.house.app()  # a second start finds it registered and leaves it as it is
    assert world.house.psc.client(PRO.client_id) == client


def test_the_code_flow_opens_a_session_with_the_authorizers_actor(pro, world):
    client, done = pro
    cookie = [c for c in done.headers.get_list("set-cookie") if c.startswith("maison_pro=")][0].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/pro" in cookie
    session = Sessions(world.house.db, inactivity=3600, lifetime=36000).find(client.cookies.get("maison_pro"), "pro")
    actor = session.actor
    idnatps = PROS["hospitalier"].idnatps
    assert (session.subject, session.acting) == (idnatps, idnatps)
    assert (actor.person, actor.structure, actor.software) == (idnatps, HOPITAL, PRO.client_id)
    assert actor.kind == "professional" and actor.credential is Credential.PSC and actor.profession == "10"
    # the Actor the API's Authorizer builds from a PSC token of the same professional (its software: the client)
    claims, info = world.house.psc.professional(world.tokens["hospitalier"], world.house.psc_issuer)
    assert replace(psc_actor(claims, info, None), software=PRO.client_id) == actor
    page = client.get("/pro/patients")
    assert page.status_code == 200 and "Paul DURAND" in page.text and HOPITAL_NAME in page.text
    assert page.headers["content-security-policy"] == CSP


def test_the_authorize_request_carries_pkce_state_and_nonce(world):
    with httpx.Client(base_url=world.base, timeout=30) as client:
        started = client.get("/pro/connexion/psc")
    query = parse_qs(urlsplit(started.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["client_id"] == [PRO.client_id] and query["state"] and query["nonce"]
    assert query["redirect_uri"] == [f"{world.base}/pro/connexion/retour"]
    transaction = [c for c in started.headers.get_list("set-cookie") if c.startswith("maison_pro_psc=")][0]
    flags = transaction.lower()
    assert "httponly" in flags and "samesite=lax" in flags and "path=/pro" in flags
    assert query["state"][0] in transaction and query["nonce"][0] not in transaction  # derived, not carried


def test_a_callback_of_another_browser_or_state_is_refused_in_french(world):
    idnatps = PROS["hospitalier"].idnatps
    with httpx.Client(base_url=world.base, timeout=30) as client:
        back = to_callback(client, "/pro", idnatps)
        location = back.headers["location"]
    with httpx.Client(base_url=world.base, timeout=30) as stranger:  # no transaction cookie: login CSRF
        refused = stranger.get(location)
        assert refused.status_code == 400 and "recommencez la connexion" in refused.text
        assert refused.headers["content-security-policy"] == CSP and "maison_pro=" not in refused.headers.get(
            "set-cookie", ""
        )
    with httpx.Client(base_url=world.base, timeout=30) as client:
        back = to_callback(client, "/pro", idnatps)
        code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
        wrong = client.get("/pro/connexion/retour", params={"code": code, "state": "un-autre-etat"})
        assert wrong.status_code == 400 and "état de cette connexion" in wrong.text
        mixed = client.get(back.headers["location"].replace("iss=", "iss=https%3A%2F%2Fautre.example&x="))
        assert mixed.status_code == 400 and "autre fournisseur" in mixed.text


def test_a_refusal_by_psc_is_shown_on_the_login_page(world):
    with httpx.Client(base_url=world.base, timeout=30) as client:
        started = client.get("/pro/connexion/psc")
        state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
        refused = client.get("/pro/connexion/retour", params={"error": "access_denied", "state": state})
    assert refused.status_code == 401 and "Pro Santé Connect a refusé la connexion" in refused.text
    assert "Se connecter avec Pro Santé Connect" in refused.text


def test_a_code_used_twice_is_refused(world):
    with httpx.Client(base_url=world.base, timeout=30) as client:
        back = to_callback(client, "/pro", PROS["hospitalier"].idnatps)
        cookie = client.cookies.get("maison_pro_psc")
        assert client.get(back.headers["location"]).status_code == 303
        client.cookies.set("maison_pro_psc", cookie, path="/pro")
        again = client.get(back.headers["location"])
    assert again.status_code == 401 and "code déjà utilisé" in again.text


def test_logout_needs_the_token_and_ends_the_session(pro):
    client, _ = pro
    page = client.get("/pro/patients")
    assert client.post("/pro/deconnexion", data={"x": "1"}).status_code == 403
    out = client.post("/pro/deconnexion", data={"csrf": field(page.text, "csrf")})
    assert out.status_code == 303 and out.headers["location"] == "/pro/connexion?fin=1"
    assert "Vous êtes déconnecté" in client.get(out.headers["location"]).text
    after = client.get("/pro/patients")
    assert after.status_code == 401 and "reconnectez-vous" in after.text


def test_a_page_without_a_session_is_the_french_401_and_home_goes_to_login(world):
    with httpx.Client(base_url=world.base, timeout=30) as client:
        assert client.get("/pro/patients").status_code == 401
        assert client.get("/pro").headers["location"] == "/pro/connexion"


def test_every_post_of_pro_without_or_with_a_wrong_csrf_token_is_refused(pro, world):
    client, _ = pro
    mine = ("/pro/deconnexion", "/pro/patients")
    posts = [p for m, p, _ in routes(world.house.app()) if m == "POST" and p.startswith(mine)]
    assert len(posts) >= 6, posts
    for path in posts:
        path = path.replace("{ins}", "277057511515470").replace("{id_}", "1")
        for data in ({}, {"csrf": "pas-le-bon"}):
            refused = client.post(path, data={**data, "motif": "urgence", "ins": "1"})
            assert refused.status_code in (403, 415), (path, data, refused.text)
            assert refused.status_code == 415 or "CSRF" in refused.text
    assert client.get("/pro/patients").status_code == 200  # still logged in: nothing was done


def test_hostile_state_cookie_and_justification_are_french_refusals_not_500(pro, world):
    client, _ = pro
    with httpx.Client(base_url=world.base, timeout=30) as stranger:
        cookie = "maison_pro_psc=é.²³.é".encode()  # raw bytes: a browser's jar would not hold them
        answer = stranger.get("/pro/connexion/retour", params={"state": "é", "code": "x"}, headers={"Cookie": cookie})
        assert answer.status_code == 400 and "recommencez la connexion" in answer.text
    token = field(client.get("/pro/patients").text, "csrf")
    for urgence in ("é.é", "e30.x", "x"):
        refused = client.get("/pro/patients/277010115400329/dmp", params={"urgence": urgence})
        assert refused.status_code == 403 and "bris de glace" in refused.text
    unknown = client.get("/pro/patients/100000000000000/dmp")
    assert unknown.status_code in (400, 422) and 'role="alert"' in unknown.text
    refused = client.post("/pro/connexion/structure", data={"csrf": token, "choix": "é.é", "structure": "x"})
    assert refused.status_code == 403
