"""Pro Santé Connect as relying parties Maison did not write see it (issue 20 §3): one issuer
whatever reached the house, UserInfo with the token in a form body, introspection of refresh tokens,
the challenge of a failed client authentication, CIBA from the discovery document alone."""

# ruff: noqa: F811 - the tests take the imported `psc` fixture as their parameter

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
from joserfc import jwt
from joserfc.jwk import KeySet

# `psc` is test_psc's fixture (a client, a professional with a test password), used here by name
from tests.e2e.test_psc import IDNATPS, REDIRECT, _code, _exchange, psc  # noqa: F401


def _tokens(base: str, client_id: str, secret: str) -> dict:
    code, verifier = _code(base, client_id)
    answer = _exchange(base, client_id, secret, code, verifier)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_issuer_is_the_configured_one_whatever_the_request_says(psc, house):
    """§3.1: neither Host nor X-Forwarded-* (uvicorn trusts X-Forwarded-Proto from loopback) makes
    another issuer; a token obtained through such a request is valid at UserInfo and where SMTP and
    IMAP check it (the MSSanté operators' issuer)."""
    _, client_id, secret, base = psc
    for forged in ({"X-Forwarded-Proto": "https"}, {"Host": "autre.example", "X-Forwarded-Host": "autre.example"}):
        config = httpx.get(f"{base}/.well-known/openid-configuration", headers=forged).json()
        assert config["issuer"] == base, forged
        assert all(config[k].startswith(base) for k in ("token_endpoint", "backchannel_authentication_endpoint"))
    assert house.psc_issuer == base
    code, verifier = _code(base, client_id)
    minted = httpx.post(
        f"{base}/protocol/openid-connect/token",
        auth=(client_id, secret),
        headers={"X-Forwarded-Proto": "https", "Host": "autre.example"},
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
    ).json()
    keys = KeySet.import_key_set(httpx.get(config["jwks_uri"]).json())
    assert jwt.decode(minted["access_token"], keys).claims["iss"] == base
    userinfo = httpx.get(config["userinfo_endpoint"], headers={"Authorization": f"Bearer {minted['access_token']}"})
    assert userinfo.status_code == 200 and userinfo.json()["SubjectNameID"] == IDNATPS
    # MSSanté's SMTP submission and IMAP check the token against the operators' issuer: the same one
    assert house.mss.psc_issuer == house.psc_issuer
    assert house.psc.verify_access_token(minted["access_token"], house.mss.psc_issuer)["preferred_username"] == IDNATPS


def test_userinfo_takes_the_token_in_a_form_body(psc):
    """§3.2, RFC 6750 §2.2 (as Keycloak): POST access_token=… form-encoded; never with the header too."""
    _, client_id, secret, base = psc
    token = _tokens(base, client_id, secret)["access_token"]
    userinfo = f"{base}/protocol/openid-connect/userinfo"
    answer = httpx.post(userinfo, data={"access_token": token})
    assert answer.status_code == 200 and answer.json()["SubjectNameID"] == IDNATPS
    both = httpx.post(userinfo, data={"access_token": token}, headers={"Authorization": f"Bearer {token}"})
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    forged = httpx.post(userinfo, data={"access_token": token[:-4] + "AAAA"})
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_token"


def test_introspection_answers_for_refresh_tokens(psc):
    """§3.3, RFC 7662 §2.2: a refresh token is active (expiry, client, type) until used, then inactive;
    another client learns nothing of it."""
    provider, client_id, secret, base = psc
    introspect = f"{base}/protocol/openid-connect/token/introspect"
    tokens = _tokens(base, client_id, secret)
    before = int(time.time())
    seen = httpx.post(introspect, data={"token": tokens["refresh_token"]}, auth=(client_id, secret)).json()
    assert seen["active"] is True and seen["client_id"] == client_id and seen["token_type"] == "Refresh"
    assert before + tokens["refresh_expires_in"] - 5 <= seen["exp"] <= before + tokens["refresh_expires_in"] + 5
    assert seen["sub"].endswith(IDNATPS) and seen["scope"] == tokens["scope"]
    other_id, other_secret = provider.register_client("Autre logiciel", [REDIRECT])
    stranger = httpx.post(introspect, data={"token": tokens["refresh_token"]}, auth=(other_id, other_secret))
    assert stranger.json() == {"active": False}
    rotated = httpx.post(
        f"{base}/protocol/openid-connect/token",
        auth=(client_id, secret),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert rotated.status_code == 200
    used = httpx.post(introspect, data={"token": tokens["refresh_token"]}, auth=(client_id, secret)).json()
    assert used == {"active": False}
    fresh = httpx.post(introspect, data={"token": rotated.json()["refresh_token"]}, auth=(client_id, secret))
    assert fresh.json()["active"] is True


def test_a_failed_client_authentication_is_challenged_in_the_scheme_used(psc):
    """§3.4, RFC 6749 §5.2: 401 invalid_client, `WWW-Authenticate: Basic` for a client that used Basic;
    no Bearer challenge for a client that sent its secret in the body."""
    _, client_id, secret, base = psc
    token = f"{base}/protocol/openid-connect/token"
    basic = httpx.post(token, auth=(client_id, "faux"), data={"grant_type": "refresh_token", "refresh_token": "x"})
    assert basic.status_code == 401 and basic.json()["error"] == "invalid_client"
    assert basic.headers["www-authenticate"].startswith("Basic ") and 'realm="' in basic.headers["www-authenticate"]
    introspect = httpx.post(f"{token}/introspect", auth=("inconnu", "faux"), data={"token": "x"})
    assert introspect.status_code == 401 and introspect.headers["www-authenticate"].startswith("Basic ")
    post = httpx.post(token, data={"grant_type": "refresh_token", "client_id": client_id, "client_secret": "faux"})
    assert post.status_code == 401 and post.json()["error"] == "invalid_client"
    assert "bearer" not in post.headers.get("www-authenticate", "").lower()


def test_ciba_from_the_discovery_document_alone(psc, live):
    """§3.5, OpenID CIBA Core 1.0: a client that reads only the discovery document (§4) — backchannel
    endpoint, poll mode, the CIBA grant at the standard token endpoint, client_secret_post — sends the
    minimal request of §7.1 (scope and login_hint, no binding message), waits `interval`, polls, and
    gets tokens of the discovered issuer; `id_token_hint` names the professional as well."""
    provider, _, _, base = psc
    client_id, secret = provider.register_client("Logiciel lourd standard", [REDIRECT], ciba=True)
    seed = parse_qs(urlsplit(provider.enroll_ecps(IDNATPS)).query)["secret"][0]
    config = httpx.get(f"{base}/.well-known/openid-configuration").json()
    assert "poll" in config["backchannel_token_delivery_modes_supported"]
    assert "urn:openid:params:grant-type:ciba" in config["grant_types_supported"]
    assert "client_secret_post" in config["token_endpoint_auth_methods_supported"]
    me = {"client_id": client_id, "client_secret": secret}
    started = httpx.post(
        config["backchannel_authentication_endpoint"], data={**me, "scope": "openid", "login_hint": IDNATPS}
    )
    assert started.status_code == 200, started.text
    auth_req_id, interval = started.json()["auth_req_id"], started.json()["interval"]
    app = f"{live.url}/psc/ecps/{IDNATPS}/requests"
    code = pyotp.TOTP(seed).now()
    [shown] = httpx.get(app, headers={"X-eCPS-Code": code}).json()["requests"]
    assert shown["client"] == "Logiciel lourd standard" and shown["binding_message"] == ""
    httpx.post(f"{app}/{shown['id']}", data={"decision": "approve"}, headers={"X-eCPS-Code": code})
    time.sleep(interval + 0.1)
    answer = httpx.post(
        config["token_endpoint"],
        data={**me, "grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": auth_req_id},
    )
    assert answer.status_code == 200, answer.text
    keys = KeySet.import_key_set(httpx.get(config["jwks_uri"]).json())
    id_token = answer.json()["id_token"]
    claims = jwt.decode(id_token, keys).claims
    assert claims["iss"] == config["issuer"] and claims["aud"] == client_id
    # a later request names the professional by the ID token the client holds (CIBA §7.1 id_token_hint)
    again = httpx.post(
        config["backchannel_authentication_endpoint"],
        data={**me, "scope": "openid", "id_token_hint": id_token, "requested_expiry": "60"},
    )
    assert again.status_code == 200 and again.json()["expires_in"] == 60
    two_hints = httpx.post(
        config["backchannel_authentication_endpoint"],
        data={**me, "scope": "openid", "id_token_hint": id_token, "login_hint": IDNATPS},
    )
    assert two_hints.status_code == 400 and two_hints.json()["error"] == "invalid_request"
