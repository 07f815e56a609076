"""Every HTTP route, called with every kind of credential the house knows (issue 18 §2.3).

The routes are read from the application itself, not from a list kept by hand: a route added
tomorrow is called too, and a route that states no callers (`maison.core.authz.accepts`) fails
here. For each route and credential the answer must be the one its statement implies: no
credential → 401; a credential of a kind the route does not accept → 403 `appelant-non-admis`; an
accepted one → past the door (whatever the handler then says of the request, never a 5xx).
Every refusal at the door leaves a security event in the audit trail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from maison.core import audit
from maison.core.actor import Credential, KeyScope
from maison.core.auth import issue_key
from maison.core.authz import Accepts, Public, policy_of
from tests.hostile.jsonfuzz import server_failure
from tests.partage.world import CABINET, HOPITAL, PROS, make_world


@dataclass(frozen=True)
class Credentialed:
    """One kind of caller: its headers, and what `Accepts` would need to admit it."""

    name: str
    headers: dict[str, str]
    credential: Credential | None  # None: no credential at all
    scope: KeyScope | None = None


def routes(app) -> list[tuple[str, str, object]]:
    """(method, path, handler) of every route of the application, included routers walked."""
    found: list[tuple[str, str, object]] = []

    def walk(router, prefix: str) -> None:
        for route in router.routes:
            if hasattr(route, "original_router"):  # an included router (FastAPI ≥ 0.120)
                walk(route.original_router, prefix + route.include_context.prefix)
            elif hasattr(route, "endpoint") and getattr(route, "methods", None):
                for method in sorted(route.methods - {"HEAD"}):
                    found.append((method, prefix + route.path, route.endpoint))

    walk(app.router, "")
    return found


FRAMEWORK = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}  # FastAPI's own pages: public


def local_provider_token(house, live) -> str:
    """A token of the hospital's own SSO for its doctor, the provider registered by its administrator."""
    key = RSAKey.generate_key(2048, parameters={"kid": "sso-1", "alg": "RS256", "use": "sig"})
    admin = issue_key(house.db, HOPITAL, "sso-admin", "dsi", scope=KeyScope.ADMINISTRATEUR_STRUCTURE)
    issuer = "https://sso.chu-de-test.fr/realms/personnel"
    registered = httpx.post(
        f"{live.url}/psc/local-idp",
        headers={"ESANTE-API-KEY": admin},
        json={"issuer": issuer, "audience": "maison", "jwks": {"keys": [key.as_dict(private=False)]}},
    )
    assert registered.status_code == 201, registered.text
    claims = {"iss": issuer, "aud": "maison", "exp": int(time.time()) + 600, "idnatps": PROS["hospitalier"].idnatps}
    return jwt.encode({"alg": "RS256", "kid": "sso-1"}, claims, key)


@pytest.fixture
def callers(house, live) -> list[Credentialed]:
    world = make_world(house, live, keys=("generaliste",))
    made = [
        Credentialed("aucun", {}, None),
        Credentialed("jeton-inconnu", {"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."}, None),
        Credentialed("patient", {"Authorization": f"Bearer {world.patient_token()}"}, Credential.PATIENT),
        Credentialed("professionnel-psc", world.headers("generaliste"), Credential.PSC),
        Credentialed(
            "professionnel-idp-local",
            {"Authorization": f"Bearer {local_provider_token(house, live)}"},
            Credential.LOCAL_IDP,
        ),
        Credentialed(
            "cle-logiciel-autre-structure",
            {"ESANTE-API-KEY": issue_key(house.db, HOPITAL, "dpi-chu", "dpi")},
            Credential.API_KEY,
            KeyScope.LOGICIEL,
        ),
    ]
    structures = {KeyScope.OPERATEUR_MSS: "medecins", KeyScope.ADMINISTRATEUR_MAISON: "maison"}
    for scope in KeyScope:
        key = issue_key(
            house.db, structures.get(scope, CABINET), "logiciel-de-test", f"porteur-{scope.value}", scope=scope
        )
        made.append(Credentialed(f"cle-{scope.value}", {"ESANTE-API-KEY": key}, Credential.API_KEY, scope))
    return made


def _call(client: httpx.Client, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    url = path.replace("{path:path}", "x.xsd")
    for name in (
        "id_",
        "rid",
        "job",
        "name",
        "uid",
        "n",
        "entry_id",
        "review_id",
        "numero",
        "declaration",
        "secretary",
        "professional",
        "rubrique",
        "patient_id",
        "idnatps",
        "handle",
        "rtype",
    ):
        url = url.replace("{" + name + "}", "1")
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    # the body's keywords (json= or content=)
    return client.request(method, url, headers=headers, **body)  # type: ignore[arg-type]


def _issue(response: httpx.Response) -> str:
    try:
        return response.json()["issue"][0]["details"]["coding"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


def test_every_route_states_its_callers_and_the_door_keeps_to_it(house, live, callers) -> None:
    app = live.server.config.app
    table = routes(app)
    assert len(table) > 90
    undeclared = [(m, p) for m, p, handler in table if p not in FRAMEWORK and policy_of(handler) is None]
    assert undeclared == [], "routes that do not state which callers they accept"
    refusals_before = door_refusals(house)
    refused = 0
    wrong: list[str] = []
    with httpx.Client(base_url=live.url, timeout=30) as client:
        for method, path, handler in table:
            policy = policy_of(handler)
            for caller in callers:
                response = _call(client, method, path, caller.headers)
                where = f"{method} {path} [{caller.name}] → {response.status_code} {_issue(response)}"
                if server_failure(path, response):  # INSi's refusals are on 500, as the national service's
                    wrong.append(where)
                if not isinstance(policy, Accepts):
                    assert path in FRAMEWORK or isinstance(policy, Public)
                    continue
                if caller.credential is None:
                    refused += 1
                    if response.status_code != 401:
                        wrong.append(where + " (401 attendu)")
                elif not policy.admits(caller.credential, caller.scope):
                    refused += 1
                    if response.status_code != 403 or _issue(response) != "appelant-non-admis":
                        wrong.append(where + " (403 appelant-non-admis attendu)")
                elif response.status_code == 401 or _issue(response) == "appelant-non-admis":
                    wrong.append(where + " (admis attendu)")
    assert wrong == [], "\n".join(wrong)
    house.insi.journal.close()  # every refusal handed to the journal is committed
    assert door_refusals(house) - refusals_before >= refused


def door_refusals(house) -> int:
    """The refusals at the door recorded in the trail."""
    with house.db.read() as conn:
        return sum(
            1
            for row in audit.events(conn, action_prefix="securite.")
            if row["action"] in ("securite.acces-refuse", "securite.jeton-invalide")
        )
