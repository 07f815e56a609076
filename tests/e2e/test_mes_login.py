"""The patient's login to Mon espace santé: password, code by e-mail or SMS, tokens, representatives.

The tests of one backend share one house (`module_live`): each opens accounts of its own (a mother and
her minor child, their INS, e-mail and phone its own), so that its outbox, its failures and its lock
are nobody else's. The source address's throttle is shared: the module's few failures stay far below
its 30."""

import base64
import itertools
import json
import re
from dataclasses import dataclass
from datetime import date

import httpx
import pytest

from maison.identite.mes.login import PatientLogin
from tests.identite.helpers import nir

PASSWORD = "un-mot-de-passe-solide"
_serial = itertools.count(1)


@dataclass(frozen=True)
class Family:
    """A test's own accounts: a mother (e-mail) representing her minor child (SMS)."""

    login: PatientLogin
    base: str
    n: int

    @property
    def parent(self) -> str:
        return f"sarah.garcia.{self.n}"

    @property
    def parent_ins(self) -> str:
        return nir(f"2770101154{self.n:03d}")

    @property
    def email(self) -> str:
        return f"sarah.{self.n}@example.fr"

    @property
    def child(self) -> str:
        return f"lea.bernard.{self.n}"

    @property
    def child_ins(self) -> str:  # a minor (born 2015)
        return nir(f"2150375056{self.n:03d}")

    @property
    def phone(self) -> str:
        return f"+33612{self.n:06d}"


@pytest.fixture
def mes(module_live) -> Family:
    family = Family(module_live.house.patient_login, f"{module_live.url}/mes", next(_serial))
    login = family.login
    login.open_account(family.parent, family.parent_ins, "1977-01-21", PASSWORD, email=family.email)
    login.open_account(family.child, family.child_ins, "2015-03-03", PASSWORD, phone=family.phone)
    login.declare_representative(family.parent_ins, family.child_ins, "parent")
    return family


def _code(login, recipient: str) -> str:
    return re.search(r"\b(\d{6})\b", login.outbox(recipient)[-1]["body"]).group(1)


def _log_in(mes: Family, user: str | None = None, recipient: str | None = None) -> dict:
    """The mother's login (or `user`'s, whose code goes to `recipient`), through to her tokens."""
    user, recipient = user or mes.parent, recipient or mes.email
    started = httpx.post(f"{mes.base}/connexion", json={"identifiant": user, "motDePasse": PASSWORD})
    assert started.status_code == 202, started.text
    done = httpx.post(
        f"{mes.base}/connexion/code",
        json={"transaction": started.json()["transaction"], "code": _code(mes.login, recipient)},
    )
    assert done.status_code == 200, done.text
    return done.json()


def test_password_then_code_then_token(mes):
    login, base = mes.login, mes.base
    started = httpx.post(f"{base}/connexion", json={"identifiant": mes.parent, "motDePasse": PASSWORD}).json()
    assert started["canal"] == "email" and "***" in started["destinataire"]
    [mail] = login.outbox(mes.email)
    assert "Mon espace santé" in mail["subject"]
    tokens = httpx.post(
        f"{base}/connexion/code", json={"transaction": started["transaction"], "code": _code(login, mes.email)}
    ).json()
    assert tokens["patient"] == mes.parent_ins and tokens["representes"] == [mes.child_ins]
    me = httpx.get(f"{base}/moi", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert me == {"patient": mes.parent_ins, "agit": mes.parent_ins, "representation": False}
    # the code is used once
    again = httpx.post(f"{base}/connexion/code", json={"transaction": started["transaction"], "code": "000000"})
    assert again.status_code == 401


def test_the_token_issuer_is_the_configured_one_whatever_the_request_says(mes, module_house):
    """Issue 20 §3.1's class, for patients: the token's `iss` comes from the configured public URL,
    never from Host or X-Forwarded-* (uvicorn trusts X-Forwarded-Proto from loopback), and the token
    is valid whichever name reached the house."""
    login, base = mes.login, mes.base
    forged = {"X-Forwarded-Proto": "https", "Host": "autre.example", "X-Forwarded-Host": "autre.example"}
    started = httpx.post(f"{base}/connexion", json={"identifiant": mes.parent, "motDePasse": PASSWORD}, headers=forged)
    done = httpx.post(
        f"{base}/connexion/code",
        json={"transaction": started.json()["transaction"], "code": _code(login, mes.email)},
        headers=forged,
    )
    token = done.json()["access_token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["iss"] == module_house.mes_issuer
    bearer = {"Authorization": f"Bearer {token}"}
    for host in ("localhost", "127.0.0.1"):
        other = base.replace("127.0.0.1", host).replace("localhost", host)
        assert httpx.get(f"{other}/moi", headers=bearer).status_code == 200, host
    assert httpx.get(f"{base}/moi", headers={**bearer, **forged}).status_code == 200


def test_sms_channel(mes):
    tokens = _log_in(mes, mes.child, mes.phone)
    assert tokens["patient"] == mes.child_ins and mes.login.outbox(mes.phone)[-1]["channel"] == "sms"


def test_wrong_password_and_unknown_login_answer_alike(mes):
    base = mes.base
    wrong = httpx.post(f"{base}/connexion", json={"identifiant": mes.parent, "motDePasse": "pas le bon"})
    unknown = httpx.post(f"{base}/connexion", json={"identifiant": f"personne.{mes.n}", "motDePasse": "pas le bon"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["issue"][0]["diagnostics"] == unknown.json()["issue"][0]["diagnostics"]


def test_locks_after_repeated_failures(mes):
    base = mes.base
    for _ in range(5):
        httpx.post(f"{base}/connexion", json={"identifiant": mes.parent, "motDePasse": "faux"})
    locked = httpx.post(f"{base}/connexion", json={"identifiant": mes.parent, "motDePasse": PASSWORD})
    assert locked.status_code == 429


def test_code_tries_are_limited(mes):
    login, base = mes.login, mes.base
    started = httpx.post(f"{base}/connexion", json={"identifiant": mes.parent, "motDePasse": PASSWORD}).json()
    good = _code(login, mes.email)
    bad = "000000" if good != "000000" else "111111"
    for _ in range(5):
        assert (
            httpx.post(f"{base}/connexion/code", json={"transaction": started["transaction"], "code": bad}).status_code
            == 401
        )
    late = httpx.post(f"{base}/connexion/code", json={"transaction": started["transaction"], "code": good})
    assert late.status_code == 401  # the transaction died with the fifth wrong code


def test_a_parent_acts_for_the_minor(mes):
    base = mes.base
    parent = _log_in(mes)
    acting = httpx.post(
        f"{base}/representation",
        json={"ins": mes.child_ins},
        headers={"Authorization": f"Bearer {parent['access_token']}"},
    )
    assert acting.status_code == 200
    me = httpx.get(f"{base}/moi", headers={"Authorization": f"Bearer {acting.json()['access_token']}"}).json()
    assert me == {"patient": mes.child_ins, "agit": mes.parent_ins, "representation": True}
    # nobody else, and not an adult
    child = _log_in(mes, mes.child, mes.phone)
    refused = httpx.post(
        f"{base}/representation",
        json={"ins": mes.parent_ins},
        headers={"Authorization": f"Bearer {child['access_token']}"},
    )
    assert refused.status_code == 403


def test_representation_ends_at_majority(mes):
    adult = nir(f"1800575115{mes.n:03d}")
    born = f"{date.today().year - 19}-01-01"
    mes.login.open_account(f"majeur.{mes.n}", adult, born, PASSWORD, email=f"m.{mes.n}@example.fr")
    mes.login.declare_representative(mes.parent_ins, adult, "parent")
    assert _log_in(mes)["representes"] == [mes.child_ins]


def test_patient_token_in_authz(mes, module_house):
    from maison.core.authz import Authorizer
    from maison.identite.mes.api import issuer_for as mes_issuer
    from maison.identite.psc.api import issuer_for

    login, base = mes.login, mes.base
    token = _log_in(mes)["access_token"]
    from urllib.parse import urlsplit

    from starlette.requests import Request

    from maison.core.authz import PATIENT

    authorizer = Authorizer(module_house.db, module_house.psc, issuer_for, None, login, mes_issuer)
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
    assert (caller.kind, caller.person, caller.patient, caller.role) == (
        "patient",
        mes.parent_ins,
        mes.parent_ins,
        "patient",
    )
