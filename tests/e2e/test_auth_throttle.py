"""Password and code guessing, over the wire: Pro Santé Connect's login page and e-CPS app endpoints,
Mon espace santé's patient login, SMTP AUTH and IMAP LOGIN — each throttled per account and per
source by maison.core.lockout, answered in its protocol's terms, audited, and never for good
(issue 18 §2.7: "48 wrong passwords, then the right one accepted"); and the patient login's timing
does not tell which accounts exist (issue 18 §3)."""

from __future__ import annotations

import base64
import imaplib
import time

import httpx
import pyotp
import pytest

from maison.core import audit
from maison.identite.psc.api import issuer_for
from maison.partage.mss.mailboxes import Mailboxes
from tests.e2e.test_mes_login import PASSWORD as PATIENT_PASSWORD
from tests.e2e.test_mes_login import mes  # noqa: F401 - fixture
from tests.e2e.test_mss_imap import _imap
from tests.e2e.test_mss_smtp import _client
from tests.e2e.test_psc import (
    IDNATPS,
    PASSWORD,
    REDIRECT,
    _login,
    psc,  # noqa: F401 - fixture
)
from tests.partage.mss_world import PFI, PFI_PASSWORD, start_world

GUESSES = 48


@pytest.fixture
def mss(house, live, tmp_path):
    """The trust space on this test's own house: the throttle's records are counted from empty."""
    world = start_world(house, tmp_path, issuer_for(live.url))
    yield world
    world.close()


def _security(house, event: str) -> list[dict]:
    with house.db.read() as conn:
        return [e for e in audit.events(conn, action_prefix=f"securite.{event}") if e["action"] == f"securite.{event}"]


def _later(throttle, seconds: float) -> None:
    """Time passes for this throttle (its clock is the only thing moved)."""
    throttle.clock = lambda: time.time() + seconds


def _authorize_url(base: str, client_id: str) -> str:
    return f"{base}/protocol/openid-connect/auth?" + str(
        httpx.QueryParams(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": REDIRECT,
                "scope": "openid scope_all",
                "code_challenge": "x" * 43,
                "code_challenge_method": "S256",
                "state": "s",
            }
        )
    )


def test_psc_login_page_refuses_the_right_password_after_guesses_until_the_lock_ends(psc, house):  # noqa: F811
    provider, client_id, _, base = psc
    url = _authorize_url(base, client_id)
    answers = [_login(url, password="ce-n-est-pas-le-bon").status_code for _ in range(GUESSES)]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}  # the 5th failure locks
    right = _login(url, password=PASSWORD)
    assert right.status_code == 429 and "location" not in right.headers
    wait = int(right.headers["Retry-After"])
    assert 0 < wait <= 60 and "réessayer dans" in right.text
    [lock] = _security(house, "verrouillage")
    assert audit.detail_of(lock)["compte"] == IDNATPS and audit.detail_of(lock)["service"] == "psc"
    assert len(_security(house, "connexion-echec")) == GUESSES + 1
    _later(provider.throttle, wait + 1)  # the lock ends by itself: the professional gets in
    assert _login(url, password=PASSWORD).status_code == 303
    [login] = _security(house, "connexion")
    assert login["actor_person"] == IDNATPS and audit.detail_of(login)["methode"] == "PASSWORD"


def test_ecps_codes_are_throttled_and_answered_429_with_retry_after(psc, house):  # noqa: F811
    provider, _, _, base = psc
    seed = httpx.QueryParams(provider.enroll_ecps(IDNATPS).split("?", 1)[1])["secret"]
    app = f"{base.split('/auth/realms')[0]}/ecps/{IDNATPS}/requests"
    good = pyotp.TOTP(seed).now()
    wrong = f"{(int(good) + 500_000) % 1_000_000:06d}"
    answers = [httpx.get(app, headers={"X-eCPS-Code": wrong}).status_code for _ in range(6)]
    assert answers == [400] * 5 + [429]  # access_denied, then locked
    locked = httpx.get(app, headers={"X-eCPS-Code": pyotp.TOTP(seed).now()})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    # in the e-CPS endpoints' own (OAuth) error shape, as their other refusals and the OpenAPI say
    assert locked.headers["content-type"].startswith("application/json")
    assert locked.json()["error"] == "access_denied" and "trop d'échecs" in locked.json()["error_description"]


def test_mes_login_throttled_per_account_and_per_source(mes, house):  # noqa: F811
    login, base = mes
    attacker = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    for n in range(31):  # one address sprays 31 identifiers: from the 31st failure, it is locked
        answer = attacker.post(f"{base}/connexion", json={"identifiant": f"patient{n}", "motDePasse": "x" * 12})
        assert answer.status_code == 401
    refused = attacker.post(f"{base}/connexion", json={"identifiant": "sarah.garcia", "motDePasse": PATIENT_PASSWORD})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json()["issue"][0]["code"] == "throttled"
    # the accounts it tried are not locked: Sarah, elsewhere, logs in
    assert (
        httpx.post(
            f"{base}/connexion", json={"identifiant": "sarah.garcia", "motDePasse": PATIENT_PASSWORD}
        ).status_code
        == 202
    )
    [lock] = _security(house, "verrouillage")
    assert audit.detail_of(lock)["portee"] == "source" and lock["actor_person"] == "anonyme:127.0.0.2"
    attacker.close()


def test_smtp_auth_and_imap_login_share_one_throttle(mss, house):  # noqa: F811
    wrong = base64.b64encode(f"\0{PFI}\0pas-le-bon-mot-de-passe".encode()).decode()
    right = base64.b64encode(f"\0{PFI}\0{PFI_PASSWORD}".encode()).decode()
    with _client(mss, "chu-test") as client:
        codes = [client.docmd("AUTH", f"PLAIN {wrong}") for _ in range(GUESSES)]
        assert [c for c, _ in codes[:5]] == [535] * 5 and {c for c, _ in codes[5:]} == {454}
        code, text = client.docmd("AUTH", f"PLAIN {right}")
        assert code == 454 and text.startswith(b"4.7.0")  # RFC 4954 §6: temporary, not "wrong password"
    imap = _imap(mss, "chu-test")
    with pytest.raises(imaplib.IMAP4.error, match=r"\[UNAVAILABLE\]"):  # RFC 5530 §3
        imap.login(PFI, PFI_PASSWORD)
    with pytest.raises(imaplib.IMAP4.error, match=r"\[UNAVAILABLE\]"):  # AUTHENTICATE PLAIN alike
        imap.authenticate("PLAIN", lambda _challenge: f"\0{PFI}\0{PFI_PASSWORD}".encode())
    imap.logout()
    for runtime in mss.mss.runtimes.values():
        _later(runtime.mailboxes.throttle, 3600)
    with _client(mss, "chu-test") as client:
        assert client.docmd("AUTH", f"PLAIN {right}")[0] == 235
    imap = _imap(mss, "chu-test")
    assert imap.login(PFI, PFI_PASSWORD)[0] == "OK"
    imap.logout()
    logins = _security(house, "connexion")
    assert [e["actor_software"] for e in logins] == ["smtp", "imap"] and logins[0]["actor_person"] == PFI


def _parameters(stored: str) -> str:
    """A hash's algorithm and parameters, without its salt and digest."""
    return stored.rsplit("$", 2)[0]


def test_unknown_accounts_cost_the_same_password_hash(mes, house, monkeypatch):  # noqa: F811
    """Not a timed test: the hash runs, with the same parameters, whether the account exists or not."""
    from maison.core import passwords

    login, base = mes
    checked: list[str] = []
    real = passwords.check_password
    monkeypatch.setattr(passwords, "check_password", lambda p, stored: checked.append(stored) or real(p, stored))
    for user in ("sarah.garcia", "personne.inconnue"):
        answer = httpx.post(f"{base}/connexion", json={"identifiant": user, "motDePasse": "pas le bon"})
        assert answer.status_code == 401
    assert len(checked) == 2 and _parameters(checked[0]) == _parameters(checked[1])
    assert Mailboxes(house.db).authenticate_password("inconnue@hopital.mssante.fr", "x") is None
    assert len(checked) == 3 and _parameters(checked[2]) == _parameters(passwords.hash_password("x"))
