"""Pro Santé Connect over HTTP, driven by a third-party OIDC client (Authlib), as the issue asks.

The tests of one backend share one house (`module_live`): each has a doctor of its own in the Annuaire
(her RPPS, her role in the cabinet, her password, her e-CPS) and a client of its own, so that what one
test does to its doctor (leaving the Annuaire, a second situation d'exercice, an e-CPS enrolled, CIBA
requests) is nobody else's. The signing keys are the provider's: the test that rotates and prunes them
reads only tokens it asked for after. The local provider fetched from a loopback JWKS, which needs a
setting before the house is served, keeps a house of its own in test_psc_jwks_prives.py."""

import base64
import hashlib
import itertools
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from maison.identite.annuaire import resources as build
from maison.identite.annuaire.index import put
from tests.e2e.mss_shared import Trail
from tests.partage.world import rpps

RPPS = "99900038441"  # seed 001 L383-384
IDNATPS = "8" + RPPS  # `psc`'s doctor, on a house of the test's own
CABINET = "399999999900019"
PASSWORD = "mot-de-passe-de-test-2026"
REDIRECT = "https://dpi.example.fr/callback"
NOW = "2026-11-01T08:00:00+00:00"
_doctors = itertools.count(1)


def cabinet(house) -> None:
    """The doctors' cabinet in the Annuaire (a private practice, SA07)."""
    org = build.organization(
        CABINET,
        "CABINET DR MARTIN",
        NOW,
        siret="99999999900019",
        entity="LEGAL-ENTITY",
        secteur="SA07",
        city="LYON",
        postal_code="69002",
        insee="69382",
    )
    with house.db.write() as conn:
        put(conn, [org])


def new_doctor(house) -> str:
    """A GP of the cabinet of her own (seed 001 L383-384's Dr MARTIN, a RPPS of her own) with her test
    password: her IdNatPS."""
    n = next(_doctors)
    return _doctor(house, rpps(f"999001{n:04d}"), f"31000{n:05d}")


def _doctor(house, number: str, role_id: str) -> str:
    """Dr MARTIN under this RPPS, her role `role_id` in the cabinet, her test password: her IdNatPS."""
    idnatps = "8" + number
    doctor = build.practitioner(number, "MARTIN", "Claire", "DR", "10", "C", "SM54", NOW)
    role = build.practitioner_role(role_id, idnatps, CABINET, NOW, fonction=None, mode="L")
    with house.db.write() as conn:
        put(conn, [doctor])
        put(conn, [role])
    house.psc.set_test_password(idnatps, PASSWORD)
    return idnatps


@dataclass(frozen=True)
class Psc:
    provider: object
    client_id: str
    secret: str
    base: str
    doctor: str  # the test's own doctor's IdNatPS

    def __iter__(self):
        return iter((self.provider, self.client_id, self.secret, self.base, self.doctor))


@pytest.fixture(scope="module")
def live(module_live):
    """The module's house, served, with the cabinet in its Annuaire."""
    cabinet(module_live.house)
    return module_live


@pytest.fixture
def house(live):
    return live.house


@pytest.fixture
def psc(house, live):
    """Dr MARTIN (IDNATPS) with her test password and a client, on a house of the test's own:
    (provider, client_id, secret, base). Not this module's (its tests share one house): the fixture the
    other modules of Pro Santé Connect take by name (test_psc_wire.py, test_auth_throttle.py…)."""
    cabinet(house)
    _doctor(house, RPPS, "1000000099")
    provider = house.psc
    client_id, secret = provider.register_client(
        "DPI de test", [REDIRECT], post_logout_uris=["https://dpi.example.fr/bye"]
    )
    return provider, client_id, secret, f"{live.url}/psc/auth/realms/esante-wallet"


@pytest.fixture
def doctor_psc(live) -> Psc:
    """This test's doctor and its client software, registered with the module's provider."""
    provider = live.house.psc
    doctor = new_doctor(live.house)
    client_id, secret = provider.register_client(
        "DPI de test", [REDIRECT], post_logout_uris=["https://dpi.example.fr/bye"]
    )
    return Psc(provider, client_id, secret, f"{live.url}/psc/auth/realms/esante-wallet", doctor)


def _login(authorize_url: str, idnatps: str = IDNATPS, **credentials) -> httpx.Response:
    """What the professional does in the browser: open the page, fill the form, submit."""
    page = httpx.get(authorize_url)
    assert page.status_code == 200, page.text
    request_id = re.search(r'name="request" value="([^"]+)"', page.text).group(1)
    action = re.search(r'action="([^"]+)"', page.text).group(1)
    return httpx.post(action, data={"request": request_id, "idnatps": idnatps, **credentials})


def _client(client_id: str, secret: str, **kw) -> OAuth2Client:
    return OAuth2Client(
        client_id,
        secret,
        scope="openid scope_all",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
        **kw,
    )


def test_authlib_client_completes_the_code_flow(doctor_psc):
    # 002 L624: the authorization code flow with PSC is mandatory for every software
    provider, client_id, secret, base, doctor = doctor_psc
    config = httpx.get(f"{base}/.well-known/wallet-openid-configuration").json()
    assert config["issuer"] == base and config["code_challenge_methods_supported"] == ["S256"]
    client = _client(client_id, secret)
    verifier = generate_token(48)
    url, state = client.create_authorization_url(
        config["authorization_endpoint"], code_verifier=verifier, nonce="n-0S6_WzA2Mj", acr_values="eidas1"
    )
    redirected = _login(url, doctor, password=PASSWORD)
    assert redirected.status_code == 303
    location = redirected.headers["location"]
    assert location.startswith(REDIRECT) and parse_qs(urlsplit(location).query)["state"] == [state]
    token = client.fetch_token(config["token_endpoint"], authorization_response=location, code_verifier=verifier)
    keys = KeySet.import_key_set(httpx.get(config["jwks_uri"]).json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"]).claims
    assert id_token["nonce"] == "n-0S6_WzA2Mj" and id_token["acr"] == "eidas1" and id_token["aud"] == client_id
    assert id_token["sub"].endswith(doctor)
    info = client.get(config["userinfo_endpoint"]).json()
    assert info["SubjectNameID"] == doctor and info["family_name"] == "MARTIN"
    [exercice] = info["SubjectRefPro"]["exercices"]
    assert (exercice["codeProfession"], exercice["codeSavoirFaire"], exercice["codeCiviliteDexercice"]) == (
        "10",
        "SM54",
        "DR",
    )
    [activity] = exercice["activities"]
    assert activity["codeModeExercice"] == "L" and activity["numeroSiretSite"] == "99999999900019"
    assert activity["codeSecteurDactivite"] == "SA07"
    # refresh, then introspection and revocation
    refreshed = client.refresh_token(config["token_endpoint"])
    assert refreshed["access_token"] != token["access_token"]
    seen = httpx.post(
        config["introspection_endpoint"], data={"token": refreshed["access_token"]}, auth=(client_id, secret)
    ).json()
    assert seen["active"] is True and seen["client_id"] == client_id
    httpx.post(config["revocation_endpoint"], data={"token": refreshed["access_token"]}, auth=(client_id, secret))
    assert httpx.post(
        config["introspection_endpoint"], data={"token": refreshed["access_token"]}, auth=(client_id, secret)
    ).json() == {"active": False}
    assert (
        httpx.get(
            config["userinfo_endpoint"], headers={"Authorization": f"Bearer {refreshed['access_token']}"}
        ).status_code
        == 401
    )


def _code(base: str, client_id: str, verifier: str = "v" * 50, doctor: str = IDNATPS, **extra) -> tuple[str, str]:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid scope_all",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "s1",
        **extra,
    }
    url = f"{base}/protocol/openid-connect/auth?{httpx.QueryParams(params)}"
    location = _login(url, doctor, password=PASSWORD).headers["location"]
    return parse_qs(urlsplit(location).query)["code"][0], verifier


def _exchange(base: str, client_id: str, secret: str, code: str, verifier: str, redirect: str = REDIRECT):
    return httpx.post(
        f"{base}/protocol/openid-connect/token",
        auth=(client_id, secret),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "code_verifier": verifier},
    )


def test_replayed_code_is_refused_and_revokes_its_tokens(doctor_psc):
    _, client_id, secret, base, doctor = doctor_psc
    code, verifier = _code(base, client_id, doctor=doctor)
    first = _exchange(base, client_id, secret, code, verifier)
    assert first.status_code == 200
    replay = _exchange(base, client_id, secret, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    userinfo = httpx.get(
        f"{base}/protocol/openid-connect/userinfo", headers={"Authorization": f"Bearer {first.json()['access_token']}"}
    )
    assert userinfo.status_code == 401  # the replay revoked what the first exchange gave


def test_pkce_and_redirect_uri_and_client_checks(doctor_psc):
    _, client_id, secret, base, doctor = doctor_psc
    code, verifier = _code(base, client_id, doctor=doctor)
    assert _exchange(base, client_id, secret, code, "w" * 50).json()["error"] == "invalid_grant"  # PKCE mismatch
    code, verifier = _code(base, client_id, doctor=doctor)
    assert (
        _exchange(base, client_id, secret, code, verifier, "https://evil.example/cb").json()["error"] == "invalid_grant"
    )
    code, verifier = _code(base, client_id, doctor=doctor)
    wrong_secret = _exchange(base, client_id, "nope", code, verifier)
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    # an unregistered redirect URI is shown an error page, never redirected to
    bad = httpx.get(
        f"{base}/protocol/openid-connect/auth",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": "https://evil.example/cb",
            "scope": "openid",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert bad.status_code == 400 and "location" not in bad.headers
    # without PKCE the request goes back to the client with an error
    no_pkce = httpx.get(
        f"{base}/protocol/openid-connect/auth",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "state": "z",
        },
    )
    query = parse_qs(urlsplit(no_pkce.headers["location"]).query)
    assert no_pkce.status_code == 302 and query["error"] == ["invalid_request"] and query["state"] == ["z"]


def test_forged_and_unsigned_tokens_are_refused(doctor_psc):
    provider, client_id, secret, base, doctor = doctor_psc
    code, verifier = _code(base, client_id, doctor=doctor)
    access = _exchange(base, client_id, secret, code, verifier).json()["access_token"]
    header, payload, signature = access.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    unsigned_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    for token in (forged, f"{unsigned_header}.{payload}.", "not-a-jwt"):
        answer = httpx.get(f"{base}/protocol/openid-connect/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"


def test_a_token_once_accepted_is_still_checked_at_every_call(doctor_psc, house):
    """Signatures are remembered per token (maison.identite.psc.provider._valid_claims); revocation,
    the Annuaire and the signing keys are still consulted at each call."""
    from datetime import timedelta

    provider, client_id, secret, base, doctor = doctor_psc
    userinfo = f"{base}/protocol/openid-connect/userinfo"

    def status(token: str) -> int:
        return httpx.get(userinfo, headers={"Authorization": f"Bearer {token}"}).status_code

    first = _exchange(base, client_id, secret, *_code(base, client_id, doctor=doctor)).json()["access_token"]
    second = _exchange(base, client_id, secret, *_code(base, client_id, doctor=doctor)).json()["access_token"]
    assert status(first) == 200 and status(second) == 200
    revoked = httpx.post(
        f"{base}/protocol/openid-connect/revoke",
        auth=(client_id, secret),
        data={"token": first, "token_type_hint": "access_token"},
    )
    assert revoked.status_code == 200 and status(first) == 401
    provider.keys.rotate()
    assert status(second) == 200  # the retiring key still verifies what it signed
    provider.keys.prune(timedelta(0))  # the key that signed `second` is gone
    assert status(second) == 401
    third = _exchange(base, client_id, secret, *_code(base, client_id, doctor=doctor)).json()["access_token"]
    assert status(third) == 200
    with house.db.write() as conn:  # the professional leaves the Annuaire: his token no longer acts
        put(
            conn,
            [
                {
                    **build.practitioner(
                        doctor[1:], "MARTIN", "Claire", "DR", "10", "C", "SM54", "2026-11-02T08:00:00+00:00"
                    ),
                    "active": False,
                }
            ],
        )
    gone = httpx.get(userinfo, headers={"Authorization": f"Bearer {third}"})
    assert gone.status_code == 400 and gone.json()["error"] == "access_denied"


def test_ecps_enrolment_and_login_by_code(doctor_psc):
    provider, client_id, secret, base, doctor = doctor_psc
    uri = provider.enroll_ecps(doctor)
    seed = parse_qs(urlsplit(uri).query)["secret"][0]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 50).digest()).rstrip(b"=").decode()
    url = f"{base}/protocol/openid-connect/auth?" + str(
        httpx.QueryParams(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": REDIRECT,
                "scope": "openid scope_all",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
    )
    wrong = _login(url, doctor, otp="000000" if pyotp.TOTP(seed).now() != "000000" else "111111")
    assert wrong.status_code == 401 and "authentification refusée" in wrong.text
    ok = _login(url, doctor, otp=pyotp.TOTP(seed).now())
    assert ok.status_code == 303
    code = parse_qs(urlsplit(ok.headers["location"]).query)["code"][0]
    tokens = _exchange(base, client_id, secret, code, "v" * 50).json()
    info = httpx.get(
        f"{base}/protocol/openid-connect/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert info["authMode"] == "MOBILE"


def test_expired_token_and_logout(doctor_psc, monkeypatch):
    provider, client_id, secret, base, doctor = doctor_psc
    code, verifier = _code(base, client_id, doctor=doctor)
    tokens = _exchange(base, client_id, secret, code, verifier).json()
    future = time.time() + 3600
    monkeypatch.setattr("maison.identite.psc.provider.time.time", lambda: future)
    expired = httpx.get(
        f"{base}/protocol/openid-connect/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert expired.status_code == 401
    monkeypatch.undo()
    out = httpx.get(
        f"{base}/protocol/openid-connect/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://dpi.example.fr/bye",
            "state": "k",
        },
    )
    assert out.status_code == 302 and out.headers["location"] == "https://dpi.example.fr/bye?state=k"
    again = httpx.post(
        f"{base}/protocol/openid-connect/token",
        auth=(client_id, secret),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_ciba_with_authlib_client(doctor_psc, live):
    # 002 L625: CIBA recommended for heavy clients — the software asks, the e-CPS app approves, the software polls
    provider, _, _, base, doctor = doctor_psc
    client_id, secret = provider.register_client("Logiciel lourd", [REDIRECT], ciba=True)
    seed = parse_qs(urlsplit(provider.enroll_ecps(doctor)).query)["secret"][0]
    config = httpx.get(f"{base}/.well-known/openid-configuration").json()
    software = _client(client_id, secret)
    started = software.request(
        "POST",
        config["backchannel_authentication_endpoint"],
        withhold_token=True,
        auth=(client_id, secret),
        data={"scope": "openid scope_all", "login_hint": doctor, "binding_message": "42"},
    ).json()
    auth_req_id = started["auth_req_id"]
    poll = {"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": auth_req_id}
    pending = httpx.post(config["token_endpoint"], data=poll, auth=(client_id, secret))
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    assert httpx.post(config["token_endpoint"], data=poll, auth=(client_id, secret)).json()["error"] == "slow_down"
    # the professional's e-CPS app shows the request with the binding message, and approves it
    app = f"{live.url}/psc/ecps/{doctor}/requests"
    code = pyotp.TOTP(seed).now()
    assert httpx.get(app, headers={"X-eCPS-Code": "000000" if code != "000000" else "111111"}).status_code == 400
    [shown] = httpx.get(app, headers={"X-eCPS-Code": code}).json()["requests"]
    assert shown["binding_message"] == "42" and shown["client"] == "Logiciel lourd"
    assert (
        httpx.post(f"{app}/{shown['id']}", data={"decision": "approve"}, headers={"X-eCPS-Code": code}).status_code
        == 204
    )
    time.sleep(2.1)  # the interval
    software.fetch_token(
        config["token_endpoint"], grant_type="urn:openid:params:grant-type:ciba", auth_req_id=auth_req_id
    )
    assert software.get(config["userinfo_endpoint"]).json()["SubjectNameID"] == doctor
    assert httpx.post(config["token_endpoint"], data=poll, auth=(client_id, secret)).json()["error"] == "invalid_grant"


def test_ciba_refusals(doctor_psc, live):
    provider, client_id, secret, base, doctor = doctor_psc
    endpoint = f"{base}/protocol/openid-connect/ext/ciba/auth"
    params = {"scope": "openid", "login_hint": doctor, "binding_message": "07"}
    not_ciba = httpx.post(endpoint, data=params, auth=(client_id, secret))
    assert not_ciba.status_code == 403 and not_ciba.json()["error"] == "unauthorized_client"  # CIBA §13
    ciba_id, ciba_secret = provider.register_client("Lourd", [REDIRECT], ciba=True)
    assert httpx.post(endpoint, data=params, auth=(ciba_id, ciba_secret)).json()["error"] == "unknown_user_id"
    seed = parse_qs(urlsplit(provider.enroll_ecps(doctor)).query)["secret"][0]
    assert (
        httpx.post(endpoint, data={**params, "binding_message": "x" * 21}, auth=(ciba_id, ciba_secret)).json()["error"]
        == "invalid_binding_message"
    )
    auth_req_id = httpx.post(endpoint, data=params, auth=(ciba_id, ciba_secret)).json()["auth_req_id"]
    app = f"{live.url}/psc/ecps/{doctor}/requests"
    code = pyotp.TOTP(seed).now()
    [shown] = httpx.get(app, headers={"X-eCPS-Code": code}).json()["requests"]
    httpx.post(f"{app}/{shown['id']}", data={"decision": "deny"}, headers={"X-eCPS-Code": code})
    refused = httpx.post(
        f"{base}/protocol/openid-connect/token",
        auth=(ciba_id, ciba_secret),
        data={"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": auth_req_id},
    )
    assert refused.json()["error"] == "access_denied"
    # another CIBA client cannot poll someone else's request; a client without CIBA may not use its grant
    other_id, other_secret = provider.register_client("Autre", [REDIRECT], ciba=True)
    other = httpx.post(
        f"{base}/protocol/openid-connect/token",
        auth=(other_id, other_secret),
        data={"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": auth_req_id},
    )
    assert other.json()["error"] == "invalid_grant"
    not_ciba_poll = httpx.post(
        f"{base}/protocol/openid-connect/token",
        auth=(client_id, secret),
        data={"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": auth_req_id},
    )
    assert not_ciba_poll.status_code == 400 and not_ciba_poll.json()["error"] == "unauthorized_client"  # RFC 6749 §5.2


def test_a_professional_acts_with_the_psc_token(doctor_psc, house, live):
    """maison.core.authz: the token says who acts, in which structure, with which profession."""
    from maison.core import audit
    from maison.etablissement.vigilance.fhir import EXT_BIRTH_LIST

    _, client_id, secret, base, doctor = doctor_psc
    code, verifier = _code(base, client_id, doctor=doctor)
    access = _exchange(base, client_id, secret, code, verifier).json()["access_token"]
    trail = Trail(house)
    patient = {
        "resourceType": "Patient",
        "identifier": [{"type": {"coding": [{"code": "PI"}]}, "value": "C1"}],
        "name": [
            {
                "use": "official",
                "family": "DURAND",
                "given": ["LUC"],
                "extension": [{"url": EXT_BIRTH_LIST, "valueString": "LUC"}],
            }
        ],
        "gender": "male",
        "birthDate": "1970-01-01",
    }
    fhir = f"{live.url}/fhir/Patient"
    created = httpx.post(fhir, json=patient, headers={"Authorization": f"Bearer {access}"})
    assert created.status_code == 201, created.text
    [event] = trail.since("identitovigilance.admit")
    assert (event["actor_person"], event["actor_structure"], event["actor_software"]) == (
        doctor,
        "399999999900019",
        client_id,
    )
    assert audit.detail_of(event)["actor"]["role"] == "10"  # médecin
    # a second situation d'exercice: the acting structure must be named, and be one of them
    with house.db.write() as conn:
        put(
            conn,
            [
                build.practitioner_role(
                    f"32{doctor[-8:]}", doctor, "1990000001", "2026-11-01T08:00:00+00:00", fonction=None, mode="S"
                )
            ],
        )
    ambiguous = httpx.get(fhir, params={"family": "DURAND"}, headers={"Authorization": f"Bearer {access}"})
    assert (
        ambiguous.status_code == 403
        and ambiguous.json()["issue"][0]["details"]["coding"][0]["code"] == "structure-ambigue"
    )
    named = httpx.get(
        fhir,
        params={"family": "DURAND"},
        headers={"Authorization": f"Bearer {access}", "X-Structure": "399999999900019"},
    )
    assert named.status_code == 200 and named.json()["total"] == 1
    elsewhere = httpx.get(
        fhir, params={"family": "DURAND"}, headers={"Authorization": f"Bearer {access}", "X-Structure": "1750000019"}
    )
    assert elsewhere.status_code == 403
    forged = httpx.get(fhir, headers={"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."})
    assert forged.status_code == 401


def test_a_structures_own_identity_provider_is_accepted_for_its_staff(doctor_psc, house, live):
    """IAM.80 (seed 002 L626): a second OpenID Connect modality, the structure's own SSO."""
    doctor = doctor_psc.doctor
    from joserfc.jwk import RSAKey

    from maison.core.actor import KeyScope
    from maison.core.auth import issue_key

    key = RSAKey.generate_key(2048, parameters={"kid": "chu-1", "alg": "RS256", "use": "sig"})
    structure = "399999999900019"  # the doctor's cabinet, standing in for a hospital with its own SSO
    admin = issue_key(house.db, structure, "sso-admin", "dsi", scope=KeyScope.ADMINISTRATEUR_STRUCTURE)
    issuer = "https://sso.chu-exemple.fr/realms/personnel"
    registered = httpx.post(
        f"{live.url}/psc/local-idp",
        headers={"Authorization": f"Bearer {admin}"},
        json={"issuer": issuer, "audience": "maison", "jwks": {"keys": [key.as_dict(private=False)]}},
    )
    assert registered.status_code == 201
    private = {"keys": [key.as_dict(private=True)]}
    assert (
        httpx.post(
            f"{live.url}/psc/local-idp",
            headers={"Authorization": f"Bearer {admin}"},
            json={"issuer": "https://other.example/x", "audience": "maison", "jwks": private},
        ).status_code
        == 400
    )

    def token(**claims) -> str:
        body = {"iss": issuer, "aud": "maison", "exp": int(time.time()) + 300, "idnatps": doctor, **claims}
        return jwt.encode({"alg": "RS256", "kid": "chu-1"}, body, key)

    fhir = f"{live.url}/fhir/Patient"
    ok = httpx.get(fhir, params={"family": "X"}, headers={"Authorization": f"Bearer {token()}"})
    assert ok.status_code == 200
    expired = httpx.get(fhir, headers={"Authorization": f"Bearer {token(exp=int(time.time()) - 10)}"})
    assert expired.status_code == 401
    wrong_audience = httpx.get(fhir, headers={"Authorization": f"Bearer {token(aud='autre')}"})
    assert wrong_audience.status_code == 401
    stranger = httpx.get(fhir, headers={"Authorization": f"Bearer {token(idnatps='810000000016')}"})
    assert stranger.status_code in (401, 403)  # not staff of that structure
    other_key = RSAKey.generate_key(2048, parameters={"kid": "chu-1", "alg": "RS256"})
    forged = jwt.encode(
        {"alg": "RS256", "kid": "chu-1"},
        {"iss": issuer, "aud": "maison", "idnatps": doctor, "exp": int(time.time()) + 300},
        other_key,
    )
    assert httpx.get(fhir, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
