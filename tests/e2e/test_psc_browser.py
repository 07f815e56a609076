"""The Pro Santé Connect login page in a real browser (headless Chromium), the whole code flow."""

import base64
import hashlib
import shutil
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from playwright.sync_api import sync_playwright

from tests.e2e.test_psc import IDNATPS, PASSWORD, psc  # noqa: F401 - the fixture

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM, "chromium is needed (./dev test installs the Debian package)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def app(psc, live):  # type: ignore[no-untyped-def]  # noqa: F811
    """A client whose redirect URI is a loopback page the browser can really load."""
    provider, _, _, base = psc
    redirect = f"{live.url}/dpi/callback"
    client_id, secret = provider.register_client("DPI navigateur", [redirect])
    return provider, client_id, secret, base, redirect


def _authorize_url(base: str, client_id: str, verifier: str, redirect: str) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return f"{base}/protocol/openid-connect/auth?" + str(
        httpx.QueryParams(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect,
                "scope": "openid scope_all",
                "state": "etat-42",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
    )


def _log_in(browser, url: str, redirect: str, **fields) -> str:
    """Fill the form as a professional would; returns the URL the browser is sent back to (or the page)."""
    page = browser.new_page()
    page.goto(url)
    assert page.title() == "Pro Santé Connect — connexion"
    page.fill("#idnatps", IDNATPS)
    for name, value in fields.items():
        page.fill(f"#{name}", value)
    with page.expect_navigation():
        page.click("button[type=submit]")
    result = page.url if page.url.startswith(redirect) else page.content()
    page.close()
    return result


def test_code_flow_in_a_browser(app, browser):
    provider, client_id, secret, base, redirect = app
    verifier = "v" * 64
    wrong = _log_in(
        browser, _authorize_url(base, client_id, verifier, redirect), redirect, password="pas le bon mot de passe"
    )
    assert "authentification refusée" in wrong  # the page says so, and stays
    back = _log_in(browser, _authorize_url(base, client_id, verifier, redirect), redirect, password=PASSWORD)
    query = parse_qs(urlsplit(back).query)
    assert back.startswith(redirect) and query["state"] == ["etat-42"]
    tokens = httpx.post(
        f"{base}/protocol/openid-connect/token",
        auth=(client_id, secret),
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect,
            "code_verifier": verifier,
        },
    ).json()
    info = httpx.get(
        f"{base}/protocol/openid-connect/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert info["SubjectNameID"] == IDNATPS


def test_ecps_code_in_a_browser(app, browser):
    provider, client_id, _, base, redirect = app
    seed = parse_qs(urlsplit(provider.enroll_ecps(IDNATPS)).query)["secret"][0]
    back = _log_in(browser, _authorize_url(base, client_id, "w" * 64, redirect), redirect, otp=pyotp.TOTP(seed).now())
    assert back.startswith(redirect) and "code" in parse_qs(urlsplit(back).query)
