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
from tests.identite.helpers import SARAH_NIR, nir

PASSWORD = "un-mot-de-passe-solide"
CHILD = nir("2150375056021")  # a minor (born 2015): Sarah's child in `mes`
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
def mes(house, live):
    """Sarah and her child's accounts on a house of the test's own: (the login service, its base URL).
    Not this module's (its tests share one house): test_auth_throttle.py's, whose counts start empty."""
    login = house.patient_login
    login.open_account("sarah.garcia", SARAH_NIR, "1977-01-21", PASSWORD, email="sarah@example.fr")
    login.open_account("lea.bernard", CHILD, "2015-03-03", PASSWORD, phone="+33612345678")
    login.declare_representative(SARAH_NIR, CHILD, "parent")
    return login, f"{live.url}/mes"


@pytest.fixture
def family(module_live) -> Family:
    """This test's own accounts on the module's house."""
    family = Family(module_live.house.patient_login, f"{module_live.url}/mes", next(_serial))
    login = family.login
    login.open_account(family.parent, family.parent_ins, "1977-01-21", PASSWORD, email=family.email)
    login.open_account(family.child, family.child_ins, "2015-03-03", PASSWORD, phone=family.phone)
    login.declare_representative(family.parent_ins, family.child_ins, "parent")
    return family


def _code(login, recipient: str) -> str:
    return re.search(r"\b(\d{6})\b", login.outbox(recipient)[-1]["body"]).group(1)


def _log_in(family: Family, user: str | None = None, recipient: str | None = None) -> dict:
    """The mother's login (or `user`'s, whose code goes to `recipient`), through to her tokens."""
    user, recipient = user or family.parent, recipient or family.email
    started = httpx.post(f"{family.base}/connexion", json={"identifiant": user, "motDePasse": PASSWORD})
    assert started.status_code == 202, started.text
    done = httpx.post(
        f"{family.base}/connexion/code",
        json={"transaction": started.json()["transaction"], "code": _code(family.login, recipient)},
    )
    assert done.status_code == 200, done.text
    return done.json()


def test_password_then_code_then_token(family):
    login, base = family.login, family.base
    started = httpx.post(f"{base}/connexion", json={"identifiant": family.parent, "motDePasse": PASSWORD}).json()
    assert started["canal"] == "email" and "***" in started["destinataire"]
    [mail] = login.outbox(family.email)
    assert "Mon espace santé" in mail["subject"]
    tokens = httpx.post(
        f"{base}/connexion/code", json={"transaction": started["transaction"], "code": _code(login, family.email)}
    ).json()
    assert tokens["patient"] == family.parent_ins and tokens["representes"] == [family.child_ins]
    me = httpx.get(f"{base}/moi", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert me == {"patient": family.parent_ins, "agit": family.parent_ins, "representation": False}
    # the code is used once
    again = httpx.post(f"{base}/connexion/code", json={"transaction": started["transaction"], "code": "000000"})
    assert again.status_code == 401


def test_the_token_issuer_is_the_configured_one_whatever_the_request_says(family, module_house):
    """Issue 20 §3.1's class, for patients: the token's `iss` comes from the configured public URL,
    never from Host or X-Forwarded-* (uvicorn trusts X-Forwarded-Proto from loopback), and the token
    is valid whichever name reached the house."""
    login, base = family.login, family.base
    forged = {"X-Forwarded-Proto": "https", "Host": "autre.example", "X-Forwarded-Host": "autre.example"}
    started = httpx.post(
        f"{base}/connexion", json={"identifiant": family.parent, "motDePasse": PASSWORD}, headers=forged
    )
    done = httpx.post(
        f"{base}/connexion/code",
        json={"transaction": started.json()["transaction"], "code": _code(login, family.email)},
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


def test_sms_channel(family):
    tokens = _log_in(family, family.child, family.phone)
    assert tokens["patient"] == family.child_ins and family.login.outbox(family.phone)[-1]["channel"] == "sms"


def test_wrong_password_and_unknown_login_answer_alike(family):
    base = family.base
    wrong = httpx.post(f"{base}/connexion", json={"identifiant": family.parent, "motDePasse": "pas le bon"})
    unknown = httpx.post(f"{base}/connexion", json={"identifiant": f"personne.{family.n}", "motDePasse": "pas le bon"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["issue"][0]["diagnostics"] == unknown.json()["issue"][0]["diagnostics"]


def test_locks_after_repeated_failures(family):
    base = family.base
    for _ in range(5):
        httpx.post(f"{base}/connexion", json={"identifiant": family.parent, "motDePasse": "faux"})
    locked = httpx.post(f"{base}/connexion", json={"identifiant": family.parent, "motDePasse": PASSWORD})
    assert locked.status_code == 429


def test_code_tries_are_limited(family):
    login, base = family.login, family.base
    started = httpx.post(f"{base}/connexion", json={"identifiant": family.parent, "motDePasse": PASSWORD}).json()
    good = _code(login, family.email)
    bad = "000000" if good != "000000" else "111111"
    for _ in range(5):
        assert (
            httpx.post(f"{base}/connexion/code", json={"transaction": started["transaction"], "code": bad}).status_code
            == 401
        )
    late = httpx.post(f"{base}/connexion/code", json={"transaction": started["transaction"], "code": good})
    assert late.status_code == 401  # the transaction died with the fifth wrong code


def test_a_parent_acts_for_the_minor(family):
    base = family.base
    parent = _log_in(family)
    acting = httpx.post(
        f"{base}/representation",
        json={"ins": family.child_ins},
        headers={"Authorization": f"Bearer {parent['access_token']}"},
    )
    assert acting.status_code == 200
    me = httpx.get(f"{base}/moi", headers={"Authorization": f"Bearer {acting.json()['access_token']}"}).json()
    assert me == {"patient": family.child_ins, "agit": family.parent_ins, "representation": True}
    # nobody else, and not an adult
    child = _log_in(family, family.child, family.phone)
    refused = httpx.post(
        f"{base}/representation",
        json={"ins": family.parent_ins},
        headers={"Authorization": f"Bearer {child['access_token']}"},
    )
    assert refused.status_code == 403


def test_representation_ends_at_majority(family):
    adult = nir(f"1800575115{family.n:03d}")
    born = f"{date.today().year - 19}-01-01"
    family.login.open_account(f"majeur.{family.n}", adult, born, PASSWORD, email=f"m.{family.n}@example.fr")
    family.login.declare_representative(family.parent_ins, adult, "parent")
    assert _log_in(family)["representes"] == [family.child_ins]


def test_patient_token_in_authz(family, module_house):
    from maison.core.authz import Authorizer
    from maison.identite.mes.api import issuer_for as mes_issuer
    from maison.identite.psc.api import issuer_for

    login, base = family.login, family.base
    token = _log_in(family)["access_token"]
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
        family.parent_ins,
        family.parent_ins,
        "patient",
    )
