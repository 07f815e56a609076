"""A structure's identity provider registered with a jwksUri (POST /psc/local-idp): Maison must not
be made to fetch inside the house, nor say what it found there (SSRF, issue 18 §3)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.e2e.test_psc import psc  # noqa: F401 - fixture

STRUCTURE = "399999999900019"


class Inside(BaseHTTPRequestHandler):
    """A service on loopback, as an internal one would be (it answers JSON that is not a JWKS)."""

    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        Inside.hits.append(self.path)
        status, body = (404, b"absent") if self.path == "/absent" else (200, b'{"admin": true}')
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # noqa: ANN002
        pass


@pytest.fixture
def inside():
    Inside.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Inside)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()


def _register(live, house, jwks_uri: str, n: int) -> httpx.Response:
    from maison.core.actor import KeyScope
    from maison.core.auth import issue_key

    admin = issue_key(house.db, STRUCTURE, f"sso-admin-{n}", "dsi", scope=KeyScope.ADMINISTRATEUR_STRUCTURE)
    return httpx.post(
        f"{live.url}/psc/local-idp",
        headers={"Authorization": f"Bearer {admin}"},
        json={"issuer": f"https://sso{n}.clinique-exemple.fr", "audience": "maison", "jwksUri": jwks_uri},
    )


def _diagnostics(answer: httpx.Response) -> str:
    assert answer.status_code == 400, answer.text
    return answer.json()["issue"][0]["diagnostics"]


def test_inside_addresses_are_refused_with_one_answer_that_says_nothing(psc, house, live, inside):  # noqa: F811
    uris = [
        f"http://127.0.0.1:{inside}/jwks",
        f"https://127.0.0.1:{inside}/jwks",
        f"http://localhost:{inside}/jwks",
        f"https://localhost:{inside}/jwks",
        f"https://[::ffff:127.0.0.1]:{inside}/jwks",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/jwks",
        "https://[::1]/jwks",
        "file:///etc/passwd",
    ]
    answers = {_diagnostics(_register(live, house, uri, n)) for n, uri in enumerate(uris)}
    assert len(answers) == 1  # the same sentence whatever the address
    [answer] = answers
    assert str(inside) not in answer and "127.0.0.1" not in answer and "Error" not in answer
    assert Inside.hits == []  # nothing inside was contacted


def test_where_private_addresses_are_allowed_failures_still_say_nothing(house, inside):
    """The lab setting (psc_jwks_adresses_privees) lifts the address rule, not the generic answer:
    an error status, JSON that is not a JWKS and a closed port read alike."""
    from maison.core.actor import Actor
    from maison.core.errors import InvalidInput
    from maison.identite.psc.local_idp import LocalProviders

    local = LocalProviders(house.db, private_addresses=True)
    admin = Actor(person="dsi", structure=STRUCTURE, software="test")
    closed = inside + 1 if inside < 65535 else inside - 1
    messages = set()
    for n, uri in enumerate(
        (
            f"http://127.0.0.1:{inside}/absent",
            f"http://127.0.0.1:{inside}/pas-un-jwks",
            f"http://127.0.0.1:{closed}/jwks",
        )
    ):
        with pytest.raises(InvalidInput) as refused:
            local.register(admin, f"https://lab{n}.exemple.fr", "maison", jwks_uri=uri)
        messages.add(refused.value.message)
    assert len(messages) == 1 and Inside.hits == ["/absent", "/pas-un-jwks"]
