"""Every kind of caller the house knows, with a valid credential each, for the hostile-input tests:
a fuzzer that only ever meets `401` tests the authentication, not the readers behind it."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.routing import iter_route_contexts

from maison.core.actor import Credential, KeyScope
from maison.core.auth import issue_key
from maison.core.authz import Accepts, Public, policy_of
from tests.partage.world import CABINET, make_world


def credentials(house, live) -> dict[str, dict[str, str]]:
    return Callers(house, live).now()


class Callers:
    """`credentials` of one world, to be asked again (`now`) by tests that share it: the professionals'
    tokens (120 s) are renewed after a minute, the patient's (900 s) after ten."""

    def __init__(self, house, live) -> None:
        self.world = make_world(house, live, keys=("generaliste", "hospitalier", "pharmacien"))
        self.keys = {f"cle-{scope.value}": {"ESANTE-API-KEY": _key(house, scope)} for scope in KeyScope}
        self.patient, self.patient_at = self.world.patient_token(), time.monotonic()

    def now(self) -> dict[str, dict[str, str]]:
        world = self.world.renew()
        if time.monotonic() - self.patient_at > 600:
            self.patient, self.patient_at = world.patient_token(), time.monotonic()
        return {
            "aucun": {},
            "professionnel": world.headers("generaliste"),
            "hospitalier": world.headers("hospitalier"),
            "pharmacien": world.headers("pharmacien"),
            "patient": {"Authorization": f"Bearer {self.patient}"},
            **self.keys,
        }


# what each of `credentials`' callers is, for `Accepts.admits` ("aucun" is none: admitted by no guard)
KINDS = {"professionnel": Credential.PSC, "hospitalier": Credential.PSC, "pharmacien": Credential.PSC}
KINDS |= {"patient": Credential.PATIENT} | {f"cle-{scope.value}": Credential.API_KEY for scope in KeyScope}


def policies(app) -> dict[tuple[str, str], Accepts | Public | None]:
    """Each operation's declared callers (`maison.core.authz.accepts`), by (METHOD, OpenAPI path)."""
    return {
        (method.upper(), str(ctx.path_format)): policy_of(ctx.endpoint)
        for ctx in iter_route_contexts(app.routes)
        for method in ctx.methods or ()
    }


def admitted_first(creds: dict[str, dict[str, str]], policy: Accepts | Public | None) -> dict[str, dict[str, str]]:
    """`creds` in their order, those the route declares it admits first. The others stop at its door
    (401/403: tests/e2e/test_route_callers.py), so the first callers a guard lets through are the
    same as in the plain order, found in a probe or two instead of one per credential."""
    if not isinstance(policy, Accepts):
        return creds

    def admitted(name: str) -> bool:
        scope = KeyScope(name.removeprefix("cle-")) if name.startswith("cle-") else None
        return name in KINDS and policy.admits(KINDS[name], scope)

    return {name: headers for name, headers in creds.items() if admitted(name)} | creds


def let_through(
    creds: dict[str, dict[str, str]],
    policy: Accepts | Public | None,
    status_of: Callable[[dict[str, str]], int],
    most: int = 2,
) -> list[str]:
    """The first `most` callers, in `creds`' order, whose request (`status_of(headers)`) the route's
    guard does not turn away (401/403); those it declares are tried first (`admitted_first`)."""
    passing: list[str] = []
    for name, headers in admitted_first(creds, policy).items():
        if status_of(headers) not in (401, 403):
            passing.append(name)
        if len(passing) == most:
            break
    return sorted(passing, key=list(creds).index)


def _key(house, scope: KeyScope) -> str:
    if scope is KeyScope.OPERATEUR_MSS:
        return issue_key(house.db, "medecins", "operateur-regional", "operateur", "operateur-mss", scope)
    return issue_key(house.db, CABINET, "logiciel-cabinet", f"personne-{scope.value}", scope=scope)


def example_path(path: str, parameters: list[dict]) -> str:
    """An operation's path with each parameter filled from its schema (enum, example, type)."""
    for p in parameters:
        if p.get("in") != "path":
            continue
        schema = p.get("schema", {})
        value = (schema.get("enum") or schema.get("examples") or [None])[0]
        if value is None:
            value = 1 if schema.get("type") == "integer" else "1"
        path = path.replace("{" + p["name"] + "}", str(value))
    return path
