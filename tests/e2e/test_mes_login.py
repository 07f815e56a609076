"""The patient's login to Mon espace santé: password, code by e-mail or SMS, tokens, representatives."""

import base64
import json
import re
from datetime import date

import httpx
import pytest

from tests.identite.helpers import SARAH_NIR, nir

PASSWORD = "un-mot-de-passe-solide"
CHILD = nir("2150375056021")  # a minor (born 2015)


@pytest.fixture
def mes(house, live):
    login = house.patient_login
    login.open_account("sarah.garcia", SARAH_NIR, "1977-01-21", PASSWORD, email="sarah@example.fr")
    login.open_account("lea.bernard", CHILD, "2015-03-03", PASSWORD, phone="+33612345678")
    login.declare_representative(SARAH_NIR, CHILD, "parent")
    return login, f"{live.url}/mes"


def _code(login, recipient: str) -> str:
    return re.search(r"\b(\d{6})\b", login.outbox(recipient)[-1]["body"]).group(1)


def _log_in(login, base: str, user: str = "sarah.garcia", recipient: str = "sarah@example.fr") -> dict:
    started = httpx.post(f"{base}/connexion", json={"identifiant": user, "motDePasse": PASSWORD})
    assert started.status_code == 202, started.text
    done = httpx.post(
        f"{base}/connexion/code", json={"transaction": started.json()["transaction"], "code": _code(login, recipient)}
    )
    assert done.status_code == 200, done.text
    return done.json()


def test_password_then_code_then_token(mes):
    login, base = mes
    started = httpx.post(f"{base}/connexion", json={"identifiant": "sarah.garcia", "motDePasse": PASSWORD}).json()
    assert started["canal"] == "email" and "***" in started["destinataire"]
    [mail] = login.outbox("sarah@example.fr")
    assert "Mon espace santé" in mail["subject"]
    tokens = httpx.post(
        f"{base}/connexion/code", json={"transaction": started["transaction"], "code": _code(login, "sarah@example.fr")}
    ).json()
    assert tokens["patient"] == SARAH_NIR and tokens["representes"] == [CHILD]
    me = httpx.get(f"{base}/moi", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert me == {"patient": SARAH_NIR, "agit": SARAH_NIR, "representation": False}
    # the code is used once
    again = httpx.post(f"{base}/connexion/code", json={"transaction": started["transaction"], "code": "000000"})
    assert again.status_code == 401


def test_the_token_issuer_is_the_configured_one_whatever_the_request_says(mes, house):
    """Issue 20 §3.1's class, for patients: the token's `iss` comes from the configured public URL,
    never from Host or X-Forwarded-* (uvicorn trusts X-Forwarded-Proto from loopback), and the token
    is valid whichever name reached the house."""
    login, base = mes
    forged = {"X-Forwarded-Proto": "https", "Host": "autre.example", "X-Forwarded-Host": "autre.example"}
    started = httpx.post(
        f"{base}/connexion", json={"identifiant": "sarah.garcia", "motDePasse": PASSWORD}, headers=forged
    )
    done = httpx.post(
        f"{base}/connexion/code",
        json={"transaction": started.json()["transaction"], "code": _code(login, "sarah@example.fr")},
        headers=forged,
    )
    token = done.json()["access_token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["iss"] == house.mes_issuer
    bearer = {"Authorization": f"Bearer {token}"}
    for host in ("localhost", "127.0.0.1"):
        other = base.replace("127.0.0.1", host).replace("localhost", host)
        assert httpx.get(f"{other}/moi", headers=bearer).status_code == 200, host
    assert httpx.get(f"{base}/moi", headers={**bearer, **forged}).status_code == 200


def test_sms_channel(mes):
    login, base = mes
    tokens = _log_in(login, base, "lea.bernard", "+33612345678")
    assert tokens["patient"] == CHILD and login.outbox("+33612345678")[-1]["channel"] == "sms"


def test_wrong_password_and_unknown_login_answer_alike(mes):
    _, base = mes
    wrong = httpx.post(f"{base}/connexion", json={"identifiant": "sarah.garcia", "motDePasse": "pas le bon"})
    unknown = httpx.post(f"{base}/connexion", json={"identifiant": "personne", "motDePasse": "pas le bon"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["issue"][0]["diagnostics"] == unknown.json()["issue"][0]["diagnostics"]


def test_locks_after_repeated_failures(mes):
    _, base = mes
    for _ in range(5):
        httpx.post(f"{base}/connexion", json={"identifiant": "sarah.garcia", "motDePasse": "faux"})
    locked = httpx.post(f"{base}/connexion", json={"identifiant": "sarah.garcia", "motDePasse": PASSWORD})
    assert locked.status_code == 429


def test_code_tries_are_limited(mes):
    login, base = mes
    started = httpx.post(f"{base}/connexion", json={"identifiant": "sarah.garcia", "motDePasse": PASSWORD}).json()
    good = _code(login, "sarah@example.fr")
    bad = "000000" if good != "000000" else "111111"
    for _ in range(5):
        assert (
            httpx.post(f"{base}/connexion/code", json={"transaction": started["transaction"], "code": bad}).status_code
            == 401
        )
    late = httpx.post(f"{base}/connexion/code", json={"transaction": started["transaction"], "code": good})
    assert late.status_code == 401  # the transaction died with the fifth wrong code


def test_a_parent_acts_for_the_minor(mes):
    login, base = mes
    parent = _log_in(login, base)
    acting = httpx.post(
        f"{base}/representation", json={"ins": CHILD}, headers={"Authorization": f"Bearer {parent['access_token']}"}
    )
    assert acting.status_code == 200
    me = httpx.get(f"{base}/moi", headers={"Authorization": f"Bearer {acting.json()['access_token']}"}).json()
    assert me == {"patient": CHILD, "agit": SARAH_NIR, "representation": True}
    # nobody else, and not an adult
    child = _log_in(login, base, "lea.bernard", "+33612345678")
    refused = httpx.post(
        f"{base}/representation", json={"ins": SARAH_NIR}, headers={"Authorization": f"Bearer {child['access_token']}"}
    )
    assert refused.status_code == 403


def test_representation_ends_at_majority(house, mes):
    login, base = mes
    adult = nir("1800575115001")
    login.open_account("majeur", adult, f"{date.today().year - 19}-01-01", PASSWORD, email="m@example.fr")
    login.declare_representative(SARAH_NIR, adult, "parent")
    assert _log_in(login, base)["representes"] == [CHILD]


def test_patient_token_in_authz(mes, house):
    from maison.core.authz import Authorizer
    from maison.identite.mes.api import issuer_for as mes_issuer
    from maison.identite.psc.api import issuer_for

    login, base = mes
    token = _log_in(login, base)["access_token"]
    from urllib.parse import urlsplit

    from starlette.requests import Request

    from maison.core.authz import PATIENT

    authorizer = Authorizer(house.db, house.psc, issuer_for, None, login, mes_issuer)
    url = urlsplit(base)
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": url.scheme,
            "server": (url.hostname, url.port),
            "path": "/mes/moi",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"authorization", f"Bearer {token}".encode())],
        }
    )
    caller = authorizer.caller(request, PATIENT)
    assert (caller.kind, caller.person, caller.patient, caller.role) == ("patient", SARAH_NIR, SARAH_NIR, "patient")
