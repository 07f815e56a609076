"""Every kind of caller the house knows, with a valid credential each, for the hostile-input tests:
a fuzzer that only ever meets `401` tests the authentication, not the readers behind it."""

from __future__ import annotations

from maison.core.actor import KeyScope
from maison.core.auth import issue_key
from tests.partage.world import CABINET, make_world


def credentials(house, live) -> dict[str, dict[str, str]]:
    world = make_world(house, live, keys=("generaliste", "hospitalier", "pharmacien"))
    return {
        "aucun": {},
        "professionnel": world.headers("generaliste"),
        "hospitalier": world.headers("hospitalier"),
        "pharmacien": world.headers("pharmacien"),
        "patient": {"Authorization": f"Bearer {world.patient_token()}"},
        **{f"cle-{scope.value}": {"ESANTE-API-KEY": _key(house, scope)} for scope in KeyScope},
    }


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
