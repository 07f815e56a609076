"""A DPI's side of Pro Santé Connect: the authorization code flow with PKCE, as a vendor's software
runs it (open the authorize page, the professional signs in with e-CPS or a test password, exchange
the code). The demo, the benchmarks and the tests obtain their professionals' tokens through this."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx


def realm(base: str) -> str:
    return f"{base.rstrip('/')}/psc/auth/realms/esante-wallet"


def sign_in(
    base: str,
    client_id: str,
    secret: str,
    redirect: str,
    idnatps: str,
    *,
    password: str | None = None,
    otp: str | None = None,
) -> dict:
    """The token response of a code flow for `idnatps` (password for test accounts, or the e-CPS code)."""
    with httpx.Client() as http:  # one connection pool and TLS context for the four requests of the flow
        config = http.get(f"{realm(base)}/.well-known/wallet-openid-configuration").json()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        page = http.get(
            config["authorization_endpoint"],
            params={
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect,
                "scope": "openid scope_all",
                "acr_values": "eidas1",
                "state": secrets.token_urlsafe(8),
                "nonce": secrets.token_urlsafe(8),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        page.raise_for_status()
        request_field = re.search(r'name="request" value="([^"]+)"', page.text)
        action_field = re.search(r'action="([^"]+)"', page.text)
        assert request_field and action_field, "not the provider's login page"
        request_id, action = request_field.group(1), action_field.group(1)
        credentials = {"password": password} if password is not None else {"otp": otp}
        login = http.post(action, data={"request": request_id, "idnatps": idnatps, **credentials})
        if login.status_code != 303:
            raise RuntimeError(f"Pro Santé Connect a refusé la connexion de {idnatps} ({login.status_code})")
        code = parse_qs(urlsplit(login.headers["location"]).query)["code"][0]
        tokens = http.post(
            config["token_endpoint"],
            auth=(client_id, secret),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
                "code_verifier": verifier,
            },
        )
        tokens.raise_for_status()
        return {**tokens.json(), "userinfo_endpoint": config["userinfo_endpoint"]}
