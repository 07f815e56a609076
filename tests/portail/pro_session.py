"""A professional's /pro session for the tests of the professional's tools, opened as the PSC login
will open it: the Actor is the one the house's Authorizer makes of the professional's real Pro Santé
Connect token (the same path every API call takes), kept in a portal session of "pro"."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request

from maison.core.actor import Actor
from maison.core.authz import Accepts, Authorizer
from maison.portail.pro_pages import COOKIE
from maison.portail.sessions import Sessions
from tests.partage.world import PROS


def actor_of(world, key: str) -> Actor:
    """The Actor the house's Authorizer establishes from the professional's PSC token."""
    house = world.house
    authorizer = Authorizer(house.db, house.psc, lambda _base: house.psc_issuer)
    url = urlsplit(world.base)
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "scheme": url.scheme,
            "server": (url.hostname, url.port),
            "path": "/pro",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"authorization", f"Bearer {world.tokens[key]}".encode())],
        }
    )
    return authorizer.caller(request, Accepts(psc=True))


def open_session(world, key: str, actor: Actor | None = None) -> str:
    s = world.house.settings
    sessions = Sessions(world.house.db, inactivity=s.portail_inactivite_s, lifetime=s.portail_duree_max_s)
    idnatps = PROS[key].idnatps
    raw, _ = sessions.open("pro", subject=idnatps, acting=idnatps, actor=actor or actor_of(world, key))
    return raw


def pro_client(world, key: str, actor: Actor | None = None) -> httpx.Client:
    """An HTTP client holding the professional's /pro session cookie."""
    return httpx.Client(base_url=world.base, timeout=60, cookies={COOKIE: open_session(world, key, actor)})


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def french_error(answer: httpx.Response, status: int) -> None:
    """The portal's French error page with the status the API would answer, and the portal's headers."""
    assert answer.status_code == status, (answer.status_code, answer.text[:500])
    assert "Impossible d'afficher cette page" in answer.text and '<html lang="fr">' in answer.text
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")
