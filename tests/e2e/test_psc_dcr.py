"""Pro Santé Connect's dynamic client registration over the wire (issue 21 §1.2): RFC 7591 with an
initial access token the administrator issues (`/admin/psc/jetons-enregistrement`, `maison admin
jeton-enregistrement`), RFC 7592's client configuration endpoint, at Keycloak's path.

The software's side speaks only HTTP: it finds `registration_endpoint` in the discovery document,
registers, then runs the code flow and CIBA with Authlib's client as an administrator's client would.
"""

from __future__ import annotations

import re
import time

import httpx
import orjson
import pyotp
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from typer.testing import CliRunner

from maison.admin.service import first_token
from maison.cli import app as cli
from maison.core.audit import detail_of, events
from maison.identite.annuaire import resources as build
from maison.identite.annuaire.index import put
from tests.conftest import LiveServer, free_port

RPPS = "99900038441"  # seed 001 L383-384
IDNATPS = "8" + RPPS
PASSWORD = "mot-de-passe-de-test-2026"
REDIRECT = "https://dpi.example.fr/callback"
CIBA = "urn:openid:params:grant-type:ciba"
METADATA = {
    "client_name": "DPI dynamique",
    "redirect_uris": [REDIRECT],
    "post_logout_redirect_uris": ["https://dpi.example.fr/au-revoir"],
    "grant_types": ["authorization_code", "refresh_token", CIBA],
    "token_endpoint_auth_method": "client_secret_basic",
    "backchannel_token_delivery_mode": "poll",
    "contacts": ["support@dpi.example.fr"],
    "software_id": "dpi-dynamique",
    "software_version": "4.2",
    "jwks_uri": "https://dpi.example.fr/jwks",  # not understood here: ignored (RFC 7591 §2)
}


@pytest.fixture
def world(house, live):
    """A professional of the Annuaire with a test password; the administrator's token; PSC's realm URL."""
    now = "2026-11-01T08:00:00+00:00"
    doctor = build.practitioner(RPPS, "MARTIN", "Claire", "DR", "10", "C", "SM54", now)
    with house.db.write() as conn:
        put(conn, [doctor])
    house.psc.set_test_password(IDNATPS, PASSWORD)
    admin = {"Authorization": f"Bearer {first_token(house.db)}"}
    return admin, f"{live.url}/psc/auth/realms/esante-wallet"


def _initial_token(live, admin: dict, **body: object) -> str:
    issued = httpx.post(f"{live.url}/admin/psc/jetons-enregistrement", headers=admin, json=body)
    assert issued.status_code == 201, issued.text
    assert issued.headers["cache-control"] == "no-store"
    return issued.json()["jeton"]


def _register(base: str, token: str | None, body: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{base}/clients-registrations/openid-connect", json=body, headers=headers)


def _refused(answer: httpx.Response, status: int, error: str) -> str:
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error, answer.text
    if error == "invalid_token":
        assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    return answer.json()["error_description"]


def _login(authorize_url: str) -> httpx.Response:
    page = httpx.get(authorize_url)
    assert page.status_code == 200, page.text
    request_id = re.search(r'name="request" value="([^"]+)"', page.text).group(1)
    action = re.search(r'action="([^"]+)"', page.text).group(1)
    return httpx.post(action, data={"request": request_id, "idnatps": IDNATPS, "password": PASSWORD})


def _code_flow(config: dict, client_id: str, secret: str, method: str) -> tuple[OAuth2Client, dict]:
    client = OAuth2Client(
        client_id,
        secret,
        scope="openid scope_all",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method=method,
    )
    verifier = generate_token(48)
    url, state = client.create_authorization_url(config["authorization_endpoint"], code_verifier=verifier)
    redirected = _login(url)
    assert redirected.status_code == 303, redirected.text
    token = client.fetch_token(
        config["token_endpoint"], authorization_response=redirected.headers["location"], code_verifier=verifier
    )
    assert client.get(config["userinfo_endpoint"]).json()["SubjectNameID"] == IDNATPS
    return client, token


def test_a_registered_client_runs_the_code_flow_and_ciba_like_an_administrators_one(world, live, house):
    admin, base = world
    config = httpx.get(f"{base}/.well-known/openid-configuration").json()
    assert config["registration_endpoint"] == f"{base}/clients-registrations/openid-connect"
    token = _initial_token(live, admin, utilisationsMax=2, dureeSecondes=600)

    answer = httpx.post(config["registration_endpoint"], json=METADATA, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    client = answer.json()
    assert client["client_secret"] and client["client_secret_expires_at"] == 0
    assert abs(client["client_id_issued_at"] - time.time()) < 60
    assert client["registration_client_uri"] == f"{config['registration_endpoint']}/{client['client_id']}"
    assert client["registration_access_token"]
    for name in ("client_name", "redirect_uris", "post_logout_redirect_uris", "grant_types", "contacts"):
        assert client[name] == METADATA[name]
    assert client["response_types"] == ["code"] and client["backchannel_token_delivery_mode"] == "poll"
    assert client["token_endpoint_auth_method"] == "client_secret_basic" and client["scope"] == "openid scope_all"
    assert "jwks_uri" not in client  # not understood, so not registered

    # the code flow, with refresh, as for an administrator's client
    software, tokens = _code_flow(config, client["client_id"], client["client_secret"], "client_secret_basic")
    assert tokens["refresh_token"]
    assert software.refresh_token(config["token_endpoint"])["access_token"] != tokens["access_token"]

    # CIBA: the e-CPS activated by the administrator, the request approved in the app, the software polls
    enrolled = httpx.post(f"{live.url}/admin/professionnels/{IDNATPS}/e-cps", headers=admin).json()
    started = httpx.post(
        config["backchannel_authentication_endpoint"],
        auth=(client["client_id"], client["client_secret"]),
        data={"scope": "openid", "login_hint": IDNATPS, "binding_message": "DCR"},
    )
    assert started.status_code == 200, started.text
    app = f"{live.url}/psc/ecps/{IDNATPS}/requests"
    code = pyotp.TOTP(enrolled["secret"]).now()
    [shown] = httpx.get(app, headers={"X-eCPS-Code": code}).json()["requests"]
    assert shown["client"] == "DPI dynamique"
    assert httpx.post(f"{app}/{shown['id']}", data={"decision": "approve"}, headers={"X-eCPS-Code": code}).is_success
    time.sleep(2.1)  # the polling interval
    polled = software.fetch_token(config["token_endpoint"], grant_type=CIBA, auth_req_id=started.json()["auth_req_id"])
    assert polled["access_token"] != tokens["access_token"]
    assert software.get(config["userinfo_endpoint"]).json()["SubjectNameID"] == IDNATPS

    # a client registered for the code flow only, with client_secret_post: no refresh token, no CIBA
    narrow = _register(
        base,
        token,
        {
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "client_secret_post",
        },
    )
    assert narrow.status_code == 201, narrow.text
    narrow_client = narrow.json()
    assert narrow_client["client_name"] == "Client enregistré dynamiquement"
    _, narrow_tokens = _code_flow(
        config, narrow_client["client_id"], narrow_client["client_secret"], "client_secret_post"
    )
    assert "refresh_token" not in narrow_tokens
    no_refresh = httpx.post(
        config["token_endpoint"],
        auth=(narrow_client["client_id"], narrow_client["client_secret"]),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    _refused(no_refresh, 400, "unauthorized_client")
    no_ciba = httpx.post(
        config["backchannel_authentication_endpoint"],
        auth=(narrow_client["client_id"], narrow_client["client_secret"]),
        data={"scope": "openid", "login_hint": IDNATPS},
    )
    _refused(no_ciba, 403, "unauthorized_client")
    # the token served its two registrations
    assert "épuisé" in _refused(_register(base, token, METADATA), 401, "invalid_token")

    # a CIBA-only client has no code flow
    ciba_only = _register(
        base,
        _initial_token(live, admin),
        {"grant_types": [CIBA], "backchannel_token_delivery_mode": "poll", "client_name": "Logiciel lourd"},
    )
    assert ciba_only.status_code == 201, ciba_only.text
    assert ciba_only.json()["redirect_uris"] == [] and ciba_only.json()["response_types"] == []
    code_refused = httpx.post(
        config["token_endpoint"],
        auth=(ciba_only.json()["client_id"], ciba_only.json()["client_secret"]),
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT, "code_verifier": "v" * 50},
    )
    assert _refused(code_refused, 400, "unauthorized_client")

    with house.db.read() as conn:
        issued = [detail_of(e) for e in events(conn, action_prefix="admin.jeton-enregistrement-psc")]
        registered = [detail_of(e) for e in events(conn, action_prefix="psc.client-enregistre")]
    assert [d["utilisationsMax"] for d in issued] == [2, None]
    assert [d["client_id"] for d in registered if "code" not in d] == [
        client["client_id"],
        narrow_client["client_id"],
        ciba_only.json()["client_id"],
    ]


def test_the_registration_is_read_updated_and_deleted_with_its_token(world, live, house):
    admin, base = world
    created = _register(base, _initial_token(live, admin), METADATA).json()
    uri, first = created["registration_client_uri"], created["registration_access_token"]

    def call(method: str, token: str, target: str = uri, **kw: object) -> httpx.Response:
        return httpx.request(method, target, headers={"Authorization": f"Bearer {token}"}, **kw)

    read = call("GET", first)
    assert read.status_code == 200, read.text
    assert read.headers["cache-control"] == "no-store"
    second = read.json()["registration_access_token"]
    assert second != first and "client_secret" not in read.json()
    assert {k: v for k, v in read.json().items() if k != "registration_access_token"} == {
        k: v for k, v in created.items() if k not in ("registration_access_token", "client_secret")
    }
    _refused(call("GET", first), 401, "invalid_token")  # the previous registration token is discarded

    # PUT replaces the metadata: the client_id must be the client's, a client_secret sent the current one
    update = {
        "client_id": created["client_id"],
        "client_name": "DPI renommé",
        "redirect_uris": ["https://dpi.example.fr/nouveau", "http://127.0.0.1:8400/cb"],
        "grant_types": ["authorization_code"],
    }
    _refused(call("PUT", second, json={**update, "client_id": "autre"}), 400, "invalid_client_metadata")
    _refused(call("PUT", second, json={**update, "client_secret": "faux"}), 400, "invalid_client_metadata")
    _refused(
        call("PUT", second, json={**update, "redirect_uris": ["http://dpi.example.fr/cb"]}), 400, "invalid_redirect_uri"
    )
    updated = call("PUT", second, json={**update, "client_secret": created["client_secret"]})
    assert updated.status_code == 200, updated.text
    changed = updated.json()
    assert changed["client_name"] == "DPI renommé" and changed["redirect_uris"] == update["redirect_uris"]
    assert changed["grant_types"] == ["authorization_code"] and "backchannel_token_delivery_mode" not in changed
    assert changed["post_logout_redirect_uris"] == [] and "contacts" not in changed  # omitted: removed (§2.2)
    assert changed["client_id_issued_at"] == created["client_id_issued_at"]
    third = changed["registration_access_token"]
    _refused(call("GET", second), 401, "invalid_token")
    # the provider now knows the new redirect URIs only, and no CIBA
    authorize = f"{base}/protocol/openid-connect/auth"
    params = {"response_type": "code", "client_id": created["client_id"], "scope": "openid"}
    assert httpx.get(authorize, params={**params, "redirect_uri": REDIRECT}).status_code == 400
    moved = httpx.get(authorize, params={**params, "redirect_uri": "https://dpi.example.fr/nouveau", "state": "s"})
    assert moved.status_code == 302 and moved.headers["location"].startswith("https://dpi.example.fr/nouveau?")
    no_ciba = httpx.post(
        f"{base}/protocol/openid-connect/ext/ciba/auth",
        auth=(created["client_id"], created["client_secret"]),
        data={"scope": "openid", "login_hint": IDNATPS},
    )
    _refused(no_ciba, 403, "unauthorized_client")

    # its tokens, then the deletion: they stop working, the client no longer authenticates
    config = httpx.get(f"{base}/.well-known/openid-configuration").json()
    flow = OAuth2Client(
        created["client_id"],
        created["client_secret"],
        scope="openid scope_all",
        redirect_uri="https://dpi.example.fr/nouveau",
        code_challenge_method="S256",
    )
    verifier = generate_token(48)
    url, _ = flow.create_authorization_url(config["authorization_endpoint"], code_verifier=verifier)
    back = _login(url)
    tokens = flow.fetch_token(
        config["token_endpoint"], authorization_response=back.headers["location"], code_verifier=verifier
    )
    assert flow.get(config["userinfo_endpoint"]).status_code == 200
    other = _register(base, _initial_token(live, admin), METADATA).json()
    _refused(call("DELETE", other["registration_access_token"]), 401, "invalid_token")  # another client's token
    deleted = call("DELETE", third)
    assert deleted.status_code == 204 and deleted.content == b""
    gone = httpx.get(config["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"})
    _refused(gone, 401, "invalid_token")
    seen = httpx.post(
        config["introspection_endpoint"],
        auth=(other["client_id"], other["client_secret"]),
        data={"token": tokens["access_token"]},
    )
    assert seen.json() == {"active": False}
    no_client = httpx.post(
        config["token_endpoint"],
        auth=(created["client_id"], created["client_secret"]),
        data={"grant_type": "authorization_code", "code": "x"},
    )
    _refused(no_client, 401, "invalid_client")
    # a deleted client, an unknown one, an administrator's one: 401 alike, their existence not revealed
    deleted_again = _refused(call("GET", third), 401, "invalid_token")
    unknown = _refused(call("GET", third, f"{base}/clients-registrations/openid-connect/inconnu"), 401, "invalid_token")
    admins_id, _ = house.psc.register_client("Client de l'administrateur", [REDIRECT])
    admins = _refused(
        call("GET", third, f"{base}/clients-registrations/openid-connect/{admins_id}"), 401, "invalid_token"
    )
    assert deleted_again == unknown == admins
    _refused(httpx.get(other["registration_client_uri"]), 401, "invalid_token")  # no token at all

    with house.db.read() as conn:
        acts = [(e["action"], e["outcome"]) for e in events(conn, action_prefix="psc.client-")]
        refused = [detail_of(e) for e in events(conn, action_prefix="securite.jeton-invalide")]
    for act in ("psc.client-lu", "psc.client-modifie", "psc.client-supprime"):
        assert (act, "success") in acts
    assert ("psc.client-modifie", "failure") in acts  # the refused metadata, recorded
    assert {r["action"] for r in refused} >= {"psc.client-lu", "psc.client-supprime"}


def test_every_refusal_of_a_registration_says_why(world, live, monkeypatch):
    admin, base = world
    token = _initial_token(live, admin, utilisationsMax=1, dureeSecondes=60)
    _refused(_register(base, None, METADATA), 401, "invalid_token")
    _refused(_register(base, "inconnu", METADATA), 401, "invalid_token")
    basic = httpx.post(f"{base}/clients-registrations/openid-connect", json=METADATA, auth=("a", token))
    _refused(basic, 401, "invalid_token")  # the initial token is a Bearer token (RFC 6750 §2.1)

    def refused(body: object, error: str) -> str:
        description = _refused(_register(base, token, body), 400, error)
        assert len(description.split()) >= 2  # a sentence saying why (in French)
        return description

    # redirect URIs (RFC 7591 §2, RFC 6749 §3.1.2, RFC 8252 §7.3): exact https, http on the loopback only
    for uri in (
        "http://dpi.example.fr/cb",  # http on another host
        "http://localhost.evil.example/cb",  # not the loopback, whatever its first letters
        "http://127.0.0.1.evil.example/cb",
        "https://dpi.example.fr/cb#fragment",
        "https://*.example.fr/cb",
        "https://user@dpi.example.fr/cb",
        "dpi.example.fr/cb",
        "javascript:alert(1)",
        "https://dpi.example.fr:99999/cb",
    ):
        assert uri in refused({**METADATA, "redirect_uris": [uri]}, "invalid_redirect_uri")
    assert "authorization_code" in refused({**METADATA, "redirect_uris": []}, "invalid_redirect_uri")
    refused({**METADATA, "post_logout_redirect_uris": ["http://dpi.example.fr/bye"]}, "invalid_client_metadata")
    # grants, response types, client authentication, CIBA's delivery mode, scopes, types
    assert "client_credentials" in refused(
        {**METADATA, "grant_types": ["client_credentials"]}, "invalid_client_metadata"
    )
    refused({**METADATA, "grant_types": ["refresh_token"]}, "invalid_client_metadata")
    refused({**METADATA, "grant_types": "authorization_code"}, "invalid_client_metadata")
    refused({**METADATA, "response_types": ["token"]}, "invalid_client_metadata")
    refused({**METADATA, "grant_types": [CIBA], "response_types": ["code"]}, "invalid_client_metadata")
    for method in ("private_key_jwt", "none", "client_secret_jwt"):
        assert method in refused({**METADATA, "token_endpoint_auth_method": method}, "invalid_client_metadata")
    without_mode = {k: v for k, v in METADATA.items() if k != "backchannel_token_delivery_mode"}
    assert "poll" in refused(without_mode, "invalid_client_metadata")
    refused({**METADATA, "backchannel_token_delivery_mode": "ping"}, "invalid_client_metadata")
    refused(
        {**METADATA, "backchannel_client_notification_endpoint": "https://dpi.example.fr/n"}, "invalid_client_metadata"
    )
    refused({**METADATA, "scope": "openid tout"}, "invalid_client_metadata")
    refused({**METADATA, "client_name": 42}, "invalid_client_metadata")
    refused({**METADATA, "id_token_signed_response_alg": "none"}, "invalid_client_metadata")
    refused(["pas", "un", "objet"], "invalid_client_metadata")
    not_json = httpx.post(
        f"{base}/clients-registrations/openid-connect",
        content=b"{pas du json",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    _refused(not_json, 400, "invalid_client_metadata")

    # none of the refusals used the token's one registration; the first accepted one does
    loopback = _register(base, token, {**METADATA, "redirect_uris": ["http://127.0.0.1:8400/cb", "http://[::1]/cb"]})
    assert loopback.status_code == 201, loopback.text
    assert "épuisé" in _refused(_register(base, token, METADATA), 401, "invalid_token")
    # an expired token
    later = _initial_token(live, admin, dureeSecondes=60)
    future = time.time() + 61
    monkeypatch.setattr("maison.identite.psc.registration.time.time", lambda: future)
    assert "expiré" in _refused(_register(base, later, METADATA), 401, "invalid_token")
    monkeypatch.undo()
    assert _register(base, later, METADATA).status_code == 201


def test_the_administrator_issues_initial_tokens_by_command_and_refuses_bad_ones(
    world, live, tmp_path, reference_path, monkeypatch
):
    admin, base = world
    for body, field in (({"dureeSecondes": 10}, "dureeSecondes"), ({"utilisationsMax": 0}, "utilisationsMax")):
        bad = httpx.post(f"{live.url}/admin/psc/jetons-enregistrement", headers=admin, json=body)
        assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
        assert field in bad.text
    assert httpx.post(f"{live.url}/admin/psc/jetons-enregistrement", json={}).status_code == 401
    # `maison admin jeton-enregistrement` on a data directory; the house serving it accepts the token once
    monkeypatch.setenv("MAISON_REFERENCE_PATH", str(reference_path))
    monkeypatch.delenv("MAISON_DATABASE_URL", raising=False)
    data = tmp_path / "cli"
    printed = CliRunner().invoke(
        cli,
        ["admin", "jeton-enregistrement", "--utilisations", "1", "--duree", "3600", "--data-dir", str(data)],
    )
    assert printed.exit_code == 0, printed.output
    issued = orjson.loads(printed.output)
    assert issued["utilisationsMax"] == 1 and issued["jeton"] and issued["expiration"]
    from maison.core.config import load_settings
    from maison.house import House

    served = House.open(load_settings().with_overrides(data_dir=data, port=free_port()))
    try:
        with LiveServer(served.app(), served.settings.port) as other:
            realm = f"{other.url}/psc/auth/realms/esante-wallet"
            assert _register(realm, issued["jeton"], METADATA).status_code == 201
            _refused(_register(realm, issued["jeton"], METADATA), 401, "invalid_token")
    finally:
        served.close()
