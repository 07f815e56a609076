"""The registrar's rules where HTTP cannot reach them alone (issue 21 §1.2): an initial access token's
last use is given once even to registrations racing for it, its uses are counted in the
registration's transaction, tokens are kept by their digests only, and a deleted client's tokens die."""

from __future__ import annotations

import hashlib
import threading

import pytest

from maison.core.audit import detail_of, events
from maison.identite.psc import store
from maison.identite.psc.provider import CIBA_GRANT, OAuthError, Provider
from maison.identite.psc.registration import Registrar

ISSUER = "http://127.0.0.1:8000/psc/auth/realms/esante-wallet"
METADATA = {"client_name": "DPI", "redirect_uris": ["https://dpi.example.fr/cb"]}


@pytest.fixture
def registrar(db) -> Registrar:
    return Registrar(Provider(db))


def registrar_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _error(call) -> OAuthError:
    with pytest.raises(OAuthError) as refused:
        call()
    return refused.value


def test_the_last_use_is_given_once_even_past_the_first_check(registrar, monkeypatch):
    token = registrar.issue_initial_token(600, 1).token
    registrar.register(token, METADATA, ISSUER)
    # a registration that passed the first check before the other used the token: the UPDATE decides
    monkeypatch.setattr(registrar, "check_initial_token", lambda *a, **kw: None)
    late = _error(lambda: registrar.register(token, METADATA, ISSUER))
    assert (late.error, late.status) == ("invalid_token", 401)
    with registrar.db.read() as conn:
        assert store.initial_token(conn, registrar_digest(token)).uses == 1


def test_racing_registrations_share_the_uses_exactly(registrar):
    token = registrar.issue_initial_token(600, 3).token
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def register() -> None:
        barrier.wait()
        try:
            outcomes.append(registrar.register(token, METADATA, ISSUER)["client_id"])
        except OAuthError as exc:
            outcomes.append(exc.error)

    threads = [threading.Thread(target=register) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(o == "invalid_token" for o in outcomes) == [False] * 3 + [True] * 3


def test_a_refused_registration_uses_nothing_and_is_recorded(registrar):
    token = registrar.issue_initial_token(600, 1).token
    bad = _error(
        lambda: registrar.register(token, {"redirect_uris": ["http://dpi.example.fr/cb"]}, ISSUER, source="10.0.0.7")
    )
    assert bad.error == "invalid_redirect_uri" and bad.status == 400
    assert registrar.register(token, METADATA, ISSUER)["client_id"]
    with registrar.db.read() as conn:
        recorded = [
            (e["outcome"], detail_of(e).get("code")) for e in events(conn, action_prefix="psc.client-enregistre")
        ]
        assert store.initial_token(conn, registrar_digest(token)).uses == 1
    assert recorded == [("failure", "invalid_redirect_uri"), ("success", None)]


def test_only_digests_are_kept_and_the_client_is_the_providers(registrar):
    token = registrar.issue_initial_token(600, None).token
    client = registrar.register(
        token,
        {**METADATA, "grant_types": [CIBA_GRANT, "authorization_code"], "backchannel_token_delivery_mode": "poll"},
        ISSUER,
    )
    with registrar.db.read() as conn:
        row = store.client(conn, client["client_id"])
        stored = [str(v) for v in row] + [str(v) for v in store.initial_token(conn, registrar_digest(token))]
    for secret in (token, client["client_secret"], client["registration_access_token"]):
        assert not any(secret in value for value in stored)
    known = registrar.provider.client(client["client_id"])
    assert known is not None and known.ciba and known.grant_types == {CIBA_GRANT, "authorization_code"}
    assert known.redirect_uris == ("https://dpi.example.fr/cb",)
    assert (
        registrar.provider.authenticate_client(
            None, {"client_id": client["client_id"], "client_secret": client["client_secret"]}
        )
        == known
    )


def test_a_deleted_clients_access_tokens_are_refused(registrar):
    provider = registrar.provider
    client = registrar.register(registrar.issue_initial_token(600, None).token, METADATA, ISSUER)
    known = provider.client(client["client_id"])
    data = {"scope": "openid", "sid": "s-1", "auth_mode": "PASSWORD"}
    access = provider._tokens(known, "810000000001", data, ISSUER)["access_token"]
    assert provider.verify_access_token(access, ISSUER)["azp"] == client["client_id"]
    registrar.delete(client["client_id"], client["registration_access_token"])
    refused = _error(lambda: provider.verify_access_token(access, ISSUER))
    assert (refused.error, refused.status) == ("invalid_token", 401)
    assert provider.client(client["client_id"]) is None
