"""A structure's own OpenID Connect provider whose keys Maison fetches from its `jwksUri` and follows
through a rotation (IAM.80, seed 002 L626). Its JWKS is served on loopback, which Maison fetches only
under a setting given before the house is served: so this test keeps a house of its own, apart from
test_psc.py's shared one."""

import time

import httpx
import pytest
from joserfc import jwt

from tests.e2e.test_psc import cabinet, new_doctor


@pytest.fixture
def private_jwks(house):
    """The provider's JWKS served on loopback, which only this setting lets Maison fetch (before `live`)."""
    house.settings = house.settings.with_overrides(psc_jwks_adresses_privees=True)
    return house


def test_local_provider_keys_fetched_from_its_jwks_uri_and_rotated(private_jwks, house, live):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from joserfc.jwk import RSAKey

    from maison.core.actor import KeyScope
    from maison.core.auth import issue_key

    cabinet(house)
    doctor = new_doctor(house)
    published = {}

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = json.dumps(published).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        old = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256"})
        new = RSAKey.generate_key(2048, parameters={"kid": "k2", "alg": "RS256"})
        published["keys"] = [old.as_dict(private=False)]
        issuer = "https://sso.clinique-exemple.fr"
        admin = issue_key(house.db, "399999999900019", "sso-admin", "dsi", scope=KeyScope.ADMINISTRATEUR_STRUCTURE)
        assert (
            httpx.post(
                f"{live.url}/psc/local-idp",
                headers={"Authorization": f"Bearer {admin}"},
                json={"issuer": issuer, "audience": "maison", "jwksUri": f"http://127.0.0.1:{server.server_port}/jwks"},
            ).status_code
            == 201
        )

        def call(key, kid):
            token = jwt.encode(
                {"alg": "RS256", "kid": kid},
                {"iss": issuer, "aud": "maison", "idnatps": doctor, "exp": int(time.time()) + 300},
                key,
            )
            return httpx.get(f"{live.url}/fhir/Patient", headers={"Authorization": f"Bearer {token}"}).status_code

        assert call(old, "k1") == 200
        published["keys"] = [new.as_dict(private=False)]  # the provider rotates
        assert call(new, "k2") == 200  # unknown key: refetched once
        assert call(old, "k1") == 401  # the retired key no longer verifies (and no refetch within a minute)
    finally:
        server.shutdown()
